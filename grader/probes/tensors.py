# Over 500 lines on purpose: a probe module is one unit of source sent into the kernel and booted there (probes/boot.py);
# its requests, answers and the helpers they share travel together, and the runtime checks each module's references once.
"""Probes for tensor code, driven by the rubric alone: call, differentiate, inspect and provoke the student's code.

Values travel both ways as plain data. The judge sends *argument specs* with
explicit data (``{"tensor": {"shape", "dtype", "values", "requires_grad"}}``,
``{"number": x}``, ``{"module": {"layers": [...]}}`` ...); :func:`build_value`
turns them into objects, in the kernel for the student's code and in the
grader's process for the reference, from this same source. Whatever comes
back is encoded by :func:`encode_value`, also on both sides, so the judge
compares like with like. Numbers and tensors inside a value are in the one
wire format (:mod:`grader.probes.wire`). Both take ``kit``, the references the
runtime took at install (``_state``, filled by the install hooks; in the
grader's process by ``take_references``), before any student code.

Targets (what is called): ``{"function": name}`` a global function;
``{"apply": name}`` a global ``torch.autograd.Function`` subclass, through its
``apply``; ``{"module": name}`` a global ``nn.Module``, called on the
arguments; ``{"method": "Class.method", "init": [specs]}`` a method of a new
instance of a global class.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the kernel runs this module in the runtime's namespace: every name is already there
    from grader.probes.runtime import *  # noqa: F403
    from grader.probes.runtime import _state

_VALUES_CAP = 4096
_ITEMS_CAP = 64
_DEPTH_CAP = 5


def _references(torch):
    """The torch objects building and encoding values needs beyond the codec's, taken at install (before student code)."""
    nn = torch.nn
    return {
        "tensor": torch.tensor,
        "randn": torch.randn,
        "zeros": torch.zeros,
        "ones": torch.ones,
        "mul": torch.mul,
        "add": torch.add,
        "sum": torch.sum,
        "Generator": torch.Generator,
        "no_grad": torch.no_grad,
        "float64": torch.float64,
        "Linear": nn.Linear,
        "Sequential": nn.Sequential,
        "Function": torch.autograd.Function,
        # The genuine Function.apply, taken before student code: a class is called through it, so a patched
        # ``torch.autograd.Function.apply`` (or an ``apply`` of the student's own) never answers for forward/backward.
        "function_apply": torch.autograd.Function.__dict__["apply"],
        "device_of": (getattr(torch._C, "TensorBase", None) or torch._C._TensorBase).__dict__["device"].__get__,
        "activations": {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU, "identity": nn.Identity},
    }


ON_INSTALL.append(_references)


# ---------------------------------------------------------------- building values from specs (both sides)


def build_value(spec, kit):
    """The object an argument spec describes (a fresh one at each call: the code under test may change it)."""
    if "tensor" in spec:
        data = spec["tensor"]
        dtype = kit["dtypes"][data.get("dtype", "float32")]
        flat = kit["tensor"](data["values"], dtype=dtype)
        value = kit["reshape"](flat, tuple(data["shape"]))
        return kit["requires_grad_"](value, True) if data.get("requires_grad") else value
    if "number" in spec:
        return float(spec["number"])
    if "int" in spec:
        return int(spec["int"])
    if "bool" in spec:
        return bool(spec["bool"])
    if "str" in spec:
        return str(spec["str"])
    if "none" in spec:
        return None
    if "list" in spec:
        return [build_value(item, kit) for item in spec["list"]]
    if "tuple" in spec:
        return tuple(build_value(item, kit) for item in spec["tuple"])
    if "dict" in spec:
        return {key: build_value(item, kit) for key, item in spec["dict"].items()}
    if "module" in spec:
        return build_module(spec["module"], kit)
    raise ValueError("unknown argument spec " + repr(sorted(spec)))


