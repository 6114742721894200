"""Conversion of Python sequences (and numpy arrays, when numpy is installed) to C arrays.

numpy is optional: every function accepts lists (or any iterable), and numpy arrays only
when numpy can be imported. ``is_ndarray(x)`` is how callers decide to return numpy arrays.
"""
from __future__ import annotations

import array
import ctypes
from typing import Any, Optional

from ._errors import ERR_BAD_DATA, ERR_INVALID_ARGUMENT, error

try:  # numpy is optional
    import numpy as np
except ImportError:  # pragma: no cover - exercised by the no-numpy subprocess test
    np = None

_TYPECODES = {ctypes.c_int32: "i", ctypes.c_int64: "q", ctypes.c_float: "f", ctypes.c_double: "d"}
_INT_LIMITS = {ctypes.c_int32: 2**31, ctypes.c_int64: 2**63}


def is_ndarray(x: Any) -> bool:
    return np is not None and isinstance(x, np.ndarray)


_SPARE = (ctypes.c_double * 1)()  # where empty arrays point (never NULL, never written)


def pointer(buf, ctype):
    """A ctypes pointer to the first element of an array.array or a numpy array (never
    NULL, also for an empty array: NULL means "absent" to the library)."""
    addr = buf.ctypes.data if is_ndarray(buf) else buf.buffer_info()[0]
    return ctypes.cast(addr or ctypes.addressof(_SPARE), ctypes.POINTER(ctype))


def vector(x: Any, ctype, what: str, *, none_as: Optional[float] = None, overflow_code: int = ERR_BAD_DATA):
    """A contiguous 1-D C array (array.array or numpy array) holding `x` as `ctype`.

    Integers that do not fit `ctype` raise `overflow_code` (ctypes would wrap them);
    non-numbers raise InvalidArgumentError. With `none_as`, None entries become that value.
    The library checks the ranges of the values themselves.
    """
    if is_ndarray(x):
        if x.ndim != 1:
            raise error(ERR_INVALID_ARGUMENT, f"{what} must be 1-D, got shape {x.shape}")
        return _ndarray_as(x, ctype, what, overflow_code)
    if isinstance(x, (str, bytes, bytearray, memoryview)) and ctype not in _INT_LIMITS:
        raise error(ERR_INVALID_ARGUMENT, f"{what} must be a sequence of numbers, got {type(x).__name__}")
    if isinstance(x, str):
        raise error(ERR_INVALID_ARGUMENT, f"{what} must be a sequence of integers, got a str")
    try:
        items = list(x)
    except TypeError:
        raise error(ERR_INVALID_ARGUMENT, f"{what} must be a sequence of numbers, got {x!r}") from None
    if none_as is not None:
        items = [none_as if v is None else v for v in items]
    out = array.array(_TYPECODES[ctype])
    for i, v in enumerate(items):
        try:
            if ctype in _INT_LIMITS:
                if isinstance(v, float) or not hasattr(v, "__index__"):
                    raise TypeError(f"an integer is required, got {v!r}")
                v = int(v)
            else:
                v = float(v)
            out.append(v)
        except OverflowError:
            raise error(overflow_code, f"{what}[{i}] = {v} does not fit in {_cname(ctype)}") from None
        except (TypeError, ValueError) as e:
            raise error(ERR_INVALID_ARGUMENT, f"{what}[{i}]: {e}") from None
    return out


def matrix(x: Any, ctype, what: str, *, pad: int = 0, overflow_code: int = ERR_BAD_DATA):
    """(flat row-major C array, n_rows, n_cols, row lengths) of a 2-D input.

    numpy arrays must be 2-D. Lists may be ragged: rows are padded with `pad` to the
    longest row, and the row lengths are returned (None for a numpy array)."""
    if is_ndarray(x):
        if x.ndim != 2:
            raise error(ERR_INVALID_ARGUMENT, f"{what} must be 2-D (rows × positions), got shape {x.shape}")
        return _ndarray_as(x, ctype, what, overflow_code).reshape(-1), x.shape[0], x.shape[1], None
    if isinstance(x, (str, bytes, bytearray)):
        raise error(ERR_INVALID_ARGUMENT, f"{what} must be a sequence of rows, got {type(x).__name__}")
    try:
        rows = list(x)
    except TypeError:
        raise error(ERR_INVALID_ARGUMENT, f"{what} must be a sequence of rows, got {x!r}") from None
    vecs = [vector(r, ctype, f"{what}[{i}]", overflow_code=overflow_code) for i, r in enumerate(rows)]
    width = max((len(v) for v in vecs), default=0)
    flat = array.array(_TYPECODES[ctype])
    for v in vecs:
        flat.extend(v)
        flat.extend(array.array(_TYPECODES[ctype], [pad]) * (width - len(v)))
    return flat, len(vecs), width, [len(v) for v in vecs]


def _ndarray_as(x, ctype, what: str, overflow_code: int):
    want = {ctypes.c_int32: np.int32, ctypes.c_int64: np.int64, ctypes.c_float: np.float32,
            ctypes.c_double: np.float64}[ctype]
    if x.dtype != want:
        if ctype in _INT_LIMITS:
            if x.dtype.kind not in "iub":
                raise error(ERR_INVALID_ARGUMENT, f"{what} must hold integers, got dtype {x.dtype}")
            lim = _INT_LIMITS[ctype]
            if x.size and (int(x.min()) < -lim or int(x.max()) > lim - 1):
                raise error(overflow_code, f"{what} has values outside {_cname(ctype)}")
        elif x.dtype.kind not in "iubf":
            raise error(ERR_INVALID_ARGUMENT, f"{what} must hold numbers, got dtype {x.dtype}")
    return np.ascontiguousarray(x, dtype=want)


def _cname(ctype) -> str:
    return {ctypes.c_int32: "int32", ctypes.c_int64: "int64", ctypes.c_float: "float32",
            ctypes.c_double: "float64"}[ctype]


def empty(ctype, n: int, like_numpy: bool):
    """A zeroed C array of n elements (numpy when like_numpy, else array.array)."""
    if like_numpy:
        return np.zeros(n, dtype={ctypes.c_int32: np.int32, ctypes.c_int64: np.int64, ctypes.c_float: np.float32,
                                  ctypes.c_double: np.float64}[ctype])
    return array.array(_TYPECODES[ctype], bytes(ctypes.sizeof(ctype) * n))
