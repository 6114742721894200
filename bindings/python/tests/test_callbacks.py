"""Reward, log and progress callbacks: failures leave the trainer unchanged, Python
exceptions come back chained to the library's error, aborts, lifetime of the wrappers."""
from __future__ import annotations

import gc
import math

import pytest

import ibtpo

from conftest import GEN_SEQ, add_answer, add_task, answer_line, gen_config, rl_config

PROMPT = ibtpo.tokenize(b"3+4\n", add_bos=True)
PROBE = [PROMPT + [51, 43, 52, 43, 48, 61, 55, 10], PROMPT + [97] * 10]  # fixed rows for score()
LONG = PROMPT + [97] * (GEN_SEQ - len(PROMPT))  # one row of the trainer's seq


def exact_answer(prompt: str, completion: str, answer: str) -> float:
    """The built-in verifier's rule, written in Python: the last line is "answer: <answer>"."""
    return 1.0 if answer_line(completion) == answer else 0.0


def _strip(m: ibtpo.RLMetrics) -> dict:
    d = m.as_dict()
    for k in ("sampling_seconds", "update_seconds"):
        d.pop(k)
    return {k: "nan" if isinstance(v, float) and math.isnan(v) else v for k, v in d.items()}


def _snapshot(t: ibtpo.Trainer, path) -> tuple:
    t.save(path)
    return t.step, path.read_bytes(), t.score(PROBE)


class Boom(RuntimeError):
    pass


@pytest.mark.parametrize("algo", ["grpo", "ibtpo"])
def test_a_raising_reward_fails_the_step_and_changes_nothing(tmp_path, algo):
    """The step fails with the Python exception (chained to CALLBACK_FAILED); parameters,
    optimiser state, step counter and RNG are unchanged: the checkpoint is byte-identical
    and the next successful step equals that of a twin trainer that never failed."""
    with add_task() as task, ibtpo.Trainer(gen_config()) as t, ibtpo.Trainer(gen_config()) as twin:
        calls = []

        def reward(prompt, completion, answer):
            calls.append(prompt)
            if len(calls) == 3:  # fail in the middle of the rollout's rewards
                raise Boom("no reward for you")
            return exact_answer(prompt, completion, answer)

        for tr in (t, twin):
            tr.rl_begin(task, rl_config(algo))
            tr.set_reward_fn(exact_answer)
            tr.step_rl()
        before = _snapshot(t, tmp_path / "before.ckpt")
        t.set_reward_fn(reward)
        with pytest.raises(Boom, match="no reward for you") as e:
            t.step_rl()
        assert isinstance(e.value.__cause__, ibtpo.CallbackFailedError)
        assert e.value.__cause__.code == ibtpo.ERR_CALLBACK_FAILED and e.value.__cause__.message
        assert len(calls) == 3
        after = _snapshot(t, tmp_path / "after.ckpt")
        assert after[0] == before[0] and after[1] == before[1] and after[2] == before[2]
        # the RL cursor and rollout seed did not move either
        t.set_reward_fn(exact_answer)
        assert _strip(t.step_rl()) == _strip(twin.step_rl())


@pytest.mark.parametrize("bad", [1.5, -0.25, math.nan, math.inf, 1e300])
def test_out_of_range_rewards_fail_the_step(tmp_path, bad):
    with add_task() as task, ibtpo.Trainer(gen_config()) as t:
        t.set_reward_fn(lambda p, c, a: bad)
        t.rl_begin(task, rl_config("grpo"))
        before = _snapshot(t, tmp_path / "b.ckpt")
        with pytest.raises(ibtpo.CallbackFailedError) as e:
            t.step_rl()
        print(e.value.message)
        assert e.value.code == ibtpo.ERR_CALLBACK_FAILED and "reward" in e.value.message
        assert e.value.__cause__ is None  # no Python exception: the library judged the value
        assert _snapshot(t, tmp_path / "a.ckpt") == before
        t.set_reward_fn(lambda p, c, a: 1.0 if bad > 1 else 0.0)  # the boundaries are fine
        assert t.step_rl().avg_rate == (1.0 if bad > 1 else 0.0)


