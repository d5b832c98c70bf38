# Over 500 lines on purpose: this is the trust boundary, sent into the student's kernel as one source; one file is what a
# reviewer reads to know everything grader code does in there.
"""The probe runtime: the core of the only grader code that runs INSIDE the student's kernel.

This is the trust boundary. It holds no reference answers, no rubric and no
scoring: it calls the student's objects on inputs the judge chose and sends back
plain JSON observations, encoded by the codec (:mod:`grader.probes.wire`). The
grader never imports it as a module: the official grade's first cell sends its
source, the codec's and every probe module's (this package's and any a plugin
registers) to the kernel before any student cell runs, where
:func:`grader.probes.boot.boot` executes them with a private snapshot of
``builtins``. ``install`` then runs the install hooks, each module's own, which
take references to everything the probes rely on, so a student who later
rebinds ``float``, patches ``json.dumps`` or replaces ``torch.nn.Linear`` does
not change what the probes report.

Each answer is published as a ``display_data`` message whose MIME type carries a
per-run random token; what students print travels on other channels and is
never read as a result. Only the standard library is imported at module level;
torch and numpy are imported when ``install`` runs.

What a probe module may use (it runs in a copy of this module's namespace; see
the "How to write a probe" section of ``grader/probes/__init__.py``):
``probe`` (the decorator), ``ProbeTimeout``, ``wire`` (the codec,
:mod:`grader.probes.wire`), the schema fragments below (``NAME``, ``NUMBER``,
``ERROR``, ``RAISED``, ``MISSING``, ``REJECTED``, ``NOT_CALLABLE``, ``TENSOR``),
``lookup``, ``lookup_or_missing``, ``call_student``, ``call_without_autograd``,
``push_dispatch_mode``, ``pop_dispatch_mode``,
``error_record``, ``type_name``, ``encode_number``, ``encode_tensor``,
``is_tensor``, ``is_module``, ``named_modules``, ``named_parameters``,
``own_dict``, ``class_attribute``, ``submission_function``, ``function_like``,
``is_stub``, ``has_attribute``, ``ON_INSTALL`` (append a function of ``torch``
that returns the references the module uses: ``install`` runs it before any
student code and keeps what it returns in ``_state``) and ``_state`` (the one
snapshot of references, and this run's settings: read it, never write it).
"""

import signal
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the kernel gets the codec from grader.probes.boot, which runs it before this module
    from grader.probes import wire

_state: dict = {}
PROBES: dict = {}  # probe name -> function, filled by @probe as the probe modules are executed
SPECS: dict = {}  # probe name -> {"request": JSON schema, "answer": JSON schema, "doc": str, "module": str}


class ProbeTimeout(BaseException):
    """Raised by the alarm (or, in portable mode, the grader's interrupt) when one probe call runs past its time limit."""


class AutogradBlocked(RuntimeError):
    """Raised when student code starts torch's autograd engine while it is forbidden."""


def probe(request, answer):
    """Register the decorated function as a probe, with the JSON schemas of its request (its keyword arguments) and answer.

    The grader validates every request a check plans against ``request`` and
    every answer the kernel sends against ``answer``, so both sides read one
    definition of each probe.
    """

    def register(fn):
        if fn.__name__ in PROBES:
            raise ValueError("probe " + repr(fn.__name__) + " is defined twice")
        PROBES[fn.__name__] = fn
        SPECS[fn.__name__] = {"request": request, "answer": answer, "doc": fn.__doc__ or "", "module": fn.__module__}
        return fn

    return register


MODULES: dict = {}  # probe module label -> its namespace
ON_INSTALL: list = []  # functions(torch) a probe module registers to take its references when install runs


def load_modules(sources):
    """Run probe modules, each in its own copy of this namespace; their ``@probe`` functions register themselves.

    ``sources`` is a list of (label, source). A module cannot rebind the
    runtime's names for the others: it only has a copy of them.
    """
    for label, source in sources:
        own = dict(globals())
        own["__name__"] = "grader_probe_" + label
        exec(compile(source, "<grader probe " + label + ">", "exec"), own)
        MODULES[label] = own


