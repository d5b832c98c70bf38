"""The wire format, both sides: values encoded as the kernel encodes them, decoded as the grader decodes them.

The kernel side is the probe code booted from its sources (as the official
grade's first cell and ``%grade`` boot it) and installed on a plain namespace;
the grader side is :mod:`grader.probes.wire` imported as a module. Between them
there is only JSON text.
"""

from __future__ import annotations

import ast
import builtins
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from grader.probes import load_runtime, wire
from grader.probes.protocol import ProbeCall, parse_answers


@pytest.fixture(scope="module")
def kernel() -> dict[str, Any]:
    """The runtime's namespace after ``install``, as inside a kernel."""
    runtime = load_runtime()
    runtime["install"]("t", {}, 1, 5.0, publish=lambda data, metadata=None: None)
    return runtime


def across(data: Any) -> Any:
    """What the grader reads of data the kernel sent."""
    return wire.loads(wire.dumps(data))


def same_float(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1.0, a) == math.copysign(1.0, b))


# ---------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    "value",
    [0.0, -0.0, 1.5, -2.25, 1e308, 5e-324, math.pi, 7, -(2**60), math.nan, math.inf, -math.inf, np.float32(0.1), np.float16(-0.0),
     np.int64(2**40), np.array(3.5), torch.tensor(-0.0, dtype=torch.float64), torch.tensor(math.inf)],
    ids=repr,
)
def test_a_number_survives_the_trip_exactly(kernel: dict[str, Any], value: Any) -> None:
    record = across(kernel["encode_number"](value))
    expected = float(value.item() if hasattr(value, "item") else value)
    assert set(record) == {"number"}
    assert same_float(wire.number_of(record), expected)  # type: ignore[arg-type]


def test_non_finite_numbers_are_words_not_json_constants(kernel: dict[str, Any]) -> None:
    assert [kernel["encode_number"](v) for v in (math.nan, math.inf, -math.inf)] == [
        {"number": "nan"}, {"number": "inf"}, {"number": "-inf"}]
    assert "NaN" not in wire.dumps(kernel["encode_number"](math.nan))


class Liar(float):
    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = float.__hash__


class Spoof:
    __class__ = float  # type: ignore[assignment]


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (Liar(1.0), "a tests.unit.test_wire.Liar"),
        (Spoof(), "a tests.unit.test_wire.Spoof"),
        (True, "a bool (True/False), not a number"),
        (np.bool_(False), "a bool (True/False), not a number"),
        (None, "None"),
        ("3.0", "a str"),
        (np.array([1.0, 2.0]), "a numpy array of shape (2,), not a single number"),
        (torch.ones(2), "a tensor of shape (2,), not a single number"),
        (torch.tensor(1 + 2j), "a complex tensor"),
    ],
    ids=lambda v: type(v).__name__,
)
def test_a_number_is_checked_by_its_exact_type(kernel: dict[str, Any], value: Any, why: str) -> None:
    assert kernel["encode_number"](value) == {"rejected": why}
    assert wire.number_of({"rejected": why}) is None


# ---------------------------------------------------------------- tensors


def rebuilt(record: dict[str, Any]) -> torch.Tensor:
    dtype, shape, values, truncated = wire.decode_tensor(record)
    assert not truncated
    return torch.tensor(values, dtype=getattr(torch, dtype)).reshape(tuple(shape))


FLOAT_EDGES = [0.0, -0.0, 1.0, -1.5, math.nan, math.inf, -math.inf, 1e-3]


@pytest.mark.parametrize("dtype", wire.DTYPES)
@pytest.mark.parametrize("shape", [(), (0,), (8,), (2, 4), (1, 2, 4)], ids=str)
def test_a_tensor_survives_the_trip_with_its_dtype_shape_and_values(kernel: dict[str, Any], dtype: str, shape: tuple[int, ...]) -> None:
    count = math.prod(shape)
    torch_dtype = getattr(torch, dtype)
    if torch_dtype.is_floating_point:
        tensor = torch.tensor((FLOAT_EDGES * 2)[:count] if shape else FLOAT_EDGES[1], dtype=torch_dtype).reshape(shape)
    elif torch_dtype is torch.bool:
        tensor = (torch.arange(count) % 3 == 0).reshape(shape)
    else:
        info = torch.iinfo(torch_dtype)
        tensor = torch.tensor(([info.min, info.max, 0, 1] * 2)[:count] if shape else info.max, dtype=torch_dtype).reshape(shape)
    record = across(kernel["encode_tensor"](tensor))
    assert (record["dtype"], record["shape"]) == (dtype, list(shape))
    back = rebuilt(record)
    assert back.dtype is torch_dtype
    assert torch.equal(torch.nan_to_num(back.double(), nan=7.0), torch.nan_to_num(tensor.double(), nan=7.0))
    if torch_dtype.is_floating_point:  # NaN stays NaN, -0.0 keeps its sign
        assert torch.equal(back.isnan(), tensor.isnan()) and torch.equal(torch.signbit(back), torch.signbit(tensor))