@pytest.mark.parametrize("bad", [None, "1.0", [1.0], object()])
def test_non_number_rewards_raise_type_error(bad):
    with add_task() as task, ibtpo.Trainer(gen_config()) as t:
        t.set_reward_fn(lambda p, c, a: bad)
        t.rl_begin(task, rl_config("ibtpo"))
        with pytest.raises(TypeError, match="not a number") as e:
            t.step_rl()
        assert isinstance(e.value.__cause__, ibtpo.CallbackFailedError)
        assert t.step == 0


def test_bool_and_numpy_rewards_are_numbers():
    with add_task() as task, ibtpo.Trainer(gen_config()) as t:
        t.set_reward_fn(lambda p, c, a: True)
        t.rl_begin(task, rl_config("grpo"))
        assert t.step_rl().avg_rate == 1.0
        np = pytest.importorskip("numpy")
        t.set_reward_fn(lambda p, c, a: np.float32(0.5))
        assert t.step_rl().avg_rate == 0.5


def test_reward_fn_replaces_the_verifier_in_evaluate_and_sees_every_completion():
    with add_task() as task, ibtpo.Trainer(gen_config()) as t:
        seen = []

        def reward(prompt, completion, answer):
            seen.append((prompt, completion, answer))
            return 0.25

        t.set_reward_fn(reward)
        r = t.evaluate(task, {"count": 5, "k": 3, "sampling": {"max_new_tokens": 12}})
        assert len(seen) == 5 * (1 + 3)  # one greedy and k sampled completions per problem
        assert r.problems == 5 and r.greedy_accuracy == 0.25 and r.avg_at_k == 0.25 and r.pass_at_k == 0.0
        test_prompts = [task.problem("test", i).prompt for i in range(5)]
        assert {p for p, _, _ in seen} == set(test_prompts)
        assert all(a == add_answer(p) for p, _, a in seen)
        t.set_reward_fn(None)  # back to the task's verifier
        r2 = t.evaluate(task, {"count": 5, "k": 3, "sampling": {"max_new_tokens": 12}})
        assert len(seen) == 20 and r2.greedy_accuracy in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def test_reward_fn_receives_the_sampled_bytes():
    """evaluate's k sampled completions of test problem 0 are generate(seed + 1) on
    [BOS] + prompt; with as_bytes=True the callback should get exactly their bytes. At
    temperature 1 the untrained model writes invalid UTF-8."""
    sampling = {"temperature": 1.0, "top_k": 0, "top_p": 1.0, "max_new_tokens": 24}
    with add_task() as task, ibtpo.Trainer(gen_config()) as t:
        got = []
        t.set_reward_fn(lambda p, c, a: got.append(c) or 0.0, as_bytes=True)
        t.evaluate(task, {"count": 1, "k": 4, "sampling": sampling, "seed": 77})
        prompt = task.problem("test", 0).prompt
        want = [c.text for c in t.generate(prompt.encode(), 4, sampling, seed=78)]
        for w, g in zip(want, got[1:]):
            print(f"sampled  {w!r}\ncallback {g!r}")
        assert len(got) == 5
        assert got[1:] == want


def test_reward_strings_are_str_or_bytes():
    with ibtpo.Task.from_memory(["é?\n", "b\n"], ["ü", "x"], splits=[1, 0]) as task, \
            ibtpo.Trainer(gen_config()) as t:
        got = []
        t.set_reward_fn(lambda p, c, a: got.append((p, c, a)) or 0.0)
        t.evaluate(task, {"count": 1, "k": 0, "sampling": {"max_new_tokens": 4}})
        t.set_reward_fn(lambda p, c, a: got.append((p, c, a)) or 0.0, as_bytes=True)
        t.evaluate(task, {"count": 1, "k": 0, "sampling": {"max_new_tokens": 4}})
        (p1, c1, a1), (p2, c2, a2) = got
        assert (p1, a1) == ("é?\n", "ü") and isinstance(c1, str)
        assert (p2, a2) == ("é?\n".encode(), "ü".encode()) and isinstance(c2, bytes)