def request_of(properties, required=()):
    """The schema of a request: an object with exactly these keyword arguments (``required`` among them)."""
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}


def one_of_records(*shapes):
    """The schema of an answer that is one of several records."""
    return {"anyOf": list(shapes)}


def record(properties, required=None, extra=False):
    """The schema of one record shape: these keys (all required unless ``required`` says which)."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties if required is None else required),
        "additionalProperties": extra,
    }


# ---------------------------------------------------------------- schema fragments shared by the probes


NAME = {"type": "string"}
ERROR = wire.ERROR
REJECTED = wire.REJECTED
NUMBER = one_of_records(wire.NUMBER, REJECTED, record({"missing": {"const": True}}))
RAISED = record({"raised": ERROR, "not_implemented": {"const": True}}, required=["raised"])
MISSING = record({"missing": {"type": ["string", "boolean"]}})
NOT_CALLABLE = record({"not_callable": {"type": "string"}})
TENSOR = {"anyOf": [{"type": "null"}, REJECTED, wire.TENSOR]}


def install(token, namespace, seed, probe_timeout_s, publish=None, timer="alarm"):
    """Take every reference the probes use, before any student code runs, and set this run's settings.

    ``timer`` says who keeps each call's time limit: ``"alarm"``, this runtime
    with SIGALRM (Linux sandbox); ``"interrupt"``, the grader, which interrupts
    the kernel when no answer came in time (portable mode, Windows included).
    ``seed`` seeds ``random``, numpy and torch for the student code that runs
    next; ``None`` leaves the generators alone (``%grade`` in a running kernel,
    where the student's code has already run and their state is theirs).
    ``publish`` replaces the kernel's display channel (tests call the probes on
    a plain namespace with it).
    """
    import random

    import numpy
    import torch

    if publish is None:
        from IPython.display import publish_display_data

        publish = _direct_publisher(publish_display_data)
    _state.update(token=token, ns=namespace, timeout=float(probe_timeout_s), publish=publish, timer=timer)
    take_references(torch)
    if seed is not None:
        random.seed(seed)
        numpy.random.seed(seed % (2**32))
        torch.manual_seed(seed)


def take_references(torch):
    """Run every install hook (the runtime's own first) and keep what each takes in ``_state``, the one snapshot.

    Nothing the probes rely on is looked up later by name: a student who
    rebinds ``torch.nn.Linear``, patches ``nn.Module.named_modules`` or
    replaces ``torch.Tensor.grad_fn`` in a later cell changes their own
    program, not what the grader observes. Two modules may take the same name
    only for the same object.
    """
    taken = {}
    for take in ON_INSTALL:
        for name, reference in take(torch).items():
            if name in taken and taken[name] != reference:
                raise ValueError("the reference " + repr(name) + " is taken twice, as two different objects")
            taken[name] = reference
    _state.update(taken)


def _runtime_references(torch):
    """What the runtime itself and the codec use: JSON, signals, the autograd engine and its modes, tensor accessors."""
    import dis
    import json
    import math
    import types
    import warnings

    import numpy
    from torch.autograd.variable import Variable
    from torch.utils._python_dispatch import TorchDispatchMode

    base = getattr(torch._C, "TensorBase", None) or torch._C._TensorBase
    graph_task = getattr(torch._C, "_current_graph_task_id", lambda: -1)  # a torch without it: the engine swap still holds

    class EngineWatch(TorchDispatchMode):
        """Sees every operation the call runs; one run by the autograd engine (a backward pass) marks the guard used."""

        def __init__(self, guard):
            super().__init__()
            self.guard = guard

        def __torch_dispatch__(self, func, types_, args=(), kwargs=None):
            if graph_task() != -1:
                self.guard.used = True
            return func(*args, **(kwargs or {}))

    return {
        **wire.take_refs(torch),
        "dumps": json.dumps,
        "loads": json.loads,
        "isfinite": math.isfinite,
        "instructions": dis.get_instructions,
        "CodeType": types.CodeType,
        "catch_warnings": warnings.catch_warnings,
        "simplefilter": warnings.simplefilter,
        "recursion_limit": (sys.getrecursionlimit, sys.setrecursionlimit),
        "dict_has": dict.__contains__,
        "dict_get": dict.__getitem__,
        "object_dict": lambda obj: object.__getattribute__(obj, "__dict__"),
        "errstate": numpy.errstate,
        "Module": torch.nn.Module,
        "requires_grad_": base.requires_grad_,
        "requires_grad_of": base.__dict__["requires_grad"].__get__,
        "grad_fn_of": base.__dict__["grad_fn"].__get__,
        "Tensor": torch.Tensor,
        "engine_watch": EngineWatch,
        "dispatch_enter": TorchDispatchMode.__enter__,
        "dispatch_exit": TorchDispatchMode.__exit__,
        "dispatch_count": torch._C._len_torch_dispatch_stack,
        "dispatch_at": torch._C._get_dispatch_stack_at,
        "grad_of": base.__dict__["grad"].__get__,
        "to": base.to,
        "copy_": base.copy_,
        "Variable": Variable,
        "engine": Variable._execution_engine,
        "run_backward": Variable._execution_engine.run_backward,
        "forward_ad": _forward_ad_entries(torch),
        "is_grad_enabled": torch._C.is_grad_enabled,
        "set_grad_enabled": torch._C._set_grad_enabled,
        "InferenceMode": torch._C._InferenceMode,
        "signal": signal.signal,
        "setitimer": getattr(signal, "setitimer", None),  # POSIX only; unused with timer="interrupt"
    }


ON_INSTALL.append(_runtime_references)


def _forward_ad_entries(torch):
    """Where forward-mode autograd starts (a dual level, a dual tensor, a jvp level), as (owner, name, original).

    ``torch.func.jvp``/``jacfwd``/``hessian`` and ``torch.autograd.forward_ad`` all pass through
    ``torch._functorch.predispatch``'s module globals, looked up at each call, so replacing them there catches
    them however the student imported them; the ``torch._C``/``torch._VF`` names catch direct calls.
    """
    from torch._functorch import predispatch

    places = ((predispatch, "_enter_dual_level_impl"), (predispatch, "_make_dual_impl"), (predispatch, "_jvp_increment_nesting_impl"),
              (torch._C, "_enter_dual_level"), (torch._VF, "_make_dual"), (torch, "_make_dual"))
    return tuple((owner, name, getattr(owner, name)) for owner, name in places if hasattr(owner, name))


def _direct_publisher(fallback):
    """Send answers straight on the kernel's output socket, past display hooks and patches students may add."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
        kernel = shell.kernel
        send, socket, parent, topic = kernel.session.send, kernel.iopub_socket, kernel.get_parent, shell.display_pub.topic
    except Exception:  # noqa: BLE001 - not an ipykernel we know: the public API will do
        return fallback

    import threading
    import time

    io_thread = getattr(socket, "io_thread", None)
    event, pause = threading.Event, time.sleep

    def publish(data, metadata=None):
        content = {"data": data, "metadata": metadata or {}, "transient": {}}
        send(socket, "display_data", content, parent=parent("shell"), ident=topic)
        if io_thread is not None:  # hand the answer to ZeroMQ before student code runs again (and may wedge the interpreter)
            handed = event()
            io_thread.schedule(handed.set)
            handed.wait(1.0)
            if _state.get("careful", True):  # and give ZeroMQ's own thread time to write it out, in case student code then _exits
                pause(0.002)

    return publish


def refuse_exit(shell):
    """Make exit() and quit() raise in their own cell.

    In ipykernel they stop the kernel a moment later, in the middle of
    whichever cell runs next, which would then take the blame.
    """

    def ask_exit():
        raise SystemExit("exit() or quit() was called; the kernel keeps running while it is graded")

    shell.ask_exit = ask_exit


def cap_streams(shell, limit):
    """Truncate what one cell writes to stdout and stderr past ``limit`` characters.

    IPython swaps the streams' ``write`` for each cell, so the cap is wrapped
    around whatever is there when a cell starts. Defence in depth only: student
    code can undo it; the grader caps output again as messages arrive.
    """
    used = [0]

    def wrap(*args):
        used[0] = 0
        for stream in (sys.stdout, sys.stderr):
            if not getattr(stream.write, "grader_capped", False):
                stream.write = _capped_write(stream.write, used, limit)

    shell.events.register("pre_run_cell", wrap)


def _capped_write(write, used, limit):
    def capped(text, *args, **kwargs):
        if type(text) is not str:
            return write(text, *args, **kwargs)
        room = limit - used[0]
        used[0] += len(text)
        if room <= 0:
            return len(text)
        if len(text) > room:
            write(text[:room])
            write("\n[... output truncated in the kernel ...]\n")
            return len(text)
        return write(text, *args, **kwargs)

    capped.grader_capped = True
    return capped


def run(request_text, start=0, careful=True, skip=()):
    """Run the probe calls of a request from ``start`` on (but those in ``skip``), publishing each answer as soon as it is known.

    ``careful`` waits 2 ms after each answer, so that it has left the process
    before student code runs again: a kernel that then dies abruptly has sent
    every answer before the fatal call, which the grader's next attempt skips.
    The grader's first attempt runs without it (26 answers: 50 ms) and, if the
    kernel dies in the probes, runs the unanswered calls again carefully.
    """
    _state["careful"] = careful
    calls = _state["loads"](request_text)
    skipped = frozenset(skip)
    for index in range(start, len(calls)):
        if index in skipped:
            continue
        answer = _call_one(calls[index])
        answer["i"] = index
        _publish(answer)


def _publish(answer):
    try:
        text = _state["dumps"](answer, allow_nan=False)
    except (TypeError, ValueError) as exc:
        text = _state["dumps"]({"i": answer["i"], "ok": False, "error": error_record("encode", exc)})
    mime = "application/vnd.grader." + _state["token"] + "+json"
    _state["publish"]({mime: text}, metadata={})


def _call_one(call):
    fn = PROBES.get(call.get("probe"))
    if fn is None:
        return {"ok": False, "error": {"type": "GraderBug", "message": "unknown probe " + repr(call.get("probe"))}}
    alarm = _state["timer"] == "alarm"
    if alarm:
        previous = _state["signal"](signal.SIGALRM, _on_alarm)
        _state["setitimer"](signal.ITIMER_REAL, _state["timeout"])
    else:  # the grader's interrupt (SIGINT, or Windows' interrupt event) ends this call; between calls it is ignored
        _state["signal"](signal.SIGINT, _on_interrupt)
    _state["calling"] = True
    try:
        return {"ok": True, "value": _in_grading_modes(fn, call.get("args", {}))}
    except ProbeTimeout:
        return {"ok": False, "error": {"type": "Timeout", "message": f"no answer within {_state['timeout']:g}s"}}
    except BaseException as exc:  # noqa: BLE001 - SystemExit and KeyboardInterrupt are student faults too
        if not alarm and type(exc) is KeyboardInterrupt:  # student code put the default SIGINT handler back
            return {"ok": False, "error": {"type": "Timeout", "message": f"no answer within {_state['timeout']:g}s"}}
        return {"ok": False, "error": error_record("probe", exc)}
    finally:
        _state["calling"] = False
        if alarm:
            _state["setitimer"](signal.ITIMER_REAL, 0)
            _state["signal"](signal.SIGALRM, previous)


def _in_grading_modes(fn, args):
    """Run one probe with autograd's grad mode on and inference mode off, then put back what was there.

    The contract: global state a submission leaves behind (grad mode switched
    off, an inference-mode context never left, a warnings filter turned to
    errors, numpy's error handling, a low recursion limit, a replaced autograd
    engine) does not change its grade. Anomaly mode and the default dtype stay
    as they are. What the student's own functions do with modes inside is theirs.
    """
    variable = _state["Variable"]
    their_engine = variable._execution_engine
    was_grad = _state["is_grad_enabled"]()
    get_limit, set_limit = _state["recursion_limit"]
    limit = get_limit()
    with _state["InferenceMode"](False), _state["catch_warnings"](), _state["errstate"](all="warn"):
        _state["simplefilter"]("ignore")
        _state["set_grad_enabled"](True)
        variable._execution_engine = _state["engine"]
        if limit < 1000:
            set_limit(1000)
        try:
            return fn(**args)
        finally:
            if limit < 1000:
                set_limit(limit)
            variable._execution_engine = their_engine
            _state["set_grad_enabled"](was_grad)


def _on_alarm(signum, frame):
    raise ProbeTimeout()


def _on_interrupt(signum, frame):
    if _state.get("calling"):  # an interrupt that comes just after a call ended must not cost the next one
        raise ProbeTimeout()


error_record = wire.error_record
type_name = wire.type_name


def encode_number(value):
    """A student value as a number record (:func:`grader.probes.wire.encode_number` with the references taken at install)."""
    return wire.encode_number(value, _state)


def encode_tensor(value):
    """A tensor as a tensor record (capped), ``None`` for None, ``{"rejected": why}`` for anything else."""
    return None if value is None else wire.encode_tensor(value, _state)


def lookup(name):
    namespace = _state["ns"]
    if name not in namespace:
        raise NameError(f"name {name!r} is not defined")
    return namespace[name]


def class_attribute(cls, name):
    try:
        return getattr(cls, name, None)
    except BaseException:  # noqa: BLE001 - a metaclass __getattr__ that raises
        return None


_FOREIGN_MODULES = frozenset(("math", "cmath", "numpy", "torch", "builtins", "scipy", "sympy", "mpmath", "jax"))


def submission_function(fn):
    """Whether ``fn`` is a callable the submission wrote (not one it imported from a maths library)."""
    if fn is None or not callable(fn):
        return False
    try:
        module = getattr(fn, "__module__", None)
    except BaseException:  # noqa: BLE001
        return True
    root = module.split(".")[0] if type(module) is str else ""
    return root not in _FOREIGN_MODULES


_BUILTIN_FUNCTION_TYPES = frozenset(("builtin_function_or_method", "ufunc", "method-wrapper", "method_descriptor", "_ArrayFunctionDispatcher"))


def function_like(value):
    """A function or method (written in Python or built in), as opposed to a class or a callable object such as a model."""
    return type(getattr(getattr(value, "__func__", value), "__code__", None)) is _state["CodeType"] or (
        type(value).__name__ in _BUILTIN_FUNCTION_TYPES
    )


_STUB_NOISE = frozenset(("RESUME", "NOP", "CACHE", "EXTENDED_ARG", "PRECALL", "PUSH_NULL", "KW_NAMES", "COPY_FREE_VARS", "MAKE_CELL"))


def is_stub(fn):
    """Whether a function's body is only a template stub.

    CONTRACT-04: a body that is only ``pass``, ``...``, ``return None`` or
    ``raise NotImplementedError`` (docstring and comments aside). Read from the
    compiled code, so any formatting and any Python version's layout agree.
    """
    fn = getattr(fn, "__func__", fn)  # bound, static and class methods
    code = getattr(fn, "__code__", None)
    if type(code) is not _state["CodeType"]:
        return False
    steps = [(i.opname, i.argval) for i in _state["instructions"](code) if i.opname not in _STUB_NOISE]
    if steps[-2:] == [("LOAD_CONST", None), ("RETURN_VALUE", None)]:
        steps = steps[:-2]
    elif steps[-1:] == [("RETURN_CONST", None)]:
        steps = steps[:-1]
    if not steps:
        return True
    first, last = steps[0], steps[-1]
    if first[0] not in ("LOAD_GLOBAL", "LOAD_NAME") or first[1] != "NotImplementedError" or last[0] != "RAISE_VARARGS":
        return False
    return all(op in ("LOAD_CONST", "CALL", "CALL_FUNCTION", "CALL_FUNCTION_EX") for op, _ in steps[1:-1])


def is_tensor(value):
    return type(value) in _state["tensor_types"]


def lookup_or_missing(name):
    """The global ``name``, or a ``{"missing": name}`` record when it is not defined."""
    namespace = _state["ns"]
    if name not in namespace:
        return None, {"missing": name}
    return namespace[name], None


def is_module(value):
    return issubclass(type(value), _state["Module"])


def own_dict(value, key):
    """A module's own ``_modules`` or ``_parameters`` dict, read without calling any of its methods."""
    try:
        found = _state["object_dict"](value).get(key)
    except BaseException:  # noqa: BLE001 - an object without a __dict__
        return {}
    return found if type(found) is dict else {}


def named_modules(root):
    """(name, module) for a module tree, depth first as ``nn.Module.named_modules`` lists them, each module once.

    Walks the modules' own ``_modules`` dicts, so a patched ``named_modules``
    or ``__getattr__`` cannot add or hide a layer.
    """
    found, seen, stack = [], set(), [("", root)]
    while stack and len(found) < 1000:
        name, module = stack.pop()
        if id(module) in seen:
            continue
        seen.add(id(module))
        found.append((name, module))
        children = [(name + "." + child if name else child, sub) for child, sub in own_dict(module, "_modules").items()]
        stack.extend(reversed([(child, sub) for child, sub in children if is_module(sub)]))
    return found


def named_parameters(root, recurse=True):
    """(name, parameter) for a module's parameters (each once), read from the modules' own ``_parameters``."""
    found, seen = [], set()
    for prefix, module in named_modules(root) if recurse else [("", root)]:
        for name, param in own_dict(module, "_parameters").items():
            if is_tensor(param) and id(param) not in seen:
                seen.add(id(param))
                found.append((prefix + "." + name if prefix else name, param))
    return found


def push_dispatch_mode(mode):
    """Put a torch dispatch mode on (through references taken at install); the stack depth under it, for :func:`pop_dispatch_mode`."""
    depth = _state["dispatch_count"]()
    _state["dispatch_enter"](mode)
    return depth


def pop_dispatch_mode(mode, depth):
    """Take ``mode`` off if it is still on top where it was put; False when the student's code took it off or buried it."""
    if _state["dispatch_count"]() == depth + 1 and _state["dispatch_at"](depth) is mode:
        _state["dispatch_exit"](mode, None, None, None)
        return True
    return False


def call_student(function, *args, **kwargs):
    """``(True, result)``, or ``(False, record)`` when the student's function raised.

    A function that once ran out of time is not called again (it would cost a
    full probe timeout per graph); its later calls report the timeout at once.
    """
    hung = _state.setdefault("hung", set())
    if id(function) in hung:
        return False, {"raised": {"type": "Timeout", "message": "it did not finish in time", "stage": "call"}}
    hung.add(id(function))
    try:
        result = function(*args, **kwargs)
    except ProbeTimeout:
        raise
    except NotImplementedError as exc:
        hung.discard(id(function))
        return False, {"raised": error_record("call", exc), "not_implemented": True}
    except BaseException as exc:  # noqa: BLE001
        hung.discard(id(function))
        return False, {"raised": error_record("call", exc)}
    hung.discard(id(function))
    return True, result


class BlockedEngine:
    """Stands in for torch's autograd engine while a function must not use it."""

    def __init__(self, real):
        self.real = real
        self.used = False

    def run_backward(self, *args, **kwargs):
        self.used = True
        raise AutogradBlocked("autograd is switched off while the grader checks this function")

    def __getattr__(self, name):
        return getattr(self.real, name)


class WatchedNode:
    """A tensor's ``grad_fn`` (or one of its ``next_functions``) while autograd is off: everything but calling it.

    Calling a graph node runs torch's own derivative of that operation, which
    is autograd without the engine; reading its name or walking the graph is
    not, and works as before.
    """

    def __init__(self, node, guard):
        object.__setattr__(self, "_node", node)
        object.__setattr__(self, "_guard", guard)

    def __call__(self, *args, **kwargs):
        object.__getattribute__(self, "_guard").used = True
        raise AutogradBlocked("autograd is switched off while the grader checks this function (a grad_fn was called)")

    def __getattr__(self, name):
        node, guard = object.__getattribute__(self, "_node"), object.__getattribute__(self, "_guard")
        value = getattr(node, name)
        if name == "next_functions":
            return tuple((watched_node(fn, guard), index) for fn, index in value)
        return value

    def __repr__(self):
        return repr(object.__getattribute__(self, "_node"))

    def __eq__(self, other):
        return object.__getattribute__(self, "_node") == getattr(other, "_node", other)

    def __hash__(self):
        return hash(object.__getattribute__(self, "_node"))


def watched_node(node, guard):
    return None if node is None else WatchedNode(node, guard)


def call_without_autograd(function, *args, **kwargs):
    """``call_student`` with torch's autograd engine replaced: ``(False, {"autograd": True})`` when the function tried it.

    ``Tensor.backward``, ``torch.autograd.grad`` and ``torch.func``'s reverse
    mode all end in the engine, however they were imported, so this catches
    them alike; forward mode (``torch.func.jvp``, ``jacfwd``, dual tensors)
    never reaches the engine, so where it starts is blocked too. So is calling
    a graph node (``y.grad_fn(upstream)``), torch's derivative of one operation:
    ``Tensor.grad_fn`` gives a :class:`WatchedNode` meanwhile. An engine the
    student took a reference to beforehand is caught where it computes: a
    torch dispatch mode sees each operation, and one run inside a backward pass
    (a graph task) counts as autograd; so does taking that mode off.
    """
    variable = _state["Variable"]
    guard = BlockedEngine(_state["engine"])
    tensor, grad_fn_of = _state["Tensor"], _state["grad_fn_of"]

    def forward_mode_blocked(*args, **kwargs):
        guard.used = True
        raise AutogradBlocked("forward-mode autograd is switched off while the grader checks this function")

    variable._execution_engine = guard
    for owner, name, _ in _state["forward_ad"]:
        setattr(owner, name, forward_mode_blocked)
    theirs = tensor.__dict__.get("grad_fn")  # torch.Tensor inherits grad_fn: a student's own would be here
    tensor.grad_fn = property(lambda self: watched_node(grad_fn_of(self), guard))
    watch = _state["engine_watch"](guard)
    depth = push_dispatch_mode(watch)
    try:
        ok, result = call_student(function, *args, **kwargs)
    finally:
        if not pop_dispatch_mode(watch, depth):
            guard.used = True  # the watch was taken off: what ran after it cannot be told apart
        variable._execution_engine = _state["engine"]
        for owner, name, original in _state["forward_ad"]:
            setattr(owner, name, original)
        if theirs is None:
            del tensor.grad_fn
        else:
            tensor.grad_fn = theirs
    return (False, {"autograd": True}) if guard.used else (ok, result)


def has_attribute(value, name):
    try:
        return hasattr(value, name)
    except BaseException:  # noqa: BLE001 - a student __getattr__ that raises something else
        return False
