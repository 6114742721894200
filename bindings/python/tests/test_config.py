"""Defaults, conversion, memory plans and rejected configurations."""
from __future__ import annotations

import ctypes
import math

import pytest

import ibtpo

from conftest import tiny_config


def test_defaults_come_from_the_library_and_match_the_header_docs():
    m = ibtpo.ModelConfig()
    assert (m.vocab, m.d_model, m.n_layers, m.n_heads, m.n_kv_heads, m.d_ff, m.max_seq) == (259, 128, 4, 4, 4, 384, 128)
    assert (m.rope_theta, m.norm_eps, m.tie_embeddings) == (10000.0, 1e-5, True)
    c = ibtpo.TrainerConfig()
    assert c.model == m
    assert (c.batch, c.seq, c.threads, c.seed) == (32, 64, 2, 1)
    assert (c.lr, c.min_lr, c.warmup_steps, c.total_steps) == (3e-3, 3e-4, 20, 1000)
    assert (c.beta1, c.beta2, c.adam_eps, c.weight_decay, c.grad_clip) == (0.9, 0.95, 1e-8, 0.01, 1.0)
    assert c.rollout_slots == 64


def test_new_config_defaults_match_the_header_docs():
    s = ibtpo.SamplingConfig()
    assert (s.temperature, s.top_k, s.top_p, s.max_new_tokens, s.stop_at_eos) == (0.7, 20, 0.95, 64, True)
    e = ibtpo.EvalConfig()
    assert (e.count, e.k, e.sampling, e.seed) == (256, 8, s, 12345)
    r = ibtpo.RLConfig()
    assert r.algo == ibtpo.ALGO_IBTPO and r.branch_rule == ibtpo.BRANCH_IB
    assert (r.tree_b0, r.tree_l, r.tree_k, r.tree_b, r.trajectories_per_prompt) == (4, 9, 1, 1, 12)
    assert (r.beta, r.lambda_, r.prompts_per_step, r.group_size) == (5.0, 0.1, 8, 8)
    assert (r.clip_low, r.clip_high, r.kl_coef, r.loss_aggregation) == (0.2, 0.2, 0.001, ibtpo.LOSS_TOKEN_MEAN)
    assert (r.epochs, r.minibatches, r.sampling, r.lr, r.reset_optimizer) == (1, 1, s, 1e-4, True)
    assert (r.probe_every, r.seed) == (1, 1)
    # not given in the header's comment, but the defaults of docs/algorithm.md:
    assert (r.pibar_form, r.ratio_when_parent_zero, r.sqrt_n_weighting, r.entropy_coef) == \
        (ibtpo.PIBAR_LENGTH_NORMALIZED, 1.0, False, 0.0)


def test_new_configs_round_trip_through_the_structs():
    r = ibtpo.RLConfig(algo="grpo", branch_rule="entropy", loss_aggregation="constant", pibar_form="product",
                       lambda_=0.25, seed=2**64 - 1, sampling=ibtpo.SamplingConfig(top_k=3, stop_at_eos=False))
    s = r.to_c()
    assert (s.algo, s.branch_rule, s.loss_aggregation, s.pibar_form) == (ibtpo.ALGO_GRPO, ibtpo.BRANCH_ENTROPY,
                                                                         ibtpo.LOSS_CONSTANT, ibtpo.PIBAR_PRODUCT)
    assert getattr(s, "lambda") == 0.25 and s.seed == 2**64 - 1
    assert (s.sampling.top_k, s.sampling.stop_at_eos, s.sampling.struct_size) == (3, 0, ctypes.sizeof(s.sampling))
    back = ibtpo.RLConfig.from_c(s)
    assert back == r.replace(algo=ibtpo.ALGO_GRPO, branch_rule=ibtpo.BRANCH_ENTROPY,
                             loss_aggregation=ibtpo.LOSS_CONSTANT, pibar_form=ibtpo.PIBAR_PRODUCT)
    e = ibtpo.EvalConfig(count=3, k=0, seed=9)
    assert ibtpo.EvalConfig.from_c(e.to_c()) == e


