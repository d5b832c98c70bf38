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


def install(token, namespace, seed, probe_timeout_s):
    """Capture the references the probes need, before any student code runs."""
    import random

    import numpy
    import torch
    from IPython.display import publish_display_data
    from torch.autograd.variable import Variable

    _state.update(
        token=token,
        ns=namespace,
        timeout=float(probe_timeout_s),
        publish=publish_display_data,
        dumps=json.dumps,
        loads=json.loads,
        isfinite=math.isfinite,
        torch=torch,
        numpy=numpy,
        Tensor=torch.Tensor,
        item=torch.Tensor.item,
        tolist=torch.Tensor.tolist,
        dim=torch.Tensor.dim,
        is_floating=torch.Tensor.is_floating_point,
        is_complex=torch.Tensor.is_complex,
        Variable=Variable,
        engine=Variable._execution_engine,
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
    random.seed(seed)
    numpy.random.seed(seed % (2**32))
    torch.manual_seed(seed)


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
        return {"ok": True, "value": fn(**call.get("args", {}))}
    except ProbeTimeout:
        return {"ok": False, "error": {"type": "Timeout", "message": "no answer within %gs" % _state["timeout"]}}
    except BaseException as exc:  # noqa: BLE001 - SystemExit and KeyboardInterrupt are student faults too
        return {"ok": False, "error": _error_record("probe", exc)}
    finally:
        _state["setitimer"](signal.ITIMER_REAL, 0)
        _state["signal"](signal.SIGALRM, previous)


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

    Types are checked exactly (``type(v) is float``), so subclasses with lying
    arithmetic and objects that fake ``__class__`` are rejected, not converted.
    """
    kind = type(value)
    if kind is bool:
        return {"rejected": "a bool (True/False), not a number"}
    if kind is float or kind is int:
        number = float(value)
    elif kind in _state["numpy_types"]:
        number = float(value.item())
    elif kind is _state["Tensor"]:
        if _state["dim"](value) != 0:
            return {"rejected": "a tensor of shape %s, not a single number" % (tuple(value.shape),)}
        if _state["is_complex"](value):
            return {"rejected": "a complex tensor"}
        number = float(_state["item"](value))
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
        raise NameError("name %r is not defined" % name)
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
    if type(returned) is not dict:
        return {"not_dict": _type_name(returned)}
    return {"values": {key: (encode_number(returned[key]) if key in returned else {"missing": True}) for key in keys}}


# ---------------------------------------------------------------- exercise 2

_DUAL_FORMS = (("methods", "sin", "cos"), ("functions", "sin", "cos"), ("functions", "dual_sin", "dual_cos"))


def _dual_form(dual_cls):
    """The accepted sin/cos form, following the contract's order of preference.

    A form whose functions still raise NotImplementedError (the template's
    stubs) gives way to the next one, so a student who wrote top-level
    functions and left the stub methods in place is graded on the functions.
    """
    found = []
    for form, sin_name, cos_name in _DUAL_FORMS:
        if form == "methods":
            sin_fn = getattr(dual_cls, sin_name, None)
            cos_fn = getattr(dual_cls, cos_name, None)
            if callable(sin_fn) and callable(cos_fn):
                found.append((form, sin_name, lambda x: x.sin(), lambda x: x.cos()))
        else:
            sin_fn = _state["ns"].get(sin_name)
            cos_fn = _state["ns"].get(cos_name)
            if callable(sin_fn) and callable(cos_fn):
                found.append((form, sin_name, sin_fn, cos_fn))
    for form, name, sin_fn, cos_fn in found:
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
        form, name, sin_fn, cos_fn = found[0]
        return form, name, sin_fn, cos_fn, True
    return None


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
    if type(result) is not dual_cls:
        return {"not_dual": _type_name(result)}
    return {"value": encode_number(getattr(result, "value", None)), "deriv": encode_number(getattr(result, "deriv", None))}


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
                type(x) is dual_cls
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