def build_module(spec, kit):
    """An ``nn.Sequential`` (or the single layer) with the judge's weights: ``{"layers": [{"linear": [w, b]}, {"activation": a}]}``."""
    dtype = kit["dtypes"][spec.get("dtype", "float32")]
    layers = []
    with kit["no_grad"]():
        for layer in spec["layers"]:
            if "linear" in layer:
                weight, bias = layer["linear"]
                module = kit["Linear"](len(weight[0]), len(weight), bias=bias is not None, dtype=dtype)
                params = object.__getattribute__(module, "__dict__")["_parameters"]
                kit["copy_"](params["weight"], kit["tensor"](weight, dtype=dtype))
                if bias is not None:
                    kit["copy_"](params["bias"], kit["tensor"](bias, dtype=dtype))
            else:
                module = kit["activations"][layer["activation"]]()
            layers.append(module)
    if spec.get("single") and len(layers) == 1:
        return layers[0]
    return kit["Sequential"](*layers)


# ---------------------------------------------------------------- encoding values (both sides)


def encode_value(value, kit, depth=0):
    """A value as plain data, with exact type checks (a subclass of float or a fake tensor is not believed)."""
    kind = type(value)
    if value is None:
        return {"none": True}
    if kind is bool or kind is kit["numpy_bool"]:
        return {"bool": bool(value)}
    if kind is int or kind is float or kind in kit["numpy_scalars"]:
        return {"number": wire.encode_float(float(value))}
    if kind in kit["tensor_types"]:
        return {"tensor": encode_tensor_data(value, kit)}
    if kind is kit["ndarray"]:
        if value.dtype.kind not in "biuf":
            return {"array": {"shape": list(value.shape), "dtype": str(value.dtype)}}
        return {"tensor": {**wire.encode_array(value, _VALUES_CAP), "requires_grad": False, "grad_fn": None, "numpy": True}}
    if kind is str:
        return {"str": value[:2000]}
    if depth >= _DEPTH_CAP:
        return {"other": "nested too deep"}
    if kind is list or kind is tuple:
        items = [encode_value(item, kit, depth + 1) for item in value[:_ITEMS_CAP]]
        return {"list" if kind is list else "tuple": items, "length": len(value)}
    if kind is dict:
        items = [[str(key)[:200], encode_value(item, kit, depth + 1)] for key, item in list(value.items())[:_ITEMS_CAP]]
        return {"dict": items, "length": len(value)}
    if issubclass(kind, kit["Module"]):
        return {"module": _module_data(value, kit, depth)}
    return {"other": _plain_type_name(value)}


def encode_tensor_data(value, kit):
    """A tensor record (at most ``_VALUES_CAP`` values) with the tensor's graph flags; a complex or unreadable one has no values."""
    data = wire.encode_tensor(value, kit, _VALUES_CAP)
    if "rejected" in data:
        dtype, why = wire.dtype_name(kit["dtype_of"](value), kit), data["rejected"]
        data = {"dtype": dtype, "shape": list(kit["shape_of"](value)), "values": [], "rejected": why}
    data["requires_grad"] = bool(kit["requires_grad_of"](value))
    node = kit["grad_fn_of"](value)
    data["grad_fn"] = None if node is None else type(node).__name__
    device = kit["device_of"](value)
    if device.type != "cpu":  # absent: on the CPU (the judge reads a missing device as "cpu")
        data["device"] = str(device)
    return data


# ---------------------------------------------------------------- the part of a value a check reads (both sides)


def select_part(value, path):
    """The part of ``value`` a check reads: ``(True, part)``, or ``(False, record)`` saying why there is none.

    ``path`` is plain data, a list of steps: an integer is an item of a tuple or
    list (negative counts from the end), a string ``".name"`` an attribute, any
    other string a key of a dict. Items and keys are read with the built-in
    types' own methods (a subclass's overrides are not asked); an attribute is
    read with ``getattr`` (it may run the object's code: ``{"part_raised": error}``).
    ``{"no_part": {"step", "found", "length"/"keys"}}`` says which step found nothing.
    """
    for number, step in enumerate(path):
        kind = type(value)
        if type(step) is int:
            base = tuple if issubclass(kind, tuple) else list if issubclass(kind, list) else None
            length = base.__len__(value) if base is not None else None
            if base is None or not -length <= step < length:
                return False, {"no_part": {"step": number, "found": _plain_type_name(value), "length": length}}
            value = base.__getitem__(value, step)
        elif step.startswith("."):
            try:
                value = getattr(value, step[1:])
            except ProbeTimeout:
                raise
            except AttributeError:
                return False, {"no_part": {"step": number, "found": _plain_type_name(value)}}
            except BaseException as exc:  # noqa: BLE001 - a property of the student's object raised
                return False, {"part_raised": error_record("part", exc)}
        else:
            if not issubclass(kind, dict):
                return False, {"no_part": {"step": number, "found": _plain_type_name(value)}}
            if not dict.__contains__(value, step):
                keys = [str(key)[:60] for key in list(dict.keys(value))[:8]]
                return False, {"no_part": {"step": number, "found": "dict", "keys": keys, "length": dict.__len__(value)}}
            value = dict.__getitem__(value, step)
    return True, value


