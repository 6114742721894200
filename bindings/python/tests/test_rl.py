"""SFT on a task, evaluation and tiny GRPO / IB-TPO runs on add with 1 digit; metrics are
checked against what the Python reward callback saw."""
from __future__ import annotations

import math
import struct

import pytest

import ibtpo

from conftest import GEN_SLOTS, add_answer, add_task, gen_config, rl_config, verify

SFT_STEPS = 300  # about 0.5 s; the tiny model then gets about a third of the test problems right


def f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


@pytest.fixture(scope="module")
def sft_checkpoint(tmp_path_factory):
    """A tiny model after SFT_STEPS supervised steps on add (1 digit), and the step stats."""
    path = tmp_path_factory.mktemp("sft") / "sft.ckpt"
    with add_task() as task, ibtpo.Trainer(gen_config()) as t:
        stats = [t.step_sft(task) for _ in range(SFT_STEPS)]
        t.save(path)
    return path, stats


def test_step_sft_trains_on_the_reference_solutions(sft_checkpoint):
    _, stats = sft_checkpoint
    assert [s["step"] for s in stats] == list(range(1, SFT_STEPS + 1))
    # a batch of 8 problems; each trains on its solution "a+b+0=s\nanswer: s" (17 or 19
    # bytes) and EOS, not on the prompt
    assert all(8 * 18 <= s["tokens"] <= 8 * 20 for s in stats), [s["tokens"] for s in stats]
    first, last = stats[0]["loss"], sum(s["loss"] for s in stats[-5:]) / 5
    print(f"SFT loss {first:.3f} -> {last:.3f} over {SFT_STEPS} steps")
    assert first > 4.0 and last < 0.5 * first


def test_step_sft_is_deterministic_and_remembers_its_order(sft_checkpoint):
    _, stats = sft_checkpoint
    with add_task() as task, ibtpo.Trainer(gen_config()) as t:
        again = [t.step_sft(task)["loss"] for _ in range(3)]
    assert again == [s["loss"] for s in stats[:3]]
    assert len({s["tokens"] for s in stats[:10]}) > 1  # successive steps see different problems


def test_step_sft_errors():
    with add_task() as task, ibtpo.Trainer(gen_config(seq=16, model={"max_seq": 64})) as t:
        with pytest.raises(ibtpo.BadDataError) as e:  # "3+4\n" + solution + EOS do not fit 16 tokens
            t.step_sft(task)
        print(e.value.message)
        assert t.step == 0
    with ibtpo.Trainer(gen_config()) as t:
        with pytest.raises(ibtpo.InvalidArgumentError, match="Task"):
            t.step_sft("add")


def test_evaluate_matches_generate_and_the_verifier(sft_checkpoint):
    """k = 0: greedy accuracy, mean length and truncated fraction recomputed here from
    generate(temperature 0) on [BOS] + prompt and the verifier of docs/tasks.md."""
    path, _ = sft_checkpoint
    count, max_new = 12, 24
    with add_task() as task, ibtpo.Trainer(gen_config()) as t:
        t.load(path)
        r = t.evaluate(task, {"count": count, "k": 0, "sampling": {"max_new_tokens": max_new}})
        acc, lengths, truncated = 0.0, 0, 0
        for i in range(count):
            p = task.problem("test", i)
            c = t.generate(p.prompt, 1, {"temperature": 0.0, "max_new_tokens": max_new})[0]
            eos = c.tokens[-1] == ibtpo.TOKEN_EOS
            acc += verify(c.text.decode("utf-8", "replace"), add_answer(p.prompt))
            lengths += len(c.tokens) - eos
            truncated += not eos and len(c.tokens) == max_new
        print(f"evaluate: {r}\nrecomputed: accuracy {acc / count}, mean length {lengths / count}, "
              f"truncated {truncated / count}")
        assert r.problems == count
        assert r.greedy_accuracy == acc / count
        assert r.mean_length == pytest.approx(lengths / count, abs=1e-12)
        assert r.truncated_fraction == pytest.approx(truncated / count, abs=1e-12)
        assert (r.avg_at_k, r.pass_at_k) == (0.0, 0.0) and r.seconds >= 0


