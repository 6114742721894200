"""Config dataclasses (ModelConfig, TrainerConfig, SamplingConfig, EvalConfig, RLConfig),
result dataclasses (EvalResult, RLMetrics) and their conversion to and from the C structs.

The defaults are read from the library's ``*_default()`` fillers at import, so they are
always the library's. Conversion goes field by field over the ctypes ``_fields_``: a
struct field the dataclass does not have keeps the filler's default, and integers are
range-checked here because ctypes would silently wrap them.

The config dataclasses are strict: an unknown field name, in the constructor, in an
assignment, in ``replace()`` or in a dict passed where a config is expected, raises
InvalidArgumentError naming the field (a typo would otherwise be silently ignored). The C
field ``lambda`` (a Python keyword) is ``RLConfig.lambda_``; ``lambda`` is accepted as a
keyword or dict key too. The enum-like fields (``algo``, ``branch_rule``,
``loss_aggregation``, ``pibar_form``) take the ints of the header or their names
("grpo", "ibtpo"; "ib", "random", "entropy", "fixed"; "token_mean", "sequence_mean",
"constant"; "length_normalized", "product").
"""
from __future__ import annotations

import ctypes
import dataclasses
import difflib
import functools
import keyword
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
    """The filler's defaults (a zeroed struct if this older library lacks the filler: every
    function that would use the struct is then a stub raising IBTPO_ERR_NOT_SUPPORTED)."""
    if isinstance(filler, _lib._Missing):
        return _lib.new_struct(cls)
    s = _lib.filled_struct(cls, filler)
    if s is None:  # the filler failed: call it again to raise with the library's message
        s = cls()
        _check(filler(ctypes.byref(s)))
    return s


_MODEL_DEFAULT = _defaults(_lib.ibtpo_model_config, LIB.ibtpo_model_config_default)
_TRAINER_DEFAULT = _defaults(_lib.ibtpo_trainer_config, LIB.ibtpo_trainer_config_default)
_SAMPLING_DEFAULT = _defaults(_lib.ibtpo_sampling_config, LIB.ibtpo_sampling_config_default)
_EVAL_DEFAULT = _defaults(_lib.ibtpo_eval_config, LIB.ibtpo_eval_config_default)
_RL_DEFAULT = _defaults(_lib.ibtpo_rl_config, LIB.ibtpo_rl_config_default)

#: Names accepted for the enum-like int32 fields (the header's IBTPO_* constants).
ENUMS = {
    "algo": {"grpo": _lib.ALGO_GRPO, "ibtpo": _lib.ALGO_IBTPO},
    "branch_rule": {"ib": _lib.BRANCH_IB, "random": _lib.BRANCH_RANDOM, "entropy": _lib.BRANCH_ENTROPY,
                    "fixed": _lib.BRANCH_FIXED},
    "loss_aggregation": {"token_mean": _lib.LOSS_TOKEN_MEAN, "sequence_mean": _lib.LOSS_SEQUENCE_MEAN,
                         "constant": _lib.LOSS_CONSTANT},
    "pibar_form": {"length_normalized": _lib.PIBAR_LENGTH_NORMALIZED, "product": _lib.PIBAR_PRODUCT},
}


def _py_name(c_name: str) -> str:
    """The dataclass field of a struct field (``lambda`` -> ``lambda_``)."""
    return c_name + "_" if keyword.iskeyword(c_name) else c_name


