"""ibtpo — Python binding of libibtpo (ctypes, no compiled extension).

    import ibtpo
    cfg = ibtpo.TrainerConfig(batch=4, seq=16)
    with ibtpo.Trainer(cfg) as t:
        stats = t.step_supervised(tokens, targets)   # batch × seq lists or numpy arrays

    task = ibtpo.Task.builtin("add", {"digits": 1})
    with ibtpo.Trainer() as t:
        t.step_sft(task)                             # supervised step on the task's solutions
        t.set_reward_fn(lambda prompt, completion, answer: float(completion.endswith(answer)))
        t.rl_begin(task, ibtpo.RLConfig(algo="ibtpo"))
        metrics = t.step_rl()                        # an RLMetrics dataclass
        print(t.evaluate(task, {"count": 32, "k": 0}))

The library is found through $IBTPO_LIBRARY, then ibtpo/libibtpo.so, then a source
checkout's dist/lib/libibtpo.so, then ctypes.util.find_library("ibtpo").
"""
from __future__ import annotations

from . import _lib
from ._errors import (
    ERR_ABORTED,
    ERR_BAD_CHECKPOINT,
    ERR_BAD_DATA,
    ERR_BUSY,
    ERR_CALLBACK_FAILED,
    ERR_CONFIG_MISMATCH,
    ERR_INTERNAL,
    ERR_INVALID_ARGUMENT,
    ERR_IO,
    ERR_NOT_SUPPORTED,
    ERR_OUT_OF_MEMORY,
    ERR_PARTIAL,
    OK,
    STATUS_NAMES,
    AbortedError,
    BadDataError,
    BusyError,
    CallbackFailedError,
    IBTPOError,
    InvalidArgumentError,
    PartiallyAppliedError,
    status_name,
    status_string,
)
from ._lib import (
    ALGO_GRPO,
    ALGO_IBTPO,
    BRANCH_ENTROPY,
    BRANCH_FIXED,
    BRANCH_IB,
    BRANCH_RANDOM,
    LOG_INFO,
    LOG_WARN,
    LOSS_CONSTANT,
    LOSS_SEQUENCE_MEAN,
    LOSS_TOKEN_MEAN,
    PIBAR_LENGTH_NORMALIZED,
    PIBAR_PRODUCT,
    SPLIT_TEST,
    SPLIT_TRAIN,
    TOKEN_BOS,
    TOKEN_EOS,
    TOKEN_PAD,
)
from .config import EvalConfig, EvalResult, ModelConfig, RLConfig, RLMetrics, SamplingConfig, TrainerConfig
from .task import Problem, Task
from .tokenizer import detokenize, tokenize
from .trainer import Completion, Trainer, memory_plan, tree_advantages

__version__ = "0.3.0"

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


def sgemm_kernel() -> str:
    """ibtpo_sgemm_kernel(): the sgemm micro-kernel in use, e.g. "avx512 16x24 (ours)" or "zen3 (BLIS)"."""
    return _lib.LIB.ibtpo_sgemm_kernel().decode()


__all__ = [
    "version", "version_number", "sgemm_kernel", "status_string", "status_name", "STATUS_NAMES", "EXPECTED_MAJOR", "LIBRARY_PATH",
    "IBTPOError", "InvalidArgumentError", "BadDataError", "AbortedError", "CallbackFailedError", "BusyError", "PartiallyAppliedError",
    "ModelConfig", "TrainerConfig", "SamplingConfig", "EvalConfig", "RLConfig", "EvalResult", "RLMetrics",
    "memory_plan", "Trainer", "Completion", "Task", "Problem", "tokenize", "detokenize", "tree_advantages",
    "OK", "ERR_INVALID_ARGUMENT", "ERR_OUT_OF_MEMORY", "ERR_IO", "ERR_BAD_CHECKPOINT", "ERR_CONFIG_MISMATCH",
    "ERR_ABORTED", "ERR_CALLBACK_FAILED", "ERR_NOT_SUPPORTED", "ERR_BAD_DATA", "ERR_INTERNAL", "ERR_BUSY", "ERR_PARTIAL",
    "TOKEN_BOS", "TOKEN_EOS", "TOKEN_PAD", "SPLIT_TRAIN", "SPLIT_TEST", "LOG_INFO", "LOG_WARN",
    "ALGO_GRPO", "ALGO_IBTPO", "BRANCH_IB", "BRANCH_RANDOM", "BRANCH_ENTROPY", "BRANCH_FIXED",
    "LOSS_TOKEN_MEAN", "LOSS_SEQUENCE_MEAN", "LOSS_CONSTANT", "PIBAR_LENGTH_NORMALIZED", "PIBAR_PRODUCT",
]
