"""Probes of activation checkpointing: a student's checkpointed forward on the judge's Sequential, measured."""

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the kernel runs this module in the runtime's namespace: these names are already there
    from grader.probes.runtime import (
        ERROR,
        MISSING,
        NAME,
        NOT_CALLABLE,
        REJECTED,
        TENSOR,
        Pinned,
        ProbeTimeout,
        _state,
        call_student,
        encode_tensor,
        error_record,
        is_tensor,
        lookup_or_missing,
        named_parameters,
        one_of_records,
        own_dict,
        probe,
        record,
        request_of,
        torch_refs,
        type_name,
    )


def _build_sequential(layers):
    """The judge's nn.Sequential, in float64, with the judge's weights."""
    refs = torch_refs()
    f64 = refs["float64"]
    modules = []
    with refs["fork_rng"](devices=[]), refs["no_grad"]():
        for layer in layers:
            if "linear" in layer:
                weight, bias = layer["linear"]
                module = refs["Linear"](len(weight[0]), len(weight), dtype=f64)
                params = own_dict(module, "_parameters")
                _state["copy_"](params["weight"], refs["tensor"](weight, dtype=f64))
                _state["copy_"](params["bias"], refs["tensor"](bias, dtype=f64))
            else:
                module = refs["activations"][layer["activation"]]()
            modules.append(module)
    return refs["Sequential"](*modules)


class _Recorder:
    """Counts, for one run, the bytes saved for backward and the calls of each layer in each phase."""

    def __init__(self, model):
        refs = torch_refs()
        self.phase = None
        self.params = {refs["data_ptr"](refs["storage"](p)) for _, p in named_parameters(model)}
        self.saved = {}
        self.layers = [module for _, module in sorted(own_dict(model, "_modules").items(), key=lambda item: int(item[0]))]
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
        refs = torch_refs()
        try:
            storage = refs["storage"](tensor)
            key, size = refs["data_ptr"](storage), refs["nbytes"](storage)
        except BaseException:  # noqa: BLE001 - a tensor without a plain storage must not break the student's forward
            key, size = id(tensor), 0
        if key not in self.params:
            self.saved[key] = size
        return tensor

    def forward(self, run):
        refs = torch_refs()
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
    refs = torch_refs()
    model = _build_sequential(spec["layers"])
    x = refs["tensor"](spec["x"], dtype=refs["float64"], requires_grad=True)
    upstream = refs["tensor"](spec["upstream"], dtype=refs["float64"])
    recorder = _Recorder(model)
    record = {"segments": segments}
    if function is None:
        ok, output = True, recorder.forward(lambda: model(x))
    else:
        ok, output = recorder.forward(lambda: call_student(function, model, x, segments))
    if not ok:
        record.update(output)
        record.update(recorder.report())
        return record
    record["output"] = encode_tensor(output)
    requires_grad = is_tensor(output) and _state["requires_grad_of"](output)
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
            record["backward_error"] = error_record("backward", exc)
    elif is_tensor(output):
        record["backward_error"] = {"type": "NoGraph", "message": "the output does not require grad", "stage": "backward"}
    record["x_grad"] = encode_tensor(_state["grad_of"](x))
    record["param_grads"] = {name: encode_tensor(_state["grad_of"](p)) for name, p in named_parameters(model)}
    record.update(recorder.report())
    return record


_RUN = {
    "type": "object",
    "properties": {
        "segments": {"type": "integer"},
        "output": TENSOR,
        "x_grad": TENSOR,
        "param_grads": {"type": "object", "additionalProperties": TENSOR},
        "upstream": {"const": "ones"},
        "backward_error": ERROR,
        "raised": ERROR,
        "not_implemented": {"const": True},
        "saved_bytes": {"type": "integer"},
        "forward_calls": {"type": "array", "items": {"type": "integer"}},
        "backward_order": {"type": "array", "items": {"type": "integer"}},
    },
    "required": ["segments", "saved_bytes", "forward_calls", "backward_order"],
    "additionalProperties": False,
}


@probe(
    request=request_of(
        {"function": NAME, "spec": {"type": "object"}, "segments": {"type": "array", "items": {"type": "integer"}}},
        required=["function", "spec", "segments"],
    ),
    answer=one_of_records(MISSING, REJECTED, NOT_CALLABLE, record({"plain": _RUN, "runs": {"type": "array", "items": _RUN}})),
)
def checkpoint_run(function, spec, segments):
    """Run the student's checkpointed forward on the judge's Sequential for each segment count, then backward.

    Also runs a plain ``model(x)`` the same way, as the baseline for saved bytes.
    """
    fn, missing = lookup_or_missing(function)
    if missing is not None:
        return missing
    if fn is None:
        return {"rejected": "None"}
    if not callable(fn):
        return {"not_callable": type_name(fn)}
    with Pinned():
        plain = _checkpoint_once(None, spec, 0)
        runs = [_checkpoint_once(fn, spec, count) for count in segments]
    return {"plain": plain, "runs": runs}