def test_evaluate_with_samples_is_reproducible_and_changes_nothing(sft_checkpoint, tmp_path):
    path, _ = sft_checkpoint
    with add_task() as task, ibtpo.Trainer(gen_config()) as t:
        t.load(path)
        cfg = ibtpo.EvalConfig(count=8, k=4, seed=5, sampling=ibtpo.SamplingConfig(max_new_tokens=24))
        a = t.evaluate(task, cfg)
        t.save(tmp_path / "after.ckpt")
        assert (tmp_path / "after.ckpt").read_bytes() == path.read_bytes()
        b = t.evaluate(task, cfg)
        assert a.as_dict() | {"seconds": 0} == b.as_dict() | {"seconds": 0}
        print(a)
        for v in (a.greedy_accuracy, a.avg_at_k, a.pass_at_k, a.truncated_fraction):
            assert 0.0 <= v <= 1.0
        assert a.avg_at_k <= a.pass_at_k  # rewards are 0 or 1: a mean never beats "any"
        assert a.avg_at_k * 8 * 4 == round(a.avg_at_k * 8 * 4)  # a count over 32 samples
        assert 0 < a.mean_length <= 24
        # builtin tasks are unbounded: count is not cut; a finite test split cuts it
        with ibtpo.Task.from_memory(["a\n", "b\n", "c\n"], ["1", "2", "3"], splits=[0, 1, 1]) as small:
            assert t.evaluate(small, {"count": 50, "k": 0, "sampling": {"max_new_tokens": 4}}).problems == 2


@pytest.mark.parametrize("cfg,word", [
    ({"count": 0}, "count"), ({"k": -1}, "k"), ({"k": 1025}, "k"), ({"sampling": {"top_p": 1.5}}, "top_p"),
    ({"sampling": {"max_new_tokens": 0}}, "max_new_tokens"),
])
def test_evaluate_errors(cfg, word):
    with add_task() as task, ibtpo.Trainer(gen_config()) as t:
        with pytest.raises(ibtpo.InvalidArgumentError) as e:
            t.evaluate(task, cfg)
        assert word in e.value.message, e.value.message
    with add_task() as task, ibtpo.Trainer(gen_config(rollout_slots=0)) as t:
        with pytest.raises(ibtpo.InvalidArgumentError, match="rollout_slots"):
            t.evaluate(task, {"count": 1})


class RewardLog:
    """A Python reward for add: 1 for the exact answer line, 0.5 for a completion that has a
    line starting with a digit, else 0 (so groups differ); records every call."""

    def __init__(self):
        self.calls = []

    def __call__(self, prompt, completion, answer):
        assert answer == add_answer(prompt)  # the task's answer comes with the prompt
        r = verify(completion, answer)
        if not r and any(line[:1].isdigit() for line in completion.split("\n")):
            r = 0.5
        self.calls.append((prompt, r))
        return r

    def take(self):
        out, self.calls = self.calls, []
        return out


def _check_metrics(m: ibtpo.RLMetrics, calls, prompts: int, traj_per_prompt: int, rl_lr: float):
    rewards = [r for _, r in calls]
    groups = {}
    for p, r in calls:
        groups.setdefault(p, []).append(r)
    print(m)
    assert m.prompts == prompts == len(groups)
    assert m.trajectories == prompts * traj_per_prompt == len(calls)
    assert all(len(g) == traj_per_prompt for g in groups.values())
    assert m.avg_rate == pytest.approx(sum(rewards) / len(rewards), abs=1e-12)
    assert m.eff_rate == pytest.approx(sum(len(set(g)) > 1 for g in groups.values()) / len(groups), abs=1e-12)
    assert m.generated_tokens > 0 and m.trained_tokens >= m.generated_tokens
    assert m.trajectories_per_1k_tokens == pytest.approx(1000 * m.trajectories / m.generated_tokens, rel=1e-9)
    assert m.kl >= 0 and m.entropy > 0 and math.isfinite(m.loss) and m.grad_norm > 0
    assert 0 <= m.clip_frac_low <= 1 and 0 <= m.clip_frac_high <= 1
    assert m.lr == f32(rl_lr)
    assert m.tree_nodes > prompts and m.branch_points >= prompts  # each root has >= 2 children
    assert m.mean_branch_depth >= 0 and m.sampling_seconds >= 0 and m.update_seconds >= 0


@pytest.mark.parametrize("algo", ["grpo", "ibtpo"])
def test_tiny_rl_run(sft_checkpoint, algo):
    path, _ = sft_checkpoint
    cfg = rl_config(algo, minibatches=2)
    G = cfg.trajectories_per_prompt
    assert G == 4
    with add_task() as task, ibtpo.Trainer(gen_config()) as t:
        t.load(path)
        reward = RewardLog()
        t.set_reward_fn(reward)
        nbytes = t.rl_begin(task, cfg)
        plan = ibtpo.memory_plan(gen_config())
        assert nbytes == 4 * plan["parameter_count"]  # one float32 copy of the parameters
        assert t.step == 0  # reset_optimizer: the step counter restarts
        task.close()  # the trainer keeps its own reference
        train_prompts = []
        for k in range(1, 4):
            m = t.step_rl()
            calls = reward.take()
            _check_metrics(m, calls, 2, G, cfg.lr)
            assert m.step == k and m.optimizer_steps == 2 and t.step == 2 * k
            train_prompts += sorted({p for p, _ in calls})
            if algo == "ibtpo":
                assert math.isfinite(m.ib_score) and math.isfinite(m.ib_cov)
            else:
                assert math.isnan(m.ib_score) and math.isnan(m.ib_cov)  # probe_every = 0: not measured
        # the steps walk through the train split, 2 new problems per step
        with add_task() as again:
            want = [again.problem("train", i).prompt for i in range(6)]
        assert sorted(train_prompts) == sorted(want)


