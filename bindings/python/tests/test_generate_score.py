"""generate / score / threads: determinism, independence of n, log-probs that agree with
each other and with the training loss, greedy = argmax, errors."""
from __future__ import annotations

import math

import pytest

import ibtpo

from conftest import GEN_BATCH, GEN_MAX_SEQ, GEN_SEQ, GEN_SLOTS, gen_config

T1 = ibtpo.SamplingConfig(temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=16)
PAPER = ibtpo.SamplingConfig(max_new_tokens=16)  # temperature 0.7, top-k 20, top-p 0.95
GREEDY = ibtpo.SamplingConfig(temperature=0.0, max_new_tokens=16)
PROMPT = ibtpo.tokenize(b"3+4\n", add_bos=True)


def _check_completion(c, sampling):
    toks, lps = list(c.tokens), list(c.logps)
    assert len(toks) == len(lps) <= sampling.max_new_tokens
    assert len(toks) >= 1
    assert all(0 <= t < 259 for t in toks)
    assert ibtpo.TOKEN_EOS not in toks[:-1]  # a sequence ends after sampling EOS
    if len(toks) < sampling.max_new_tokens:
        assert toks[-1] == ibtpo.TOKEN_EOS
    assert all(math.isfinite(x) and x <= 0 for x in lps)


@pytest.mark.parametrize("sampling", [T1, PAPER], ids=["t1", "paper"])
def test_generate_is_deterministic_and_completion_i_does_not_depend_on_n(gen_trainer, sampling):
    g4 = gen_trainer.generate(PROMPT, 4, sampling, seed=7)
    assert len(g4) == 4
    for c in g4:
        _check_completion(c, sampling)
    assert gen_trainer.generate(PROMPT, 4, sampling, seed=7) == g4
    assert gen_trainer.generate(PROMPT, 2, sampling, seed=7) == g4[:2]
    assert gen_trainer.generate(PROMPT, 1, sampling, seed=7) == g4[:1]
    assert gen_trainer.generate(PROMPT, 7, sampling, seed=7)[:4] == g4
    other = gen_trainer.generate(PROMPT, 4, sampling, seed=8)
    assert [c.tokens for c in other] != [c.tokens for c in g4]
    assert len({tuple(c.tokens) for c in g4}) > 1  # the rows are different samples
    assert gen_trainer.step == 0


def test_generate_accepts_text_and_numpy_prompts(gen_trainer):
    a = gen_trainer.generate(PROMPT, 2, T1, seed=1)
    assert gen_trainer.generate(b"3+4\n", 2, T1, seed=1) == a  # bytes/str get a leading BOS
    assert gen_trainer.generate("3+4\n", 2, {"temperature": 1.0, "top_k": 0, "top_p": 1.0,
                                            "max_new_tokens": 16}, seed=1) == a
    assert a[0].text == ibtpo.detokenize(a[0].tokens)
    np = pytest.importorskip("numpy")
    b = gen_trainer.generate(np.array(PROMPT, dtype=np.int64), 2, T1, seed=1)
    assert isinstance(b[0].tokens, np.ndarray) and b[0].tokens.dtype == np.int32
    assert isinstance(b[0].logps, np.ndarray) and b[0].logps.dtype == np.float32
    assert [list(c.tokens) for c in b] == [c.tokens for c in a]
    assert [list(c.logps) for c in b] == [c.logps for c in a]


@pytest.mark.parametrize("sampling", [T1, PAPER, GREEDY], ids=["t1", "paper", "greedy"])
def test_score_matches_the_logps_of_generate(gen_trainer, sampling):
    """generate's log-probs are under the temperature-1 policy, whatever the sampling, so
    scoring prompt + completion must give the same numbers."""
    comps = gen_trainer.generate(PROMPT, 6, sampling, seed=3)
    seqs = [PROMPT + list(c.tokens) for c in comps]  # ragged rows: each row's own length
    scored = gen_trainer.score(seqs)
    p, worst = len(PROMPT), 0.0
    for c, row in zip(comps, scored):
        assert len(row) == p + len(c.tokens) - 1
        got = row[p - 1:]  # row[t] = log p(seq[t+1] | seq[..t]); completion token j is seq[p+j]
        worst = max(worst, max(abs(a - b) for a, b in zip(got, c.logps)))
    print(f"score vs generate logps ({len(comps)} completions): worst |diff| = {worst:.3g}")
    assert worst < 1e-4


