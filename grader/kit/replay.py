# Over 500 lines on purpose: the recorder and the answerer are the two halves of one format (each event's shape is
# written by one and read by the other); kept in one file so that they cannot drift apart.
"""Expected values as data: what the judges ask of a reference module, recorded once and answered later without its code.

A student kit (:mod:`grader.kit.build`) must grade without the reference module, whose
functions are the answers. So the kit is built by grading the solution notebook
with the reference wrapped in a :class:`RecordingReference`, and the kit's
``reference:`` is a generated module that answers the same questions from the
recording (:class:`Expected`). Nothing here knows a check kind: the boundary is
the reference module itself.

What crosses the boundary
    Every value a judge gets from the reference is either *data* or a *handle*.
    Data is recorded as it is: ``None``, booleans, numbers, strings, lists,
    tuples, dicts, ``torch.Size``, tensors (values, dtype, shape, losslessly),
    numpy arrays and scalars, and ``nn.Module`` trees (class names, parameters
    and buffers; replayed as a module of the same shape whose forward answers
    the calls that were recorded). Anything else (a function, a class, an
    instance such as the lesson's ``DualNumber``, a bound method) is a handle:
    each use of it (an attribute, a call, an arithmetic operator) is recorded in
    turn, keyed by the handle, the operation and its arguments as canonical
    JSON, so ``DualNumber(0.5, 1.2).sin().value`` is three records.

Side effects and gradients
    An argument a call changes (a training step moves a model's parameters) is
    recorded after the call and changed the same way on replay. A tensor result
    attached to the graph of the call's arguments is *tapped*: a backward pass
    through it records the upstream gradient and the gradients it sends to the
    arguments (the tensors that require grad and the parameters of module
    arguments); on replay the same upstream gets the same gradients.

What cannot be replayed
    A question nobody asked while recording, which raises
    :class:`MissingExpectedValue` ("the kit has no expected value for ..."): the
    grading pipeline turns it into a grader fault on that check, never a wrong
    answer. The kit's points are fixed (``fixed_points`` in the rubric), and a
    correct solution makes the judges ask everything they can ask, so this
    happens only when a judge passes a student's own values to the reference.
    A reference that answers the same question in two ways (it keeps state) is
    refused while recording (:class:`Unrecordable`).
"""

from __future__ import annotations

import builtins
import functools
import json
import math
import operator
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch
from torch import nn

from grader.errors import GraderError
from grader.probes import wire
from grader.shorten import shorten

FORMAT = 2  # 2: numbers and tensors in the probes' wire format (grader.probes.wire)
ROOT = 0  # the handle of the reference module itself

# Arithmetic a handle supports: dunder name -> (operator, whether the handle is the right operand).
_BINARY: dict[str, tuple[Callable[[Any, Any], Any], bool]] = {}
for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul"):
    _BINARY[f"__{_name}__"] = (getattr(operator, _name), False)
    _BINARY[f"__r{_name}__"] = (getattr(operator, _name), True)
_UNARY: dict[str, Callable[[Any], Any]] = {"__neg__": operator.neg, "__pos__": operator.pos, "__abs__": operator.abs}


class MissingExpectedValue(Exception):
    """A question to the replayed reference that was never asked while the kit was built."""


class Unrecordable(GraderError):
    """The reference gave something the kit cannot store as data, or two answers to one question."""


# ------------------------------------------------------------------ values as data (both directions)


def _float(value: float) -> Any:
    return value if math.isfinite(value) else {"$float": wire.encode_float(value)}


@functools.cache
def _refs() -> dict[str, Any]:
    return dict(wire.take_refs(torch))


def tensor_data(tensor: torch.Tensor) -> dict[str, Any]:
    """A tensor as plain data: a wire tensor record of every value (lossless), and whether it requires grad."""
    plain = tensor if type(tensor) in (torch.Tensor, nn.Parameter) else tensor.as_subclass(torch.Tensor)  # the reference is trusted
    record = wire.encode_tensor(plain, _refs(), cap=None)
    if "rejected" in record:
        raise Unrecordable(f"{record['rejected']} cannot be recorded")
    return {**record, "requires_grad": bool(tensor.requires_grad)}


