"""ModelConfig / TrainerConfig dataclasses and their conversion to the C structs.

The defaults are read from the library's ``*_default()`` fillers at import, so they are
always the library's. Conversion goes field by field over the ctypes ``_fields_``: a
struct field the dataclass does not have keeps the filler's default, and integers are
range-checked here because ctypes would silently wrap them.
"""
from __future__ import annotations

import ctypes
import dataclasses
import math
import struct
from dataclasses import dataclass, field
from typing import Any

from . import _lib
from ._errors import ERR_INVALID_ARGUMENT, _check, error
from ._lib import LIB

_INT_RANGES = {  # ctype: (min, max, C name)
    ctypes.c_int32: (-(2**31), 2**31 - 1, "int32_t"),
    ctypes.c_uint32: (0, 2**32 - 1, "uint32_t"),
    ctypes.c_int64: (-(2**63), 2**63 - 1, "int64_t"),
    ctypes.c_uint64: (0, 2**64 - 1, "uint64_t"),
}
_FLOATS = (ctypes.c_float, ctypes.c_double)


def _short_float32(x: float) -> float:
    """The shortest decimal that is the same float32 as `x` (3e-3f reads 0.003, not
    0.003000000026077032); converting it back to float32 gives the identical bits."""
    bits = struct.pack("<f", x)
    if not math.isfinite(x):
        return x
    for digits in range(1, 10):
        y = float(f"{x:.{digits}g}")
        if struct.pack("<f", y) == bits:
            return y
    return x  # pragma: no cover - 9 significant digits always round-trip


def _defaults(cls, filler):
    s = cls()
    _check(filler(ctypes.byref(s)))
    return s


_MODEL_DEFAULT = _defaults(_lib.ibtpo_model_config, LIB.ibtpo_model_config_default)
_TRAINER_DEFAULT = _defaults(_lib.ibtpo_trainer_config, LIB.ibtpo_trainer_config_default)


@dataclass
class ModelConfig:
    """Llama-style decoder shape (``ibtpo_model_config``)."""

    vocab: int = _MODEL_DEFAULT.vocab
    d_model: int = _MODEL_DEFAULT.d_model
    n_layers: int = _MODEL_DEFAULT.n_layers
    n_heads: int = _MODEL_DEFAULT.n_heads
    n_kv_heads: int = _MODEL_DEFAULT.n_kv_heads
    d_ff: int = _MODEL_DEFAULT.d_ff
    max_seq: int = _MODEL_DEFAULT.max_seq
    rope_theta: float = _short_float32(_MODEL_DEFAULT.rope_theta)
    norm_eps: float = _short_float32(_MODEL_DEFAULT.norm_eps)
    tie_embeddings: bool = bool(_MODEL_DEFAULT.tie_embeddings)

    def to_c(self) -> _lib.ibtpo_model_config:
        return _to_c(self, _defaults(_lib.ibtpo_model_config, LIB.ibtpo_model_config_default), "model.")

    @classmethod
    def from_c(cls, s: _lib.ibtpo_model_config) -> "ModelConfig":
        return _from_c(cls, s)


@dataclass
class TrainerConfig:
    """Model, batch shape, threads, seed and optimiser (``ibtpo_trainer_config``)."""

    model: ModelConfig = field(default_factory=ModelConfig)
    batch: int = _TRAINER_DEFAULT.batch
    seq: int = _TRAINER_DEFAULT.seq
    threads: int = _TRAINER_DEFAULT.threads
    seed: int = _TRAINER_DEFAULT.seed
    lr: float = _short_float32(_TRAINER_DEFAULT.lr)
    min_lr: float = _short_float32(_TRAINER_DEFAULT.min_lr)
    warmup_steps: int = _TRAINER_DEFAULT.warmup_steps
    total_steps: int = _TRAINER_DEFAULT.total_steps
    beta1: float = _short_float32(_TRAINER_DEFAULT.beta1)
    beta2: float = _short_float32(_TRAINER_DEFAULT.beta2)
    adam_eps: float = _short_float32(_TRAINER_DEFAULT.adam_eps)
    weight_decay: float = _short_float32(_TRAINER_DEFAULT.weight_decay)
    grad_clip: float = _short_float32(_TRAINER_DEFAULT.grad_clip)

    def to_c(self) -> _lib.ibtpo_trainer_config:
        return _to_c(self, _defaults(_lib.ibtpo_trainer_config, LIB.ibtpo_trainer_config_default), "")

    @classmethod
    def from_c(cls, s: _lib.ibtpo_trainer_config) -> "TrainerConfig":
        return _from_c(cls, s)

    def replace(self, **changes: Any) -> "TrainerConfig":
        """A copy with some fields changed; ``model=`` may be a dict of model changes."""
        model = changes.pop("model", None)
        if isinstance(model, dict):
            changes["model"] = dataclasses.replace(self.model, **model)
        elif model is not None:
            changes["model"] = model
        else:
            changes["model"] = dataclasses.replace(self.model)
        return dataclasses.replace(self, **changes)


def _to_c(obj, s, prefix: str):
    """Copies the dataclass `obj` into struct `s` (already filled with defaults)."""
    for name, ctype in s._fields_:
        if name == "struct_size" or not hasattr(obj, name):
            continue
        value = getattr(obj, name)
        where = prefix + name
        if isinstance(ctype, type) and issubclass(ctype, ctypes.Structure):
            if not hasattr(value, "to_c"):
                raise error(ERR_INVALID_ARGUMENT, f"{where} must be a {ctype.__name__} dataclass, got {value!r}")
            setattr(s, name, _to_c(value, getattr(s, name), where + "."))
        elif ctype in _INT_RANGES:
            if isinstance(value, float) or not hasattr(value, "__index__"):
                raise error(ERR_INVALID_ARGUMENT, f"{where} must be an integer, got {value!r}")
            lo, hi, cname = _INT_RANGES[ctype]
            value = int(value)  # bool -> 0/1, numpy ints -> int
            if not lo <= value <= hi:
                raise error(ERR_INVALID_ARGUMENT, f"{where} = {value} does not fit in {cname}")
            setattr(s, name, value)
        elif ctype in _FLOATS:
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise error(ERR_INVALID_ARGUMENT, f"{where} must be a number, got {value!r}") from None
            if ctype is ctypes.c_float and math.isfinite(value) and abs(value) > 3.4028234663852886e38:
                value = math.copysign(math.inf, value)  # what the C cast gives; the library rejects it
            setattr(s, name, value)
        else:  # pragma: no cover - a field type this module does not know yet
            raise TypeError(f"unsupported struct field type {ctype} for {where}")
    return s


def _from_c(cls, s):
    kwargs = {}
    ctypes_of = dict(s._fields_)
    for f in dataclasses.fields(cls):
        value = getattr(s, f.name)
        if ctypes_of.get(f.name) is ctypes.c_float:
            value = _short_float32(value)
        if isinstance(value, ctypes.Structure):
            value = f.default_factory.from_c(value)  # type: ignore[union-attr]
        elif f.type in ("bool", bool):
            value = bool(value)
        kwargs[f.name] = value
    return cls(**kwargs)


def struct_to_dict(s) -> dict:
    """A result struct (memory plan, step stats) as a dict, without struct_size."""
    return {name: getattr(s, name) for name, _ in s._fields_ if name != "struct_size"}
