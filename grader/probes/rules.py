"""Probes for rules about how code is written: how many Python steps a call takes, and which functions it calls.

Both run the student's function under a *watch*: a trace function
(``sys.settrace``) that counts the line and call events of the student's own
code, a profile function (``sys.setprofile``) that notes the calls of watched
functions (``call`` events by code object, ``c_call`` events by the built-in's
identity), and a torch function mode that counts the torch functions called
(and notes watched ones, however they were reached). A watched ATen operator
(``torch.ops.aten._cdist_forward``) is noted by a torch dispatch mode, at the
level every path into it goes through: ``torch.cdist``, ``torch._VF.cdist`` and
``getattr(torch.ops.aten, name)`` alike. They report counts and names only; the
judge decides (``grader/checks/rules.py``).

*The student's own code* is every frame whose code was not loaded from the
standard library, site-packages, torch or numpy, and is not the grader's probe
code: notebook cells, ``exec``'d and compiled strings, helpers the student
wrote and the lambdas and generators they pass to library code. A frame whose
file name is a library's counts as library only if it runs in the globals of
a module registered under its name (so code compiled under a borrowed file name
in the notebook's globals still counts).

The watch is put on right around the call and checked after it: a student's
code that calls ``sys.settrace``, ``sys.setprofile``, ``threading.settrace`` or
``threading.setprofile``, starts a thread, or leaves a different trace function,
profile function, torch function mode or torch dispatch mode in place is reported as ``tampered``,
which the judges count against the rule. Every reference is taken at install,
before any student code, so rebinding ``sys.settrace`` or ``torch.softmax``
changes the student's program, not what is watched.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the kernel runs this module in the runtime's namespace: every name is already there
    from grader.probes.runtime import *  # noqa: F403
    from grader.probes.runtime import _state

# Namespaces snapshotted at install, so that a rubric's ``torch.softmax`` is the object torch had before student code ran.
_SNAPSHOTS = ("torch", "torch.nn.functional", "torch.linalg", "torch.special", "torch.fft", "torch.autograd", "torch.func",
              "torch.nn.init", "numpy", "numpy.linalg", "math", "builtins")


class StepBudgetExceeded(BaseException):
    """Raised by the trace function in the student's code when a call has taken more steps than the probe allows."""