def _module_data(module, kit, depth):
    params = []
    for name, param in _module_parameters(module)[:_ITEMS_CAP]:
        params.append([name, encode_tensor_data(param, kit)])
    return {"type": _plain_type_name(module), "parameters": params}


def _module_parameters(module):
    """(name, parameter) of a module tree, read from the modules' own dicts (no method of theirs is called)."""
    found, seen, stack = [], set(), [("", module)]
    while stack:
        prefix, current = stack.pop()
        own = object.__getattribute__(current, "__dict__")
        for name, param in (own.get("_parameters") or {}).items():
            if param is not None and id(param) not in seen:
                seen.add(id(param))
                found.append((prefix + name, param))
        children = [(prefix + child + ".", sub) for child, sub in (own.get("_modules") or {}).items() if sub is not None]
        stack.extend(reversed(children))
    return found


def _plain_type_name(value):
    kind = type(value)
    module = getattr(kind, "__module__", "") or ""
    name = getattr(kind, "__qualname__", "object")
    return name if module in ("builtins", "__main__") else module + "." + name


# ---------------------------------------------------------------- calling targets (kernel side)


def _target(spec):
    """The callable a target spec names, or a record saying why there is none."""
    if "function" in spec:
        value, missing = lookup_or_missing(spec["function"])
        if missing is not None:
            return None, missing
        return (value, None) if callable(value) else (None, {"not_callable": type_name(value)})
    if "apply" in spec:
        value, missing = lookup_or_missing(spec["apply"])
        if missing is not None:
            return None, missing
        if not (isinstance(value, type) and issubclass(value, _state["Function"])):
            return None, {"not_function_class": type_name(value)}
        return _state["function_apply"].__get__(None, value), None
    if "module" in spec:
        value, missing = lookup_or_missing(spec["module"])
        if missing is not None:
            return None, missing
        if not issubclass(type(value), _state["Module"]):
            return None, {"not_module": type_name(value)}
        return value, None
    class_name, _, method = spec["method"].partition(".")
    cls, missing = lookup_or_missing(class_name)
    if missing is not None:
        return None, missing
    if not isinstance(cls, type):
        return None, {"not_class": type_name(cls)}
    ok, instance = call_student(cls, *[build_value(arg, _state) for arg in spec.get("init", [])])
    if not ok:
        return None, instance
    bound = class_attribute(instance, method)
    return (bound, None) if callable(bound) else (None, {"missing": spec["method"]})


def _arguments(call):
    args = [build_value(arg, _state) for arg in call.get("args", [])]
    kwargs = {name: build_value(arg, _state) for name, arg in call.get("kwargs", {}).items()}
    return args, kwargs


def _upstream_for(output, seed):
    """The seeded upstream gradient for ``output``: the same numbers in the grader's process for the same shape."""
    kit = _state
    shape = tuple(kit["shape_of"](output))
    generator = kit["Generator"]().manual_seed(int(seed))
    upstream = kit["randn"](shape, generator=generator, dtype=kit["float64"])
    return kit["to"](upstream, kit["dtype_of"](output))


def _gradients(output, args, grad):
    """Gradients of ``output`` (with the seeded upstream) for the tensor arguments and module parameters asked for."""
    kit = _state
    if type(output) not in kit["tensor_types"]:
        return {"no_tensor": type_name(output)}
    if not kit["requires_grad_of"](output):
        return {"no_graph": True}
    names, inputs = [], []
    for index in grad.get("wrt", []):
        if index < len(args) and type(args[index]) in kit["tensor_types"] and kit["requires_grad_of"](args[index]):
            names.append(str(index))
            inputs.append(args[index])
    for index in grad.get("params_of", []):
        if index < len(args) and issubclass(type(args[index]), kit["Module"]):
            for name, param in _module_parameters(args[index]):
                if kit["requires_grad_of"](param):
                    names.append(f"{index}.{name}")
                    inputs.append(param)
    if not inputs:
        return {"grads": {}}
    upstream = _upstream_for(output, grad.get("seed", 0))
    try:
        grads = _state["run_backward"]((output,), (upstream,), False, False, tuple(inputs), allow_unreachable=True, accumulate_grad=False)
    except ProbeTimeout:
        raise
    except BaseException as exc:  # noqa: BLE001 - the student's backward raised
        return {"backward_raised": error_record("backward", exc)}
    return {"grads": {name: (None if g is None else encode_tensor_data(g, kit)) for name, g in zip(names, grads, strict=True)}}