def tensor_from(data: dict[str, Any]) -> torch.Tensor:
    """The tensor :func:`tensor_data` describes (without requires_grad)."""
    dtype, shape, values, _ = wire.decode_tensor(data)
    if dtype not in wire.DTYPES:
        raise MissingExpectedValue(f"the kit holds a tensor of dtype {dtype!r}, which this grader cannot rebuild")
    return torch.tensor(values, dtype=getattr(torch, dtype)).reshape(tuple(shape))


def array_from(data: dict[str, Any]) -> np.ndarray:
    """The numpy array a wire tensor record of an array describes."""
    dtype, shape, values, _ = wire.decode_tensor(data)
    return np.array(values, dtype=dtype).reshape(tuple(shape))


def module_data(module: nn.Module) -> dict[str, Any]:
    """An ``nn.Module`` tree as data: class, mode, own parameters and buffers, children."""
    kind = type(module)
    return {
        "class": [kind.__module__, kind.__qualname__],
        "training": module.training,
        "parameters": [[name, None if p is None else tensor_data(p)] for name, p in module._parameters.items()],
        "buffers": [[name, None if b is None else tensor_data(b)] for name, b in module._buffers.items()],
        "children": [[name, None if c is None else module_data(c)] for name, c in module._modules.items()],
    }


def to_data(value: Any, opaque: Callable[[Any], Any]) -> Any:
    """``value`` as JSON-ready data; ``opaque`` gives the data of anything else (a handle, or it refuses)."""
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return value
    if kind is float:
        return _float(value)
    if kind in (list, tuple):
        items = [to_data(item, opaque) for item in value]
        return items if kind is list else {"$tuple": items}
    if kind is dict:
        if not all(type(key) is str for key in value):
            raise Unrecordable("a dict with keys that are not strings cannot be recorded")
        return {"$dict": [[key, to_data(item, opaque)] for key, item in value.items()]}
    if kind is torch.Size:
        return {"$size": list(value)}
    if isinstance(value, torch.Tensor) and kind in (torch.Tensor, nn.Parameter):
        return {"$tensor": tensor_data(value)}
    if kind is np.ndarray and value.dtype.kind in "biuf":
        return {"$ndarray": wire.encode_array(value, cap=None)}
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        return {"$npscalar": {"dtype": str(value.dtype), "value": to_data(value.item(), opaque)}}
    if isinstance(value, nn.Module):
        return {"$module": module_data(value)}
    return opaque(value)


def canonical(payload: Any) -> str:
    """The one text of a question: JSON with sorted keys and no spaces."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False, ensure_ascii=False)


def leaves(args: Any) -> list[torch.Tensor]:
    """The tensors gradients can flow to through a call's arguments: tensors that require grad, parameters of modules, in order."""
    found: list[torch.Tensor] = []
    for value in _walk(args):
        if isinstance(value, nn.Module):
            found += [p for p in value.parameters() if p.requires_grad]
        elif isinstance(value, torch.Tensor) and value.requires_grad:
            found.append(value)
    return found


def _walk(value: Any) -> Iterator[Any]:
    if type(value) in (list, tuple):
        for item in value:
            yield from _walk(item)
    elif type(value) is dict:
        for key in sorted(value):
            yield from _walk(value[key])
    else:
        yield value


def _short(payload: Any, limit: int = 120) -> str:
    text = canonical(payload)
    return shorten(text, limit)


# ------------------------------------------------------------------ recording


class _Allocation:
    """The handle, tap and module ids one recorded question hands out, the same ones each time it is asked again."""

    def __init__(self, recorder: Recorder, known: list[int]) -> None:
        self.recorder, self.known, self.given = recorder, known, 0

    def next_id(self) -> int:
        if self.given < len(self.known):
            number = self.known[self.given]
        else:
            number = self.recorder.new_id()
            self.known.append(number)
        self.given += 1
        return number