def _unknown_field(cls, name: str):
    names = [f.name for f in dataclasses.fields(cls)]
    close = difflib.get_close_matches(name, names, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return error(ERR_INVALID_ARGUMENT, f"{cls.__name__} has no field {name!r}{hint}; its fields are: "
                 + ", ".join(names))


def _strict(cls):
    """Class decorator (after @dataclass): unknown keyword arguments and attribute names raise
    InvalidArgumentError naming them; keyword field names are also accepted without the "_"."""
    init = cls.__init__
    names = {f.name for f in dataclasses.fields(cls)}

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        for k in list(kwargs):
            if k not in names and _py_name(k) in names and _py_name(k) != k:
                kwargs[_py_name(k)] = kwargs.pop(k)  # RLConfig(**{"lambda": 0.1})
            elif k not in names:
                raise _unknown_field(cls, k)
        init(self, *args, **kwargs)

    def __setattr__(self, name, value):
        if name not in names:
            raise _unknown_field(cls, name)
        object.__setattr__(self, name, value)

    cls.__init__, cls.__setattr__ = __init__, __setattr__
    return cls


class _ConfigMixin:
    def replace(self, **changes: Any):
        """A copy with some fields changed; a nested config field may be given as a dict of
        its changes (``replace(sampling={"temperature": 1.0})``)."""
        return coerce(type(self), changes, base=self)

    @classmethod
    def from_dict(cls, d: dict):
        """The defaults with the fields of `d` (nested configs may be dicts too)."""
        return coerce(cls, d)


def coerce(cls, value, base=None):
    """`value` as a `cls` instance: None -> defaults, an instance -> itself, a dict -> `base`
    (or the defaults) with those fields changed (unknown keys raise InvalidArgumentError)."""
    if value is None:
        return cls() if base is None else dataclasses.replace(base)
    if isinstance(value, cls):
        return value
    if not isinstance(value, dict):
        raise error(ERR_INVALID_ARGUMENT, f"expected a {cls.__name__} or a dict of its fields, got {value!r}")
    base = cls() if base is None else base
    names = [f.name for f in dataclasses.fields(cls)]
    changes = {}
    for k, v in value.items():
        name = k if k in names else _py_name(k)
        if name not in names:
            raise _unknown_field(cls, k)
        current = getattr(base, name)
        if dataclasses.is_dataclass(current) and isinstance(v, dict):  # a nested config given by its changes
            v = coerce(type(current), v, base=current)
        changes[name] = v
    # nested configs are copied, so the new instance shares nothing with `base`
    for name in names:
        if name not in changes and dataclasses.is_dataclass(getattr(base, name)):
            changes[name] = dataclasses.replace(getattr(base, name))
    return dataclasses.replace(base, **changes)


@_strict
@dataclass
class ModelConfig(_ConfigMixin):
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


@_strict
@dataclass
class TrainerConfig(_ConfigMixin):
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
    rollout_slots: int = _TRAINER_DEFAULT.rollout_slots

    def to_c(self) -> _lib.ibtpo_trainer_config:
        return _to_c(self, _defaults(_lib.ibtpo_trainer_config, LIB.ibtpo_trainer_config_default), "")

    @classmethod
    def from_c(cls, s: _lib.ibtpo_trainer_config) -> "TrainerConfig":
        return _from_c(cls, s)

    def replace(self, **changes: Any) -> "TrainerConfig":
        """A copy with some fields changed; ``model=`` may be a dict of model changes."""
        return coerce(TrainerConfig, changes, base=self)


@_strict
@dataclass
class SamplingConfig(_ConfigMixin):
    """How tokens are drawn (``ibtpo_sampling_config``); temperature 0 = greedy."""

    temperature: float = _short_float32(_SAMPLING_DEFAULT.temperature)
    top_k: int = _SAMPLING_DEFAULT.top_k                      # 0 = off
    top_p: float = _short_float32(_SAMPLING_DEFAULT.top_p)    # 1 = off
    max_new_tokens: int = _SAMPLING_DEFAULT.max_new_tokens
    stop_at_eos: bool = bool(_SAMPLING_DEFAULT.stop_at_eos)

    def to_c(self) -> _lib.ibtpo_sampling_config:
        return _to_c(self, _defaults(_lib.ibtpo_sampling_config, LIB.ibtpo_sampling_config_default), "sampling.")

    @classmethod
    def from_c(cls, s: _lib.ibtpo_sampling_config) -> "SamplingConfig":
        return _from_c(cls, s)


@_strict
@dataclass
class EvalConfig(_ConfigMixin):
    """Evaluation on a task's test split (``ibtpo_eval_config``)."""

    count: int = _EVAL_DEFAULT.count      # the first `count` test problems
    k: int = _EVAL_DEFAULT.k              # samples per problem for avg@k / pass@k (0 = greedy only)
    sampling: SamplingConfig = field(default_factory=lambda: SamplingConfig.from_c(_EVAL_DEFAULT.sampling))
    seed: int = _EVAL_DEFAULT.seed

    def to_c(self) -> _lib.ibtpo_eval_config:
        return _to_c(self, _defaults(_lib.ibtpo_eval_config, LIB.ibtpo_eval_config_default), "")

    @classmethod
    def from_c(cls, s: _lib.ibtpo_eval_config) -> "EvalConfig":
        return _from_c(cls, s)


@_strict
@dataclass
class RLConfig(_ConfigMixin):
    """A GRPO / IB-TPO run's settings (``ibtpo_rl_config``; docs/algorithm.md)."""

    algo: int = _RL_DEFAULT.algo                          # ALGO_GRPO / ALGO_IBTPO, or "grpo" / "ibtpo"
    prompts_per_step: int = _RL_DEFAULT.prompts_per_step
    group_size: int = _RL_DEFAULT.group_size              # GRPO: G samples per prompt
    tree_b0: int = _RL_DEFAULT.tree_b0                    # IB-TPO tree (B0, L, K, B)
    tree_l: int = _RL_DEFAULT.tree_l
    tree_k: int = _RL_DEFAULT.tree_k
    tree_b: int = _RL_DEFAULT.tree_b
    branch_rule: int = _RL_DEFAULT.branch_rule            # BRANCH_*, or "ib", "random", "entropy", "fixed"
    fixed_max_depth: int = _RL_DEFAULT.fixed_max_depth
    beta: float = _RL_DEFAULT.beta                        # IB trade-off β > 0
    lambda_: float = getattr(_RL_DEFAULT, "lambda")       # weight of A_IB (C field `lambda`)
    clip_low: float = _RL_DEFAULT.clip_low
    clip_high: float = _RL_DEFAULT.clip_high
    kl_coef: float = _RL_DEFAULT.kl_coef
    entropy_coef: float = _RL_DEFAULT.entropy_coef
    loss_aggregation: int = _RL_DEFAULT.loss_aggregation  # LOSS_*, or "token_mean", "sequence_mean", "constant"
    epochs: int = _RL_DEFAULT.epochs
    minibatches: int = _RL_DEFAULT.minibatches
    pibar_form: int = _RL_DEFAULT.pibar_form              # PIBAR_*, or "length_normalized", "product"
    ratio_when_parent_zero: float = _RL_DEFAULT.ratio_when_parent_zero
    sqrt_n_weighting: bool = bool(_RL_DEFAULT.sqrt_n_weighting)
    probe_every: int = _RL_DEFAULT.probe_every
    sampling: SamplingConfig = field(default_factory=lambda: SamplingConfig.from_c(_RL_DEFAULT.sampling))
    lr: float = _short_float32(_RL_DEFAULT.lr)
    reset_optimizer: bool = bool(_RL_DEFAULT.reset_optimizer)
    seed: int = _RL_DEFAULT.seed
    expand_root: bool = bool(_RL_DEFAULT.expand_root)    # root expandable in rounds 2..L

    @property
    def trajectories_per_prompt(self) -> int:
        """G: group_size for GRPO, B0 + (L-1)·K·B for IB-TPO."""
        if _enum_value("algo", self.algo, "algo") == _lib.ALGO_GRPO:
            return self.group_size
        return self.tree_b0 + (self.tree_l - 1) * self.tree_k * self.tree_b

    def to_c(self) -> _lib.ibtpo_rl_config:
        return _to_c(self, _defaults(_lib.ibtpo_rl_config, LIB.ibtpo_rl_config_default), "")

    @classmethod
    def from_c(cls, s: _lib.ibtpo_rl_config) -> "RLConfig":
        return _from_c(cls, s)


@dataclass
class EvalResult:
    """Result of Trainer.evaluate (``ibtpo_eval_result``)."""

    problems: int
    greedy_accuracy: float      # mean reward of the greedy completions
    avg_at_k: float             # mean reward over the k samples (0 when k = 0)
    pass_at_k: float            # fraction of problems with a sample of reward 1
    mean_length: float          # completion tokens, EOS excluded
    truncated_fraction: float   # completions cut at max_new_tokens
    seconds: float

    @classmethod
    def from_c(cls, s: _lib.ibtpo_eval_result) -> "EvalResult":
        return _from_c(cls, s)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class RLMetrics:
    """Every metric of one RL step (``ibtpo_rl_metrics``; docs/algorithm.md §7)."""

    step: int                   # RL steps completed
    optimizer_steps: int        # optimiser updates in this step
    avg_rate: float             # mean reward of the trajectories
    eff_rate: float             # prompts whose rewards are not all equal
    entropy: float              # mean token entropy of the policy
    kl: float                   # k3 KL to the reference policy
    clip_frac_low: float
    clip_frac_high: float
    grad_norm: float
    loss: float
    ib_score: float             # mean IB-Score (NaN when not measured this step)
    ib_cov: float               # mean Cov(η1, η2) (NaN when not measured)
    prompts: int
    trajectories: int
    generated_tokens: int
    trained_tokens: int
    trajectories_per_1k_tokens: float
    tree_nodes: int
    branch_points: int
    mean_branch_depth: float
    sampling_seconds: float
    update_seconds: float
    lr: float

    @classmethod
    def from_c(cls, s: _lib.ibtpo_rl_metrics) -> "RLMetrics":
        return _from_c(cls, s)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


#: struct mirror -> dataclass, for nested structs
_DATACLASS_OF = {_lib.ibtpo_model_config: ModelConfig, _lib.ibtpo_sampling_config: SamplingConfig}


def _enum_value(name: str, value, where: str) -> Any:
    """An enum-like field given by name -> its int; anything else unchanged."""
    if isinstance(value, str) and name in ENUMS:
        try:
            return ENUMS[name][value.lower()]
        except KeyError:
            raise error(ERR_INVALID_ARGUMENT, f"{where} = {value!r} is not one of: "
                        + ", ".join(ENUMS[name])) from None
    return value


def _to_c(obj, s, prefix: str):
    """Copies the dataclass `obj` into struct `s` (already filled with defaults)."""
    for name, ctype in s._fields_:
        if name == "struct_size" or not hasattr(obj, _py_name(name)):
            continue
        where = prefix + _py_name(name)
        value = _enum_value(name, getattr(obj, _py_name(name)), where)
        if isinstance(ctype, type) and issubclass(ctype, ctypes.Structure):
            want = _DATACLASS_OF[ctype]
            if not isinstance(value, want):
                raise error(ERR_INVALID_ARGUMENT, f"{where} must be a {want.__name__} ({ctype.__name__}), "
                            f"got {value!r}")
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
    c_names = {_py_name(n): n for n in ctypes_of}
    for f in dataclasses.fields(cls):
        value = getattr(s, c_names[f.name])
        if ctypes_of.get(c_names[f.name]) is ctypes.c_float:
            value = _short_float32(value)
        if isinstance(value, ctypes.Structure):
            value = _DATACLASS_OF[type(value)].from_c(value)
        elif f.type in ("bool", bool):
            value = bool(value)
        kwargs[f.name] = value
    return cls(**kwargs)


def struct_to_dict(s) -> dict:
    """A result struct (memory plan, step stats) as a dict, without struct_size."""
    return {name: getattr(s, name) for name, _ in s._fields_ if name != "struct_size"}
