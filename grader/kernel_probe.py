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
    """Raised by the alarm (or, in portable mode, the grader's interrupt) when one probe call runs past its time limit."""


class AutogradBlocked(RuntimeError):
    """Raised when student code starts torch's autograd engine while it is forbidden."""


def probe(fn):
    PROBES[fn.__name__] = fn
    return fn


def install(token, namespace, seed, probe_timeout_s, timer="alarm"):
    """Capture the references the probes need, before any student code runs.

    ``timer`` says who keeps each call's time limit: ``"alarm"``, this runtime
    with SIGALRM (Linux sandbox); ``"interrupt"``, the grader, which interrupts
    the kernel when no answer came in time (portable mode, Windows included).
    """
    import random

    import numpy
    import torch
    from IPython.display import publish_display_data
    from torch.autograd.variable import Variable

    _state.update(
        token=token,
        ns=namespace,
        timeout=float(probe_timeout_s),
        publish=_direct_publisher(publish_display_data),
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
        timer=timer,
        setitimer=getattr(signal, "setitimer", None),  # POSIX only; unused with timer="interrupt"
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
    alarm = _state["timer"] == "alarm"
    if alarm:
        previous = _state["signal"](signal.SIGALRM, _on_alarm)
        _state["setitimer"](signal.ITIMER_REAL, _state["timeout"])
    else:  # the grader's interrupt (SIGINT, or Windows' interrupt event) ends this call; between calls it is ignored
        _state["signal"](signal.SIGINT, _on_interrupt)
    _state["calling"] = True
    try:
        return {"ok": True, "value": fn(**call.get("args", {}))}
    except ProbeTimeout:
        return {"ok": False, "error": {"type": "Timeout", "message": f"no answer within {_state['timeout']:g}s"}}
    except BaseException as exc:  # noqa: BLE001 - SystemExit and KeyboardInterrupt are student faults too
        if not alarm and type(exc) is KeyboardInterrupt:  # student code put the default SIGINT handler back
            return {"ok": False, "error": {"type": "Timeout", "message": f"no answer within {_state['timeout']:g}s"}}
        return {"ok": False, "error": _error_record("probe", exc)}
    finally:
        _state["calling"] = False
        if alarm:
            _state["setitimer"](signal.ITIMER_REAL, 0)
            _state["signal"](signal.SIGALRM, previous)


def _on_alarm(signum, frame):
    raise ProbeTimeout()


def _on_interrupt(signum, frame):
    if _state.get("calling"):  # an interrupt that comes just after a call ended must not cost the next one
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
            return {"rejected": f"a tensor of shape {tuple(value.shape)}, not a single number"}
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


# ---- exercise 3

_GRAPH_NODE_CAP = 5000
_CHAIN_CAP = 5000


def _refs():
    """The torch objects the exercise 3 and 4 probes rely on, taken once and kept in ``_state``.

    Taken on first use (after the student's cells ran) unless ``install`` calls
    this first, which makes them immune to a student rebinding ``torch.nn.Linear``.
    """
    refs = _state.get("ex34")
    if refs is not None:
        return refs
    torch = _state["torch"]
    nn = torch.nn
    refs = {
        "Module": nn.Module,
        "Linear": nn.Linear,
        "Sequential": nn.Sequential,
        "named_modules": nn.Module.named_modules,
        "named_parameters": nn.Module.named_parameters,
        "pre_hook": nn.Module.register_forward_pre_hook,
        "linear": nn.functional.linear,
        "activations": {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid, "gelu": nn.GELU},
        "saved_tensors_hooks": torch.autograd.graph.saved_tensors_hooks,
        "backward": torch.autograd.backward,
        "no_grad": torch.no_grad,
        "fork_rng": torch.random.fork_rng,
        "Generator": torch.Generator,
        "randn": torch.randn,
        "tensor": torch.tensor,
        "ones_like": torch.ones_like,
        "float64": torch.float64,
        "storage": torch.Tensor.untyped_storage,
        "ops": {
            "sin": torch.sin, "cos": torch.cos, "exp": torch.exp, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
            "relu": torch.relu, "sum": torch.sum, "mean": torch.mean,
        },
    }
    _state["ex34"] = refs
    return refs


def _is_tensor(value):
    return type(value) is _state["Tensor"]


def _lookup_or_none(name):
    """The global ``name``, or a ``{"missing": name}`` record when it is not defined."""
    namespace = _state["ns"]
    if name not in namespace:
        return None, {"missing": name}
    return namespace[name], None


@probe
def module_summary(model):
    """The module tree of a global ``nn.Module``: each submodule's name, type and whether it is an ``nn.Linear``."""
    value, missing = _lookup_or_none(model)
    if missing is not None:
        return missing
    if value is None:
        return {"rejected": "None"}
    refs = _refs()
    if not issubclass(type(value), refs["Module"]):
        return {"not_module": _type_name(value)}
    modules = []
    for name, sub in refs["named_modules"](value):
        modules.append({"name": name, "type": _type_name(sub), "linear": issubclass(type(sub), refs["Linear"])})
        if len(modules) >= 1000:
            break
    return {"modules": modules}


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
    trainable = [name for name, param in named if param.requires_grad]
    return {"leaves": leaves, "trainable": trainable, "layers": layers}


def _module_params(model):
    refs = _refs()
    named = list(refs["named_parameters"](model))
    layers = []
    for name, sub in refs["named_modules"](model):
        if issubclass(type(sub), refs["Linear"]):
            own = [(name + "." if name else "") + pname for pname, _ in refs["named_parameters"](sub, recurse=False)]
            layers.append({"name": name or "(the model itself)", "params": own})
    return named, layers


def _build_graph(spec):
    """A fresh tensor with a graph the judge designed: an MLP of F.linear layers, or a chain of operations."""
    refs = _refs()
    f64 = refs["float64"]
    generator = refs["Generator"]().manual_seed(int(spec["seed"]))

    def randn(*shape, grad=True):
        return refs["randn"](*shape, generator=generator, dtype=f64).requires_grad_(grad)

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
    for op in spec["ops"]:
        if op == "mul_leaf":
            h = h * w
        elif op == "leaf_mul":
            h = w * h
        elif op == "mul_const":
            h = h * 2.5
        elif op == "add_const":
            h = h + 1.5
        elif op == "pow2":
            h = h ** 2
        else:
            h = refs["ops"][op](h)
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
        if module is None or not issubclass(type(module), _refs()["Module"]):
            return {"model_not_module": "None" if module is None else _type_name(module)}
        named, layers = _module_params(module)
    root = value.grad_fn
    if root is None:
        return {"no_grad_fn": True, "requires_grad": bool(value.requires_grad)}
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
        flat = _state["tolist"](value.detach().reshape(-1)[:_MAX_VALUES].to(_refs()["float64"]))
    except BaseException as exc:  # noqa: BLE001 - e.g. a meta or sparse tensor
        return {"rejected": f"an unreadable tensor ({type(exc).__name__})"}
    values = [v if _state["isfinite"](v) else None for v in flat]
    return {"shape": list(value.shape), "values": values, "nonfinite": None in values}


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
                module.weight.copy_(refs["tensor"](weight, dtype=f64))
                module.bias.copy_(refs["tensor"](bias, dtype=f64))
            else:
                module = refs["activations"][layer["activation"]]()
            modules.append(module)
    return refs["Sequential"](*modules)


class _Recorder:
    """Counts, for one run, the bytes saved for backward and the calls of each layer in each phase."""

    def __init__(self, model):
        refs = _refs()
        self.phase = None
        self.params = {refs["storage"](p).data_ptr() for _, p in refs["named_parameters"](model)}
        self.saved = {}
        self.forward_calls = [0] * len(model)
        self.backward_order = []
        self.handles = [refs["pre_hook"](module, self._hook(i)) for i, module in enumerate(model)]

    def _hook(self, position):
        def hook(module, inputs):
            if self.phase == "forward":
                self.forward_calls[position] += 1
            elif self.phase == "backward" and len(self.backward_order) < 10000:
                self.backward_order.append(position)
        return hook

    def pack(self, tensor):
        # One entry per storage: an activation saved by two nodes (ReLU and the next Linear) is one block of memory.
        try:
            storage = _refs()["storage"](tensor)
            key, size = storage.data_ptr(), storage.nbytes()
        except BaseException:  # noqa: BLE001 - a tensor without a plain storage must not break the student's forward
            key, size = id(tensor), 0
        if key not in self.params:
            self.saved[key] = size
        return tensor

    def forward(self, run):
        self.phase = "forward"
        try:
            with _refs()["saved_tensors_hooks"](self.pack, _unpack):
                return run()
        finally:
            self.phase = None

    def backward(self, output, upstream):
        self.phase = "backward"
        try:
            _refs()["backward"](output, upstream)
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
    if _is_tensor(output) and output.requires_grad:
        if list(output.shape) != list(upstream.shape):
            # Still run backward (with ones) so that checkpointing is measured even when the output is wrong.
            upstream = refs["ones_like"](output)
            record["upstream"] = "ones"
        try:
            recorder.backward(output, upstream)
        except ProbeTimeout:
            raise
        except BaseException as exc:  # noqa: BLE001
            record["backward_error"] = _error_record("backward", exc)
    elif _is_tensor(output) and not output.requires_grad:
        record["backward_error"] = {"type": "NoGraph", "message": "the output does not require grad", "stage": "backward"}
    record["x_grad"] = _encode_tensor(x.grad)
    record["param_grads"] = {name: _encode_tensor(p.grad) for name, p in refs["named_parameters"](model)}
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
    plain = _checkpoint_once(None, spec, 0)
    runs = [_checkpoint_once(fn, spec, count) for count in segments]
    return {"plain": plain, "runs": runs}