class Recorder:
    """Every question asked of a reference, with its answer as data; :meth:`as_data` is what a kit stores."""

    def __init__(self) -> None:
        self.events: dict[str, dict[str, Any]] = {}
        self.taps: dict[str, list[dict[str, Any]]] = {}
        self.labels: dict[str, str] = {str(ROOT): "the reference"}
        self._ids: dict[str, list[int]] = {}
        self._count = ROOT
        self._hooked: weakref.WeakSet[nn.Module] = weakref.WeakSet()  # by identity: a dead module's id() is reused

    def new_id(self) -> int:
        self._count += 1
        return self._count

    def ask(self, handle: int, label: str, op: str, payload: Any, run: Callable[[], Any], args: Any = None) -> Any:
        """Run one question on the real reference, record its answer under (handle, op, payload), return what the judge gets."""
        key = canonical([handle, op, payload])
        before = _argument_data(args) if args is not None else None
        try:
            real = run()
        except Exception as exc:  # the reference's own exception is an answer too (replayed by type and message)
            self._store(key, {"raised": [type(exc).__name__, str(exc)]}, label)
            raise
        allocation = _Allocation(self, self._ids.setdefault(key, []))
        data, given = self._result(real, allocation, label, leaves(args) if args is not None else [])
        event: dict[str, Any] = {"result": data}
        if before is not None:
            effects = [[place, after] for (place, was), (_, after) in zip(before, _argument_data(args), strict=True) if was != after]
            changed = [place for place, _ in effects if not isinstance(_argument(args, place), (torch.Tensor, nn.Module))]
            if changed:
                raise Unrecordable(f"{label} changed its argument {changed[0]!r}, which is not a tensor or a module: the kit cannot replay that")
            if effects:
                event["effects"] = effects
        self._store(key, event, label)
        return given

    def _store(self, key: str, event: dict[str, Any], label: str) -> None:
        old = self.events.setdefault(key, event)
        if old != event:
            raise Unrecordable(f"the reference answered {label} in two different ways (does it keep state?): the kit cannot record it")

    def _result(self, real: Any, allocation: _Allocation, label: str, graph_leaves: list[torch.Tensor]) -> tuple[Any, Any]:
        """The data of a result and the value the judge gets: the real one, with handles and taps where data will not do."""
        kind = type(real)
        if kind in (list, tuple):
            pairs = [self._result(item, allocation, f"{label}[{i}]", graph_leaves) for i, item in enumerate(real)]
            items = [d for d, _ in pairs]
            return (items, [g for _, g in pairs]) if kind is list else ({"$tuple": items}, tuple(g for _, g in pairs))
        if kind is dict and all(type(k) is str for k in real):
            pairs_by_key = {k: self._result(v, allocation, f"{label}[{k!r}]", graph_leaves) for k, v in real.items()}
            return {"$dict": [[k, d] for k, (d, _) in pairs_by_key.items()]}, {k: g for k, (_, g) in pairs_by_key.items()}
        if isinstance(real, torch.Tensor) and kind in (torch.Tensor, nn.Parameter) and real.grad_fn is not None and graph_leaves:
            tap = allocation.next_id()
            self.labels[str(tap)] = label
            return {"$tensor": {**tensor_data(real), "tap": tap}}, _tapped(self, tap, real, graph_leaves)
        if isinstance(real, nn.Module):
            number = allocation.next_id()
            self.labels[str(number)] = label
            self._hook(real, number, label)
            return {"$module": module_data(real), "$id": number}, real
        found: dict[str, Any] = {}

        def opaque(value: Any) -> Any:
            number = allocation.next_id()
            self.labels[str(number)] = label
            found["handle"] = RecordingHandle(self, number, value, label)
            return {"$handle": number}

        data = to_data(real, opaque)
        return data, found.get("handle", real)

    def _hook(self, module: nn.Module, number: int, label: str) -> None:
        """Record every forward call of a module the reference gave (a model's outputs for the inputs a judge tries)."""
        if module in self._hooked:
            return
        self._hooked.add(module)

        def record(_module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> None:
            self.ask(number, f"{label}(...)", "call", call_payload(args, kwargs), lambda: output, None)

        module.register_forward_hook(record, with_kwargs=True)

    def as_data(self, **about: Any) -> dict[str, Any]:
        """Everything recorded, as JSON-ready data (with ``about``: what it was recorded from)."""
        return {"format": FORMAT, **about, "events": dict(sorted(self.events.items())),
                "taps": dict(sorted(self.taps.items(), key=lambda item: int(item[0]))), "labels": self.labels}


def call_payload(args: Any, kwargs: dict[str, Any]) -> list[Any]:
    """The arguments of a call as data: positional ones in order, named ones sorted by name."""
    return [_payload(list(args)), _payload(dict(sorted(kwargs.items())))]


def _payload(args: Any) -> Any:
    """The arguments of a question as data: handles by number; any other object the reference did not give is refused."""

    def opaque(value: Any) -> Any:
        if isinstance(value, (RecordingHandle, ReplayHandle)):
            return {"$handle": object.__getattribute__(value, "_number")}
        raise Unrecordable(f"an argument of type {type(value).__name__} cannot be recorded")

    return to_data(args, opaque)


def _argument_data(args: Any) -> list[tuple[Any, Any]]:
    """(place, data) of each argument of a call, to see which ones the call changed."""
    positional, named = args
    places: list[tuple[Any, Any]] = [(i, _payload(v)) for i, v in enumerate(positional)]
    return places + [(k, _payload(named[k])) for k in sorted(named)]


def _argument(args: Any, place: int | str) -> Any:
    positional, named = args
    return positional[place] if isinstance(place, int) else named[place]


def _unwrap(value: Any) -> Any:
    """The real values behind the handles in ``value``; a container without handles is passed on itself (the reference may change it)."""
    if isinstance(value, RecordingHandle):
        return object.__getattribute__(value, "_real")
    if not any(isinstance(v, RecordingHandle) for v in _walk(value)):
        return value
    if type(value) in (list, tuple):
        return type(value)(_unwrap(v) for v in value)
    return {k: _unwrap(v) for k, v in value.items()}


class _Handle:
    """What both kinds of handle share: every operation goes through ``_ask(op, payload, run, args)``.

    Attributes are set and read through ``object`` because ``__getattr__`` is
    a question to the reference (or its recording), not attribute access.
    """

    _SHOWN_AS = "handle"

    def __init__(self, number: int, label: str, **fields: Any) -> None:
        for name, value in {"number": number, "label": label, **fields}.items():
            object.__setattr__(self, "_" + name, value)

    def __repr__(self) -> str:
        return f"<{self._SHOWN_AS} {object.__getattribute__(self, '_label')}>"

    def _ask(self, op: str, payload: Any, run: Callable[[], Any], args: Any = None) -> Any:
        label = _label_of(object.__getattribute__(self, "_label"), op, payload)
        return self._answer(object.__getattribute__(self, "_number"), label, op, payload, run, args)

    def _answer(self, number: int, label: str, op: str, payload: Any, run: Callable[[], Any], args: Any) -> Any:
        raise NotImplementedError

    def _real_op(self, op: str, *others: Any) -> Callable[[], Any]:
        raise NotImplementedError

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)  # protocol probes (copy, pickle, numpy) are not questions to the reference
        return self._ask("getattr", name, self._real_op("getattr", name))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._ask("call", call_payload(args, kwargs), self._real_op("call", args, kwargs), (args, kwargs))

    def _binary(self, name: str, other: Any) -> Any:
        return self._ask(name, _payload(other), self._real_op(name, other))

    def _unary(self, name: str) -> Any:
        return self._ask(name, None, self._real_op(name))


