"""Shared helpers: a tiny model so every test stays fast."""
from __future__ import annotations

import os

import pytest

import ibtpo

REPO = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
HEADER = os.path.join(REPO, "include", "ibtpo.h")

BATCH, SEQ = 4, 16


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


@pytest.fixture
def trainer():
    with ibtpo.Trainer(tiny_config()) as t:
        yield t