def test_greedy_is_the_argmax_and_top_k_1_is_greedy(gen_trainer):
    g = gen_trainer.generate(PROMPT, 3, GREEDY, seed=1)
    assert g[0] == g[1] == g[2]
    assert gen_trainer.generate(PROMPT, 1, GREEDY, seed=99)[0] == g[0]
    k1 = gen_trainer.generate(PROMPT, 2, T1.replace(top_k=1), seed=5)
    assert k1[0].tokens == k1[1].tokens == g[0].tokens
    # Independent check of the first two greedy tokens: score every possible next token.
    toks = list(g[0].tokens)
    for j in range(min(2, len(toks))):
        prefix = PROMPT + toks[:j]
        rows = gen_trainer.score([prefix + [v] for v in range(259)])
        best = max(range(259), key=lambda v: rows[v][-1])
        print(f"greedy token {j}: {toks[j]}, argmax of the scored next-token log-probs: {best}")
        assert best == toks[j]
        assert abs(rows[best][-1] - g[0].logps[j]) < 1e-4


def test_stop_at_eos_off_runs_to_max_new_tokens(gen_trainer):
    s = T1.replace(stop_at_eos=False, max_new_tokens=10)
    for c in gen_trainer.generate(PROMPT, 4, s, seed=2):
        assert len(c.tokens) == 10


def test_generate_and_score_do_not_change_the_trainer(gen_trainer, tmp_path):
    gen_trainer.save(tmp_path / "a.ckpt")
    gen_trainer.generate(PROMPT, 8, PAPER, seed=1)
    gen_trainer.score([PROMPT * 3])
    gen_trainer.save(tmp_path / "b.ckpt")
    assert (tmp_path / "a.ckpt").read_bytes() == (tmp_path / "b.ckpt").read_bytes()


def test_score_agrees_with_the_supervised_loss():
    """Σ −log p(target) / count from score() equals the loss step_supervised reports before
    its update (the training forward pass, an independent path through the library)."""
    import random
    rng = random.Random(4)
    rows = [[ibtpo.TOKEN_BOS] + [rng.randrange(256) for _ in range(GEN_SEQ)] for _ in range(GEN_BATCH)]
    with ibtpo.Trainer(gen_config()) as t:
        scored = t.score(rows)  # length GEN_SEQ + 1: GEN_SEQ log-probs per row
        want = -sum(sum(r) for r in scored) / (GEN_BATCH * GEN_SEQ)
        loss = t.step_supervised([r[:-1] for r in rows], [r[1:] for r in rows])["loss"]
    print(f"mean -log p from score {want:.6f}, step_supervised loss {loss:.6f}, "
          f"rel diff {abs(want - loss) / loss:.3g}")
    assert abs(want - loss) / loss < 1e-4


def test_score_shapes_lengths_and_numpy(gen_trainer):
    seqs = [PROMPT + [97, 98, 99, 100], PROMPT + [97], PROMPT]
    ragged = gen_trainer.score(seqs)
    assert [len(r) for r in ragged] == [len(s) - 1 for s in seqs]
    # causality: a prefix gets the same log-probs as the longer sequence at its positions
    for r in ragged[1:]:
        assert max(abs(a - b) for a, b in zip(r, ragged[0])) < 1e-5
    # explicit lengths on a padded rectangle give the same numbers
    width = max(len(s) for s in seqs)
    rect = [s + [ibtpo.TOKEN_PAD] * (width - len(s)) for s in seqs]
    assert gen_trainer.score(rect, lengths=[len(s) for s in seqs]) == ragged
    full = gen_trainer.score(rect)  # no lengths: every row is `width` long
    assert [len(r) for r in full] == [width - 1] * 3 and full[0] == ragged[0]
    assert gen_trainer.score([[ibtpo.TOKEN_BOS]]) == [[]]  # one token: nothing to predict
    np = pytest.importorskip("numpy")
    arr = gen_trainer.score(np.array(rect, dtype=np.int64), np.array([len(s) for s in seqs]))
    assert arr.shape == (3, width) and arr.dtype == np.float32
    for i, s in enumerate(seqs):
        assert arr[i, :len(s) - 1].tolist() == ragged[i]
        assert (arr[i, len(s) - 1:] == 0).all()  # 0 where t + 1 >= length


