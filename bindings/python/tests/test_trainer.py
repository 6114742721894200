"""Trainer lifetime, supervised steps, input validation and determinism."""
from __future__ import annotations

import gc
import threading

import pytest

import ibtpo
from ibtpo import _lib

from conftest import BATCH, SEQ, pattern_batch, random_batch, tiny_config


class _CountFree:
    """Wraps ibtpo_trainer_free to count calls per handle."""

    def __init__(self, monkeypatch):
        self.calls = []
        real = _lib.LIB.ibtpo_trainer_free

        def free(handle):
            self.calls.append(handle)
            real(handle)

        monkeypatch.setattr(_lib.LIB, "ibtpo_trainer_free", free)


def test_create_close_is_idempotent(monkeypatch):
    freed = _CountFree(monkeypatch)
    t = ibtpo.Trainer(tiny_config())
    h = t._handle
    assert h and not t.closed and t.step == 0
    t.close()
    t.close()
    del t
    gc.collect()
    assert freed.calls == [h]


def test_context_manager_and_del_free_exactly_once(monkeypatch):
    freed = _CountFree(monkeypatch)
    with ibtpo.Trainer(tiny_config()) as t:
        h1 = t._handle
        t.step_supervised(*pattern_batch())
    assert t.closed
    t.close()
    t2 = ibtpo.Trainer(tiny_config())
    h2 = t2._handle
    del t2
    gc.collect()
    assert freed.calls == [h1, h2]


def test_failed_create_frees_nothing_and_del_is_safe(monkeypatch):
    freed = _CountFree(monkeypatch)
    with pytest.raises(ibtpo.IBTPOError):
        ibtpo.Trainer(tiny_config(threads=0))
    gc.collect()
    assert freed.calls == []


def test_use_after_close_raises_never_crashes():
    t = ibtpo.Trainer(tiny_config())
    t.close()
    tokens, targets = pattern_batch()
    with ibtpo.Task.builtin("add", {"digits": 1}) as task:
        actions = [
            lambda: t.step, lambda: t.config, lambda: t.step_supervised(tokens, targets),
            lambda: t.save("/tmp/never.ckpt"), lambda: t.load("/tmp/never.ckpt"), lambda: t.__enter__(),
            lambda: t.threads, lambda: setattr(t, "threads", 2),
            lambda: t.set_reward_fn(lambda p, c, a: 1.0), lambda: t.set_reward_fn(None),
            lambda: t.set_log_fn(print), lambda: t.set_progress_fn(lambda *a: None),
            lambda: t.generate([ibtpo.TOKEN_BOS, 97]), lambda: t.score([[256, 97, 98]]),
            lambda: t.step_sft(task), lambda: t.evaluate(task, {"count": 1, "k": 0}),
            lambda: t.rl_begin(task), lambda: t.step_rl(),
        ]
        for action in actions:
            with pytest.raises(ValueError) as e:
                action()
            assert isinstance(e.value, ibtpo.IBTPOError) and e.value.code == 1 and "closed" in e.value.message
    assert "closed" in repr(t)


def test_config_property_returns_the_creation_config(trainer):
    assert trainer.config == tiny_config()
    assert "step=0" in repr(trainer)


def test_step_stats_and_counter(trainer):
    tokens, targets, weights = random_batch(1)
    s1 = trainer.step_supervised(tokens, targets)
    s2 = trainer.step_supervised(tokens, targets, weights)
    assert set(s1) == {"step", "loss", "grad_norm", "lr", "tokens", "seconds"}
    assert (s1["step"], s2["step"], trainer.step) == (1, 2, 2)
    assert s1["tokens"] == BATCH * (SEQ - 1)  # one -1 target per row
    assert s1["loss"] > 0 and s1["grad_norm"] > 0 and s1["lr"] > 0 and s1["seconds"] >= 0


def test_loss_falls_on_a_repeated_pattern():
    cfg = tiny_config(lr=3e-3, warmup_steps=0, total_steps=0)
    with ibtpo.Trainer(cfg) as t:
        tokens, targets = pattern_batch()
        losses = [t.step_supervised(tokens, targets)["loss"] for _ in range(80)]
    assert losses[0] > 4.0  # about ln(259) at init
    assert losses[20] < 0.5 * losses[0]
    assert losses[-1] < 0.1, losses  # the bigram "a→b→c→a" is learnt