def _dunder(name: str, binary: bool) -> Callable[..., Any]:
    def method(self: _Handle, *other: Any) -> Any:
        return self._binary(name, other[0]) if binary else self._unary(name)

    method.__name__ = name
    return method


for _dunder_name in _BINARY:
    setattr(_Handle, _dunder_name, _dunder(_dunder_name, True))
for _dunder_name in _UNARY:
    setattr(_Handle, _dunder_name, _dunder(_dunder_name, False))


class RecordingHandle(_Handle):
    """A value the reference gave that is not data: its uses are run on the real value and recorded."""

    _SHOWN_AS = "recorded"

    def __init__(self, recorder: Recorder, number: int, real: Any, label: str) -> None:
        super().__init__(number, label, recorder=recorder, real=real)

    def _answer(self, number: int, label: str, op: str, payload: Any, run: Callable[[], Any], args: Any) -> Any:
        recorder: Recorder = object.__getattribute__(self, "_recorder")
        return recorder.ask(number, label, op, payload, run, args)

    def _real_op(self, op: str, *others: Any) -> Callable[[], Any]:
        real = object.__getattribute__(self, "_real")
        if op == "getattr":
            return lambda: getattr(real, others[0])
        if op == "call":
            args, kwargs = others
            return lambda: real(*_unwrap(args), **_unwrap(kwargs))
        if op in _UNARY:
            return lambda: _UNARY[op](real)
        function, reflected = _BINARY[op]
        other = _unwrap(others[0])
        return (lambda: function(other, real)) if reflected else (lambda: function(real, other))