def _rule_references(torch):
    """The hooks and the library's objects the watch relies on, taken before any student code runs."""
    import _thread
    import builtins
    import importlib
    import os
    import site
    import sys as system
    import sysconfig
    import threading
    import types

    from torch._ops import OpOverload, OpOverloadPacket
    from torch.overrides import TorchFunctionMode
    from torch.utils._python_dispatch import TorchDispatchMode

    class CountingMode(TorchFunctionMode):
        """Counts the torch functions called while it is on (not those torch runs inside one) and notes the watched ones."""

        def __init__(self, watched):
            super().__init__()
            self.count = 0
            self.watched = watched
            self.seen = []

        def __torch_function__(self, func, types_, args=(), kwargs=None):
            self.count += 1
            hit = self.watched.get(id(func))
            if hit is not None and hit[0] is func and hit[1] not in self.seen:
                self.seen.append(hit[1])
            return func(*args, **(kwargs or {}))

    class NotingDispatchMode(TorchDispatchMode):
        """Notes the watched ATen operators run while it is on, whichever Python call reached them."""

        def __init__(self, watched):
            super().__init__()
            self.watched = watched
            self.seen = []

        def __torch_dispatch__(self, func, types_, args=(), kwargs=None):
            packet = func.overloadpacket
            hit = self.watched.get(id(packet))
            if hit is not None and hit[0] is packet and hit[1] not in self.seen:
                self.seen.append(hit[1])
            return func(*args, **(kwargs or {}))

    roots = [path for key, path in sysconfig.get_paths().items() if key in ("stdlib", "platstdlib", "purelib", "platlib")]
    roots += list(site.getsitepackages()) if hasattr(site, "getsitepackages") else []
    roots += [site.getusersitepackages()] if hasattr(site, "getusersitepackages") else []
    roots += [os.path.dirname(torch.__file__), os.path.dirname(importlib.import_module("numpy").__file__)]
    prefixes = tuple(sorted({os.path.join(form, "") for root in roots if root for form in (root, os.path.realpath(root))}))
    snapshots = {}
    for name in _SNAPSHOTS:
        try:
            snapshots[name] = dict(vars(importlib.import_module(name)))
        except ImportError:
            continue
    tensor_members = {}
    for cls in reversed(torch.Tensor.__mro__):
        tensor_members.update(vars(cls))
    snapshots["torch.Tensor"] = tensor_members
    guards = {id(hook): (hook, "it changes the tracing hooks") for hook in (system.settrace, system.setprofile)}
    for name in ("start_new_thread", "start_joinable_thread"):
        start = getattr(_thread, name, None)
        if start is not None:
            guards[id(start)] = (start, "it starts a thread, whose steps cannot be counted")
    hooks = ("settrace", "setprofile", "settrace_all_threads", "setprofile_all_threads")
    guard_codes = [getattr(getattr(threading, name, None), "__code__", None) for name in hooks]
    return {
        "rules_settrace": system.settrace,
        "rules_gettrace": system.gettrace,
        "rules_setprofile": system.setprofile,
        "rules_getprofile": system.getprofile,
        "rules_modules": system.modules,
        "rules_module_type": types.ModuleType,
        "rules_function_type": types.FunctionType,
        "rules_dict_get": dict.get,
        "rules_prefixes": prefixes,
        "rules_guards": guards,
        "rules_guard_codes": frozenset(code for code in guard_codes if code is not None),
        "rules_snapshots": snapshots,
        "rules_import": importlib.import_module,
        "rules_builtins": builtins,
        "rules_counting_mode": CountingMode,
        "rules_mode_enter": TorchFunctionMode.__enter__,  # a student who patches the class's methods later does not change these
        "rules_mode_exit": TorchFunctionMode.__exit__,
        "rules_mode_count": torch._C._len_torch_function_stack,
        "rules_mode_at": torch._C._get_function_stack_at,
        "rules_operator_types": (OpOverloadPacket, OpOverload),
        "rules_dispatch_mode": NotingDispatchMode,
    }


ON_INSTALL.append(_rule_references)


# ---------------------------------------------------------------- which frames are the student's


def _library_frame(frame, kit):
    """Whether a frame runs library code: a library's file, in the globals of the module registered under that name."""
    code = frame.f_code
    filename = code.co_filename
    if type(filename) is not str:
        return False
    if filename.startswith("<grader probe ") or filename.startswith("<frozen "):
        return True
    if not filename.startswith(kit["rules_prefixes"]):
        return False
    globals_ = frame.f_globals
    if globals_ is _state["ns"]:
        return False
    name = kit["rules_dict_get"](globals_, "__name__")
    module = kit["rules_dict_get"](kit["rules_modules"], name) if type(name) is str else None
    if name == "__main__" or type(module) is not kit["rules_module_type"]:
        return False
    return object.__getattribute__(module, "__dict__") is globals_


# ---------------------------------------------------------------- what is watched


def resolve_watched(names):
    """The objects the rubric's dotted names denote (from the install snapshot when their module is in it), and the unknown names."""
    kit = _state
    found, unknown = [], []
    for name in names:
        value, ok = _resolve(name, kit)
        if ok:
            found.append((name, value))
        else:
            unknown.append(name)
    return found, unknown


def _resolve(name, kit):
    parts = name.split(".")
    if len(parts) == 1:  # a bare name is a builtin's (eval, exec, getattr)
        members = kit["rules_snapshots"]["builtins"]
        return (members[name], True) if name in members else (None, False)
    for cut in range(len(parts) - 1, 0, -1):
        prefix = ".".join(parts[:cut])
        members = kit["rules_snapshots"].get(prefix)
        if members is None or parts[cut] not in members:
            continue
        value = members[parts[cut]]
        return _walk(value, parts[cut + 1 :])
    try:
        value = kit["rules_import"](parts[0])
    except BaseException:  # noqa: BLE001 - not a module the kernel has
        return None, False
    return _walk(value, parts[1:])