def test_unknown_field_names_give_a_clear_error():
    for make in (lambda: ibtpo.RLConfig(lamda=0.1), lambda: ibtpo.SamplingConfig(temprature=1.0),
                 lambda: ibtpo.RLConfig().replace(lamda=0.1), lambda: ibtpo.RLConfig.from_dict({"lamda": 0.1}),
                 lambda: ibtpo.RLConfig().replace(sampling={"temprature": 1.0}),
                 lambda: ibtpo.EvalConfig(counts=3), lambda: ibtpo.TrainerConfig(rollout_slot=3),
                 lambda: setattr(ibtpo.RLConfig(), "lamda", 0.1),
                 lambda: setattr(ibtpo.ModelConfig(), "dmodel", 64)):
        with pytest.raises(ibtpo.InvalidArgumentError) as e:
            make()
        assert "has no field" in e.value.message and "did you mean" in e.value.message, e.value.message
    with pytest.raises(ibtpo.InvalidArgumentError, match="lambda_"):
        ibtpo.RLConfig(lamda=0.1)
    with pytest.raises(ibtpo.InvalidArgumentError, match="algo = 'ppo' is not one of: grpo, ibtpo"):
        ibtpo.RLConfig(algo="ppo").to_c()
    with pytest.raises(ibtpo.InvalidArgumentError, match="sampling must be a SamplingConfig"):
        ibtpo.RLConfig(sampling=ibtpo.ModelConfig()).to_c()


def test_lambda_spelling_replace_and_dicts():
    assert ibtpo.RLConfig(**{"lambda": 0.3}).lambda_ == 0.3
    assert ibtpo.RLConfig.from_dict({"lambda": 0.3, "sampling": {"temperature": 1.0}}).sampling.temperature == 1.0
    base = ibtpo.RLConfig()
    changed = base.replace(sampling={"max_new_tokens": 8}, beta=2.0)
    assert (changed.sampling.max_new_tokens, changed.sampling.top_k, changed.beta) == (8, 20, 2.0)
    assert base.sampling.max_new_tokens == 64 and base.beta == 5.0  # the original is unchanged
    changed.sampling.top_k = 1
    assert base.sampling.top_k == 20  # nested configs are copies


def test_struct_round_trip_and_struct_size():
    c = tiny_config(seed=2**64 - 1, lr=1e-3)
    s = c.to_c()
    import ctypes
    assert s.struct_size == ctypes.sizeof(s) and s.model.struct_size == ctypes.sizeof(s.model)
    assert s.seed == 2**64 - 1 and s.model.d_model == 32
    assert ibtpo.TrainerConfig.from_c(s) == c
    # Defaults are not shared between instances (model is a fresh ModelConfig each time).
    a, b = ibtpo.TrainerConfig(), ibtpo.TrainerConfig()
    a.model.d_model = 64
    assert b.model.d_model == 128


def test_replace_copies_and_merges_model_changes():
    c = tiny_config()
    d = c.replace(batch=8, model={"d_model": 64})
    assert (d.batch, d.model.d_model, d.model.n_layers) == (8, 64, 2)
    assert (c.batch, c.model.d_model) == (4, 32)


def _plan_params(cfg: ibtpo.TrainerConfig) -> int:
    m = cfg.model
    hd = m.d_model // m.n_heads
    per_layer = 2 * m.d_model + 2 * m.d_model * m.d_model + 2 * m.d_model * m.n_kv_heads * hd + 3 * m.d_model * m.d_ff
    head = 0 if m.tie_embeddings else m.vocab * m.d_model
    return m.vocab * m.d_model + m.n_layers * per_layer + m.d_model + head


@pytest.mark.parametrize("cfg", [ibtpo.TrainerConfig(), tiny_config(), tiny_config(model={"tie_embeddings": False})],
                         ids=["default", "tiny-gqa", "tiny-untied"])
def test_memory_plan_is_consistent(cfg):
    p = ibtpo.memory_plan(cfg)
    assert set(p) == {"total_bytes", "parameter_bytes", "gradient_bytes", "optimizer_bytes", "activation_bytes",
                      "scratch_bytes", "parameter_count", "kv_cache_bytes"}
    parts = ["parameter_bytes", "gradient_bytes", "optimizer_bytes", "activation_bytes", "scratch_bytes"]
    assert p["total_bytes"] >= sum(p[k] for k in parts)
    assert p["parameter_count"] == _plan_params(cfg)
    assert p["parameter_bytes"] >= 4 * p["parameter_count"]
    assert p["gradient_bytes"] == p["parameter_bytes"] and p["optimizer_bytes"] == 2 * p["parameter_bytes"]
    assert p["activation_bytes"] > 0


