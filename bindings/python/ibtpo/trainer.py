"""The Trainer handle and memory_plan()."""
from __future__ import annotations

import array
import ctypes
import os
import threading
from typing import Any, Optional

from . import _lib
from ._errors import ERR_BAD_DATA, ERR_INVALID_ARGUMENT, _check, error
from ._lib import LIB
from .config import TrainerConfig, struct_to_dict

try:  # numpy is optional: inputs may be lists or numpy arrays
    import numpy as _np
except ImportError:  # pragma: no cover - exercised only without numpy
    _np = None


def memory_plan(config: Optional[TrainerConfig] = None) -> dict:
    """Bytes the trainer's single arena needs for `config`, by group (computed without
    allocating): total_bytes, parameter_bytes, gradient_bytes, optimizer_bytes,
    activation_bytes, scratch_bytes and parameter_count."""
    c = (config or TrainerConfig()).to_c()
    plan = _lib.new_struct(_lib.ibtpo_memory_plan)
    _check(LIB.ibtpo_memory_plan_for(ctypes.byref(c), ctypes.byref(plan)))
    return struct_to_dict(plan)


def _as_c_array(x: Any, ctype, typecode: str, what: str, shape: tuple[int, int]):
    """(ctypes pointer, keep-alive object) of a batch × seq array, row-major. Checks the
    shape and that values fit the C type; the library checks the ranges of the values."""
    batch, seq = shape
    if _np is not None and isinstance(x, _np.ndarray):
        if x.shape != shape:
            raise error(ERR_INVALID_ARGUMENT, f"{what} has shape {x.shape}, the trainer expects "
                        f"(batch, seq) = {shape}")
        want = _np.int32 if ctype is ctypes.c_int32 else _np.float32
        if x.dtype != want:
            if want is _np.int32:
                if x.dtype.kind not in "iub":
                    raise error(ERR_INVALID_ARGUMENT, f"{what} must hold integers, got dtype {x.dtype}")
                if x.size and (x.min() < -(2**31) or x.max() > 2**31 - 1):
                    raise error(ERR_BAD_DATA, f"{what} has values outside int32")
            elif x.dtype.kind not in "iubf":
                raise error(ERR_INVALID_ARGUMENT, f"{what} must hold numbers, got dtype {x.dtype}")
        a = _np.ascontiguousarray(x, dtype=want)
        return a.ctypes.data_as(ctypes.POINTER(ctype)), a
    try:
        rows = None if isinstance(x, (str, bytes)) else list(x)
    except TypeError:
        rows = None
    if rows is None or len(rows) != batch:
        n = "?" if rows is None else len(rows)
        raise error(ERR_INVALID_ARGUMENT, f"{what} must be {batch} rows (batch) of {seq} values (seq); "
                    f"got {n} rows")
    flat = array.array(typecode)
    assert flat.itemsize == ctypes.sizeof(ctype)
    for i, row in enumerate(rows):
        try:
            row = list(row)
        except TypeError:
            raise error(ERR_INVALID_ARGUMENT, f"{what}[{i}] is not a sequence of {seq} values") from None
        if len(row) != seq:
            raise error(ERR_INVALID_ARGUMENT, f"{what}[{i}] has {len(row)} values, the trainer expects seq = {seq}")
        try:
            flat.extend(row)
        except OverflowError:
            raise error(ERR_BAD_DATA, f"{what}[{i}] has a value outside int32") from None
        except TypeError as e:
            raise error(ERR_INVALID_ARGUMENT, f"{what}[{i}]: {e}") from None
    addr, _ = flat.buffer_info()
    return ctypes.cast(addr, ctypes.POINTER(ctype)), flat