def test_progress_abort_leaves_everything_unchanged(tmp_path):
    with add_task() as task, ibtpo.Trainer(gen_config()) as t, ibtpo.Trainer(gen_config()) as twin:
        for tr in (t, twin):
            tr.set_reward_fn(exact_answer)
            tr.rl_begin(task, rl_config("ibtpo"))
        phases = []
        before = _snapshot(t, tmp_path / "b.ckpt")
        t.set_progress_fn(lambda phase, done, total: phases.append((phase, done, total)) or False)
        with pytest.raises(ibtpo.AbortedError) as e:
            t.step_rl()
        assert e.value.code == ibtpo.ERR_ABORTED and e.value.message and e.value.__cause__ is None
        assert phases == [("rollout", 0, 1)]
        t.set_progress_fn(None)
        assert _snapshot(t, tmp_path / "a.ckpt") == before
        assert _strip(t.step_rl()) == _strip(twin.step_rl())


def test_progress_phases_and_continue_values():
    """None, True, 0 and any non-False value continue; phases and counts are reported."""
    with add_task() as task, ibtpo.Trainer(gen_config()) as t:
        seen = []
        results = iter([None, True, 0, "go"] * 100)
        t.set_progress_fn(lambda ph, d, n: seen.append((ph, d, n)) or next(results))
        t.set_reward_fn(exact_answer)
        t.rl_begin(task, rl_config("grpo", minibatches=2))
        m = t.step_rl()
        assert m.optimizer_steps == 2
        assert seen == [("rollout", 0, 1), ("rollout", 1, 1), ("update", 1, 2), ("update", 2, 2)]
        seen.clear()
        t.evaluate(task, {"count": 2, "k": 1, "sampling": {"max_new_tokens": 8}})
        assert seen == [("evaluate", 1, 2), ("evaluate", 2, 2)]
        seen.clear()
        t.generate(PROMPT, 2, {"max_new_tokens": 5, "stop_at_eos": False})
        assert seen and all(p == "generate" and n == 5 for p, _, n in seen)
        assert [d for _, d, _ in seen] == list(range(1, len(seen) + 1)) and len(seen) >= 4
        seen.clear()
        t.score([LONG] * 20)  # rows of the config's seq, more than the batch: several chunks
        assert seen and all(p == "score" for p, _, _ in seen) and seen[-1][1:] == (20, 20)
        assert [d for _, d, _ in seen] == sorted(d for _, d, _ in seen)


def test_generate_progress_reaches_done_equals_total():
    with ibtpo.Trainer(gen_config()) as t:
        seen = []
        t.set_progress_fn(lambda ph, d, n: seen.append((ph, d, n)))
        t.generate(PROMPT, 2, {"max_new_tokens": 5, "stop_at_eos": False})
        print(seen)
        assert seen[-1] == ("generate", 5, 5)


@pytest.mark.parametrize("call", ["generate", "score", "evaluate"])
def test_progress_abort_of_other_calls(call):
    with add_task() as task, ibtpo.Trainer(gen_config()) as t:
        t.set_progress_fn(lambda ph, d, n: False)
        with pytest.raises(ibtpo.AbortedError):
            if call == "generate":
                t.generate(PROMPT, 2, {"max_new_tokens": 5})
            elif call == "score":
                t.score([LONG] * 20)
            else:
                t.evaluate(task, {"count": 2, "k": 0, "sampling": {"max_new_tokens": 5}})
        t.set_progress_fn(None)
        assert len(t.generate(PROMPT, 2, {"max_new_tokens": 5})) == 2


def test_a_raising_progress_fn_aborts_and_is_re_raised():
    with add_task() as task, ibtpo.Trainer(gen_config()) as t:
        t.set_reward_fn(exact_answer)
        t.rl_begin(task, rl_config("grpo"))

        def progress(phase, done, total):
            raise KeyError(phase)

        t.set_progress_fn(progress)
        with pytest.raises(KeyError, match="rollout") as e:
            t.step_rl()
        assert isinstance(e.value.__cause__, ibtpo.AbortedError)
        assert t.step == 0


def test_log_fn_receives_the_library_log_lines():
    with add_task() as task, ibtpo.Trainer(gen_config()) as t:
        lines = []
        t.set_log_fn(lambda level, msg: lines.append((level, msg)))
        t.set_reward_fn(lambda p, c, a: 0.0)  # every reward equal: no learning signal
        t.rl_begin(task, rl_config("ibtpo"))
        t.step_rl()
        t.evaluate(task, {"count": 2, "k": 0, "sampling": {"max_new_tokens": 8}})
        for level, msg in lines:
            print(level, msg)
        assert all(level in (ibtpo.LOG_INFO, ibtpo.LOG_WARN) and isinstance(msg, str) and msg and "\n" not in msg
                   for level, msg in lines)
        assert any(m.startswith("rl:") for _, m in lines) and any(m.startswith("evaluate") for _, m in lines)
        assert any(level == ibtpo.LOG_WARN for level, _ in lines)  # eff_rate 0 is warned about
        n = len(lines)
        t.set_log_fn(None)
        t.step_rl()
        assert len(lines) == n