_TARGET = {
    "type": "object",
    "minProperties": 1,
    "properties": {"function": NAME, "apply": NAME, "module": NAME, "method": NAME, "init": {"type": "array", "items": {"type": "object"}}},
    "additionalProperties": False,
}
_CALL = request_of({"args": {"type": "array", "items": {"type": "object"}}, "kwargs": {"type": "object", "additionalProperties": {"type": "object"}}})
_TARGET_TROUBLE = [
    record({"missing": {"type": ["string", "boolean"]}}),
    record({"not_callable": NAME}),
    record({"not_function_class": NAME}),
    record({"not_module": NAME}),
    record({"not_class": NAME}),
    RAISED,
]
_VALUE = {"type": "object", "minProperties": 1}
_TENSOR_DATA = {**wire.TENSOR, "additionalProperties": True}  # with the graph flags (requires_grad, grad_fn)
_GRADS = one_of_records(
    record({"grads": {"type": "object", "additionalProperties": {"anyOf": [{"type": "null"}, _TENSOR_DATA]}}}),
    record({"no_tensor": NAME}),
    record({"no_graph": {"const": True}}),
    record({"backward_raised": {"type": "object"}}),
)
_PART = {"type": "array", "items": {"type": ["integer", "string"]}}
_NO_PART = record({"no_part": record({"step": {"type": "integer", "minimum": 0}, "found": NAME,
                                      "length": {"type": ["integer", "null"]}, "keys": {"type": "array", "items": NAME}},
                                     required=["step", "found"])})
_CALL_RESULT = one_of_records(
    record({"value": _VALUE, "after": {"type": "array", "items": _VALUE}, "grad": _GRADS}, required=["value"]),
    RAISED,
    _NO_PART,
    record({"part_raised": ERROR}),
    record({"autograd": {"const": True}}),
)


@probe(
    request=request_of(
        {
            "target": _TARGET,
            "calls": {"type": "array", "items": _CALL},
            "after": {"type": "boolean"},
            "grad": request_of({"wrt": {"type": "array", "items": {"type": "integer"}},
                                "params_of": {"type": "array", "items": {"type": "integer"}}, "seed": {"type": "integer"}}),
            "forbid_autograd": {"type": "boolean"},
            "part": _PART,
        },
        required=["target", "calls"],
    ),
    answer=one_of_records(*_TARGET_TROUBLE, record({"results": {"type": "array", "items": _CALL_RESULT}})),
)
def call_target(target, calls, after=False, grad=None, forbid_autograd=False, part=()):
    """Call the target on each argument set; what it returned (and, if asked, the arguments after it and gradients).

    With ``forbid_autograd`` torch's autograd engine is switched off while the
    target runs: a call that tries to use it answers ``{"autograd": true}``.
    With ``part`` (a path, see :func:`select_part`) only that part of the
    returned value is encoded and differentiated.
    """

    def one_call(fn, args, kwargs):
        ok, returned = call_without_autograd(fn, *args, **kwargs) if forbid_autograd else call_student(fn, *args, **kwargs)
        if not ok:
            return returned
        ok, returned = select_part(returned, part)
        if not ok:
            return returned
        result = {"value": encode_value(returned, _state)}
        if grad is not None:
            result["grad"] = _gradients(returned, args, grad)
        if after:
            result["after"] = [encode_value(arg, _state) for arg in args]
        return result

    return _for_each_call(target, calls, one_call)


def _for_each_call(target, calls, one_call):
    """``{"results": [one_call(fn, args, kwargs) for each call]}`` on the resolved target, or why it cannot be called."""
    fn, trouble = _target(target)
    if trouble is not None:
        return trouble
    return {"results": [one_call(fn, *_arguments(call)) for call in calls]}


