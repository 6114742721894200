"""tree_advantages against docs/algorithm.md §3 and §5, computed independently here.

    p̂(s)    = mean reward of the leaves below s
    π̄(s)    = exp(mean token log-prob of s's segment)        (PIBAR_PRODUCT: exp(sum))
    r(c)     = p̂(c) / p̂(parent(c))                            (ratio_when_parent_zero if p̂(parent) = 0)
    IB(s)    = (1+β)/|C(s)| · Σ_c (r(c) − (1 + 1/β)) · π̄(c)   (NaN for leaves)
    A_GL(s)  = (p̂(s) − p̂(root)) / (population std of the leaf rewards + 1e-4)   (0 if all equal)
    A_IB(s)  = (r(s) − (1 + 1/β)) · π̄(s)
    A(s)     = A_GL(s) + λ·A_IB(s)   (÷ sqrt(n(s)) with sqrt_n_weighting; 0 for the root)
"""
from __future__ import annotations

import math
import random
import struct

import pytest

import ibtpo

EPS = 1e-4  # docs/algorithm.md §5: (x − mean) / (std + 1e-4), population std


def f32(x: float) -> float:
    """x rounded to float32, as the library receives mean_logp and reward."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def reference(parents, counts, logps, rewards, beta=5.0, lam=0.1, product=False, rpz=1.0, sqrt_n=False):
    """An independent implementation of the formulas above (plain Python, float64)."""
    n = len(parents)
    children = [[] for _ in range(n)]
    for i in range(1, n):
        children[parents[i]].append(i)
    leaves_n, leaves_c = [0] * n, [0.0] * n
    for i in reversed(range(n)):  # a parent's id is smaller than its children's
        if not children[i]:
            leaves_n[i], leaves_c[i] = 1, f32(rewards[i])
        if i:
            leaves_n[parents[i]] += leaves_n[i]
            leaves_c[parents[i]] += leaves_c[i]
    p = [c / m for c, m in zip(leaves_c, leaves_n)]
    pibar = [1.0] + [math.exp(f32(logps[i]) * (counts[i] if product else 1)) for i in range(1, n)]

    def ratio(i):
        return p[i] / p[parents[i]] if p[parents[i]] != 0 else rpz

    k = 1 + 1 / beta
    ib = [(1 + beta) / len(children[s]) * sum((ratio(c) - k) * pibar[c] for c in children[s]) if children[s]
          else math.nan for s in range(n)]
    leaf_r = [f32(rewards[i]) for i in range(n) if not children[i]]
    mean = sum(leaf_r) / len(leaf_r)
    std = math.sqrt(sum((x - mean) ** 2 for x in leaf_r) / len(leaf_r))
    adv = [0.0]
    for s in range(1, n):
        a_gl = 0.0 if all(x == leaf_r[0] for x in leaf_r) else (p[s] - p[0]) / (std + EPS)
        a = a_gl + lam * (ratio(s) - k) * pibar[s]
        adv.append(a / math.sqrt(leaves_n[s]) if sqrt_n else a)
    return ib, adv


def _worst(got, want):
    worst = 0.0
    for g, w in zip(got, want):
        if math.isnan(w):
            assert math.isnan(g), (got, want)
        else:
            worst = max(worst, abs(g - w) / max(1.0, abs(w)))
    return worst


# A hand-built tree:
#
#   0 (root) ─┬─ 1 ─┬─ 3   reward 0
#             │     └─ 4   reward 1
#             ├─ 2          reward 1
#             └─ 5 ── 6    reward 0
#
PARENTS = [-1, 0, 0, 1, 1, 0, 5]
COUNTS = [0, 3, 2, 4, 1, 5, 2]
LOGPS = [0.0, -0.5, -1.0, -0.2, -0.3, -2.0, -0.1]
REWARDS = [0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0]  # read for the leaves 2, 3, 4, 6 only


def test_hand_built_tree_with_values_worked_out_by_hand():
    ib, adv = ibtpo.tree_advantages(PARENTS, COUNTS, LOGPS, REWARDS)  # defaults: β 5, λ 0.1
    e = lambda x: math.exp(f32(x))  # noqa: E731  π̄ = exp(mean logp)
    # p̂: leaves 3:0 4:1 2:1 6:0; node 5: 0; node 1: 1/2; root: 2/4 = 1/2.
    # r: r1 = .5/.5 = 1, r2 = 1/.5 = 2, r5 = 0/.5 = 0, r3 = 0/.5 = 0, r4 = 1/.5 = 2,
    #    r6 = 1 (p̂(5) = 0: ratio_when_parent_zero). 1 + 1/β = 1.2, 1 + β = 6.
    want_ib = [
        6 / 3 * ((1 - 1.2) * e(-0.5) + (2 - 1.2) * e(-1.0) + (0 - 1.2) * e(-2.0)),  # root: children 1, 2, 5
        6 / 2 * ((0 - 1.2) * e(-0.2) + (2 - 1.2) * e(-0.3)),                        # node 1: children 3, 4
        math.nan, math.nan, math.nan,
        6 / 1 * ((1 - 1.2) * e(-0.1)),                                             # node 5: child 6
        math.nan,
    ]
    # leaf rewards 1, 0, 1, 0: population std 0.5; A_GL(s) = (p̂(s) − 0.5) / 0.5001
    d = 0.5 + EPS
    want_adv = [
        0.0,
        (0.5 - 0.5) / d + 0.1 * (1 - 1.2) * e(-0.5),
        (1.0 - 0.5) / d + 0.1 * (2 - 1.2) * e(-1.0),
        (0.0 - 0.5) / d + 0.1 * (0 - 1.2) * e(-0.2),
        (1.0 - 0.5) / d + 0.1 * (2 - 1.2) * e(-0.3),
        (0.0 - 0.5) / d + 0.1 * (0 - 1.2) * e(-2.0),
        (0.0 - 0.5) / d + 0.1 * (1 - 1.2) * e(-0.1),
    ]
    w1, w2 = _worst(ib, want_ib), _worst(adv, want_adv)
    print(f"hand-built tree: worst rel. error IB-Score {w1:.3g}, advantage {w2:.3g}")
    print("  IB-Score lib ", [round(x, 6) for x in ib], "\n  IB-Score hand", [round(x, 6) for x in want_ib])
    print("  A lib ", [round(x, 6) for x in adv], "\n  A hand", [round(x, 6) for x in want_adv])
    assert w1 < 1e-6 and w2 < 1e-6
    # the reference implementation used below agrees with the hand computation
    assert _worst(reference(PARENTS, COUNTS, LOGPS, REWARDS)[1], want_adv) < 1e-12


@pytest.mark.parametrize("opts", [
    {}, {"beta": 2.0, "lam": 0.5}, {"product": True}, {"rpz": 0.0}, {"sqrt_n": True},
    {"beta": 0.5, "lam": 0.0, "product": True, "rpz": 3.0, "sqrt_n": True},
], ids=["default", "beta2-lambda.5", "pibar-product", "rpz0", "sqrt-n", "all"])
def test_options_on_the_hand_built_tree(opts):
    cfg = ibtpo.RLConfig(beta=opts.get("beta", 5.0), lambda_=opts.get("lam", 0.1),
                         pibar_form="product" if opts.get("product") else "length_normalized",
                         ratio_when_parent_zero=opts.get("rpz", 1.0), sqrt_n_weighting=opts.get("sqrt_n", False))
    ib, adv = ibtpo.tree_advantages(PARENTS, COUNTS, LOGPS, REWARDS, cfg)
    want_ib, want_adv = reference(PARENTS, COUNTS, LOGPS, REWARDS, **opts)
    w = max(_worst(ib, want_ib), _worst(adv, want_adv))
    print(f"{opts}: worst rel. error {w:.3g}")
    assert w < 1e-6


def _random_tree(rng: random.Random, n: int, reward_kind: str):
    parents = [-1] + [rng.randrange(i) for i in range(1, n)]
    counts = [0] + [rng.randint(1, 20) for _ in range(1, n)]
    logps = [0.0] + [-rng.random() * 3 for _ in range(1, n)]
    if reward_kind == "binary":
        rewards = [float(rng.random() < 0.4) for _ in range(n)]
    elif reward_kind == "fraction":
        rewards = [rng.choice([0.0, 0.25, 0.5, 1.0]) for _ in range(n)]
    else:  # every leaf the same reward: A_GL = 0
        rewards = [0.75] * n
    return parents, counts, logps, rewards


@pytest.mark.parametrize("seed", range(6))
def test_random_trees_match_the_reference(seed):
    rng = random.Random(seed)
    worst = 0.0
    for kind in ("binary", "fraction", "constant"):
        n = rng.randint(2, 60)
        tree = _random_tree(rng, n, kind)
        opts = {"beta": rng.choice([0.5, 5.0, 20.0]), "lam": rng.choice([0.0, 0.1, 1.0]),
                "product": rng.random() < 0.5, "rpz": rng.choice([0.0, 1.0]), "sqrt_n": rng.random() < 0.5}
        cfg = {"beta": opts["beta"], "lambda": opts["lam"], "pibar_form": int(opts["product"]),
               "ratio_when_parent_zero": opts["rpz"], "sqrt_n_weighting": opts["sqrt_n"]}
        ib, adv = ibtpo.tree_advantages(*tree, cfg)
        want_ib, want_adv = reference(*tree, **opts)
        worst = max(worst, _worst(ib, want_ib), _worst(adv, want_adv))
    print(f"seed {seed}: worst rel. error over 3 random trees {worst:.3g}")
    assert worst < 1e-6


def test_constant_rewards_give_zero_global_advantage():
    parents, counts, logps, _ = _random_tree(random.Random(1), 30, "binary")
    for r in (0.0, 1.0, 0.3):
        _, adv = ibtpo.tree_advantages(parents, counts, logps, [r] * 30, {"lambda": 0.0})
        assert adv == [0.0] * 30


def test_chain_of_single_children_equals_grpo():
    """A root with G single-node children: A_GL = GRPO's (R − mean) / (std + eps)."""
    rewards = [0.0, 1.0, 0.0, 0.0, 1.0, 0.5]
    n = len(rewards)
    _, adv = ibtpo.tree_advantages([-1] + [0] * (n - 1), [0] + [3] * (n - 1), [0.0] + [-0.4] * (n - 1),
                                   rewards, {"lambda": 0.0})
    leaf = rewards[1:]
    mean = sum(leaf) / len(leaf)
    std = math.sqrt(sum((x - mean) ** 2 for x in leaf) / len(leaf))
    want = [0.0] + [(x - mean) / (std + EPS) for x in leaf]
    w = _worst(adv, want)
    print(f"GRPO equivalence: worst rel. error {w:.3g}")
    assert w < 1e-9


