"""Probes of autograd graphs: a module's layers, the graph behind a tensor (its own or one the judge designed), a chain function's answer."""

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the kernel runs this module in the runtime's namespace: every name is already there
    from grader.probes.runtime import *  # noqa: F403
    from grader.probes.runtime import _state


_GRAPH_NODE_CAP = 5000
_CHAIN_CAP = 5000


def _references(torch):
    """The torch objects these probes use, taken when the runtime is installed (before any student code)."""
    return {
        "Linear": torch.nn.Linear,
        "linear": torch.nn.functional.linear,
        "Generator": torch.Generator,
        "randn": torch.randn,
        "mul": torch.mul,
        "add": torch.add,
        "pow": torch.pow,
        "float64": torch.float64,
        "ops": {
            "sin": torch.sin, "cos": torch.cos, "exp": torch.exp, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
            "relu": torch.relu, "sum": torch.sum, "mean": torch.mean,
        },
    }


ON_INSTALL.append(_references)


@probe(
    request=request_of({"model": NAME}, required=["model"]),
    answer=one_of_records(
        MISSING,
        REJECTED,
        record({"not_module": {"type": "string"}}),
        record({"modules": {"type": "array", "items": record({"name": NAME, "type": NAME, "linear": {"type": "boolean"}})}}),
    ),
)
def module_summary(model):
    """The module tree of a global ``nn.Module``: each submodule's name, type and whether it is an ``nn.Linear``."""
    value, missing = lookup_or_missing(model)
    if missing is not None:
        return missing
    if value is None:
        return {"rejected": "None"}
    if not is_module(value):
        return {"not_module": type_name(value)}
    linear = _state["Linear"]
    return {"modules": [{"name": name, "type": type_name(sub), "linear": issubclass(type(sub), linear)} for name, sub in named_modules(value)]}


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
    named = named_parameters(model)
    layers = []
    linear = _state["Linear"]
    for name, sub in named_modules(model):
        if issubclass(type(sub), linear):
            own = [(name + "." if name else "") + pname for pname, _ in named_parameters(sub, recurse=False)]
            layers.append({"name": name or "(the model itself)", "params": own})
    return named, layers


def _build_graph(spec):
    """A fresh tensor with a graph the judge designed: an MLP of F.linear layers, or a chain of operations."""
    f64 = _state["float64"]
    generator = _state["Generator"]().manual_seed(int(spec["seed"]))

    def randn(*shape, grad=True):
        return _state["requires_grad_"](_state["randn"](*shape, generator=generator, dtype=f64), grad)

    if spec["kind"] == "mlp":
        sizes = spec["sizes"]
        hidden = _state["ops"][spec["activation"]]
        h = randn(spec["batch"], sizes[0], grad=bool(spec.get("input_grad", False)))
        named, layers = [], []
        for i in range(len(sizes) - 1):
            weight = randn(sizes[i + 1], sizes[i])
            bias = randn(sizes[i + 1]) if spec["bias"][i] else None
            h = _state["linear"](h, weight, bias)
            if i < len(sizes) - 2:
                h = hidden(h)
            label = f"layer{i + 1}"
            own = [(label + ".weight", weight)] + ([(label + ".bias", bias)] if bias is not None else [])
            named += own
            layers.append({"name": label, "params": [n for n, _ in own]})
        if spec.get("reduce") in ("sum", "mean"):
            h = _state["ops"][spec["reduce"]](h)
        return h, named, layers
    x, w = randn(spec["size"]), randn(spec["size"])
    h = x
    binary = {
        "mul_leaf": lambda h: _state["mul"](h, w),
        "leaf_mul": lambda h: _state["mul"](w, h),
        "mul_const": lambda h: _state["mul"](h, 2.5),
        "add_const": lambda h: _state["add"](h, 1.5),
        "pow2": lambda h: _state["pow"](h, 2),
    }
    for op in spec["ops"]:
        h = binary[op](h) if op in binary else _state["ops"][op](h)
    return h, [("x", x), ("w", w)], []


def _call_chain(function, tensor):
    """The student's chain function on ``tensor``: its list of strings, or what went wrong."""
    ok, returned = call_student(function, tensor)
    if not ok:
        return returned
    if type(returned) not in (list, tuple):
        return {"not_list": type_name(returned)}
    names = []
    for position, item in enumerate(returned[:_CHAIN_CAP]):
        if type(item) is not str:
            return {"not_strings": type_name(item), "at": position, "node": has_attribute(type(item), "next_functions")}
        names.append(item[:200])
    return {"names": names, "length": len(returned)}


_NODE = record({"name": NAME, "alias": NAME, "next": {"type": "array", "items": {"type": "integer"}}})
_GRAPH = one_of_records(record({"nodes": {"type": "array", "items": _NODE}}), record({"too_big": {"type": "integer"}}))
_PARAMS = record({
    "leaves": {"type": "object", "additionalProperties": NAME},
    "trainable": {"type": "array", "items": NAME},
    "layers": {"type": "array", "items": record({"name": NAME, "params": {"type": "array", "items": NAME}})},
})
_CHAIN = one_of_records(
    NOT_CALLABLE,
    RAISED,
    record({"not_list": NAME}),
    record({"not_strings": NAME, "at": {"type": "integer"}, "node": {"type": "boolean"}}),
    record({"names": {"type": "array", "items": NAME}, "length": {"type": "integer"}}),
)
_SPEC = {"type": "object"}  # the judge's own graph spec (grader.checks.graphs.random_mlp / random_ops), echoed by nothing


@probe(
    request=request_of({"tensor": NAME, "build": _SPEC, "model": NAME, "function": NAME}),
    answer=one_of_records(
        MISSING,
        REJECTED,
        record({"not_tensor": NAME, "grad_fn_attribute": {"type": "boolean"}}),
        record({"model_not_module": NAME}),
        record({"no_grad_fn": {"const": True}, "requires_grad": {"type": "boolean"}}),
        record({"graph": _GRAPH, "params": _PARAMS, "chain": _CHAIN}, required=["graph"]),
    ),
)
def grad_graph(tensor=None, build=None, model=None, function=None):
    """The graph behind a global tensor (or a fresh one built from ``build``) as JSON.

    With ``model`` the AccumulateGrad leaves that are the model's parameters are
    named and its linear layers listed; with ``function`` the student's chain
    function is called on the same tensor and its answer reported.
    """
    chain_fn = None
    if function is not None:
        chain_fn, missing = lookup_or_missing(function)
        if missing is not None:
            return missing
    named = layers = None
    if build is not None:
        value, named, layers = _build_graph(build)
    else:
        value, missing = lookup_or_missing(tensor)
        if missing is not None:
            return missing
        if value is None:
            return {"rejected": "None"}
        if not is_tensor(value):
            return {"not_tensor": type_name(value), "grad_fn_attribute": has_attribute(value, "grad_fn")}
    if model is not None:
        module, missing = lookup_or_missing(model)
        if missing is not None:
            return missing
        if module is None or not is_module(module):
            return {"model_not_module": "None" if module is None else type_name(module)}
        named, layers = _module_params(module)
    root = _state["grad_fn_of"](value)
    if root is None:
        return {"no_grad_fn": True, "requires_grad": bool(_state["requires_grad_of"](value))}
    graph, keep = _graph_of(root)
    result = {"graph": graph}
    if named is not None and "too_big" not in graph:
        result["params"] = _param_leaves(named, layers, keep)
    if chain_fn is not None:
        result["chain"] = _call_chain(chain_fn, value) if callable(chain_fn) else {"not_callable": type_name(chain_fn)}
    return result