def test_integers_stay_exact_beyond_a_float() -> None:
    big = torch.tensor([2**62 + 1, -(2**63)], dtype=torch.int64)
    record = across(wire.encode_tensor(big, wire.take_refs(torch), cap=None))
    assert record["values"] == [2**62 + 1, -(2**63)] and torch.equal(rebuilt(record), big)


def test_a_large_tensor_is_capped_and_says_so(kernel: dict[str, Any]) -> None:
    tensor = torch.arange(10_000, dtype=torch.float32).reshape(100, 100)
    record = across(kernel["encode_tensor"](tensor))
    assert record["truncated"] is True and len(record["values"]) == wire.MAX_VALUES and record["shape"] == [100, 100]
    _, _, values, truncated = wire.decode_tensor(record)
    assert truncated and values[:3] == [0.0, 1.0, 2.0]
    whole = across(wire.encode_tensor(tensor, wire.take_refs(torch), cap=None))
    assert "truncated" not in whole and torch.equal(rebuilt(whole), tensor)


def test_a_numpy_array_is_a_tensor_record_too() -> None:
    array = np.array([[0.5, -0.0], [np.nan, -np.inf]], dtype=np.float32)
    record = across(wire.encode_array(array))
    assert record == {"dtype": "float32", "shape": [2, 2], "values": [0.5, -0.0, "nan", "-inf"]}


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (None, "None"),
        ([1.0, 2.0], "list"),
        (torch.ones(2, dtype=torch.complex64), "a complex tensor"),
        (torch.empty(2, device="meta"), "an unreadable tensor (NotImplementedError)"),
    ],
    ids=["none", "list", "complex", "meta"],
)
def test_what_is_not_a_readable_real_tensor_is_rejected(value: Any, why: str) -> None:
    assert wire.encode_tensor(value, wire.take_refs(torch)) == {"rejected": why}


def test_a_tensor_subclass_is_not_believed() -> None:
    class Sneaky(torch.Tensor):
        pass

    assert wire.encode_tensor(torch.ones(2).as_subclass(Sneaky), wire.take_refs(torch))["rejected"].endswith("Sneaky")


# ---------------------------------------------------------------- nested values (the tensor probes' encoding)


def test_nested_values_survive_the_trip(kernel: dict[str, Any]) -> None:
    module = kernel["MODULES"]["tensors"]
    value = {"loss": math.nan, "steps": [1, 2.5, (torch.tensor([[1.0, -math.inf]]), np.float32(-0.0))], "name": "x" * 3000,
             "deep": [[[[[[[1.0]]]]]]], "model": torch.nn.Linear(2, 1)}
    encoded = module["encode_value"](value, module["_state"])
    assert across(encoded) == encoded
    items = dict(encoded["dict"])
    assert items["loss"] == {"number": "nan"}
    assert items["steps"]["list"][2]["tuple"][0]["tensor"]["values"] == [1.0, "-inf"]
    assert items["steps"]["list"][2]["tuple"][1] == {"number": -0.0}
    assert len(items["name"]["str"]) == 2000
    assert "nested too deep" in json.dumps(items["deep"])
    assert [name for name, _ in items["model"]["module"]["parameters"]] == ["weight", "bias"]


# ---------------------------------------------------------------- malformed data is refused, saying where and what


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (True, "the number: expected a number or one of 'nan', 'inf', '-inf', got True"),
        ("NaN", "the number: expected a number or one of 'nan', 'inf', '-inf', got 'NaN'"),
        (None, "got None"),
        ([1.0], "got [1.0]"),
    ],
)
def test_a_malformed_number_is_refused(data: Any, message: str) -> None:
    with pytest.raises(wire.WireError) as caught:
        wire.decode_float(data)
    assert message in str(caught.value)
    assert wire.number_of({"number": data}) is None


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ([1.0], "the tensor: expected a tensor record, got [1.0]"),
        ({"dtype": "float32", "shape": [2]}, "the tensor: the tensor record has no 'values'"),
        ({"dtype": 32, "shape": [1], "values": [1.0]}, "the tensor.dtype: expected a string, got 32"),
        ({"dtype": "float32", "shape": [-1], "values": []}, "the tensor.shape: expected a list of sizes (integers >= 0), got [-1]"),
        ({"dtype": "float32", "shape": [True], "values": [1.0]}, "the tensor.shape: expected a list of sizes"),
        ({"dtype": "float32", "shape": [3], "values": [1.0, 2.0]}, "the tensor: shape (3,) holds 3 values, the record has 2"),
        ({"dtype": "float32", "shape": [1], "values": [1.0, 2.0]}, "the tensor: shape (1,) holds 1 values, the record has 2"),
        ({"dtype": "float32", "shape": [2], "values": [1.0, "Infinity"]}, "the tensor.values[1]: expected a number or one of"),
        ({"dtype": "float32", "shape": [2], "values": [1.0], "truncated": 1}, "the tensor.truncated: expected true or false, got 1"),
    ],
)
def test_a_malformed_tensor_is_refused(record: Any, message: str) -> None:
    with pytest.raises(wire.WireError) as caught:
        wire.decode_tensor(record)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"number": NaN}', "not valid JSON: NaN is not a JSON number"),
        ('{"number": -Infinity}', "not valid JSON: -Infinity is not a JSON number"),
        ('{"number": 1', "not valid JSON"),
        ("[" * 100 + "]" * 100, "nested more than 64 levels deep"),
        ("[" * 100_000 + "]" * 100_000, "nested"),
        (" " * (wire.MAX_TEXT + 1), f"more than the {wire.MAX_TEXT} allowed"),
        (b"{}", "expected JSON text, got b'{}'"),
    ],
    ids=["nan", "infinity", "truncated", "deep", "recursion", "huge", "bytes"],
)
def test_malformed_json_is_refused(text: Any, message: str) -> None:
    with pytest.raises(wire.WireError) as caught:
        wire.loads(text)
    assert message in str(caught.value)


