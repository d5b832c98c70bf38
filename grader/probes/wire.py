"""The wire format: how a value crosses the kernel boundary, encoded and decoded by this one module on both sides.

Inside the kernel the probes encode what the student's code gave; in the
grader's process the judges encode the reference's values with the same
functions and decode what the kernel sent; the kit records the reference's
answers in it too. So there is one representation of each kind of value:

number
    A JSON number, or one of the strings ``"nan"``, ``"inf"``, ``"-inf"``
    (JSON has no non-finite numbers). ``-0.0`` stays ``-0.0``. A single value
    is the record ``{"number": x}``; a value the contract does not accept as a
    number is ``{"rejected": why}``.
tensor
    ``{"dtype": "float32", "shape": [2, 3], "values": [...]}``: the values in
    row-major order, each a number as above (integers stay integers, booleans
    are 0 and 1), so a tensor is rebuilt exactly from its dtype, shape and
    values. A probe may cap the values it sends; then ``"truncated": true``
    says that ``values`` holds only the first ones. A value that is not a real
    tensor, or cannot be read, is ``{"rejected": why}``.
error
    ``{"type": "ValueError", "message": "...", "stage": "call"}``.

The encoders check types exactly (``type(v) is float``): a subclass with lying
arithmetic or an object that fakes ``__class__`` is rejected, not converted.
They use only the references in ``refs`` (:func:`take_refs`), which the kernel
takes when the runtime is installed, before any student code runs. The
decoders refuse malformed data with a :class:`WireError` that says where and
what. This module imports only the standard library; the kernel runs it from
its source (see :mod:`grader.probes.boot`), so it must stay that way.
"""

from json import dumps as _dumps
from json import loads as _loads
from math import inf as _inf
from math import isfinite as _isfinite
from math import nan as _nan

