"""The probe runtime: the only grader code that runs INSIDE the student's kernel.

This is the trust boundary. It holds no reference answers, no rubric and no
scoring: it calls the student's objects on inputs the judge chose and sends back
plain JSON observations. The grader never imports this module; ``probe.py``
sends its source to the kernel before any student cell runs, where it is
executed with a private snapshot of ``builtins`` and keeps its own references
to the functions it relies on, so a student who later rebinds ``float`` or
patches ``json.dumps`` does not change what it reports.

Each answer is published as a ``display_data`` message whose MIME type carries a
per-run random token; what students print travels on other channels and is
never read as a result. Only the standard library is imported at module level;
torch and numpy are imported when ``install`` runs.
"""

import json
import math
import signal
import sys

_state: dict = {}
PROBES: dict = {}


class ProbeTimeout(BaseException):
    """Raised by the alarm when one probe call runs past its time limit."""


class AutogradBlocked(RuntimeError):
    """Raised when student code starts torch's autograd engine while it is forbidden."""


def probe(fn):
    PROBES[fn.__name__] = fn
    return fn


def install(token, namespace, seed, probe_timeout_s, publish=None):
    """Capture every reference the probes use, before any student code runs.

    Nothing the probes rely on is looked up later by name: a student who
    rebinds ``torch.nn.Linear``, patches ``nn.Module.named_modules`` or
    replaces ``torch.Tensor.grad_fn`` in a later cell changes their own
    program, not what the grader observes. ``publish`` replaces the kernel's
    display channel (tests call the probes on a plain namespace with it).
    """
    import dis
    import random
    import types
    import warnings
    from decimal import Decimal
    from fractions import Fraction

    import numpy
    import torch
    from torch.autograd.variable import Variable

    if publish is None:
        from IPython.display import publish_display_data

        publish = _direct_publisher(publish_display_data)
    tensor_base = getattr(torch._C, "TensorBase", None) or torch._C._TensorBase
    engine = Variable._execution_engine
    _state.update(
        token=token,
        ns=namespace,
        timeout=float(probe_timeout_s),
        publish=publish,
        dumps=json.dumps,
        loads=json.loads,
        isfinite=math.isfinite,
        instructions=dis.get_instructions,
        CodeType=types.CodeType,
        catch_warnings=warnings.catch_warnings,
        simplefilter=warnings.simplefilter,
        recursion_limit=(sys.getrecursionlimit, sys.setrecursionlimit),
        dict_has=dict.__contains__,
        dict_get=dict.__getitem__,
        object_dict=lambda obj: object.__getattribute__(obj, "__dict__"),
        torch=torch,
        numpy=numpy,
        ndarray=numpy.ndarray,
        errstate=numpy.errstate,
        exact_numbers=frozenset((Fraction, Decimal)),
        Tensor=torch.Tensor,
        Parameter=torch.nn.Parameter,
        tensor_types=frozenset((torch.Tensor, torch.nn.Parameter)),
        item=tensor_base.item,
        tolist=tensor_base.tolist,
        dim=tensor_base.dim,
        is_complex=tensor_base.is_complex,
        detach=tensor_base.detach,
        reshape=tensor_base.reshape,
        to=tensor_base.to,
        copy_=tensor_base.copy_,
        requires_grad_=tensor_base.requires_grad_,
        grad_fn_of=tensor_base.__dict__["grad_fn"].__get__,
        requires_grad_of=tensor_base.__dict__["requires_grad"].__get__,
        shape_of=tensor_base.__dict__["shape"].__get__,
        grad_of=tensor_base.__dict__["grad"].__get__,
        Variable=Variable,
        engine=engine,
        run_backward=engine.run_backward,
        is_grad_enabled=torch._C.is_grad_enabled,
        set_grad_enabled=torch._C._set_grad_enabled,
        InferenceMode=torch._C._InferenceMode,
        signal=signal.signal,
        setitimer=signal.setitimer,
        numpy_types=frozenset(
            getattr(numpy, name)
            for name in (
                "float16", "float32", "float64", "longdouble",
                "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
            )
        ),
    )
    _state["ex34"] = _take_refs(torch)
    random.seed(seed)
    numpy.random.seed(seed % (2**32))
    torch.manual_seed(seed)


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
        if io_thread is not None:  # hand the answer to ZeroMQ before student code runs again (and may _exit)
            handed = event()
            io_thread.schedule(handed.set)
            handed.wait(1.0)
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