def _walk(value, parts):
    for part in parts:
        try:
            value = getattr(value, part)
        except BaseException:  # noqa: BLE001 - no such attribute
            return None, False
    return value, True


def _watch_table(found):
    """Python functions by code object; ATen operators by their overload packet; anything else by identity; built-in methods also by (name, class)."""
    codes, objects, methods, operators = {}, {}, {}, {}
    for name, value in found:
        if isinstance(value, _state["rules_operator_types"]):
            packet = getattr(value, "overloadpacket", value)  # torch.ops.aten.softmax.int watches all of aten.softmax
            operators[id(packet)] = (packet, name)
            continue
        function = value
        for _ in range(20):  # a decorated function: watch the function it wraps (a shared wrapper's code would match others)
            inner = getattr(function, "__wrapped__", None)
            if inner is None:
                break
            function = inner
        function = getattr(function, "__func__", function)
        if type(function) is _state["rules_function_type"]:
            codes[function.__code__] = name
        objects[id(value)] = (value, name)
        owner = getattr(value, "__objclass__", None)
        if owner is not None and type(getattr(value, "__name__", None)) is str:
            methods.setdefault(value.__name__, []).append((owner, name))
    return codes, objects, methods, operators


# ---------------------------------------------------------------- the watch


def watched_call(fn, args, kwargs, watched=(), max_steps=None):
    """``(ok, result, record)``: ``fn`` called under the watch; ``record`` has steps, torch_calls, seen and tampered."""
    kit = _state
    codes, objects, methods, operators = _watch_table(watched)
    mode = kit["rules_counting_mode"](objects)
    dispatch = kit["rules_dispatch_mode"](operators) if operators else None  # only when asked: every torch op then calls Python
    guards, guard_codes = kit["rules_guards"], kit["rules_guard_codes"]
    student_codes = {}
    steps = [0]
    armed = [False]
    over = [False]
    seen = []
    tampered = []

    def note(name):
        if name not in seen:
            seen.append(name)

    def count():
        steps[0] += 1
        if max_steps is not None and steps[0] > max_steps and not over[0]:
            over[0] = True
            raise StepBudgetExceeded()

    def local(frame, event, arg):
        if event == "line":
            count()
        return local

    def tracer(frame, event, arg):
        code = frame.f_code
        mine = student_codes.get(code)
        if mine is None or code.co_filename.startswith(kit["rules_prefixes"]):  # a library file: its globals decide, per frame
            mine = not _library_frame(frame, kit)
            student_codes[code] = mine
        if not mine:
            return None
        count()
        return local

    def profiler(frame, event, arg):
        if event == "c_call":
            hit = objects.get(id(arg))
            if hit is not None and hit[0] is arg:
                note(hit[1])
            elif arg.__class__.__name__ == "builtin_function_or_method":
                _note_method(arg, methods, note)
            guard = guards.get(id(arg)) if armed[0] else None
            if guard is not None and guard[0] is arg:
                tampered.append(guard[1])
        elif event == "call":
            name = codes.get(frame.f_code)
            if name is not None:
                note(name)
            if armed[0] and frame.f_code in guard_codes:
                tampered.append("it changes the tracing hooks")

    previous_trace, previous_profile = kit["rules_gettrace"](), kit["rules_getprofile"]()
    depth = kit["rules_mode_count"]()
    kit["rules_mode_enter"](mode)
    dispatch_depth = push_dispatch_mode(dispatch) if dispatch is not None else 0
    kit["rules_setprofile"](profiler)
    kit["rules_settrace"](tracer)
    armed[0] = True
    try:
        ok, result = call_student(fn, *args, **kwargs)
    finally:
        armed[0] = False
        trace_now, profile_now = kit["rules_gettrace"](), kit["rules_getprofile"]()
        kit["rules_settrace"](previous_trace)
        kit["rules_setprofile"](previous_profile)
        dispatch_on_top = dispatch is None or pop_dispatch_mode(dispatch, dispatch_depth)
        modes_now = kit["rules_mode_count"]()
        on_top = modes_now == depth + 1 and kit["rules_mode_at"](depth) is mode
        if on_top:
            kit["rules_mode_exit"](mode, None, None, None)
    if not over[0]:
        if trace_now is not tracer or profile_now is not profiler:
            tampered.append("it replaced the grader's trace or profile function")
        if not on_top:
            tampered.append("it changed torch's function modes")
        if not dispatch_on_top:
            tampered.append("it changed torch's dispatch modes")
    for name in mode.seen + (dispatch.seen if dispatch is not None else []):
        note(name)
    record = {"steps": steps[0], "torch_calls": mode.count, "seen": seen}
    if over[0]:
        record["over"] = True
    if tampered:
        record["tampered"] = tampered[0]
    return ok, result, record