def test_rewards_of_internal_nodes_and_logp_of_the_root_are_not_read():
    ib, adv = ibtpo.tree_advantages(PARENTS, COUNTS, LOGPS, REWARDS)
    nan_internal = [math.nan if i in (0, 1, 5) else r for i, r in enumerate(REWARDS)]
    lp = [math.nan] + LOGPS[1:]
    ib2, adv2 = ibtpo.tree_advantages(PARENTS, COUNTS, lp, nan_internal)
    assert adv2 == adv and [x for x in ib2 if not math.isnan(x)] == [x for x in ib if not math.isnan(x)]
    _, adv3 = ibtpo.tree_advantages(PARENTS, COUNTS, [None] + LOGPS[1:], [None, None, 1.0, 0.0, 1.0, None, 0.0])
    assert adv3 == adv


def test_numpy_in_numpy_out():
    np = pytest.importorskip("numpy")
    ib, adv = ibtpo.tree_advantages(np.array(PARENTS), np.array(COUNTS, dtype=np.int16),
                                    np.array(LOGPS), np.array(REWARDS, dtype=np.float32))
    assert isinstance(ib, np.ndarray) and ib.dtype == np.float64 and ib.shape == (7,)
    ib_l, adv_l = ibtpo.tree_advantages(PARENTS, COUNTS, LOGPS, REWARDS)
    assert adv.tolist() == adv_l
    assert np.array_equal(ib, np.array(ib_l), equal_nan=True)