@pytest.mark.parametrize("what", ["tokens", "targets", "weights"])
@pytest.mark.parametrize("shape", [(BATCH - 1, SEQ), (BATCH + 1, SEQ), (BATCH, SEQ - 1), (BATCH, SEQ + 1), (0, 0)])
def test_wrong_shapes_are_rejected_before_the_call(trainer, what, shape):
    tokens, targets, weights = random_batch(2)
    bad = [[1] * shape[1] for _ in range(shape[0])]
    args = {"tokens": tokens, "targets": targets, "weights": weights, what: bad}
    with pytest.raises(ibtpo.InvalidArgumentError) as e:
        trainer.step_supervised(**args)
    assert e.value.code == 1 and what in e.value.message
    assert trainer.step == 0


@pytest.mark.parametrize("bad", [None, 5, "abc", [[1] * SEQ] * (BATCH - 1) + [7]])
def test_non_sequences_are_rejected(trainer, bad):
    tokens, targets = pattern_batch()
    with pytest.raises(ibtpo.InvalidArgumentError):
        trainer.step_supervised(bad, targets)
    assert trainer.step == 0


@pytest.mark.parametrize("where,value,code", [
    ("tokens", 259, ibtpo.ERR_BAD_DATA), ("tokens", -1, ibtpo.ERR_BAD_DATA),
    ("tokens", 2**31, ibtpo.ERR_BAD_DATA), ("tokens", -(2**40), ibtpo.ERR_BAD_DATA),
    ("targets", 259, ibtpo.ERR_BAD_DATA), ("targets", -2, ibtpo.ERR_BAD_DATA),
    ("weights", -1.0, ibtpo.ERR_BAD_DATA), ("weights", float("nan"), ibtpo.ERR_BAD_DATA),
    ("weights", float("inf"), ibtpo.ERR_BAD_DATA), ("weights", 1e39, ibtpo.ERR_BAD_DATA),
    ("tokens", 1.5, ibtpo.ERR_INVALID_ARGUMENT), ("weights", "x", ibtpo.ERR_INVALID_ARGUMENT),
])
def test_out_of_range_values_fail_and_leave_the_trainer_unchanged(where, value, code):
    tokens, targets, weights = random_batch(3)
    args = {"tokens": tokens, "targets": targets, "weights": weights}
    args[where][1][5] = value
    good_tokens, good_targets, good_weights = random_batch(3)
    with ibtpo.Trainer(tiny_config()) as t, ibtpo.Trainer(tiny_config()) as ref:
        t.step_supervised(good_tokens, good_targets)
        ref.step_supervised(good_tokens, good_targets)
        with pytest.raises(ibtpo.IBTPOError) as e:
            t.step_supervised(**args)
        assert e.value.code == code and e.value.message
        if code == ibtpo.ERR_BAD_DATA:
            assert isinstance(e.value, ibtpo.BadDataError)
        assert t.step == 1
        # Unchanged parameters, optimiser state and RNG: the next step is identical to ref's.
        assert _same(t.step_supervised(good_tokens, good_targets, good_weights),
                     ref.step_supervised(good_tokens, good_targets, good_weights))


def _same(a: dict, b: dict) -> bool:
    return {k: v for k, v in a.items() if k != "seconds"} == {k: v for k, v in b.items() if k != "seconds"}


def test_library_error_message_comes_from_the_handle(trainer):
    tokens, targets = pattern_batch()
    targets[0][0] = 300
    with pytest.raises(ibtpo.BadDataError) as e:
        trainer.step_supervised(tokens, targets)
    assert "300" in e.value.message and "targets" in e.value.message


def test_weights_scale_and_mask():
    tokens, targets, _ = random_batch(4)
    ones = [[1.0] * SEQ for _ in range(BATCH)]
    twos = [[2.0] * SEQ for _ in range(BATCH)]
    half = [[1.0 if b < 2 else 0.0] * SEQ for b in range(BATCH)]
    losses = []
    for w in (None, ones, twos, half):
        with ibtpo.Trainer(tiny_config()) as t:
            losses.append(t.step_supervised(tokens, targets, w)["loss"])
    assert losses[0] == losses[1]
    assert losses[2] == pytest.approx(losses[0], rel=1e-6)  # weighted mean: scale-free
    assert losses[3] != losses[0]