def test_score_many_rows_and_long_rows_match_single_rows(gen_trainer):
    """More rows than the batch (chunks) and rows longer than the config's seq (one row at a
    time) give the same log-probs as each row scored alone."""
    import random
    rng = random.Random(9)
    for length, n in ((20, GEN_BATCH * 2 + 3), (GEN_MAX_SEQ, 3)):
        rows = [[ibtpo.TOKEN_BOS] + [rng.randrange(256) for _ in range(length - 1)] for _ in range(n)]
        together = gen_trainer.score(rows)
        worst = max(max(abs(a - b) for a, b in zip(gen_trainer.score([r])[0], tr)) for r, tr in zip(rows, together))
        print(f"{n} rows of {length} tokens: worst |diff| vs one row at a time = {worst:.3g}")
        assert worst < 1e-5
    assert GEN_MAX_SEQ > GEN_SEQ


def test_threads_do_not_change_results(gen_trainer):
    assert gen_trainer.threads == 1
    a = gen_trainer.generate(PROMPT, 4, PAPER, seed=1)
    sa = gen_trainer.score([PROMPT + list(c.tokens) for c in a])
    gen_trainer.threads = 2
    assert gen_trainer.threads == 2
    assert gen_trainer.generate(PROMPT, 4, PAPER, seed=1) == a
    assert gen_trainer.score([PROMPT + list(c.tokens) for c in a]) == sa  # bit-identical
    for bad in (0, 65, -1):
        with pytest.raises(ibtpo.InvalidArgumentError) as e:
            gen_trainer.threads = bad
        assert "threads" in e.value.message
    with pytest.raises(ibtpo.InvalidArgumentError):
        gen_trainer.threads = 1.5
    assert gen_trainer.threads == 2


@pytest.mark.parametrize("kwargs,word", [
    ({"prompt": []}, "prompt"), ({"prompt": [256, 259]}, None), ({"prompt": [256, -1]}, None),
    ({"n": 0}, None), ({"n": -3}, None), ({"n": GEN_SLOTS + 1}, "rollout_slots"),
    ({"sampling": {"max_new_tokens": 0}}, None),
    ({"sampling": {"temperature": -1.0}}, None), ({"sampling": {"top_p": 0.0}}, None),
    ({"sampling": {"top_k": 260}}, None), ({"sampling": {"stop_at_eos": 2}}, None),
    ({"seed": -1}, "seed"),
])
def test_generate_errors(gen_trainer, kwargs, word):
    args = {"prompt": PROMPT, "n": 2, "sampling": T1, "seed": 0}
    args.update(kwargs)
    with pytest.raises(ibtpo.IBTPOError) as e:
        gen_trainer.generate(**args)
    assert e.value.code in (ibtpo.ERR_INVALID_ARGUMENT, ibtpo.ERR_BAD_DATA) and e.value.message
    if word:
        assert word in e.value.message


def test_generate_stops_at_max_seq(gen_trainer):
    """ibtpo.h: a completion also ends when prompt + completion reach max_seq."""
    s = T1.replace(max_new_tokens=GEN_MAX_SEQ - len(PROMPT) + 5, stop_at_eos=False)
    out = gen_trainer.generate(PROMPT, 2, s)
    lengths = [len(o.tokens) for o in out]
    print(f"prompt {len(PROMPT)} + max_new_tokens {s.max_new_tokens} > max_seq {GEN_MAX_SEQ}: lengths {lengths}")
    assert all(len(PROMPT) + n == GEN_MAX_SEQ for n in lengths)


@pytest.mark.parametrize("seqs,lengths", [
    ([], None), ([[256, 259]], None), ([[256, -1]], None), ([[256, 97]], [0]), ([[256, 97]], [3]),
    ([[256] * (GEN_MAX_SEQ + 1)], None), ([[256, 97], [256, 98]], [2]),
])
def test_score_errors(gen_trainer, seqs, lengths):
    with pytest.raises(ibtpo.IBTPOError) as e:
        gen_trainer.score(seqs, lengths)
    assert e.value.code in (ibtpo.ERR_INVALID_ARGUMENT, ibtpo.ERR_BAD_DATA) and e.value.message


def test_no_rollout_slots_means_no_sampling():
    with ibtpo.Trainer(gen_config(rollout_slots=0)) as t:
        with pytest.raises(ibtpo.IBTPOError) as e:
            t.generate(PROMPT, 1, T1)
        assert e.value.code == ibtpo.ERR_INVALID_ARGUMENT and e.value.message
        assert len(t.score([PROMPT + [97]])[0]) == len(PROMPT)  # scoring needs no sampler
