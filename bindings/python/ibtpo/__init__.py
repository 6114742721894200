"""ibtpo — Python binding of libibtpo (ctypes, no compiled extension).

    import ibtpo
    cfg = ibtpo.TrainerConfig(batch=4, seq=16)
    with ibtpo.Trainer(cfg) as t:
        stats = t.step_supervised(tokens, targets)   # batch × seq lists or numpy arrays

The library is found through $IBTPO_LIBRARY, then ibtpo/libibtpo.so, then a source
checkout's dist/lib/libibtpo.so, then ctypes.util.find_library("ibtpo").
"""
from __future__ import annotations

from . import _lib
from ._errors import (
    ERR_ABORTED,
    ERR_BAD_CHECKPOINT,
    ERR_BAD_DATA,
    ERR_CALLBACK_FAILED,
    ERR_CONFIG_MISMATCH,
    ERR_INTERNAL,
    ERR_INVALID_ARGUMENT,
    ERR_IO,
    ERR_NOT_SUPPORTED,
    ERR_OUT_OF_MEMORY,
    OK,
    STATUS_NAMES,
    BadDataError,
    IBTPOError,
    InvalidArgumentError,
    status_name,
    status_string,
)
from .config import ModelConfig, TrainerConfig
from .trainer import Trainer, memory_plan

__version__ = "0.1.0"

#: Major version of the C API this binding was written for (compared with the library at import).
EXPECTED_MAJOR = _lib.EXPECTED_MAJOR
#: Path of the loaded libibtpo.so.
LIBRARY_PATH = _lib.PATH


def version() -> tuple[int, int, int]:
    """The loaded library's (major, minor, patch), from ibtpo_version()."""
    v = _lib.LIB.ibtpo_version()
    return (v >> 16, (v >> 8) & 0xFF, v & 0xFF)


def version_number() -> int:
    """ibtpo_version(): (major << 16) | (minor << 8) | patch."""
    return int(_lib.LIB.ibtpo_version())


__all__ = [
    "version", "version_number", "status_string", "status_name", "STATUS_NAMES", "EXPECTED_MAJOR", "LIBRARY_PATH",
    "IBTPOError", "InvalidArgumentError", "BadDataError",
    "ModelConfig", "TrainerConfig", "memory_plan", "Trainer",
    "OK", "ERR_INVALID_ARGUMENT", "ERR_OUT_OF_MEMORY", "ERR_IO", "ERR_BAD_CHECKPOINT", "ERR_CONFIG_MISMATCH",
    "ERR_ABORTED", "ERR_CALLBACK_FAILED", "ERR_NOT_SUPPORTED", "ERR_BAD_DATA", "ERR_INTERNAL",
]