def test_grpo_probe_tree_measures_the_ib_score():
    with add_task() as task, ibtpo.Trainer(gen_config()) as t:
        reward = RewardLog()
        t.set_reward_fn(reward)
        t.rl_begin(task, rl_config("grpo", probe_every=2))
        m1, m2 = t.step_rl(), t.step_rl()
        print(m1.ib_score, m2.ib_score)
        # probe_every = 2: measured at one of two steps, on an extra tree whose leaves are judged too
        assert sum(math.isfinite(m.ib_score) for m in (m1, m2)) == 1
        assert len(reward.calls) > m1.trajectories + m2.trajectories
    with add_task() as task, ibtpo.Trainer(gen_config(rollout_slots=16)) as t:
        t.set_reward_fn(RewardLog())
        with pytest.raises(ibtpo.InvalidArgumentError, match="probe"):  # 2 prompts × 12 > 16 slots
            t.rl_begin(task, rl_config("grpo", probe_every=1))


def test_rl_with_the_task_verifier_and_sqrt_n_options():
    with add_task() as task, ibtpo.Trainer(gen_config()) as t:
        t.rl_begin(task, rl_config("ibtpo", branch_rule="entropy", sqrt_n_weighting=True, pibar_form="product",
                                   loss_aggregation="sequence_mean", epochs=2))
        m = t.step_rl()
        assert m.optimizer_steps == 2 and m.avg_rate in (0.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0)
        for rule in ("random", "fixed"):
            t.rl_begin(task, rl_config("ibtpo", branch_rule=rule, reset_optimizer=False))
            assert t.step_rl().trajectories == 8


def test_rl_begin_reset_optimizer(sft_checkpoint):
    path, _ = sft_checkpoint
    with add_task() as task, ibtpo.Trainer(gen_config()) as t:
        t.load(path)
        t.rl_begin(task, rl_config("grpo", reset_optimizer=False))
        assert t.step == SFT_STEPS
        t.rl_begin(task, rl_config("grpo"))
        assert t.step == 0


@pytest.mark.parametrize("changes,word", [
    ({"algo": 7}, "algo"), ({"beta": 0.0}, "beta"), ({"lambda": -1.0}, "lambda"), ({"prompts_per_step": 0}, "prompts"),
    ({"branch_rule": 9}, "branch_rule"), ({"loss_aggregation": 3}, "loss_aggregation"), ({"epochs": 0}, "epochs"),
    ({"pibar_form": 2}, "pibar_form"), ({"sampling": {"stop_at_eos": False}}, "stop_at_eos"),
    ({"lr": 0.0}, "lr"), ({"reset_optimizer": 2}, "reset_optimizer"), ({"probe_every": -1}, "probe_every"),
    ({"prompts_per_step": 9}, "slots"),  # 9 × 4 trajectories > 32 rollout slots
    ({"sampling": {"max_new_tokens": 47}}, "max_new_tokens"),  # no room for the prompt in seq 48
    ({"clip_low": 1.0}, "clip"), ({"kl_coef": -0.1}, "kl"),
])
def test_rl_begin_rejects_bad_configs_and_changes_nothing(changes, word, tmp_path):
    assert 9 * 4 > GEN_SLOTS
    with add_task() as task, ibtpo.Trainer(gen_config()) as t:
        t.step_sft(task)
        t.save(tmp_path / "a.ckpt")
        with pytest.raises(ibtpo.InvalidArgumentError) as e:
            t.rl_begin(task, rl_config("grpo").replace(**changes))
        print(e.value.message)
        assert word in e.value.message
        t.save(tmp_path / "b.ckpt")
        assert (tmp_path / "a.ckpt").read_bytes() == (tmp_path / "b.ckpt").read_bytes()
        with pytest.raises(ibtpo.InvalidArgumentError, match="rl_begin"):
            t.step_rl()  # no RL run was started


def test_rl_needs_rollout_slots():
    with add_task() as task, ibtpo.Trainer(gen_config(rollout_slots=0)) as t:
        with pytest.raises(ibtpo.InvalidArgumentError, match="rollout_slots"):
            t.rl_begin(task, rl_config("grpo"))
