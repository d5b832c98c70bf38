"""Probes of activation checkpointing: a student's checkpointed forward on the judge's Sequential, measured."""

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the kernel runs this module in the runtime's namespace: every name is already there
    from grader.probes.runtime import *  # noqa: F403
    from grader.probes.runtime import _state


def _references(torch):
    """The torch objects these probes use, taken when the runtime is installed (before any student code)."""
    import os

    from torch.multiprocessing.reductions import StorageWeakRef

    nn = torch.nn
    autograd = torch._C._autograd
    activations = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU, "identity": nn.Identity}
    module_call = [(nn.Module, name) for name in ("__call__", "_call_impl", "_wrapped_call_impl", "__getattr__")]
    forwards = [(cls, "forward") for cls in (nn.Linear, nn.Sequential, nn.Tanh, nn.ReLU, nn.Sigmoid, nn.GELU)]
    return {
        "Linear": nn.Linear,
        "Sequential": nn.Sequential,
        "activations": activations,
        "pre_hook": nn.Module.register_forward_pre_hook,
        "push_saved_hooks": autograd._push_saved_tensors_default_hooks,
        "pop_saved_hooks": autograd._pop_saved_tensors_default_hooks,
        "autograd_module": autograd,
        "storage_weak_ref": StorageWeakRef,
        "torch_prefix": os.path.join(os.path.dirname(torch.__file__), ""),  # with the separator: not torchvision
        "no_grad": torch.no_grad,
        "fork_rng": torch.random.fork_rng,
        "tensor": torch.tensor,
        "ones_like": torch.ones_like,
        "float64": torch.float64,
        "storage": torch._C.TensorBase.untyped_storage if hasattr(torch._C, "TensorBase") else torch.Tensor.untyped_storage,
        "data_ptr": torch._C.StorageBase.data_ptr,
        "nbytes": torch._C.StorageBase.nbytes,
        # Restored while the grader runs its own modules, so a late patch cannot change what is observed.
        "pinned": [(owner, name, owner.__dict__[name]) for owner, name in module_call + forwards if name in owner.__dict__],
    }


ON_INSTALL.append(_references)


class Pinned:
    """While active, the torch attributes pinned at install are the originals again; the student's come back after."""

    def __enter__(self):
        self.theirs = []
        for owner, name, original in _state["pinned"]:
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


def _build_sequential(layers):
    """The judge's nn.Sequential, in float64, with the judge's weights."""
    f64 = _state["float64"]
    modules = []
    with _state["fork_rng"](devices=[]), _state["no_grad"]():
        for layer in layers:
            if "linear" in layer:
                weight, bias = layer["linear"]
                module = _state["Linear"](len(weight[0]), len(weight), dtype=f64)
                params = own_dict(module, "_parameters")
                _state["copy_"](params["weight"], _state["tensor"](weight, dtype=f64))
                _state["copy_"](params["bias"], _state["tensor"](bias, dtype=f64))
            else:
                module = _state["activations"][layer["activation"]]()
            modules.append(module)
    return _state["Sequential"](*modules)


class _Recorder:
    """Counts, for one run, the bytes saved for backward and the calls of each layer in each phase.

    Saved bytes are the tensors the grader's own saved-tensor hooks pack, and
    also those handed to saved-tensor hooks the student's code pushes (torch's
    own, such as ``torch.utils.checkpoint``'s, are left alone) that are still
    alive when the forward pass returns: a hook that keeps what it is given in
    a side table saves nothing, whatever it hands autograd instead.
    """

    def __init__(self, model):
        self.phase = None
        self.params = {_state["data_ptr"](_state["storage"](p)) for _, p in named_parameters(model)}
        self.saved = {}
        self.handed = {}
        self.layers = [module for _, module in sorted(own_dict(model, "_modules").items(), key=lambda item: int(item[0]))]
        self.forward_calls = [0] * len(self.layers)
        self.backward_order = []
        self.handles = [_state["pre_hook"](module, self._hook(i)) for i, module in enumerate(self.layers)]

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
            storage = _state["storage"](tensor)
            key, size = _state["data_ptr"](storage), _state["nbytes"](storage)
        except BaseException:  # noqa: BLE001 - a tensor without a plain storage must not break the student's forward
            key, size = id(tensor), 0
        if key not in self.params:
            self.saved[key] = size
        return tensor

    def _watched(self, pack):
        """``pack``, noting each tensor it is handed (a weak reference to its storage, and its size)."""

        def noted(tensor):
            try:
                storage = _state["storage"](tensor)
                key = _state["data_ptr"](storage)
                if key not in self.params and key not in self.handed:
                    self.handed[key] = (_state["storage_weak_ref"](storage), _state["nbytes"](storage))
            except BaseException:  # noqa: BLE001 - a tensor without a plain storage must not break the student's forward
                pass
            return pack(tensor)

        return noted

    def _push(self, pack, unpack):
        code = getattr(pack, "__code__", None) or getattr(getattr(pack, "__func__", None), "__code__", None)
        theirs = code is None or not str(code.co_filename).startswith(_state["torch_prefix"])
        return _state["push_saved_hooks"](self._watched(pack) if theirs else pack, unpack)

    def forward(self, run):
        self.phase = "forward"
        module = _state["autograd_module"]
        _state["push_saved_hooks"](self.pack, _unpack)
        module._push_saved_tensors_default_hooks = self._push
        try:
            return run()
        finally:
            module._push_saved_tensors_default_hooks = _state["push_saved_hooks"]
            _state["pop_saved_hooks"]()
            self.phase = None
            for key, (ref, size) in self.handed.items():
                if not ref.expired():
                    self.saved[key] = size
            self.handed = {}

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
    model = _build_sequential(spec["layers"])
    x = _state["tensor"](spec["x"], dtype=_state["float64"], requires_grad=True)
    upstream = _state["tensor"](spec["upstream"], dtype=_state["float64"])
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
            upstream = _state["ones_like"](output)
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