def run(request_text, start=0):
    """Run the probe calls of a request from ``start`` on, publishing each answer as soon as it is known."""
    calls = _state["loads"](request_text)
    for index in range(start, len(calls)):
        answer = _call_one(calls[index])
        answer["i"] = index
        _publish(answer)


def _publish(answer):
    try:
        text = _state["dumps"](answer, allow_nan=False)
    except (TypeError, ValueError) as exc:
        text = _state["dumps"]({"i": answer["i"], "ok": False, "error": _error_record("encode", exc)})
    mime = "application/vnd.grader." + _state["token"] + "+json"
    _state["publish"]({mime: text}, metadata={})


def _call_one(call):
    fn = PROBES.get(call.get("probe"))
    if fn is None:
        return {"ok": False, "error": {"type": "GraderBug", "message": "unknown probe " + repr(call.get("probe"))}}
    previous = _state["signal"](signal.SIGALRM, _on_alarm)
    _state["setitimer"](signal.ITIMER_REAL, _state["timeout"])
    try:
        return {"ok": True, "value": _in_grading_modes(fn, call.get("args", {}))}
    except ProbeTimeout:
        return {"ok": False, "error": {"type": "Timeout", "message": f"no answer within {_state['timeout']:g}s"}}
    except BaseException as exc:  # noqa: BLE001 - SystemExit and KeyboardInterrupt are student faults too
        return {"ok": False, "error": _error_record("probe", exc)}
    finally:
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


def _error_record(stage, exc):
    try:
        message = str(exc)
    except BaseException:  # noqa: BLE001 - a student exception whose __str__ raises
        message = "<unprintable>"
    return {"type": type(exc).__name__, "message": message[:500], "stage": stage}


# ---------------------------------------------------------------- plain data

def encode_number(value):
    """A student value as wire data: ``{"num": x}``, ``{"nonfinite": "nan"}`` or ``{"rejected": why}``.

    The contract accepts plain Python numbers, numpy scalars, 0-d numpy arrays
    and 0-d tensors. Types are checked exactly (``type(v) is float``), so
    subclasses with lying arithmetic and objects that fake ``__class__`` are
    rejected, not converted.
    """
    kind = type(value)
    if kind is bool or kind is _state["numpy"].bool_:
        return {"rejected": "a bool (True/False), not a number"}
    if kind is float or kind is int:
        number = float(value)
    elif kind in _state["numpy_types"]:
        number = float(value.item())
    elif kind is _state["ndarray"]:
        if value.ndim != 0:
            return {"rejected": f"a numpy array of shape {tuple(value.shape)}, not a single number"}
        if value.dtype.kind not in "iuf":
            return {"rejected": f"a numpy array of dtype {value.dtype}, not a real number"}
        number = float(value.item())
    elif kind in _state["tensor_types"]:
        if _state["dim"](value) != 0:
            return {"rejected": f"a tensor of shape {tuple(_state['shape_of'](value))}, not a single number"}
        if _state["is_complex"](value):
            return {"rejected": "a complex tensor"}
        number = float(_state["item"](value))
    elif kind in _state["exact_numbers"]:
        number = float(value)
    elif value is None:
        return {"rejected": "None"}
    else:
        return {"rejected": "a " + _type_name(value)}
    if not _state["isfinite"](number):
        return {"nonfinite": repr(number)}
    return {"num": number}


def _type_name(value):
    kind = type(value)
    module = getattr(kind, "__module__", "")
    name = getattr(kind, "__qualname__", "object")
    return name if module in ("builtins", "__main__", None, "") else module + "." + name


def _lookup(name):
    namespace = _state["ns"]
    if name not in namespace:
        raise NameError(f"name {name!r} is not defined")
    return namespace[name]


# ---------------------------------------------------------------- exercise 1

@probe
def numbers(names):
    """The values of global names, encoded as numbers (missing names say so)."""
    namespace = _state["ns"]
    return {name: (encode_number(namespace[name]) if name in namespace else {"missing": True}) for name in names}