def _label_of(label: str, op: str, payload: Any) -> str:
    if op == "getattr":
        return str(payload) if label == "the reference" else f"{label}.{payload}"
    if op == "call":
        args = ", ".join(_short(a, 40) for a in payload[0])
        named = ", ".join(f"{k}={_short(v, 40)}" for k, v in payload[1].get("$dict", [])) if isinstance(payload[1], dict) else ""
        return f"{label}({', '.join(p for p in (args, named) if p)})"
    return f"{label}.{op}({_short(payload, 40) if payload is not None else ''})"


class RecordingReference(ModuleType):
    """The reference module, every attribute a judge takes from it recorded into ``recorder``."""

    def __init__(self, module: ModuleType, recorder: Recorder) -> None:
        super().__init__(module.__name__, module.__doc__)
        object.__setattr__(self, "_rec_module", module)
        object.__setattr__(self, "_rec_recorder", recorder)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        module = object.__getattribute__(self, "_rec_module")
        recorder: Recorder = object.__getattribute__(self, "_rec_recorder")
        return recorder.ask(ROOT, name, "getattr", name, lambda: getattr(module, name))


# ------------------------------------------------------------------ taps: gradients through recorded tensors


class _Tap:
    """A recorded tensor result attached to the graph: its real value and the leaves its gradients go to."""

    def __init__(self, recorder: Recorder, number: int, real: torch.Tensor, graph_leaves: list[torch.Tensor]) -> None:
        self.recorder, self.number, self.real, self.leaves = recorder, number, real, graph_leaves

    def backward(self, upstream: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        grads = torch.autograd.grad(self.real, self.leaves, upstream, retain_graph=True, allow_unused=True)
        entry = {"upstream": tensor_data(upstream), "grads": [None if g is None else tensor_data(g) for g in grads]}
        entries = self.recorder.taps.setdefault(str(self.number), [])
        if entry not in entries:
            entries.append(entry)
        return grads


class _TapFunction(torch.autograd.Function):
    """While recording: the judge gets a copy of the real result whose backward records, then runs, the real one."""

    @staticmethod
    def forward(ctx: Any, tap: _Tap, real: torch.Tensor, *graph_leaves: torch.Tensor) -> torch.Tensor:
        ctx.tap = tap
        return real.detach().clone()

    @staticmethod
    def backward(ctx: Any, upstream: torch.Tensor) -> Any:
        return (None, None, *ctx.tap.backward(upstream))


def _tapped(recorder: Recorder, number: int, real: torch.Tensor, graph_leaves: list[torch.Tensor]) -> torch.Tensor:
    tapped: torch.Tensor = _TapFunction.apply(_Tap(recorder, number, real, graph_leaves), real, *graph_leaves)
    return tapped


class _ReplayFunction(torch.autograd.Function):
    """While replaying: the recorded result, whose backward gives the recorded gradients for the recorded upstream."""

    @staticmethod
    def forward(ctx: Any, value: torch.Tensor, entries: list[dict[str, Any]], label: str, *graph_leaves: torch.Tensor) -> torch.Tensor:
        ctx.entries, ctx.label = entries, label
        return value.clone()

    @staticmethod
    def backward(ctx: Any, upstream: torch.Tensor) -> Any:
        wanted = tensor_data(upstream)
        for entry in ctx.entries:
            if entry["upstream"]["values"] == wanted["values"] and entry["upstream"]["shape"] == wanted["shape"]:
                return (None, None, None, *(None if g is None else tensor_from(g) for g in entry["grads"]))
        raise MissingExpectedValue(f"the kit has no expected gradient through {ctx.label} for this upstream gradient")


# ------------------------------------------------------------------ replaying


class Expected:
    """A recording, answering the questions it holds (see the module docstring)."""

    def __init__(self, data: dict[str, Any]) -> None:
        if data.get("format") != FORMAT:
            raise MissingExpectedValue(f"expected values in format {data.get('format')!r}, this grader reads format {FORMAT}")
        self.events: dict[str, dict[str, Any]] = data["events"]
        self.taps: dict[str, list[dict[str, Any]]] = data.get("taps", {})
        self.labels: dict[str, str] = data.get("labels", {})

    @classmethod
    def load(cls, path: Path | str) -> Expected:
        """The recording stored at ``path`` (JSON)."""
        return cls(json.loads(Path(path).read_text(encoding="utf-8")))

    def name(self, name: str) -> Any:
        """The reference's top-level ``name``; a name never asked for is a handle whose every use is missing."""
        key = canonical([ROOT, "getattr", name])
        if key not in self.events:
            return ReplayHandle(self, -1, name)
        return self.answer(ROOT, name, "getattr", name)

    def missing_name(self, name: str) -> Any:
        """For the generated module's ``__getattr__``: a name the kit holds nothing for."""
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        raise MissingExpectedValue(f"the kit has no expected value for {name}")

    def answer(self, handle: int, label: str, op: str, payload: Any, args: Any = None) -> Any:
        """The recorded answer to one question (its effects on ``args`` applied), or :class:`MissingExpectedValue`."""
        event = self.events.get(canonical([handle, op, payload]))
        if event is None:
            raise MissingExpectedValue(f"the kit has no expected value for {label}: this check needs the official grader here")
        if "raised" in event:
            kind, message = event["raised"]
            error = getattr(builtins, kind, None)
            raise (error if isinstance(error, type) and issubclass(error, Exception) else RuntimeError)(message)
        if args is not None:
            _apply_effects(args, event.get("effects", []))
        return self.value(event["result"], leaves(args) if args is not None else [])

    def value(self, data: Any, graph_leaves: list[torch.Tensor] | None = None) -> Any:
        """The value recorded data stands for (tensors tapped while recording get their recorded gradients)."""
        graph_leaves = graph_leaves or []
        if data is None or type(data) in (bool, int, float, str):
            return data
        if type(data) is list:
            return [self.value(item, graph_leaves) for item in data]
        if "$module" in data:
            return _skeleton(data["$module"], self, data.get("$id"))
        tag = next(iter(data))
        body = data[tag]
        if tag == "$float":
            return wire.decode_float(body)
        if tag == "$tuple":
            return tuple(self.value(item, graph_leaves) for item in body)
        if tag == "$dict":
            return {key: self.value(item, graph_leaves) for key, item in body}
        if tag == "$size":
            return torch.Size(body)
        if tag == "$tensor":
            return self._tensor(body, graph_leaves)
        if tag == "$ndarray":
            return array_from(body)
        if tag == "$npscalar":
            return np.dtype(body["dtype"]).type(self.value(body["value"]))
        if tag == "$handle":
            return ReplayHandle(self, int(body), self.labels.get(str(body), "a recorded value"))
        raise MissingExpectedValue(f"unknown recorded data {tag!r}")

    def _tensor(self, body: dict[str, Any], graph_leaves: list[torch.Tensor]) -> torch.Tensor:
        value = tensor_from(body)
        if "tap" in body and graph_leaves and torch.is_grad_enabled():
            label = self.labels.get(str(body["tap"]), "a recorded tensor")
            replayed: torch.Tensor = _ReplayFunction.apply(value, self.taps.get(str(body["tap"]), []), label, *graph_leaves)
            return replayed
        return value.requires_grad_(True) if body.get("requires_grad") and "tap" not in body else value


def _apply_effects(args: Any, effects: list[list[Any]]) -> None:
    """Change the arguments of a replayed call as the real call changed them."""
    for place, after in effects:
        _overwrite(_argument(args, place), after)


def _overwrite(target: Any, after: Any) -> None:
    with torch.no_grad():
        if isinstance(target, nn.Module) and isinstance(after, dict) and "$module" in after:
            state = dict(target.named_parameters()) | dict(target.named_buffers())
            for name, data in _flat_state(after["$module"]):
                state[name].copy_(tensor_from(data))
        elif isinstance(target, torch.Tensor) and isinstance(after, dict) and "$tensor" in after:
            target.copy_(tensor_from(after["$tensor"]))
        else:
            raise MissingExpectedValue(f"the kit cannot change an argument of type {type(target).__name__} as the reference did")


def _flat_state(data: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    for name, tensor in data["parameters"] + data["buffers"]:
        if tensor is not None:
            yield prefix + name, tensor
    for name, child in data["children"]:
        if child is not None:
            yield from _flat_state(child, f"{prefix}{name}.")


class ReplayHandle(_Handle):
    """A value the reference gave that is not data, answered from the recording."""

    _SHOWN_AS = "expected"

    def __init__(self, expected: Expected, number: int, label: str) -> None:
        super().__init__(number, label, expected=expected)

    def _answer(self, number: int, label: str, op: str, payload: Any, run: Callable[[], Any], args: Any) -> Any:
        expected: Expected = object.__getattribute__(self, "_expected")
        return expected.answer(number, label, op, payload, args)

    def _real_op(self, op: str, *others: Any) -> Callable[[], Any]:
        return _nothing


def _nothing() -> Any:
    return None


class _Skeleton(nn.Module):
    """A replayed ``nn.Module``: the recorded classes, parameters and buffers; forward answers recorded calls."""

    _kit_expected: Expected | None = None
    _kit_number: int | None = None

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self._kit_expected is None or self._kit_number is None:
            raise MissingExpectedValue(f"the kit has no expected output for a call of this {type(self).__name__}")
        label = self._kit_expected.labels.get(str(self._kit_number), "a recorded module")
        return self._kit_expected.answer(self._kit_number, f"{label}(...)", "call", call_payload(args, kwargs), None)


_SKELETON_CLASSES: dict[tuple[str, str], type[_Skeleton]] = {}


def _skeleton(data: dict[str, Any], expected: Expected, number: int | None) -> nn.Module:
    module_name, qualname = data["class"]
    cls = _SKELETON_CLASSES.get((module_name, qualname))
    if cls is None:
        cls = type(qualname.rpartition(".")[2], (_Skeleton,), {"__module__": module_name, "__qualname__": qualname})
        _SKELETON_CLASSES[(module_name, qualname)] = cls
    module = cls()
    module._kit_expected, module._kit_number = expected, number
    for name, tensor in data["parameters"]:
        module.register_parameter(name, None if tensor is None else nn.Parameter(tensor_from(tensor), tensor["requires_grad"]))
    for name, tensor in data["buffers"]:
        module.register_buffer(name, None if tensor is None else tensor_from(tensor))
    for name, child in data["children"]:
        module.add_module(name, None if child is None else _skeleton(child, expected, None))
    module.training = data["training"]
    return module
