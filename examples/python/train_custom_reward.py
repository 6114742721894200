#!/usr/bin/env python3
"""Train a tiny policy on 1-digit addition with a reward function written in Python:
supervised steps on the task's reference solutions, then IB-TPO steps, then evaluation.

    make lib
    python3 examples/python/train_custom_reward.py      # a few seconds
"""
import os
import sys
import time

# From a source checkout: the package is in bindings/python, the library in dist/lib.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bindings", "python"))
import ibtpo  # noqa: E402


def reward(prompt: str, completion: str, answer: str) -> float:
    """1 if the last line is "answer: <a+b>", with the sum computed here from "a+b\\n"."""
    a, b = prompt.strip().split("+")
    text = completion[:-1] if completion.endswith("\n") else completion  # one trailing newline is fine
    last_line = text.split("\n")[-1]
    return 1.0 if last_line == f"answer: {int(a) + int(b)}" else 0.0


config = ibtpo.TrainerConfig(
    model=ibtpo.ModelConfig(d_model=64, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=128, max_seq=64),
    batch=16, seq=48, threads=1, seed=1, lr=3e-3, warmup_steps=10, total_steps=0, rollout_slots=64)
task = ibtpo.Task.builtin("add", {"digits": 1}, seed=1)
evaluation = ibtpo.EvalConfig(count=100, k=4, sampling=ibtpo.SamplingConfig(max_new_tokens=24))
t0 = time.time()

with ibtpo.Trainer(config) as trainer:
    for i in range(1, 201):
        stats = trainer.step_sft(task)  # prompt + reference solution, loss on the solution
        if i % 50 == 0:
            print(f"SFT step {i:3d}  loss {stats['loss']:.3f}")

    trainer.set_reward_fn(reward)  # replaces the task's verifier in RL and evaluation
    e = trainer.evaluate(task, evaluation)
    print(f"after SFT:    greedy {e.greedy_accuracy:.2f}  avg@4 {e.avg_at_k:.2f}  pass@4 {e.pass_at_k:.2f}")

    # IB-TPO with the paper's IBTree (B0, L, K, B) = (4, 9, 1, 1): 12 trajectories per prompt;
    # β 5, λ 0.1, lr 1e-4 (the defaults).
    rl = ibtpo.RLConfig(algo="ibtpo", prompts_per_step=4, sampling=ibtpo.SamplingConfig(max_new_tokens=24))
    trainer.rl_begin(task, rl)
    for _ in range(20):
        m = trainer.step_rl()
        print(f"RL step {m.step:2d}  reward {m.avg_rate:.2f}  eff {m.eff_rate:.2f}  IB-Score {m.ib_score:+.3f}  "
              f"KL {m.kl:.4f}  trajectories/1k tokens {m.trajectories_per_1k_tokens:.0f}")

    e = trainer.evaluate(task, evaluation)
    print(f"after IB-TPO: greedy {e.greedy_accuracy:.2f}  avg@4 {e.avg_at_k:.2f}  pass@4 {e.pass_at_k:.2f}")

task.close()
print(f"done in {time.time() - t0:.1f} s")