class _BlockedEngine:
    """Stands in for torch's autograd engine while a function must not use it."""

    def __init__(self, real):
        self.real = real
        self.used = False

    def run_backward(self, *args, **kwargs):
        self.used = True
        raise AutogradBlocked("autograd is switched off while the grader checks manual_backprop")

    def __getattr__(self, name):
        return getattr(self.real, name)


@probe
def call_numeric(function, args_list, keys, forbid_autograd=False):
    """Call a global function at each argument tuple; encode the numbers under ``keys``.

    With ``forbid_autograd`` the autograd engine is replaced for the duration of
    each call, which catches ``Tensor.backward``, ``torch.autograd.grad`` and
    ``torch.func`` alike (they all end in the engine), however they were imported.
    """
    fn = _lookup(function)
    if not callable(fn):
        return {"not_callable": _type_name(fn)}
    results = []
    for args in args_list:
        results.append(_call_numeric_once(fn, args, keys, forbid_autograd))
    return {"results": results}


def _call_numeric_once(fn, args, keys, forbid_autograd):
    variable = _state["Variable"]
    guard = _BlockedEngine(_state["engine"]) if forbid_autograd else None
    if guard is not None:
        variable._execution_engine = guard
    try:
        returned = fn(*args)
    except ProbeTimeout:
        raise
    except BaseException as exc:  # noqa: BLE001
        if guard is not None and guard.used:
            return {"autograd": True}
        return {"raised": _error_record("call", exc)}
    finally:
        variable._execution_engine = _state["engine"]
    if guard is not None and guard.used:
        return {"autograd": True}
    if not issubclass(type(returned), dict):  # a dict subclass (OrderedDict, defaultdict) is a dict too
        return {"not_dict": _type_name(returned)}
    has, get = _state["dict_has"], _state["dict_get"]  # dict's own methods: a subclass's overrides are not asked
    return {"values": {key: (encode_number(get(returned, key)) if has(returned, key) else {"missing": True}) for key in keys}}


# ---------------------------------------------------------------- exercise 2

_DUAL_FORMS = (("methods", "sin", "cos"), ("functions", "sin", "cos"), ("functions", "dual_sin", "dual_cos"))


def _dual_form(dual_cls):
    """The accepted sin/cos form, following the contract's order of preference.

    Only functions the submission defines count: a top-level ``sin`` imported
    from math, numpy or torch is not an answer and does not hide ``dual_sin``.
    A form whose functions are still stubs (or raise NotImplementedError) gives
    way to the next one, so a student who wrote top-level functions and left
    the template's stub methods in place is graded on the functions.
    """
    found = []
    for form, sin_name, cos_name in _DUAL_FORMS:
        if form == "methods":
            sin_fn, cos_fn = _class_attribute(dual_cls, sin_name), _class_attribute(dual_cls, cos_name)
            calls = (lambda x: x.sin(), lambda x: x.cos())
        else:
            sin_fn, cos_fn = _state["ns"].get(sin_name), _state["ns"].get(cos_name)
            calls = (sin_fn, cos_fn)
        if _submission_function(sin_fn) and _submission_function(cos_fn):
            found.append((form, sin_name, *calls, _is_stub(sin_fn) and _is_stub(cos_fn)))
    for form, name, sin_fn, cos_fn, stub in found:
        if stub:
            continue
        try:
            sin_fn(dual_cls(0.5, 1.0))
            cos_fn(dual_cls(0.5, 1.0))
        except NotImplementedError:
            continue
        except ProbeTimeout:
            raise
        except BaseException:  # noqa: BLE001 - a broken form is still the student's chosen form
            pass
        return form, name, sin_fn, cos_fn, False
    if found:
        form, name, sin_fn, cos_fn, _ = found[0]
        return form, name, sin_fn, cos_fn, True
    return None


def _class_attribute(cls, name):
    try:
        return getattr(cls, name, None)
    except BaseException:  # noqa: BLE001 - a metaclass __getattr__ that raises
        return None


# Where functions that are not the submission's own come from (CONTRACT-04: "imported from math, numpy or torch").
_FOREIGN_MODULES = frozenset(("math", "cmath", "numpy", "torch", "builtins", "scipy", "sympy", "mpmath", "jax"))


def _submission_function(fn):
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


def _function_like(value):
    """A function or method (written in Python or built in), as opposed to a class or a callable object such as a model."""
    return type(getattr(getattr(value, "__func__", value), "__code__", None)) is _state["CodeType"] or (
        type(value).__name__ in _BUILTIN_FUNCTION_TYPES
    )