MAX_TEXT = 4 * 1024 * 1024  # characters of one JSON text the grader reads from the kernel
MAX_VALUES = 4096  # values of one tensor a probe sends (a larger one is truncated)
MAX_DEPTH = 64  # nesting of decoded data
NONFINITE = {"nan": _nan, "inf": _inf, "-inf": -_inf}
DTYPES = ("float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool")
_NUMPY_SCALARS = ("float16", "float32", "float64", "longdouble", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")


class WireError(ValueError):
    """Data that does not follow the wire format: the message says where, what was found and what was expected."""


# ---------------------------------------------------------------- schema fragments (both sides validate against them)

NUMBER_VALUE = {"anyOf": [{"type": "number"}, {"enum": list(NONFINITE)}]}
NUMBER = {"type": "object", "properties": {"number": NUMBER_VALUE}, "required": ["number"], "additionalProperties": False}
REJECTED = {"type": "object", "properties": {"rejected": {"type": "string"}}, "required": ["rejected"], "additionalProperties": False}
ERROR = {
    "type": "object",
    "properties": {"type": {"type": "string"}, "message": {"type": "string"}, "stage": {"type": "string"}},
    "required": ["type"],
    "additionalProperties": False,
}
TENSOR = {
    "type": "object",
    "properties": {
        "dtype": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "values": {"type": "array", "items": NUMBER_VALUE},
        "truncated": {"type": "boolean"},
    },
    "required": ["dtype", "shape", "values"],
    "additionalProperties": False,
}


# ---------------------------------------------------------------- references (taken once, before student code)


def take_refs(torch):
    """The torch and numpy objects the encoders use, taken from ``torch`` now (in the kernel: when the runtime is installed)."""
    import numpy

    base = getattr(torch._C, "TensorBase", None) or torch._C._TensorBase
    dtypes = {name: getattr(torch, name) for name in DTYPES}
    return {
        "tensor_types": frozenset((torch.Tensor, torch.nn.Parameter)),
        "dtypes": dtypes,
        "dtype_names": {dtype: name for name, dtype in dtypes.items()},
        "item": base.item,
        "tolist": base.tolist,
        "dim": base.dim,
        "is_complex": base.is_complex,
        "detach": base.detach,
        "reshape": base.reshape,
        "narrow": torch.narrow,
        "shape_of": base.__dict__["shape"].__get__,
        "dtype_of": base.__dict__["dtype"].__get__,
        "ndarray": numpy.ndarray,
        "numpy_bool": numpy.bool_,
        "numpy_scalars": frozenset(getattr(numpy, name) for name in _NUMPY_SCALARS),
        "exact_numbers": frozenset(_exact_number_types()),
    }


def _exact_number_types():
    from decimal import Decimal
    from fractions import Fraction

    return (Fraction, Decimal)


# ---------------------------------------------------------------- numbers


def encode_float(number):
    """A float as a wire number: itself when finite, else ``"nan"``, ``"inf"`` or ``"-inf"``."""
    return number if _isfinite(number) else repr(number)


def decode_number(data, where="the number"):
    """The number a wire number stands for, exactly (an integer stays an integer); anything else is refused.

    A bool is not a number here, nor is a string other than the three.
    """
    kind = type(data)
    if kind is float or kind is int:
        return data
    if kind is str and data in NONFINITE:
        return NONFINITE[data]
    raise WireError(f"{where}: expected a number or one of 'nan', 'inf', '-inf', got {_shown(data)}")


def decode_float(data, where="the number"):
    """The float a wire number stands for (see :func:`decode_number`)."""
    return float(decode_number(data, where))


def encode_number(value, refs):
    """A student's value as a number record: ``{"number": x}``, or ``{"rejected": why}``.

    The contract accepts plain Python numbers, numpy scalars, 0-d numpy arrays
    of a real dtype, 0-d real tensors, ``Fraction`` and ``Decimal``; never a bool.
    """
    kind = type(value)
    if kind is bool or kind is refs["numpy_bool"]:
        return {"rejected": "a bool (True/False), not a number"}
    if kind is float or kind is int:
        number = float(value)
    elif kind in refs["numpy_scalars"]:
        number = float(value.item())
    elif kind is refs["ndarray"]:
        if value.ndim != 0:
            return {"rejected": f"a numpy array of shape {tuple(value.shape)}, not a single number"}
        if value.dtype.kind not in "iuf":
            return {"rejected": f"a numpy array of dtype {value.dtype}, not a real number"}
        number = float(value.item())
    elif kind in refs["tensor_types"]:
        if refs["dim"](value) != 0:
            return {"rejected": f"a tensor of shape {tuple(refs['shape_of'](value))}, not a single number"}
        if refs["is_complex"](value):
            return {"rejected": "a complex tensor"}
        number = float(refs["item"](value))
    elif kind in refs["exact_numbers"]:
        number = float(value)
    elif value is None:
        return {"rejected": "None"}
    else:
        return {"rejected": "a " + type_name(value)}
    return {"number": encode_float(number)}


def number_of(record):
    """The float in a number record, or None when the record is not one (rejected, missing, malformed)."""
    if type(record) is dict and len(record) == 1 and "number" in record:
        try:
            return decode_float(record["number"])
        except WireError:
            return None
    return None


# ---------------------------------------------------------------- tensors


def encode_tensor(value, refs, cap=MAX_VALUES):
    """A real tensor as a tensor record (its first ``cap`` values; all when ``cap`` is None), or ``{"rejected": why}``."""
    if type(value) not in refs["tensor_types"]:
        return {"rejected": "None" if value is None else type_name(value)}
    if refs["is_complex"](value):
        return {"rejected": "a complex tensor"}
    shape = list(refs["shape_of"](value))
    dtype = refs["dtype_of"](value)
    count = 1
    for size in shape:
        count *= size
    try:
        flat = refs["reshape"](refs["detach"](value), (-1,))
        if cap is not None and count > cap:
            flat = refs["narrow"](flat, 0, 0, cap)
        values = refs["tolist"](flat)
    except BaseException as exc:  # noqa: BLE001 - a meta, sparse or otherwise unreadable tensor
        return {"rejected": f"an unreadable tensor ({type(exc).__name__})"}
    record = {"dtype": dtype_name(dtype, refs), "shape": shape, "values": _wire_values(values)}
    if cap is not None and count > cap:
        record["truncated"] = True
    return record


def dtype_name(dtype, refs):
    """A torch dtype's name on the wire: ``"float32"``, as ``torch.float32`` is spelled without its module."""
    return refs["dtype_names"].get(dtype) or str(dtype).replace("torch.", "")


def encode_array(array, cap=MAX_VALUES):
    """A numpy array of a real or bool dtype as a tensor record (the same format as a tensor's)."""
    flat = array.reshape(-1)
    values = (flat if cap is None else flat[:cap]).tolist()
    record = {"dtype": str(array.dtype), "shape": list(array.shape), "values": _wire_values(values)}
    if cap is not None and array.size > cap:
        record["truncated"] = True
    return record


def _wire_values(values):
    found = []
    for value in values:
        kind = type(value)
        if kind is float:
            found.append(value if _isfinite(value) else repr(value))
        elif kind is bool:
            found.append(1 if value else 0)
        else:
            found.append(value)
    return found


def decode_tensor(record, where="the tensor"):
    """A tensor record, checked: ``(dtype, shape, values, truncated)``, the values exact; anything malformed is refused."""
    if type(record) is not dict:
        raise WireError(f"{where}: expected a tensor record, got {_shown(record)}")
    for key in ("dtype", "shape", "values"):
        if key not in record:
            raise WireError(f"{where}: the tensor record has no {key!r}")
    dtype, shape, values = record["dtype"], record["shape"], record["values"]
    if type(dtype) is not str:
        raise WireError(f"{where}.dtype: expected a string, got {_shown(dtype)}")
    if type(shape) is not list or not all(type(size) is int and size >= 0 for size in shape):
        raise WireError(f"{where}.shape: expected a list of sizes (integers >= 0), got {_shown(shape)}")
    if type(values) is not list:
        raise WireError(f"{where}.values: expected a list, got {_shown(values)}")
    truncated = record.get("truncated", False)
    if type(truncated) is not bool:
        raise WireError(f"{where}.truncated: expected true or false, got {_shown(truncated)}")
    count = 1
    for size in shape:
        count *= size
    if len(values) > count or (len(values) < count and not truncated):
        raise WireError(f"{where}: shape {tuple(shape)} holds {count} values, the record has {len(values)}")
    numbers = [decode_number(value, f"{where}.values[{index}]") for index, value in enumerate(values)]
    return dtype, shape, numbers, truncated


# ---------------------------------------------------------------- errors


def error_record(stage, exc):
    """An exception as an error record (its message capped; an unprintable one said so)."""
    try:
        message = str(exc)
    except BaseException:  # noqa: BLE001 - a student exception whose __str__ raises
        message = "<unprintable>"
    return {"type": type(exc).__name__, "message": message[:500], "stage": stage}


def decode_error(record):
    """``(type, message)`` of an error record; whatever is malformed in it becomes ``("Error", "")``."""
    if type(record) is not dict:
        return "Error", ""
    kind, message = record.get("type", "Error"), record.get("message", "")
    return (kind[:100] if type(kind) is str else "Error"), (message[:500] if type(message) is str else "")


# ---------------------------------------------------------------- JSON text


def dumps(data):
    """Wire data as JSON text; a non-finite float that was not encoded is refused (``ValueError``)."""
    return _dumps(data, allow_nan=False)


def loads(text, limit=MAX_TEXT):
    """Strict JSON: at most ``limit`` characters, no ``NaN``/``Infinity`` literals, no absurd nesting; else :class:`WireError`."""
    if type(text) is not str:
        raise WireError(f"expected JSON text, got {_shown(text)}")
    if len(text) > limit:
        raise WireError(f"the JSON text has {len(text)} characters, more than the {limit} allowed")
    try:
        data = _loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise WireError("the JSON text is nested too deeply") from None
    except ValueError as exc:
        raise WireError(f"not valid JSON: {exc}") from None
    if _depth(data) > MAX_DEPTH:
        raise WireError(f"the JSON text is nested more than {MAX_DEPTH} levels deep")
    return data


def _refuse_constant(name):
    raise ValueError(f"{name} is not a JSON number (non-finite numbers are the strings 'nan', 'inf', '-inf')")


def _depth(data):
    depth, level = 0, [data]
    while level:
        depth += 1
        if depth > MAX_DEPTH:
            return depth
        nested = []
        for item in level:
            if type(item) is dict:
                nested.extend(item.values())
            elif type(item) is list:
                nested.extend(item)
        level = [item for item in nested if type(item) in (dict, list)]
    return depth


# ---------------------------------------------------------------- names


def type_name(value):
    """The name of a value's type, with its module unless it is a builtin or defined in the notebook."""
    kind = type(value)
    module = getattr(kind, "__module__", "")
    name = getattr(kind, "__qualname__", "object")
    return name if module in ("builtins", "__main__", None, "") else module + "." + name


def _shown(value):
    """A value's repr for a protocol error, at most about 80 characters: cut after a word or an item, saying how much is left out.

    grader/shorten.py's rule, written out here: the codec runs in the kernel and imports only the standard library.
    """
    text = repr(value)
    if len(text) <= 80:
        return text
    cut = max(text.rfind(" ", 0, 58), text.rfind(",", 0, 58) + 1)
    cut = cut if cut > 0 else 58
    return text[:cut].rstrip() + f" …({len(text) - cut} more characters)"