@pytest.mark.parametrize("slots", [1, 8, 64])
def test_memory_plan_kv_cache(slots):
    """kv_cache_bytes holds at least K and V for every slot, layer and position (an
    independent lower bound), is part of scratch_bytes, and is 0 without sampling."""
    cfg = tiny_config(rollout_slots=slots, model={"n_kv_heads": 1})
    m = cfg.model
    kv_floor = 2 * m.n_layers * slots * m.max_seq * m.n_kv_heads * (m.d_model // m.n_heads) * 4
    p, p0 = ibtpo.memory_plan(cfg), ibtpo.memory_plan(cfg.replace(rollout_slots=0))
    print(f"slots {slots}: kv_cache_bytes {p['kv_cache_bytes']}, K+V floor {kv_floor}")
    assert kv_floor <= p["kv_cache_bytes"] <= p["scratch_bytes"]
    assert p0["kv_cache_bytes"] == 0
    assert p["scratch_bytes"] - p0["scratch_bytes"] == p["kv_cache_bytes"]
    assert p["total_bytes"] - p0["total_bytes"] >= p["kv_cache_bytes"]


def test_memory_plan_default_argument_and_growth_with_batch():
    assert ibtpo.memory_plan() == ibtpo.memory_plan(ibtpo.TrainerConfig())
    small, big = ibtpo.memory_plan(tiny_config()), ibtpo.memory_plan(tiny_config(batch=8))
    assert big["activation_bytes"] > small["activation_bytes"]
    assert big["parameter_count"] == small["parameter_count"]


def test_memory_plan_errors():
    with pytest.raises(ibtpo.IBTPOError) as e:
        ibtpo.memory_plan(tiny_config(threads=0))
    assert e.value.code == ibtpo.ERR_INVALID_ARGUMENT and "threads" in e.value.message
    huge = ibtpo.TrainerConfig(batch=65536, seq=4096, model=ibtpo.ModelConfig(d_model=256, n_heads=128, n_kv_heads=128,
                                                                              max_seq=4096))
    with pytest.raises(ibtpo.IBTPOError) as e:
        ibtpo.memory_plan(huge)
    assert e.value.code == ibtpo.ERR_OUT_OF_MEMORY and e.value.message
    with pytest.raises(ibtpo.IBTPOError) as e:
        ibtpo.Trainer(huge)
    assert e.value.code == ibtpo.ERR_OUT_OF_MEMORY


# (changes, a word the message must contain). The library names most fields exactly; a
# few messages use prose ("adam betas", "weight decay"), matched here as they are.
BAD = [
    ({"model": {"vocab": 258}}, "vocab"), ({"model": {"vocab": -1}}, "vocab"),
    ({"model": {"d_model": 0}}, "d_model"), ({"model": {"n_layers": 0}}, "n_layers"),
    ({"model": {"n_heads": 3}}, "n_heads"), ({"model": {"n_heads": 32, "n_kv_heads": 32}}, "head dim"),
    ({"model": {"n_kv_heads": 0}}, "n_kv_heads"), ({"model": {"n_heads": 4, "n_kv_heads": 3}}, "n_kv_heads"),
    ({"model": {"d_ff": -1}}, "d_ff"), ({"model": {"max_seq": 0}}, "max_seq"),
    ({"model": {"rope_theta": math.nan}}, "rope_theta"), ({"model": {"rope_theta": math.inf}}, "rope_theta"),
    ({"model": {"norm_eps": 1.0}}, "norm_eps"), ({"model": {"tie_embeddings": 2}}, "tie_embeddings"),
    ({"batch": 0}, "batch"), ({"seq": 17}, "seq"), ({"seq": -8}, "seq"), ({"threads": 0}, "threads"),
    ({"threads": 65}, "threads"), ({"lr": 0}, "lr"), ({"lr": math.nan}, "lr"), ({"min_lr": 1}, "min_lr"),
    ({"warmup_steps": -1}, "warmup"), ({"total_steps": -1}, "total_steps"), ({"beta1": 1}, "beta"),
    ({"beta2": -0.1}, "beta"), ({"adam_eps": 0}, "eps"), ({"weight_decay": 1}, "weight decay"),
    ({"grad_clip": -1}, "clip"), ({"grad_clip": math.inf}, "clip"),
    # Caught on the Python side (ctypes would wrap them silently):
    ({"batch": 2**31}, "batch"), ({"seed": -1}, "seed"), ({"model": {"d_model": 2**32 + 32}}, "model.d_model"),
    ({"threads": 1.5}, "threads"), ({"lr": "fast"}, "lr"), ({"model": {"tie_embeddings": None}}, "tie_embeddings"),
    ({"rollout_slots": -1}, "slots"), ({"rollout_slots": 65537}, "slots"),
]


@pytest.mark.parametrize("changes,word", BAD, ids=[repr(c) for c, _ in BAD])
def test_bad_config_is_rejected_with_the_field_named(changes, word):
    cfg = tiny_config(**changes)
    with pytest.raises(ibtpo.InvalidArgumentError) as e:
        ibtpo.Trainer(cfg)
    assert e.value.code == 1 and e.value.status == "IBTPO_ERR_INVALID_ARGUMENT"
    assert word in e.value.message, e.value.message
    assert isinstance(e.value, ValueError)


def test_model_field_must_be_a_model_config():
    with pytest.raises(ibtpo.InvalidArgumentError, match="model"):
        ibtpo.Trainer(ibtpo.TrainerConfig(model={"d_model": 32}))  # type: ignore[arg-type]