class Trainer:
    """One libibtpo trainer: model, AdamW state, step counter, RNG and threads in one arena.

    Free it with ``close()`` or a ``with`` block (``__del__`` frees it too). All three are
    idempotent: the handle is freed exactly once. Any call after close raises
    InvalidArgumentError (a ValueError). A Trainer may be used from any thread, one call at
    a time (a lock serialises calls; the library releases the GIL while it works).
    """

    def __init__(self, config: Optional[TrainerConfig] = None):
        self._handle: Optional[int] = None
        self._lock = threading.Lock()
        c = (config or TrainerConfig()).to_c()
        out = _lib.ibtpo_trainer_p()
        _check(LIB.ibtpo_trainer_create(ctypes.byref(c), ctypes.byref(out)))
        self._handle = out.value
        cfg = self.config  # the shapes step_supervised checks on the Python side
        self._shape = (cfg.batch, cfg.seq)

    # ---- lifetime -------------------------------------------------------------------

    def close(self) -> None:
        """Frees the trainer (idempotent)."""
        lock = getattr(self, "_lock", None)
        if lock is None:  # __init__ failed before the handle existed
            return
        with lock:
            handle, self._handle = self._handle, None
            if handle is not None:
                LIB.ibtpo_trainer_free(handle)

    @property
    def closed(self) -> bool:
        return self._handle is None

    def __enter__(self) -> "Trainer":
        self._live()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass

    def __repr__(self) -> str:
        if self.closed:
            return "<ibtpo.Trainer closed>"
        return f"<ibtpo.Trainer step={self.step} batch={self._shape[0]} seq={self._shape[1]}>"

    def _live(self) -> int:
        h = self._handle
        if h is None:
            raise error(ERR_INVALID_ARGUMENT, "the trainer is closed")
        return h

    def _call(self, fn, *args) -> None:
        """fn(handle, *args) under the lock, then the status check with this handle's error."""
        with self._lock:
            h = self._live()
            _check(fn(h, *args), h)

    # ---- queries ----------------------------------------------------------------------

    @property
    def config(self) -> TrainerConfig:
        """The configuration the trainer was created with (ibtpo_trainer_get_config)."""
        out = _lib.new_struct(_lib.ibtpo_trainer_config)
        self._call(LIB.ibtpo_trainer_get_config, ctypes.byref(out))
        return TrainerConfig.from_c(out)

    @property
    def step(self) -> int:
        """Optimiser steps taken so far (restored by load)."""
        out = ctypes.c_int64(-1)
        self._call(LIB.ibtpo_trainer_get_step, ctypes.byref(out))
        return out.value

    # ---- training ---------------------------------------------------------------------

    def step_supervised(self, tokens, targets, weights=None) -> dict:
        """One cross-entropy step on a batch × seq batch (lists of lists or numpy arrays).

        tokens in [0, vocab); targets in [0, vocab) or -1 (ignored); weights >= 0 per token
        or None (1 on every target). Returns the step stats: step, loss, grad_norm, lr,
        tokens, seconds. A failed step leaves the trainer unchanged.
        """
        shape = self._shape
        tok, keep1 = _as_c_array(tokens, ctypes.c_int32, "i", "tokens", shape)
        tgt, keep2 = _as_c_array(targets, ctypes.c_int32, "i", "targets", shape)
        if weights is None:
            w, keep3 = None, None
        else:
            w, keep3 = _as_c_array(weights, ctypes.c_float, "f", "weights", shape)
        stats = _lib.new_struct(_lib.ibtpo_step_stats)
        self._call(LIB.ibtpo_trainer_step_supervised, tok, tgt, w, shape[0], shape[1], ctypes.byref(stats))
        del keep1, keep2, keep3
        return struct_to_dict(stats)

    # ---- checkpoints --------------------------------------------------------------------

    def save(self, path) -> None:
        """Writes parameters, AdamW state, step and RNG to `path` atomically."""
        self._call(LIB.ibtpo_trainer_save, _path_bytes(path))

    def load(self, path) -> None:
        """Loads a checkpoint of the same model config; validates it all before changing
        anything (IBTPO_ERR_BAD_CHECKPOINT, IBTPO_ERR_CONFIG_MISMATCH, IBTPO_ERR_IO)."""
        self._call(LIB.ibtpo_trainer_load, _path_bytes(path))


def _path_bytes(path) -> bytes:
    try:
        b = os.fsencode(path)
    except TypeError:
        raise error(ERR_INVALID_ARGUMENT, f"path must be str, bytes or os.PathLike, got {path!r}") from None
    if b"\0" in b:
        raise error(ERR_INVALID_ARGUMENT, f"path contains a NUL byte: {path!r}")
    return b