_STUB_NOISE = frozenset(("RESUME", "NOP", "CACHE", "EXTENDED_ARG", "PRECALL", "PUSH_NULL", "KW_NAMES", "COPY_FREE_VARS", "MAKE_CELL"))


def _is_stub(fn):
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


@probe
def answer_states(answers):
    """Whether each of an exercise's answers is still the template's stub.

    ``answers`` are global names or ``Class.attribute`` specs. Each gets
    ``missing``, ``none`` (the value is None), ``stub`` (a function whose body is
    only a stub), ``foreign`` (a function imported from a maths library, not
    written by the submission) or ``defined``.
    """
    return {spec: _answer_state(spec) for spec in answers}


def _answer_state(spec):
    name, _, attribute = spec.partition(".")
    namespace = _state["ns"]
    if name not in namespace:
        return "missing"
    value = namespace[name]
    if attribute:
        if value is None:
            return "missing"
        value = _class_attribute(value, attribute)
        if value is None:
            return "missing"
    if value is None:
        return "none"
    if _function_like(value):
        if not _submission_function(value):
            return "foreign"
        if _is_stub(value):
            return "stub"
    return "defined"


def _dual_eval_tree(tree, x, dual_cls, sin_fn, cos_fn):
    if tree == "x":
        return x
    if type(tree) in (int, float):
        return tree
    op = tree[0]
    args = [_dual_eval_tree(arg, x, dual_cls, sin_fn, cos_fn) for arg in tree[1:]]
    if op == "add":
        return args[0] + args[1]
    if op == "mul":
        return args[0] * args[1]
    if op == "pow":
        return args[0] ** args[1]
    if op == "sin":
        return sin_fn(args[0])
    if op == "cos":
        return cos_fn(args[0])
    raise ValueError("unknown op " + repr(op))


def _encode_dual(result, dual_cls):
    if not _is_dual(type(result), dual_cls):
        return {"not_dual": _type_name(result)}
    return {"value": encode_number(getattr(result, "value", None)), "deriv": encode_number(getattr(result, "deriv", None))}


def _is_dual(kind, dual_cls):
    """A DualNumber: the class itself, a subclass of it, or the lesson's class it was derived from."""
    if issubclass(kind, dual_cls):
        return True
    return kind in dual_cls.__mro__[1:] and getattr(kind, "__name__", "") == getattr(dual_cls, "__name__", "")


@probe
def dual_eval(cases, class_name="DualNumber"):
    """Evaluate expression trees on the student's DualNumber at given (value, deriv) seeds.

    Each case also reports whether the seed DualNumber was left unchanged.
    """
    dual_cls = _lookup(class_name)
    if not isinstance(dual_cls, type):
        return {"not_class": _type_name(dual_cls)}
    form = _dual_form(dual_cls)
    if form is None:
        return {"no_form": True}
    form_name, fn_name, sin_fn, cos_fn, stub = form
    results = []
    for case in cases:
        value, deriv = case["x"]
        try:
            x = dual_cls(value, deriv)
            result = _dual_eval_tree(case["expr"], x, dual_cls, sin_fn, cos_fn)
            record = _encode_dual(result, dual_cls)
            record["unchanged"] = (
                _is_dual(type(x), dual_cls)
                and encode_number(getattr(x, "value", None)) == {"num": float(value)}
                and encode_number(getattr(x, "deriv", None)) == {"num": float(deriv)}
            )
        except ProbeTimeout:
            raise
        except NotImplementedError as exc:
            record = {"raised": _error_record("call", exc), "not_implemented": True}
        except BaseException as exc:  # noqa: BLE001
            record = {"raised": _error_record("call", exc)}
        results.append(record)
    return {"form": form_name, "names": fn_name, "stub": stub, "results": results}


# ---- exercise 3

_GRAPH_NODE_CAP = 5000
_CHAIN_CAP = 5000


