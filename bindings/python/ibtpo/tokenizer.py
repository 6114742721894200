"""The byte tokenizer: tokenize() and detokenize() (thread-safe, no trainer needed)."""
from __future__ import annotations

import ctypes
from typing import Any, Union

from . import _arrays
from ._errors import ERR_INVALID_ARGUMENT, OK, _check, error, utf8
from ._lib import LIB, TOKEN_BOS, TOKEN_EOS, TOKEN_PAD

__all__ = ["tokenize", "detokenize", "TOKEN_BOS", "TOKEN_EOS", "TOKEN_PAD"]


def _as_bytes(text: Any, what: str = "text") -> bytes:
    if isinstance(text, str):
        return utf8(text, what)
    if isinstance(text, (bytes, bytearray, memoryview)):
        return bytes(text)
    raise error(ERR_INVALID_ARGUMENT, f"{what} must be str (encoded as UTF-8) or bytes, got {type(text).__name__}")


def tokenize(text: Union[str, bytes], add_bos: bool = False) -> list:
    """Tokens of `text` (str is encoded as UTF-8; bytes are taken as they are, NUL included):
    token t < 256 is the byte t, preceded by TOKEN_BOS (256) when add_bos is true."""
    data = _as_bytes(text)
    if add_bos not in (0, 1):  # False/True/0/1 only, as the C function
        raise error(ERR_INVALID_ARGUMENT, f"add_bos must be a bool (or 0/1), got {add_bos!r}")
    # The C function always reports the size it needs in *out_len, also when the buffer is
    # too small; start from the expected size and ask again if the library needs more.
    capacity = len(data) + int(add_bos)
    for _attempt in range(3):
        buf = (ctypes.c_int32 * capacity)()
        n = ctypes.c_int64(-1)
        status = LIB.ibtpo_tokenize(data, len(data), int(add_bos), buf, capacity, ctypes.byref(n))
        if status != OK and status == ERR_INVALID_ARGUMENT and n.value > capacity:
            capacity = n.value
            continue
        _check(status)
        return buf[: n.value]
    raise error(ERR_INVALID_ARGUMENT, "ibtpo_tokenize kept asking for a larger buffer")  # pragma: no cover


def detokenize(tokens: Any) -> bytes:
    """The bytes of `tokens` (a list or numpy array of ints): byte tokens are copied, BOS and
    PAD are dropped, and decoding stops at the first EOS. A token outside [0, 259) raises
    InvalidArgumentError."""
    vec = _arrays.vector(tokens, ctypes.c_int32, "tokens", overflow_code=ERR_INVALID_ARGUMENT)
    capacity = len(vec) + 1  # every token is at most one byte, plus the NUL
    for _attempt in range(3):
        buf = ctypes.create_string_buffer(capacity)
        n = ctypes.c_int64(-1)
        status = LIB.ibtpo_detokenize(_arrays.pointer(vec, ctypes.c_int32), len(vec), buf, capacity,
                                      ctypes.byref(n))
        if status == ERR_INVALID_ARGUMENT and n.value >= capacity:
            capacity = n.value + 1
            continue
        _check(status)
        return buf.raw[: n.value]
    raise error(ERR_INVALID_ARGUMENT, "ibtpo_detokenize kept asking for a larger buffer")  # pragma: no cover