_DOT = {"type": "array", "items": wire.NUMBER_VALUE}


@probe(
    request=request_of(
        {"target": _TARGET, "calls": {"type": "array", "items": _CALL}, "directions": {"type": "integer", "minimum": 1},
         "eps": {"type": "number", "exclusiveMinimum": 0}, "seed": {"type": "integer"}},
        required=["target", "calls"],
    ),
    answer=one_of_records(
        *_TARGET_TROUBLE,
        record({"results": {"type": "array", "items": one_of_records(
            record({"analytic": _DOT, "numeric": _DOT}),
            record({"no_tensor": NAME}),
            record({"no_graph": {"const": True}}),
            record({"backward_raised": {"type": "object"}}),
            RAISED,
        )}}),
    ),
)
def gradient_check(target, calls, directions=3, eps=1e-6, seed=0):
    """The dot-product test of a function's gradient: for random directions v, <J^T u, v> by its backward and by differences.

    ``analytic[d]`` is the gradient the student's backward gives (through
    autograd, with the seeded upstream ``u``) dotted with direction ``d``;
    ``numeric[d]`` is the central difference of ``<u, f(x)>`` along it. Tensor
    arguments that require grad are the inputs; the judge compares the two.
    """
    kit = _state
    fn, trouble = _target(target)
    if trouble is not None:
        return trouble
    results = []
    for number, call in enumerate(calls):
        args, kwargs = _arguments(call)
        results.append(_dot_product_test(fn, args, kwargs, directions, eps, seed + 1000 * number, kit))
    return {"results": results}


def _dot_product_test(fn, args, kwargs, directions, eps, seed, kit):
    positions = [i for i, arg in enumerate(args) if type(arg) in kit["tensor_types"] and kit["requires_grad_of"](arg)]
    with kit["no_grad"]():  # the differences start from the inputs as drawn, even if the call changes them in place
        drawn = {i: kit["add"](kit["detach"](args[i]), 0) for i in positions}
    ok, output = call_student(fn, *args, **kwargs)
    if not ok:
        return output
    if type(output) not in kit["tensor_types"]:
        return {"no_tensor": type_name(output)}
    if not kit["requires_grad_of"](output):
        return {"no_graph": True}
    upstream = _upstream_for(output, seed)
    try:
        grads = _state["run_backward"]((output,), (upstream,), False, False, tuple(args[i] for i in positions),
                                       allow_unreachable=True, accumulate_grad=False)
    except ProbeTimeout:
        raise
    except BaseException as exc:  # noqa: BLE001
        return {"backward_raised": error_record("backward", exc)}
    generator = kit["Generator"]().manual_seed(int(seed) + 1)
    analytic, numeric = [], []
    for _ in range(directions):
        vs = [kit["randn"](tuple(kit["shape_of"](args[i])), generator=generator, dtype=kit["float64"]) for i in positions]
        analytic.append(wire.encode_float(sum(_dot(g, v, kit) for g, v in zip(grads, vs, strict=True) if g is not None)))
        numeric.append(wire.encode_float(_difference(fn, args, kwargs, positions, vs, eps, upstream, kit, drawn)))
    return {"analytic": analytic, "numeric": numeric}


def _difference(fn, args, kwargs, positions, vs, eps, upstream, kit, drawn):
    """(<u, f(x + eps v)> - <u, f(x - eps v)>) / (2 eps) at the inputs as drawn, with the function run under no_grad."""
    totals = []
    for sign in (1.0, -1.0):
        moved = list(args)
        with kit["no_grad"]():
            for i, v in zip(positions, vs, strict=True):
                moved[i] = kit["add"](drawn[i], kit["to"](v, kit["dtype_of"](drawn[i])), alpha=sign * eps)
            ok, out = call_student(fn, *moved, **kwargs)
        if not ok or type(out) not in kit["tensor_types"]:
            return float("nan")
        totals.append(_dot(kit["detach"](out), upstream, kit))
    return (totals[0] - totals[1]) / (2 * eps)


def _dot(a, b, kit):
    """The sum of the elementwise product of two tensors, in float64, through functions taken at install."""
    product = kit["mul"](kit["to"](a, kit["float64"]), kit["to"](b, kit["float64"]))
    return float(kit["item"](kit["sum"](product)))