@pytest.mark.parametrize("change,word", [
    ({"parents": [-1]}, "n_nodes"),                                  # a single node
    ({"parents_at": (0, 0)}, "parent[0]"), ({"counts_at": (0, 1)}, "root"),
    ({"parents_at": (3, 3)}, "parent[3]"), ({"parents_at": (3, 4)}, "parent[3]"),  # self / forward (cycle)
    ({"parents_at": (2, -1)}, "parent[2]"), ({"counts_at": (4, 0)}, "token_count[4]"),
    ({"logps_at": (2, 0.5)}, "mean_logp[2]"), ({"logps_at": (2, math.inf)}, "mean_logp[2]"),
    ({"logps_at": (2, math.nan)}, "mean_logp[2]"),
    ({"rewards_at": (3, 1.5)}, "reward[3]"), ({"rewards_at": (6, -0.1)}, "reward[6]"),
    ({"rewards_at": (2, math.nan)}, "reward[2]"),
    ({"config": {"beta": 0.0}}, "beta"), ({"config": {"pibar_form": 2}}, "pibar_form"),
    ({"config": {"sqrt_n_weighting": 2}}, "sqrt_n_weighting"),
])
def test_invalid_trees_are_rejected_naming_the_node(change, word):
    args = {"parents": list(PARENTS), "counts": list(COUNTS), "logps": list(LOGPS), "rewards": list(REWARDS)}
    config = change.pop("config", None)
    for key, value in change.items():
        if key.endswith("_at"):
            i, v = value
            args[key[:-3]][i] = v
        else:
            args[key] = value
            n = len(value)
            for other in ("counts", "logps", "rewards"):
                args[other] = args[other][:n]
    with pytest.raises(ibtpo.InvalidArgumentError) as e:
        ibtpo.tree_advantages(args["parents"], args["counts"], args["logps"], args["rewards"], config)
    print(e.value.message)
    assert word in e.value.message, e.value.message


