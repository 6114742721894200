"""Low-level ctypes layer: the one prototype table, the struct mirrors, library loading.

Everything that knows about include/ibtpo.h lives here. The rest of the package only
calls ``LIB.<name>(...)`` and converts to and from Python objects.

When the header grows:
  * a new function: add one line to ``_PROTOTYPES`` (``make abi-check`` parses this table
    without importing it and compares names and arities with the header and the exports);
  * a new struct field: append it to the struct's ``_fields_`` in the same position as in
    the header (fields are only ever appended), and to the matching dataclass in config.py.

Functions in the table that an older library (same major, lower minor) does not export
are bound to a stub that raises ``IBTPOError`` with ``IBTPO_ERR_NOT_SUPPORTED``.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char, c_char_p, c_double, c_float, c_int32, c_int64, c_uint32,
                    c_uint64, c_void_p)

# The header this binding mirrors (include/ibtpo.h). Same major = ABI-compatible (libuv's rule).
EXPECTED_MAJOR = 0
EXPECTED_MINOR = 3

ibtpo_status = c_int32
ibtpo_trainer_p = c_void_p  # opaque `ibtpo_trainer *`
ibtpo_task_p = c_void_p     # opaque `ibtpo_task *`

# ---- #define constants of the header (values are never reused) ----------------------

TOKEN_BOS = 256                     # IBTPO_TOKEN_BOS: the byte tokenizer's special tokens
TOKEN_EOS = 257                     # IBTPO_TOKEN_EOS
TOKEN_PAD = 258                     # IBTPO_TOKEN_PAD

SPLIT_TRAIN = 0                     # IBTPO_SPLIT_TRAIN
SPLIT_TEST = 1                      # IBTPO_SPLIT_TEST

LOG_INFO = 0                        # IBTPO_LOG_INFO
LOG_WARN = 1                        # IBTPO_LOG_WARN

ALGO_GRPO = 0                       # IBTPO_ALGO_GRPO
ALGO_IBTPO = 1                      # IBTPO_ALGO_IBTPO

BRANCH_IB = 0                       # IBTPO_BRANCH_IB: IB-Score (the paper's IBTree)
BRANCH_RANDOM = 1                   # IBTPO_BRANCH_RANDOM
BRANCH_ENTROPY = 2                  # IBTPO_BRANCH_ENTROPY: TreeRL, lowest-probability sampled tokens
BRANCH_FIXED = 3                    # IBTPO_BRANCH_FIXED: TreePO, every node up to fixed_max_depth

LOSS_TOKEN_MEAN = 0                 # IBTPO_LOSS_TOKEN_MEAN (DAPO, default)
LOSS_SEQUENCE_MEAN = 1              # IBTPO_LOSS_SEQUENCE_MEAN (original GRPO)
LOSS_CONSTANT = 2                   # IBTPO_LOSS_CONSTANT (Dr. GRPO)

PIBAR_LENGTH_NORMALIZED = 0         # IBTPO_PIBAR_LENGTH_NORMALIZED: exp(mean token log-prob)
PIBAR_PRODUCT = 1                   # IBTPO_PIBAR_PRODUCT: exp(sum of token log-probs)

# ---- Callback types ---------------------------------------------------------------------
# prompt and completion come with byte lengths (a completion may hold NUL bytes), so they
# are raw pointers here (c_char_p would stop at the first NUL); answer is NUL-terminated.

#: int32_t (*ibtpo_reward_fn)(void *user_data, const char *prompt, int64_t prompt_len,
#:     const char *completion, int64_t completion_len, const char *answer, double *out_reward)
REWARD_FN = CFUNCTYPE(c_int32, c_void_p, c_void_p, c_int64, c_void_p, c_int64, c_char_p, POINTER(c_double))
#: void (*ibtpo_log_fn)(void *user_data, int32_t level, const char *message)
LOG_FN = CFUNCTYPE(None, c_void_p, c_int32, c_char_p)
#: int32_t (*ibtpo_progress_fn)(void *user_data, const char *phase, int64_t done, int64_t total)
PROGRESS_FN = CFUNCTYPE(c_int32, c_void_p, c_char_p, c_int64, c_int64)


# ---- Struct mirrors (field for field, same order and types as the header) -----------

class ibtpo_model_config(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("vocab", c_int32),
        ("d_model", c_int32),
        ("n_layers", c_int32),
        ("n_heads", c_int32),
        ("n_kv_heads", c_int32),
        ("d_ff", c_int32),
        ("max_seq", c_int32),
        ("rope_theta", c_float),
        ("norm_eps", c_float),
        ("tie_embeddings", c_int32),
    ]


class ibtpo_trainer_config(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("model", ibtpo_model_config),
        ("batch", c_int32),
        ("seq", c_int32),
        ("threads", c_int32),
        ("seed", c_uint64),
        ("lr", c_float),
        ("min_lr", c_float),
        ("warmup_steps", c_int32),
        ("total_steps", c_int32),
        ("beta1", c_float),
        ("beta2", c_float),
        ("adam_eps", c_float),
        ("weight_decay", c_float),
        ("grad_clip", c_float),
        ("rollout_slots", c_int32),
    ]


class ibtpo_memory_plan(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("total_bytes", c_uint64),
        ("parameter_bytes", c_uint64),
        ("gradient_bytes", c_uint64),
        ("optimizer_bytes", c_uint64),
        ("activation_bytes", c_uint64),
        ("scratch_bytes", c_uint64),
        ("parameter_count", c_uint64),
        ("kv_cache_bytes", c_uint64),
    ]


class ibtpo_step_stats(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("step", c_int64),
        ("loss", c_float),
        ("grad_norm", c_float),
        ("lr", c_float),
        ("tokens", c_int64),
        ("seconds", c_double),
    ]


class ibtpo_sampling_config(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("temperature", c_float),
        ("top_k", c_int32),
        ("top_p", c_float),
        ("max_new_tokens", c_int32),
        ("stop_at_eos", c_int32),
    ]


class ibtpo_eval_config(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("count", c_int32),
        ("k", c_int32),
        ("sampling", ibtpo_sampling_config),
        ("seed", c_uint64),
    ]


class ibtpo_eval_result(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("problems", c_int64),
        ("greedy_accuracy", c_double),
        ("avg_at_k", c_double),
        ("pass_at_k", c_double),
        ("mean_length", c_double),
        ("truncated_fraction", c_double),
        ("seconds", c_double),
    ]


class ibtpo_rl_config(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("algo", c_int32),
        ("prompts_per_step", c_int32),
        ("group_size", c_int32),
        ("tree_b0", c_int32),
        ("tree_l", c_int32),
        ("tree_k", c_int32),
        ("tree_b", c_int32),
        ("branch_rule", c_int32),
        ("fixed_max_depth", c_int32),
        ("beta", c_double),
        ("lambda", c_double),
        ("clip_low", c_double),
        ("clip_high", c_double),
        ("kl_coef", c_double),
        ("entropy_coef", c_double),
        ("loss_aggregation", c_int32),
        ("epochs", c_int32),
        ("minibatches", c_int32),
        ("pibar_form", c_int32),
        ("ratio_when_parent_zero", c_double),
        ("sqrt_n_weighting", c_int32),
        ("probe_every", c_int32),
        ("sampling", ibtpo_sampling_config),
        ("lr", c_float),
        ("reset_optimizer", c_int32),
        ("seed", c_uint64),
        ("expand_root", c_int32),
    ]


class ibtpo_rl_metrics(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("step", c_int64),
        ("optimizer_steps", c_int64),
        ("avg_rate", c_double),
        ("eff_rate", c_double),
        ("entropy", c_double),
        ("kl", c_double),
        ("clip_frac_low", c_double),
        ("clip_frac_high", c_double),
        ("grad_norm", c_double),
        ("loss", c_double),
        ("ib_score", c_double),
        ("ib_cov", c_double),
        ("prompts", c_int64),
        ("trajectories", c_int64),
        ("generated_tokens", c_int64),
        ("trained_tokens", c_int64),
        ("trajectories_per_1k_tokens", c_double),
        ("tree_nodes", c_int64),
        ("branch_points", c_int64),
        ("mean_branch_depth", c_double),
        ("sampling_seconds", c_double),
        ("update_seconds", c_double),
        ("lr", c_double),
    ]


#: Every struct of the header, by C name (the tests compare their sizes and offsets
#: with a C program compiled against include/ibtpo.h).
# (Keyed by __name__, not string literals: tools/abi_check.py reads quoted "ibtpo_*" keys
# in this file as prototype-table entries.)
STRUCTS = {cls.__name__: cls for cls in (ibtpo_model_config, ibtpo_trainer_config, ibtpo_memory_plan,
                                          ibtpo_step_stats, ibtpo_sampling_config, ibtpo_eval_config,
                                          ibtpo_eval_result, ibtpo_rl_config, ibtpo_rl_metrics)}


def new_struct(cls):
    """A zeroed instance of a struct mirror with struct_size set (nested ones too)."""
    s = cls()
    _set_sizes(s)
    return s


def _set_sizes(s):
    for name, typ in s._fields_:
        if name == "struct_size":
            s.struct_size = ctypes.sizeof(type(s))
        elif isinstance(typ, type) and issubclass(typ, Structure):
            _set_sizes(getattr(s, name))


# ---- The prototype table: name -> (restype, [argtypes]) ------------------------------
# One entry per function of include/ibtpo.h, in header order. `restype None` = void.

_PROTOTYPES = {
    "ibtpo_version": (c_uint32, []),
    "ibtpo_status_string": (c_char_p, [ibtpo_status]),
    "ibtpo_last_error": (c_char_p, [ibtpo_trainer_p]),
    "ibtpo_model_config_default": (ibtpo_status, [POINTER(ibtpo_model_config)]),
    "ibtpo_trainer_config_default": (ibtpo_status, [POINTER(ibtpo_trainer_config)]),
    "ibtpo_memory_plan_for": (ibtpo_status, [POINTER(ibtpo_trainer_config), POINTER(ibtpo_memory_plan)]),
    "ibtpo_trainer_create": (ibtpo_status, [POINTER(ibtpo_trainer_config), POINTER(ibtpo_trainer_p)]),
    "ibtpo_trainer_free": (None, [ibtpo_trainer_p]),
    "ibtpo_trainer_get_config": (ibtpo_status, [ibtpo_trainer_p, POINTER(ibtpo_trainer_config)]),
    "ibtpo_trainer_step_supervised": (ibtpo_status, [ibtpo_trainer_p, POINTER(c_int32), POINTER(c_int32),
                                                     POINTER(c_float), c_int64, c_int64,
                                                     POINTER(ibtpo_step_stats)]),
    "ibtpo_trainer_get_step": (ibtpo_status, [ibtpo_trainer_p, POINTER(c_int64)]),
    "ibtpo_trainer_set_threads": (ibtpo_status, [ibtpo_trainer_p, c_int32]),
    "ibtpo_trainer_get_threads": (ibtpo_status, [ibtpo_trainer_p, POINTER(c_int32)]),
    "ibtpo_tokenize": (ibtpo_status, [c_char_p, c_int64, c_int32, POINTER(c_int32), c_int64, POINTER(c_int64)]),
    "ibtpo_detokenize": (ibtpo_status, [POINTER(c_int32), c_int64, POINTER(c_char), c_int64, POINTER(c_int64)]),
    "ibtpo_task_create_builtin": (ibtpo_status, [c_char_p, c_char_p, c_uint64, POINTER(ibtpo_task_p)]),
    "ibtpo_task_create_jsonl": (ibtpo_status, [c_char_p, c_int32, POINTER(ibtpo_task_p)]),
    "ibtpo_task_create_memory": (ibtpo_status, [POINTER(c_char_p), POINTER(c_char_p), POINTER(c_char_p),
                                                POINTER(c_int32), c_int64, POINTER(ibtpo_task_p)]),
    "ibtpo_task_create_jsonl_ex": (ibtpo_status, [c_char_p, c_int32, c_char_p, POINTER(ibtpo_task_p)]),
    "ibtpo_task_create_memory_ex": (ibtpo_status, [POINTER(c_char_p), POINTER(c_char_p), POINTER(c_char_p),
                                                   POINTER(c_int32), c_int64, c_char_p, POINTER(ibtpo_task_p)]),
    "ibtpo_task_free": (None, [ibtpo_task_p]),
    "ibtpo_task_problem_count": (ibtpo_status, [ibtpo_task_p, c_int32, POINTER(c_int64)]),
    "ibtpo_task_get_problem": (ibtpo_status, [ibtpo_task_p, c_int32, c_int64, POINTER(c_char), POINTER(c_char),
                                              POINTER(c_char), c_int64]),
    "ibtpo_trainer_set_reward_fn": (ibtpo_status, [ibtpo_trainer_p, REWARD_FN, c_void_p]),
    "ibtpo_trainer_set_log_fn": (ibtpo_status, [ibtpo_trainer_p, LOG_FN, c_void_p]),
    "ibtpo_trainer_set_progress_fn": (ibtpo_status, [ibtpo_trainer_p, PROGRESS_FN, c_void_p]),
    "ibtpo_sampling_config_default": (ibtpo_status, [POINTER(ibtpo_sampling_config)]),
    "ibtpo_trainer_generate": (ibtpo_status, [ibtpo_trainer_p, POINTER(c_int32), c_int64, c_int64,
                                              POINTER(ibtpo_sampling_config), c_uint64, POINTER(c_int32),
                                              POINTER(c_int64), POINTER(c_float)]),
    "ibtpo_trainer_score": (ibtpo_status, [ibtpo_trainer_p, POINTER(c_int32), POINTER(c_int64), c_int64, c_int64,
                                           POINTER(c_float)]),
    "ibtpo_trainer_step_sft": (ibtpo_status, [ibtpo_trainer_p, ibtpo_task_p, POINTER(ibtpo_step_stats)]),
    "ibtpo_eval_config_default": (ibtpo_status, [POINTER(ibtpo_eval_config)]),
    "ibtpo_trainer_evaluate": (ibtpo_status, [ibtpo_trainer_p, ibtpo_task_p, POINTER(ibtpo_eval_config),
                                              POINTER(ibtpo_eval_result)]),
    "ibtpo_rl_config_default": (ibtpo_status, [POINTER(ibtpo_rl_config)]),
    "ibtpo_trainer_rl_begin": (ibtpo_status, [ibtpo_trainer_p, ibtpo_task_p, POINTER(ibtpo_rl_config),
                                              POINTER(c_uint64)]),
    "ibtpo_trainer_step_rl": (ibtpo_status, [ibtpo_trainer_p, POINTER(ibtpo_rl_metrics)]),
    "ibtpo_tree_advantages": (ibtpo_status, [POINTER(ibtpo_rl_config), c_int64, POINTER(c_int32), POINTER(c_int32),
                                             POINTER(c_float), POINTER(c_float), POINTER(c_double),
                                             POINTER(c_double)]),
    "ibtpo_trainer_save": (ibtpo_status, [ibtpo_trainer_p, c_char_p]),
    "ibtpo_trainer_load": (ibtpo_status, [ibtpo_trainer_p, c_char_p]),
    "ibtpo_trainer_create_from_model": (ibtpo_status, [c_char_p, POINTER(ibtpo_trainer_config), c_int32, c_char_p,
                                                       POINTER(ibtpo_trainer_p)]),
    "ibtpo_trainer_tokenize": (ibtpo_status, [ibtpo_trainer_p, c_char_p, c_int64, POINTER(c_int32), c_int64,
                                              POINTER(c_int64)]),
    "ibtpo_trainer_detokenize": (ibtpo_status, [ibtpo_trainer_p, POINTER(c_int32), c_int64, POINTER(c_char), c_int64,
                                                POINTER(c_int64)]),
    "ibtpo_trainer_apply_chat_template": (ibtpo_status, [ibtpo_trainer_p, POINTER(c_char_p), POINTER(c_char_p), c_int64,
                                                         c_int32, POINTER(c_char), c_int64, POINTER(c_int64)]),
    "ibtpo_trainer_chat_template": (ibtpo_status, [ibtpo_trainer_p, POINTER(c_char), c_int64, POINTER(c_int64)]),
    "ibtpo_trainer_special_tokens": (ibtpo_status, [ibtpo_trainer_p, POINTER(c_int64), POINTER(c_int32),
                                                    POINTER(c_int32), POINTER(c_int32)]),
    "ibtpo_trainer_export": (ibtpo_status, [ibtpo_trainer_p, c_char_p, c_char_p, c_char_p]),
    "ibtpo_sgemm_kernel": (c_char_p, []),
}


# ---- Finding and loading the library -------------------------------------------------

_HERE = os.path.dirname(os.path.abspath(__file__))


def candidate_paths() -> list[tuple[str, str]]:
    """(how it was found, path) in search order; the first existing one is loaded."""
    env = os.environ.get("IBTPO_LIBRARY")
    if env:
        return [("$IBTPO_LIBRARY", env)]  # explicit: never fall back silently
    out = [("package directory", os.path.join(_HERE, "libibtpo.so"))]
    # A source checkout: <repo>/bindings/python/ibtpo/_lib.py -> <repo>/dist/lib/libibtpo.so
    # (only when the package really sits in a checkout, not in site-packages)
    repo = os.path.normpath(os.path.join(_HERE, "..", "..", ".."))
    if os.path.exists(os.path.join(repo, "include", "ibtpo.h")):
        out.append(("source checkout (make lib)", os.path.join(repo, "dist", "lib", "libibtpo.so")))
    found = ctypes.util.find_library("ibtpo")
    if found:
        out.append(("ctypes.util.find_library('ibtpo')", found))
    return out


class LibraryNotFoundError(ImportError):
    pass


def _load_cdll() -> tuple[ctypes.CDLL, str]:
    # The Swift runtime installs its backtracer's signal handlers in the host process
    # unless this is set before libswiftCore (inside libibtpo.so) is loaded.
    os.environ.setdefault("SWIFT_BACKTRACE", "enable=no")
    tried = []
    for how, path in candidate_paths():
        # find_library returns a bare soname ("libibtpo.so.0") that dlopen resolves itself.
        if os.sep in path and not os.path.exists(path):
            tried.append(f"  {how}: {path} (does not exist)")
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            tried.append(f"  {how}: {path} ({e})")
            if how == "$IBTPO_LIBRARY":
                break
    if not os.environ.get("IBTPO_LIBRARY") and not ctypes.util.find_library("ibtpo"):
        tried.append("  ctypes.util.find_library('ibtpo'): not found")
    raise LibraryNotFoundError(
        "ibtpo: cannot load libibtpo.so. Tried:\n" + "\n".join(tried) +
        "\nBuild it with `make lib` (dist/lib/libibtpo.so) or `make install`, or set IBTPO_LIBRARY "
        "to the path of libibtpo.so."
    )


class _Missing:
    """Stands in for a table function that this (older) library does not export."""

    def __init__(self, name: str):
        self.__name__ = name

    def __call__(self, *args):
        from ._errors import IBTPOError, ERR_NOT_SUPPORTED
        raise IBTPOError(ERR_NOT_SUPPORTED, f"{self.__name__} is not exported by {PATH} "
                         f"(library version {version_string(LIB.ibtpo_version())})")


def version_string(v: int) -> str:
    return f"{v >> 16}.{(v >> 8) & 0xFF}.{v & 0xFF}"


class _Lib:
    """The loaded library with every table function bound (argtypes and restype set)."""

    def __init__(self, cdll: ctypes.CDLL, path: str):
        self.cdll, self.path, self.missing = cdll, path, []
        for name, (restype, argtypes) in _PROTOTYPES.items():
            try:
                fn = getattr(cdll, name)
            except AttributeError:
                self.missing.append(name)
                setattr(self, name, _Missing(name))
                continue
            fn.restype, fn.argtypes = restype, argtypes
            setattr(self, name, fn)


def _load() -> _Lib:
    cdll, path = _load_cdll()
    lib = _Lib(cdll, path)
    if "ibtpo_version" in lib.missing:
        raise ImportError(f"ibtpo: {path} does not export ibtpo_version; is it libibtpo?")
    v = lib.ibtpo_version()
    if (v >> 16) != EXPECTED_MAJOR:
        raise ImportError(
            f"ibtpo: {path} is libibtpo {version_string(v)}, but this binding was written for major version "
            f"{EXPECTED_MAJOR} (header {EXPECTED_MAJOR}.{EXPECTED_MINOR}); the ABI differs between major versions. "
            "Install a matching library or point IBTPO_LIBRARY at one."
        )
    _check_reported_sizes(lib, path)
    return lib


def _check_reported_sizes(lib: _Lib, path: str) -> None:
    """The *_default() fillers write the library's sizeof into struct_size. Every config
    struct with a filler must match its mirror exactly: ibtpo_model_config is nested by value
    inside ibtpo_trainer_config and ibtpo_sampling_config inside ibtpo_eval_config and
    ibtpo_rl_config, so any growth of them moves every later field. The fillers write into
    padded buffers here, so a newer library with larger structs cannot overrun. A filler this
    (older) library does not export is skipped: the functions that need it are stubs too."""
    reported, ours = {}, {}
    nested = {ibtpo_trainer_config: [("model", ibtpo_model_config)],
              ibtpo_eval_config: [("sampling", ibtpo_sampling_config)],
              ibtpo_rl_config: [("sampling", ibtpo_sampling_config)]}
    for cls in FILLED:
        filler = getattr(lib, FILLED[cls])
        if isinstance(filler, _Missing):
            continue
        s = filled_struct(cls, filler)
        if s is None:
            raise ImportError(f"ibtpo: {path}: {FILLED[cls]}() failed: {lib.ibtpo_last_error(None)!r}")
        reported[cls.__name__], ours[cls.__name__] = s.struct_size, ctypes.sizeof(cls)
        for field, inner in nested.get(cls, []):
            key = f"{inner.__name__} (nested in {cls.__name__})"
            reported[key], ours[key] = getattr(s, field).struct_size, ctypes.sizeof(inner)
    # (no quoted "ibtpo_*" keys outside _PROTOTYPES: abi_check.py would read them as entries)
    for name, size in ours.items():
        if reported[name] != size:
            raise ImportError(f"ibtpo: {path}: sizeof({name}) is {reported[name]} in the library but {size} in "
                              f"the binding (library {version_string(lib.ibtpo_version())}, binding header "
                              f"{EXPECTED_MAJOR}.{EXPECTED_MINOR}); update the binding or the library")


#: The config structs that have a *_default() filler, and the filler's name.
FILLED = {cls: cls.__name__ + "_default" for cls in (ibtpo_model_config, ibtpo_trainer_config,
                                                      ibtpo_sampling_config, ibtpo_eval_config, ibtpo_rl_config)}


def filled_struct(cls, filler):
    """A `cls` filled by `filler` through a padded buffer (safe against a library whose
    struct is larger), or None if the filler fails."""
    buf = ctypes.create_string_buffer(ctypes.sizeof(cls) + 4096)
    s = cls.from_buffer(buf)
    if filler(ctypes.byref(s)) != 0:
        return None
    out = cls()
    ctypes.memmove(ctypes.byref(out), buf, ctypes.sizeof(cls))
    return out


LIB = _load()
PATH = LIB.path