def test_two_trainers_with_the_same_seed_are_identical():
    with ibtpo.Trainer(tiny_config(seed=5)) as a, ibtpo.Trainer(tiny_config(seed=5)) as b, \
            ibtpo.Trainer(tiny_config(seed=6)) as c:
        ra, rb, rc = [], [], []
        for k in range(4):
            batch = random_batch(10 + k)
            ra.append(a.step_supervised(*batch))
            rb.append(b.step_supervised(*batch))
            rc.append(c.step_supervised(*batch))
        assert all(_same(x, y) for x, y in zip(ra, rb))
        assert [x["loss"] for x in ra] != [x["loss"] for x in rc]


def test_trainers_in_threads_match_sequential_runs():
    batches = [random_batch(20 + k) for k in range(3)]

    def run(out):
        with ibtpo.Trainer(tiny_config(seed=9)) as t:
            out.extend(t.step_supervised(*b)["loss"] for b in batches)

    seq_out: list = []
    run(seq_out)
    outs: list = [[], []]
    threads = [threading.Thread(target=run, args=(o,)) for o in outs]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert outs[0] == seq_out and outs[1] == seq_out


def test_thread_local_error_of_handle_less_calls():
    """A failed create reports its own message even while another thread fails differently."""
    errors = {}

    def fail(name, changes):
        for _ in range(20):
            try:
                ibtpo.Trainer(tiny_config(**changes))
            except ibtpo.IBTPOError as e:
                errors.setdefault(name, set()).add(e.message)

    ths = [threading.Thread(target=fail, args=("threads", {"threads": 0})),
           threading.Thread(target=fail, args=("batch", {"batch": 0}))]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    assert all("threads" in m for m in errors["threads"]) and all("batch" in m for m in errors["batch"])


def test_numpy_inputs_match_lists():
    numpy = pytest.importorskip("numpy")
    tokens, targets, weights = random_batch(30)
    with ibtpo.Trainer(tiny_config()) as a, ibtpo.Trainer(tiny_config()) as b:
        ra = a.step_supervised(tokens, targets, weights)
        # int64 / float64 and a non-contiguous (transposed twice via Fortran order) layout
        nt = numpy.asfortranarray(numpy.array(tokens, dtype=numpy.int64))
        ng = numpy.array(targets, dtype=numpy.int16)
        nw = numpy.array(weights, dtype=numpy.float64)[:, ::-1][:, ::-1]
        rb = b.step_supervised(nt, ng, nw)
        assert _same(ra, rb)
        rb2 = b.step_supervised(numpy.array(tokens, dtype=numpy.int32), numpy.array(targets, dtype=numpy.int32),
                                numpy.array(weights, dtype=numpy.float32))
        ra2 = a.step_supervised(tokens, targets, weights)
        assert _same(ra2, rb2)


def test_numpy_bad_inputs():
    numpy = pytest.importorskip("numpy")
    tokens, targets, _ = random_batch(31)
    with ibtpo.Trainer(tiny_config()) as t:
        with pytest.raises(ibtpo.InvalidArgumentError, match="shape"):
            t.step_supervised(numpy.zeros((BATCH, SEQ + 1), numpy.int32), targets)
        with pytest.raises(ibtpo.InvalidArgumentError, match="shape"):
            t.step_supervised(numpy.zeros(BATCH * SEQ, numpy.int32), targets)
        with pytest.raises(ibtpo.InvalidArgumentError, match="integers"):
            t.step_supervised(numpy.zeros((BATCH, SEQ), numpy.float32), targets)
        big = numpy.array(tokens, dtype=numpy.int64)
        big[0, 0] = 2**32 + 5  # would wrap to 5 in int32
        with pytest.raises(ibtpo.BadDataError):
            t.step_supervised(big, targets)
        bad = numpy.array(tokens, dtype=numpy.int32)
        bad[2, 3] = 259
        with pytest.raises(ibtpo.BadDataError):
            t.step_supervised(bad, targets)
        assert t.step == 0