def _take_refs(torch):
    """The torch objects the exercise 3 and 4 probes rely on, taken by ``install`` before any student code."""
    nn = torch.nn
    activations = {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid, "gelu": nn.GELU}
    module_call = [(nn.Module, name) for name in ("__call__", "_call_impl", "_wrapped_call_impl", "__getattr__")]
    forwards = [(cls, "forward") for cls in (nn.Linear, nn.Sequential, *activations.values())]
    autograd = torch._C._autograd
    return {
        "Module": nn.Module,
        "Linear": nn.Linear,
        "Sequential": nn.Sequential,
        "pre_hook": nn.Module.register_forward_pre_hook,
        "linear": nn.functional.linear,
        "activations": activations,
        "push_saved_hooks": autograd._push_saved_tensors_default_hooks,
        "pop_saved_hooks": autograd._pop_saved_tensors_default_hooks,
        "no_grad": torch.no_grad,
        "fork_rng": torch.random.fork_rng,
        "Generator": torch.Generator,
        "randn": torch.randn,
        "tensor": torch.tensor,
        "ones_like": torch.ones_like,
        "mul": torch.mul,
        "add": torch.add,
        "pow": torch.pow,
        "float64": torch.float64,
        "storage": torch._C.TensorBase.untyped_storage if hasattr(torch._C, "TensorBase") else torch.Tensor.untyped_storage,
        "data_ptr": torch._C.StorageBase.data_ptr,
        "nbytes": torch._C.StorageBase.nbytes,
        # Restored while the grader runs its own modules, so a late patch cannot change what is observed.
        "pinned": [(owner, name, owner.__dict__[name]) for owner, name in module_call + forwards if name in owner.__dict__],
        "ops": {
            "sin": torch.sin, "cos": torch.cos, "exp": torch.exp, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
            "relu": torch.relu, "sum": torch.sum, "mean": torch.mean,
        },
    }


def _refs():
    return _state["ex34"]


class _Pinned:
    """While active, the torch attributes ``install`` pinned are the originals again; the student's come back after."""

    def __enter__(self):
        self.theirs = []
        for owner, name, original in _refs()["pinned"]:
            current = owner.__dict__.get(name)
            if current is not original:
                self.theirs.append((owner, name, current))
                setattr(owner, name, original)
        return self

    def __exit__(self, *exc):
        for owner, name, theirs in self.theirs:
            if theirs is None:
                delattr(owner, name)
            else:
                setattr(owner, name, theirs)
        return False


def _is_tensor(value):
    return type(value) in _state["tensor_types"]


def _lookup_or_none(name):
    """The global ``name``, or a ``{"missing": name}`` record when it is not defined."""
    namespace = _state["ns"]
    if name not in namespace:
        return None, {"missing": name}
    return namespace[name], None


def _is_module(value):
    return issubclass(type(value), _refs()["Module"])


def _own_dict(value, key):
    """A module's own ``_modules`` or ``_parameters`` dict, read without calling any of its methods."""
    try:
        found = _state["object_dict"](value).get(key)
    except BaseException:  # noqa: BLE001 - an object without a __dict__
        return {}
    return found if type(found) is dict else {}


def _named_modules(root):
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
        children = [(name + "." + child if name else child, sub) for child, sub in _own_dict(module, "_modules").items()]
        stack.extend(reversed([(child, sub) for child, sub in children if _is_module(sub)]))
    return found


def _named_parameters(root, recurse=True):
    """(name, parameter) for a module's parameters (each once), read from the modules' own ``_parameters``."""
    found, seen = [], set()
    for prefix, module in _named_modules(root) if recurse else [("", root)]:
        for name, param in _own_dict(module, "_parameters").items():
            if _is_tensor(param) and id(param) not in seen:
                seen.add(id(param))
                found.append((prefix + "." + name if prefix else name, param))
    return found


@probe
def module_summary(model):
    """The module tree of a global ``nn.Module``: each submodule's name, type and whether it is an ``nn.Linear``."""
    value, missing = _lookup_or_none(model)
    if missing is not None:
        return missing
    if value is None:
        return {"rejected": "None"}
    if not _is_module(value):
        return {"not_module": _type_name(value)}
    linear = _refs()["Linear"]
    return {"modules": [{"name": name, "type": _type_name(sub), "linear": issubclass(type(sub), linear)} for name, sub in _named_modules(value)]}