def test_an_answer_with_a_json_constant_or_a_malformed_error_is_read_strictly() -> None:
    calls = [ProbeCall("numbers", {"names": ["s"]})] * 3
    outputs = ['{"i": 0, "ok": true, "value": {"s": {"number": NaN}}}', '{"i": 1, "ok": false, "error": {"type": 3, "message": ["x"]}}',
               '{"i": 2, "ok": true, "value": {"s": {"number": "-inf"}}}']
    forged, broken, honest = parse_answers(outputs, calls)
    assert forged.missing
    assert (broken.ok, broken.error_type, broken.error_message) == (False, "Error", "")
    assert honest.ok and wire.number_of(honest.value["s"]) == -math.inf


def test_a_float_that_was_not_encoded_cannot_be_sent() -> None:
    with pytest.raises(ValueError):
        wire.dumps({"number": math.nan})


# ---------------------------------------------------------------- errors


def test_an_error_crosses_as_a_record() -> None:
    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert across(wire.error_record("call", ValueError("x" * 900))) == {"type": "ValueError", "message": "x" * 500, "stage": "call"}
    assert wire.error_record("backward", Unprintable()) == {"type": "Unprintable", "message": "<unprintable>", "stage": "backward"}
    assert wire.decode_error({"type": "ValueError", "message": "bad"}) == ("ValueError", "bad")
    assert wire.decode_error("nonsense") == ("Error", "")


# ---------------------------------------------------------------- the kernel side: one boot, one snapshot, the standard library only


def test_the_code_the_kernel_runs_imports_only_the_standard_library() -> None:
    here = Path(wire.__file__).parent
    for name in ("wire.py", "boot.py", "runtime.py"):
        tree = ast.parse((here / name).read_text(encoding="utf-8"))
        top = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
        modules = {alias.name.split(".")[0] for node in top if isinstance(node, ast.Import) for alias in node.names}
        modules |= {node.module.split(".")[0] for node in top if isinstance(node, ast.ImportFrom) and node.module}
        assert modules <= set(sys.stdlib_module_names), (name, modules - set(sys.stdlib_module_names))


def test_the_booted_code_keeps_its_own_builtins_and_codec(monkeypatch: pytest.MonkeyPatch) -> None:
    real_float = float
    runtime = load_runtime()
    runtime["install"]("t", {}, None, 5.0, publish=lambda data, metadata=None: None)
    codec = runtime["wire"]
    assert codec is not wire and codec.__name__.endswith("_wire") and runtime["MODULES"]["values"]["wire"] is codec
    monkeypatch.setattr(builtins, "float", lambda *args: 0.0)  # a student rebinds a builtin after the boot
    assert runtime["__builtins__"]["float"] is real_float is codec.__dict__["__builtins__"]["float"]
    assert runtime["encode_number"](7) == {"number": 7.0}


def test_there_is_one_snapshot_of_references_taken_by_each_module_hook(kernel: dict[str, Any]) -> None:
    state = kernel["_state"]
    assert "ex34" not in state and "_toolkit" not in kernel["MODULES"]["tensors"]
    for label in ("graphs", "checkpoint", "tensors"):
        assert kernel["MODULES"][label]["_state"] is state
        hook = kernel["MODULES"][label]["_references"]
        assert hook in kernel["ON_INSTALL"] and all(state[name] == ref for name, ref in hook(torch).items()), label


def test_two_hooks_cannot_take_one_name_for_different_objects() -> None:
    runtime = load_runtime()
    runtime["ON_INSTALL"].append(lambda torch: {"Linear": torch.nn.Conv1d})
    with pytest.raises(ValueError, match="'Linear' is taken twice"):
        runtime["take_references"](torch)