def test_a_raising_log_fn_cannot_stop_the_call(monkeypatch):
    import sys
    reported = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: reported.append(u.exc_value))
    with add_task() as task, ibtpo.Trainer(gen_config()) as t:
        t.set_log_fn(lambda level, msg: 1 / 0)
        t.set_reward_fn(exact_answer)
        t.rl_begin(task, rl_config("grpo"))
        assert t.step_rl().step == 1
        assert reported and all(isinstance(e, ZeroDivisionError) for e in reported)


def test_callbacks_cannot_reenter_their_trainer():
    with add_task() as task, ibtpo.Trainer(gen_config()) as t:
        t.set_reward_fn(lambda p, c, a: t.step)  # reads the trainer from inside its own call
        t.rl_begin(task, rl_config("grpo"))
        with pytest.raises(ibtpo.BusyError, match="busy") as e:
            t.step_rl()
        assert isinstance(e.value.__cause__, ibtpo.CallbackFailedError)
        assert not t.closed and t.step == 0


def test_wrappers_stay_alive_and_are_released(monkeypatch):
    """The CFUNCTYPE objects must outlive gc while installed (the library holds only the
    function pointer); removing a callback or closing the trainer drops them."""
    import weakref
    with add_task() as task, ibtpo.Trainer(gen_config()) as t:
        def reward(p, c, a):
            return 0.5

        t.set_reward_fn(reward)
        wrapper = weakref.ref(t._callbacks.reward[1])
        ref = weakref.ref(reward)
        del reward
        gc.collect()
        assert wrapper() is not None and ref() is not None
        t.rl_begin(task, rl_config("grpo"))
        assert t.step_rl().avg_rate == 0.5  # would crash if the thunk had been freed
        t.set_reward_fn(None)
        gc.collect()
        assert wrapper() is None and ref() is None
        t.set_progress_fn(lambda *a: None)
        pw = weakref.ref(t._callbacks.progress[1])
    gc.collect()
    assert pw() is None  # close() drops the wrappers too


def test_task_without_answers_needs_a_reward_fn():
    prompts = [f"say {i}\n" for i in range(12)]
    with ibtpo.Task.from_memory(prompts, splits=[0] * 10 + [1] * 2) as task, ibtpo.Trainer(gen_config()) as t:
        with pytest.raises(ibtpo.InvalidArgumentError, match="reward"):
            t.rl_begin(task, rl_config("grpo"))
        with pytest.raises(ibtpo.InvalidArgumentError, match="reward"):
            t.evaluate(task, {"count": 2, "k": 0})
        t.set_reward_fn(lambda p, c, a: 1.0)
        t.rl_begin(task, rl_config("grpo"))
        assert t.step_rl().avg_rate == 1.0
        t.set_reward_fn(None)
        with pytest.raises(ibtpo.InvalidArgumentError, match="reward"):
            t.step_rl()
        assert t.step == 1


def test_reward_fn_gets_an_empty_answer_for_tasks_without_answers():
    prompts = [f"say {i}\n" for i in range(12)]
    with ibtpo.Task.from_memory(prompts, splits=[0] * 10 + [1] * 2) as task, ibtpo.Trainer(gen_config()) as t:
        answers = []
        t.set_reward_fn(lambda p, c, a: answers.append(a) or 1.0)
        t.evaluate(task, {"count": 2, "k": 0, "sampling": {"max_new_tokens": 4}})
        print(answers)
        assert answers == ["", ""]


def test_set_callbacks_reject_non_callables():
    with ibtpo.Trainer(gen_config()) as t:
        for setter in (t.set_reward_fn, t.set_log_fn, t.set_progress_fn):
            with pytest.raises(ibtpo.InvalidArgumentError, match="callable"):
                setter(42)