def _graph_of(root):
    """Serialise the autograd graph under ``root`` breadth first: names and edges along ``next_functions``.

    Returns the JSON part and the node objects in the same order (kept alive so
    that ``id`` stays meaningful while the probe runs).
    """
    keep = [root]
    index = {id(root): 0}
    nodes = []
    position = 0
    while position < len(keep):
        node = keep[position]
        position += 1
        children = []
        for child, _ in node.next_functions:
            if child is None:
                continue
            key = id(child)
            if key not in index:
                if len(keep) >= _GRAPH_NODE_CAP:
                    return {"too_big": _GRAPH_NODE_CAP}, keep
                index[key] = len(keep)
                keep.append(child)
            if index[key] not in children:
                children.append(index[key])
        nodes.append({"name": type(node).__name__, "alias": _node_alias(node), "next": children})
    return {"nodes": nodes}, keep


def _node_alias(node):
    try:
        alias = node.name()
    except BaseException:  # noqa: BLE001 - a node without a usable name() still has a type name
        return ""
    return alias if type(alias) is str else ""


def _param_leaves(named, layers, keep):
    """Which graph nodes are the AccumulateGrad leaves of the given named parameters."""
    by_id = {id(param): name for name, param in named}
    leaves = {}
    for position, node in enumerate(keep):
        if type(node).__name__ == "AccumulateGrad":
            variable = getattr(node, "variable", None)
            if id(variable) in by_id:
                leaves[str(position)] = by_id[id(variable)]
    trainable = [name for name, param in named if _state["requires_grad_of"](param)]
    return {"leaves": leaves, "trainable": trainable, "layers": layers}


def _module_params(model):
    named = _named_parameters(model)
    layers = []
    linear = _refs()["Linear"]
    for name, sub in _named_modules(model):
        if issubclass(type(sub), linear):
            own = [(name + "." if name else "") + pname for pname, _ in _named_parameters(sub, recurse=False)]
            layers.append({"name": name or "(the model itself)", "params": own})
    return named, layers


def _build_graph(spec):
    """A fresh tensor with a graph the judge designed: an MLP of F.linear layers, or a chain of operations."""
    refs = _refs()
    f64 = refs["float64"]
    generator = refs["Generator"]().manual_seed(int(spec["seed"]))

    def randn(*shape, grad=True):
        return _state["requires_grad_"](refs["randn"](*shape, generator=generator, dtype=f64), grad)

    if spec["kind"] == "mlp":
        sizes = spec["sizes"]
        hidden = refs["ops"][spec["activation"]]
        h = randn(spec["batch"], sizes[0], grad=bool(spec.get("input_grad", False)))
        named, layers = [], []
        for i in range(len(sizes) - 1):
            weight = randn(sizes[i + 1], sizes[i])
            bias = randn(sizes[i + 1]) if spec["bias"][i] else None
            h = refs["linear"](h, weight, bias)
            if i < len(sizes) - 2:
                h = hidden(h)
            label = f"layer{i + 1}"
            own = [(label + ".weight", weight)] + ([(label + ".bias", bias)] if bias is not None else [])
            named += own
            layers.append({"name": label, "params": [n for n, _ in own]})
        if spec.get("reduce") in ("sum", "mean"):
            h = refs["ops"][spec["reduce"]](h)
        return h, named, layers
    x, w = randn(spec["size"]), randn(spec["size"])
    h = x
    binary = {
        "mul_leaf": lambda h: refs["mul"](h, w),
        "leaf_mul": lambda h: refs["mul"](w, h),
        "mul_const": lambda h: refs["mul"](h, 2.5),
        "add_const": lambda h: refs["add"](h, 1.5),
        "pow2": lambda h: refs["pow"](h, 2),
    }
    for op in spec["ops"]:
        h = binary[op](h) if op in binary else refs["ops"][op](h)
    return h, [("x", x), ("w", w)], []


def _call_student(function, *args):
    """``(True, result)``, or ``(False, record)`` when the student's function raised.

    A function that once ran out of time is not called again (it would cost a
    full probe timeout per graph); its later calls report the timeout at once.
    """
    hung = _state.setdefault("hung", set())
    if id(function) in hung:
        return False, {"raised": {"type": "Timeout", "message": "it did not finish in time", "stage": "call"}}
    hung.add(id(function))
    try:
        result = function(*args)
    except ProbeTimeout:
        raise
    except NotImplementedError as exc:
        hung.discard(id(function))
        return False, {"raised": _error_record("call", exc), "not_implemented": True}
    except BaseException as exc:  # noqa: BLE001
        hung.discard(id(function))
        return False, {"raised": _error_record("call", exc)}
    hung.discard(id(function))
    return True, result


