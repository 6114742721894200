"""One call at a time per trainer: the library's busy flag (IBTPO_ERR_BUSY -> BusyError)
instead of binding locks held across callbacks, so a callback calling its own trainer fails
at once and two trainers whose callbacks use each other from two threads cannot deadlock."""
from __future__ import annotations

import threading

import pytest

import ibtpo

from conftest import add_task, gen_config, rl_config

TIMEOUT = 120  # seconds: a deadlock fails the test instead of hanging it


def test_callback_calling_its_own_trainer_gets_busy_error():
    with add_task() as task, ibtpo.Trainer(gen_config()) as t:
        t.set_reward_fn(lambda p, c, a: t.step)  # reads the trainer from inside its own call
        t.rl_begin(task, rl_config("grpo"))
        with pytest.raises(ibtpo.BusyError, match="busy") as e:
            t.step_rl()
        assert e.value.code == ibtpo.ERR_BUSY and e.value.status == "IBTPO_ERR_BUSY"
        assert isinstance(e.value.__cause__, ibtpo.CallbackFailedError)
        assert t.step == 0

        seen = []

        def progress(phase, done, total):
            try:
                t.generate("1+2\n", n=1)
            except ibtpo.BusyError as b:
                seen.append(b)

        t.set_progress_fn(progress)
        t.set_reward_fn(lambda p, c, a: 0.5)
        assert t.step_rl().step == 1  # the callback caught its BusyError: the step went on
        assert seen and all(b.code == ibtpo.ERR_BUSY for b in seen)


def test_callback_closing_its_own_trainer_frees_it_after_the_call():
    with add_task() as task:
        t = ibtpo.Trainer(gen_config())
        t.rl_begin(task, rl_config("grpo"))
        t.set_reward_fn(lambda p, c, a: (t.close(), 0.5)[1])
        assert t.step_rl().step == 1
        assert t.closed and t._handle is None
        with pytest.raises(ibtpo.InvalidArgumentError, match="closed"):
            t.step_rl()


def test_second_thread_on_a_running_trainer_gets_busy_error():
    inside, tried = threading.Event(), threading.Event()
    result = {}
    with ibtpo.Trainer(gen_config()) as t:
        def progress(phase, done, total):
            if not inside.is_set():
                inside.set()
                tried.wait(TIMEOUT)

        t.set_progress_fn(progress)

        def run():
            result["out"] = t.generate("1+2\n", n=2, seed=4)

        th = threading.Thread(target=run, daemon=True)
        th.start()
        assert inside.wait(TIMEOUT)
        with pytest.raises(ibtpo.BusyError, match="busy"):
            t.step
        with pytest.raises(ibtpo.BusyError):
            t.generate("2+2\n", n=1)
        tried.set()
        th.join(TIMEOUT)
        assert not th.is_alive()
        assert len(result["out"]) == 2
        t.set_progress_fn(None)
        assert [list(c.tokens) for c in t.generate("1+2\n", n=2, seed=4)] == [list(c.tokens) for c in result["out"]]


def test_crossed_reward_callbacks_on_two_threads_do_not_deadlock():
    """A's reward uses B while B's reward uses A, both steps running at once: with locks held
    across the library call both threads blocked forever; now each callback gets BusyError."""
    barrier = threading.Barrier(2, timeout=TIMEOUT)
    busy = {"a": 0, "b": 0}
    errors = []
    with add_task() as task, ibtpo.Trainer(gen_config(seed=1)) as a, ibtpo.Trainer(gen_config(seed=2)) as b:
        def reward_using(other, name):
            first = [True]

            def reward(p, c, ans):
                was_first, first[0] = first[0], False
                if was_first:
                    barrier.wait()  # both steps are inside their reward callbacks now
                try:
                    other.generate("1+1\n", n=1)
                except ibtpo.BusyError:
                    busy[name] += 1
                if was_first:
                    # Neither leaves its first callback before both crossed calls were made, so
                    # a descheduled thread cannot find the other trainer already finished.
                    barrier.wait()
                return 0.5
            return reward

        a.set_reward_fn(reward_using(b, "a"))
        b.set_reward_fn(reward_using(a, "b"))
        a.rl_begin(task, rl_config("grpo"))
        b.rl_begin(task, rl_config("grpo"))

        def run(t):
            try:
                t.step_rl()
            except BaseException as e:  # pragma: no cover - reported below
                errors.append(e)

        threads = [threading.Thread(target=run, args=(t,), daemon=True) for t in (a, b)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(TIMEOUT)
        assert not any(th.is_alive() for th in threads), "deadlock: a step_rl did not return"
        assert errors == []
        assert busy["a"] >= 1 and busy["b"] >= 1  # at least the first crossed calls were refused
        assert a.step == 1 and b.step == 1
