"""Shared helpers: a tiny model so every test stays fast."""
from __future__ import annotations

import os

import pytest

import ibtpo

REPO = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
HEADER = os.path.join(REPO, "include", "ibtpo.h")

BATCH, SEQ = 4, 16

# Sampling tests: a tiny model with room for prompt + completion (max_seq 64) and a KV cache
# of 32 sequences (enough for 2 prompts × 12 trajectories of the GRPO probe tree).
GEN_MAX_SEQ, GEN_SEQ, GEN_BATCH, GEN_SLOTS = 64, 48, 8, 32


def tiny_config(seed: int = 7, **changes) -> ibtpo.TrainerConfig:
    cfg = ibtpo.TrainerConfig(
        model=ibtpo.ModelConfig(d_model=32, n_layers=2, n_heads=2, n_kv_heads=1, d_ff=64, max_seq=SEQ),
        batch=BATCH, seq=SEQ, threads=1, seed=seed, warmup_steps=2, total_steps=50,
    )
    return cfg.replace(**changes) if changes else cfg


def pattern_batch(period: int = 3, offset: int = 0):
    """A repeated byte pattern ("abcabc...") and its next-token targets, batch × seq."""
    tokens, targets = [], []
    for b in range(BATCH):
        row = [97 + (b + offset + j) % period for j in range(SEQ + 1)]
        tokens.append(row[:-1])
        targets.append(row[1:])
    return tokens, targets


def random_batch(salt: int, vocab: int = 259):
    x = (2463534242 ^ salt) & 0xFFFFFFFF
    tokens, targets, weights = [], [], []
    for b in range(BATCH):
        tr, gr, wr = [], [], []
        for j in range(SEQ):
            x ^= (x << 13) & 0xFFFFFFFF
            x ^= x >> 17
            x ^= (x << 5) & 0xFFFFFFFF
            tr.append(x % vocab)
            gr.append(-1 if j == SEQ - 1 else (x >> 9) % vocab)
            wr.append(0.5 + (j % 3))
        tokens.append(tr)
        targets.append(gr)
        weights.append(wr)
    return tokens, targets, weights


def gen_config(seed: int = 11, **changes) -> ibtpo.TrainerConfig:
    """d_model 32, 2 layers: fast enough for sampling, SFT and RL tests."""
    cfg = ibtpo.TrainerConfig(
        model=ibtpo.ModelConfig(d_model=32, n_layers=2, n_heads=2, n_kv_heads=1, d_ff=64, max_seq=GEN_MAX_SEQ),
        batch=GEN_BATCH, seq=GEN_SEQ, threads=1, seed=seed, warmup_steps=0, total_steps=0, lr=3e-3,
        rollout_slots=GEN_SLOTS,
    )
    return cfg.replace(**changes) if changes else cfg


def rl_config(algo: str, **changes) -> ibtpo.RLConfig:
    """2 prompts per step; GRPO G = 4, IB-TPO tree (2, 3, 1, 1) so G = 2 + 2·1·1 = 4; 24 new
    tokens; no GRPO probe tree unless asked."""
    cfg = ibtpo.RLConfig(algo=algo, prompts_per_step=2, group_size=4, tree_b0=2, tree_l=3, tree_k=1, tree_b=1,
                         probe_every=0, lr=1e-3, seed=3,
                         sampling=ibtpo.SamplingConfig(temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=24))
    return cfg.replace(**changes) if changes else cfg


def add_task(seed: int = 5) -> ibtpo.Task:
    return ibtpo.Task.builtin("add", {"digits": 1}, seed=seed)


def add_answer(prompt: str) -> str:
    """The sum of an "a+b\n" prompt, computed here (independently of the library)."""
    a, b = prompt.strip().split("+")
    return str(int(a) + int(b))


def answer_line(completion: str):
    """The text after "answer: " on the completion's last line, or None."""
    lines = completion.rstrip("\n").split("\n")
    return lines[-1][len("answer: "):] if lines and lines[-1].startswith("answer: ") else None


def verify(completion: str, answer: str) -> float:
    """docs/tasks.md's verifier for the built-in tasks, written here: the last line (after at
    most one trailing "\\n") is exactly "answer: <answer>", and no earlier line starts with
    the marker."""
    text = completion[:-1] if completion.endswith("\n") else completion
    lines = text.split("\n")
    if any(line.startswith("answer:") for line in lines[:-1]):
        return 0.0
    return 1.0 if lines[-1] == "answer: " + answer else 0.0


@pytest.fixture
def gen_trainer():
    with ibtpo.Trainer(gen_config()) as t:
        yield t


@pytest.fixture
def trainer():
    with ibtpo.Trainer(tiny_config()) as t:
        yield t