def _has_attribute(value, name):
    try:
        return hasattr(value, name)
    except BaseException:  # noqa: BLE001 - a student __getattr__ that raises something else
        return False


def _call_chain(function, tensor):
    """The student's chain function on ``tensor``: its list of strings, or what went wrong."""
    ok, returned = _call_student(function, tensor)
    if not ok:
        return returned
    if type(returned) not in (list, tuple):
        return {"not_list": _type_name(returned)}
    names = []
    for position, item in enumerate(returned[:_CHAIN_CAP]):
        if type(item) is not str:
            return {"not_strings": _type_name(item), "at": position, "node": _has_attribute(type(item), "next_functions")}
        names.append(item[:200])
    return {"names": names, "length": len(returned)}


@probe
def grad_graph(tensor=None, build=None, model=None, function=None):
    """The graph behind a global tensor (or a fresh one built from ``build``) as JSON.

    With ``model`` the AccumulateGrad leaves that are the model's parameters are
    named and its linear layers listed; with ``function`` the student's chain
    function is called on the same tensor and its answer reported.
    """
    chain_fn = None
    if function is not None:
        chain_fn, missing = _lookup_or_none(function)
        if missing is not None:
            return missing
    named = layers = None
    if build is not None:
        value, named, layers = _build_graph(build)
    else:
        value, missing = _lookup_or_none(tensor)
        if missing is not None:
            return missing
        if value is None:
            return {"rejected": "None"}
        if not _is_tensor(value):
            return {"not_tensor": _type_name(value), "grad_fn_attribute": _has_attribute(value, "grad_fn")}
    if model is not None:
        module, missing = _lookup_or_none(model)
        if missing is not None:
            return missing
        if module is None or not _is_module(module):
            return {"model_not_module": "None" if module is None else _type_name(module)}
        named, layers = _module_params(module)
    root = _state["grad_fn_of"](value)
    if root is None:
        return {"no_grad_fn": True, "requires_grad": bool(_state["requires_grad_of"](value))}
    graph, keep = _graph_of(root)
    result = {"graph": graph}
    if named is not None and "too_big" not in graph:
        result["params"] = _param_leaves(named, layers, keep)
    if chain_fn is not None:
        result["chain"] = _call_chain(chain_fn, value) if callable(chain_fn) else {"not_callable": _type_name(chain_fn)}
    return result


# ---- exercise 4

_MAX_VALUES = 4096


@probe
def text_value(name):
    """A global string (capped), or why it is not one."""
    value, missing = _lookup_or_none(name)
    if missing is not None:
        return missing
    if type(value) is not str:
        return {"rejected": "None" if value is None else _type_name(value)}
    return {"text": value[:20000]}


def _encode_tensor(value):
    """A tensor as wire data: shape and flat float values (non-finite ones as null), or why it is not one."""
    if value is None:
        return None
    if not _is_tensor(value):
        return {"rejected": _type_name(value)}
    if _state["is_complex"](value):
        return {"rejected": "a complex tensor"}
    try:
        flat = _state["reshape"](_state["detach"](value), (-1,))[:_MAX_VALUES]
        values = _state["tolist"](_state["to"](flat, _refs()["float64"]))
    except BaseException as exc:  # noqa: BLE001 - e.g. a meta or sparse tensor
        return {"rejected": f"an unreadable tensor ({type(exc).__name__})"}
    values = [v if _state["isfinite"](v) else None for v in values]
    return {"shape": list(_state["shape_of"](value)), "values": values, "nonfinite": None in values}


def _build_sequential(layers):
    """The judge's nn.Sequential, in float64, with the judge's weights."""
    refs = _refs()
    f64 = refs["float64"]
    modules = []
    with refs["fork_rng"](devices=[]), refs["no_grad"]():
        for layer in layers:
            if "linear" in layer:
                weight, bias = layer["linear"]
                module = refs["Linear"](len(weight[0]), len(weight), dtype=f64)
                params = _own_dict(module, "_parameters")
                _state["copy_"](params["weight"], refs["tensor"](weight, dtype=f64))
                _state["copy_"](params["bias"], refs["tensor"](bias, dtype=f64))
            else:
                module = refs["activations"][layer["activation"]]()
            modules.append(module)
    return refs["Sequential"](*modules)