@probe(
    request=request_of({"names": {"type": "array", "items": NAME}}, required=["names"]),
    answer={"type": "object", "additionalProperties": _VALUE},
)
def global_values(names):
    """Each global name's value, encoded (``{"missing": true}`` when it is not defined)."""
    found = {}
    for name in names:
        value, missing = lookup_or_missing(name)
        found[name] = {"missing": True} if missing is not None else encode_value(value, _state)
    return found


_SHAPES = {"type": "array", "items": {"type": "array", "items": {"type": "integer", "minimum": 0}}}


@probe(
    request=request_of(
        {"target": _TARGET, "args": {"type": "array", "items": {"type": "object"}}, "inputs": _SHAPES, "dtype": NAME},
        required=["target"],
    ),
    answer=one_of_records(
        *_TARGET_TROUBLE,
        record({"not_module_result": NAME}),
        record({
            "modules": {"type": "array", "items": record({"name": NAME, "type": NAME, "class": NAME})},
            "parameters": {"type": "integer"},
            "trainable": {"type": "integer"},
            "outputs": {"type": "array", "items": {"type": "object"}},
        }),
    ),
)
def module_structure(target, args=(), inputs=(), dtype=None):
    """A module's tree (each submodule's name and type), its parameter counts and its output shape for each input shape.

    The module is a global (``{"module": name}``) or what a function returns
    (``{"function": name}`` called with ``args``).
    """
    kit = _state
    if "module" in target:
        module, trouble = _target(target)
        if trouble is not None:
            return trouble
    else:
        fn, trouble = _target(target)
        if trouble is not None:
            return trouble
        ok, module = call_student(fn, *[build_value(arg, kit) for arg in args])
        if not ok:
            return module
        if not issubclass(type(module), kit["Module"]):
            return {"not_module_result": type_name(module)}
    modules = [{"name": name, "type": _plain_type_name(sub), "class": type(sub).__name__} for name, sub in named_modules(module)]
    params = [p for _, p in named_parameters(module)]
    count = sum(_numel(p, kit) for p in params)
    trainable = sum(_numel(p, kit) for p in params if kit["requires_grad_of"](p))
    outputs = []
    for shape in inputs:
        x = kit["zeros"](tuple(shape), dtype=kit["dtypes"][dtype] if dtype else _input_dtype(params, kit))
        with kit["no_grad"]():
            ok, out = call_student(module, x)
        outputs.append({"shape": list(kit["shape_of"](out))} if ok and type(out) in kit["tensor_types"] else (
            out if not ok else {"not_tensor": type_name(out)}))
    return {"modules": modules, "parameters": count, "trainable": trainable, "outputs": outputs}


def _input_dtype(params, kit):
    """The dtype to feed a module: its first floating parameter's (a model built under another default dtype works too)."""
    for param in params:
        dtype = kit["dtype_of"](param)
        if kit["dtype_names"].get(dtype, "").startswith(("float", "bfloat")):
            return dtype
    return kit["dtypes"]["float32"]


def _numel(tensor, kit):
    count = 1
    for size in kit["shape_of"](tensor):
        count *= size
    return count


@probe(
    request=request_of({"target": _TARGET, "calls": {"type": "array", "items": _CALL}}, required=["target", "calls"]),
    answer=one_of_records(*_TARGET_TROUBLE, record({"results": {"type": "array", "items": one_of_records(
        record({"raised": {"type": "object"}, "exception": record({"type": NAME, "bases": {"type": "array", "items": NAME}, "message": NAME})}),
        record({"returned": _VALUE}),
    )}})),
)
def raises(target, calls):
    """Call the target on bad arguments: which exception (with its base classes) it raised, or what it returned."""

    def one_call(fn, args, kwargs):
        try:
            returned = fn(*args, **kwargs)
        except ProbeTimeout:
            raise
        except BaseException as exc:  # noqa: BLE001 - raising is what is asked for
            bases = [getattr(k, "__name__", "?") for k in type(exc).__mro__ if k is not object][:12]
            record_ = error_record("call", exc)
            return {"raised": record_, "exception": {"type": type(exc).__name__, "bases": bases, "message": record_["message"]}}
        return {"returned": encode_value(returned, _state)}

    return _for_each_call(target, calls, one_call)