def test_python_side_length_checks():
    with pytest.raises(ibtpo.InvalidArgumentError, match="rewards has 6 entries"):
        ibtpo.tree_advantages(PARENTS, COUNTS, LOGPS, REWARDS[:-1])


def test_c_level_null_outputs_and_struct_size():
    import ctypes
    from ibtpo import _lib
    cfg = ibtpo.RLConfig().to_c()
    n = len(PARENTS)
    par, cnt = (ctypes.c_int32 * n)(*PARENTS), (ctypes.c_int32 * n)(*COUNTS)
    lp, rw = (ctypes.c_float * n)(*LOGPS), (ctypes.c_float * n)(*REWARDS)
    adv = (ctypes.c_double * n)()
    assert _lib.LIB.ibtpo_tree_advantages(ctypes.byref(cfg), n, par, cnt, lp, rw, None, adv) == ibtpo.OK
    assert list(adv) == ibtpo.tree_advantages(PARENTS, COUNTS, LOGPS, REWARDS)[1]
    assert _lib.LIB.ibtpo_tree_advantages(ctypes.byref(cfg), n, par, cnt, lp, rw, None, None) == ibtpo.OK
    for i, null in enumerate([par, cnt, lp, rw]):
        args = [par, cnt, lp, rw]
        args[i] = None
        assert _lib.LIB.ibtpo_tree_advantages(ctypes.byref(cfg), n, *args, None, adv) == ibtpo.ERR_INVALID_ARGUMENT
    cfg.struct_size -= 8
    assert _lib.LIB.ibtpo_tree_advantages(ctypes.byref(cfg), n, par, cnt, lp, rw, None, adv) == \
        ibtpo.ERR_INVALID_ARGUMENT
    assert "struct_size" in ibtpo._errors.last_error(None)
    assert _lib.LIB.ibtpo_tree_advantages(None, n, par, cnt, lp, rw, None, adv) == ibtpo.ERR_INVALID_ARGUMENT