class _Recorder:
    """Counts, for one run, the bytes saved for backward and the calls of each layer in each phase."""

    def __init__(self, model):
        refs = _refs()
        self.phase = None
        self.params = {refs["data_ptr"](refs["storage"](p)) for _, p in _named_parameters(model)}
        self.saved = {}
        self.layers = [module for _, module in sorted(_own_dict(model, "_modules").items(), key=lambda item: int(item[0]))]
        self.forward_calls = [0] * len(self.layers)
        self.backward_order = []
        self.handles = [refs["pre_hook"](module, self._hook(i)) for i, module in enumerate(self.layers)]

    def _hook(self, position):
        def hook(module, inputs):
            if self.phase == "forward":
                self.forward_calls[position] += 1
            elif self.phase == "backward" and len(self.backward_order) < 10000:
                self.backward_order.append(position)
        return hook

    def pack(self, tensor):
        # One entry per storage: an activation saved by two nodes (ReLU and the next Linear) is one block of memory.
        refs = _refs()
        try:
            storage = refs["storage"](tensor)
            key, size = refs["data_ptr"](storage), refs["nbytes"](storage)
        except BaseException:  # noqa: BLE001 - a tensor without a plain storage must not break the student's forward
            key, size = id(tensor), 0
        if key not in self.params:
            self.saved[key] = size
        return tensor

    def forward(self, run):
        refs = _refs()
        self.phase = "forward"
        refs["push_saved_hooks"](self.pack, _unpack)
        try:
            return run()
        finally:
            refs["pop_saved_hooks"]()
            self.phase = None

    def backward(self, output, upstream):
        self.phase = "backward"
        try:
            _state["run_backward"]((output,), (upstream,), False, False, (), allow_unreachable=True, accumulate_grad=True)
        finally:
            self.phase = None

    def report(self):
        for handle in self.handles:
            handle.remove()
        return {"saved_bytes": sum(self.saved.values()), "forward_calls": self.forward_calls, "backward_order": self.backward_order}


def _unpack(tensor):
    return tensor


def _checkpoint_once(function, spec, segments):
    refs = _refs()
    model = _build_sequential(spec["layers"])
    x = refs["tensor"](spec["x"], dtype=refs["float64"], requires_grad=True)
    upstream = refs["tensor"](spec["upstream"], dtype=refs["float64"])
    recorder = _Recorder(model)
    record = {"segments": segments}
    if function is None:
        ok, output = True, recorder.forward(lambda: model(x))
    else:
        ok, output = recorder.forward(lambda: _call_student(function, model, x, segments))
    if not ok:
        record.update(output)
        record.update(recorder.report())
        return record
    record["output"] = _encode_tensor(output)
    requires_grad = _is_tensor(output) and _state["requires_grad_of"](output)
    if requires_grad:
        if list(_state["shape_of"](output)) != list(_state["shape_of"](upstream)):
            # Still run backward (with ones) so that checkpointing is measured even when the output is wrong.
            upstream = refs["ones_like"](output)
            record["upstream"] = "ones"
        try:
            recorder.backward(output, upstream)
        except ProbeTimeout:
            raise
        except BaseException as exc:  # noqa: BLE001
            record["backward_error"] = _error_record("backward", exc)
    elif _is_tensor(output):
        record["backward_error"] = {"type": "NoGraph", "message": "the output does not require grad", "stage": "backward"}
    record["x_grad"] = _encode_tensor(_state["grad_of"](x))
    record["param_grads"] = {name: _encode_tensor(_state["grad_of"](p)) for name, p in _named_parameters(model)}
    record.update(recorder.report())
    return record


@probe
def checkpoint_run(function, spec, segments):
    """Run the student's checkpointed forward on the judge's Sequential for each segment count, then backward.

    Also runs a plain ``model(x)`` the same way, as the baseline for saved bytes.
    """
    fn, missing = _lookup_or_none(function)
    if missing is not None:
        return missing
    if fn is None:
        return {"rejected": "None"}
    if not callable(fn):
        return {"not_callable": _type_name(fn)}
    with _Pinned():
        plain = _checkpoint_once(None, spec, 0)
        runs = [_checkpoint_once(fn, spec, count) for count in segments]
    return {"plain": plain, "runs": runs}