def _note_method(bound, methods, note):
    """A built-in method bound to an object (``x.softmax``): watched when its name and its object's class match a watched descriptor."""
    try:
        candidates = methods.get(bound.__name__)
        owner = bound.__self__
    except BaseException:  # noqa: BLE001
        return
    for cls, name in candidates or ():
        if isinstance(owner, cls):
            note(name)


# ---------------------------------------------------------------- the probes

_TENSORS = MODULES["tensors"]  # targets and arguments as the tensor probes read them (that module runs first)
_TARGET_SPEC, _CALL_SPEC, _TROUBLE = _TENSORS["_TARGET"], _TENSORS["_CALL"], _TENSORS["_TARGET_TROUBLE"]
_COUNT = {"type": "integer", "minimum": 0}
_WATCH_RECORD = record(
    {"steps": _COUNT, "torch_calls": _COUNT, "seen": {"type": "array", "items": NAME}, "over": {"const": True},
     "tampered": NAME, "raised": ERROR, "not_implemented": {"const": True}},
    required=["steps", "torch_calls", "seen"],
)


def _watch_each(target, calls, watched, max_steps):
    tensors = _TENSORS
    fn, trouble = tensors["_target"](target)
    if trouble is not None:
        return trouble
    results = []
    for call in calls:
        args, kwargs = tensors["_arguments"](call)
        ok, result, observed = watched_call(fn, args, kwargs, watched, max_steps)
        if not ok:
            observed.update(result)
        results.append(observed)
    return {"results": results}


@probe(
    request=request_of(
        {"target": _TARGET_SPEC, "calls": {"type": "array", "minItems": 1, "items": _CALL_SPEC}, "max_steps": {"type": "integer", "minimum": 1}},
        required=["target", "calls", "max_steps"],
    ),
    answer=one_of_records(*_TROUBLE, record({"results": {"type": "array", "items": _WATCH_RECORD}})),
)
def count_steps(target, calls, max_steps):
    """Call the target once unwatched on the first call's arguments (one-time work), then on each call's under the watch.

    Each result counts the Python steps (line and call events) of the
    student's own code and the torch functions called; past ``max_steps``
    steps the call is stopped (``over``). ``tampered`` says the watch was
    undone or dodged.
    """
    tensors = _TENSORS
    fn, trouble = tensors["_target"](target)
    if trouble is not None:
        return trouble
    args, kwargs = tensors["_arguments"](calls[0])
    ok, returned = call_student(fn, *args, **kwargs)
    if not ok:
        return returned
    return _watch_each(target, calls, (), max_steps)


@probe(
    request=request_of(
        {"target": _TARGET_SPEC, "calls": {"type": "array", "minItems": 1, "items": _CALL_SPEC}, "names": {"type": "array", "items": NAME}},
        required=["target", "calls", "names"],
    ),
    answer=one_of_records(*_TROUBLE, record({"unknown": {"type": "array", "items": NAME}}),
                          record({"results": {"type": "array", "items": _WATCH_RECORD}})),
)
def watch_calls(target, calls, names):
    """Call the target on each call's arguments under the watch; which of the dotted ``names`` it called, however reached.

    The names are resolved from what torch, numpy, math and builtins held
    when the runtime was installed, before any student code; a name the
    kernel cannot resolve is answered as ``unknown``.
    """
    found, unknown = resolve_watched(names)
    if unknown:
        return {"unknown": unknown}
    return _watch_each(target, calls, found, None)
