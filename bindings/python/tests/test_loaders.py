"""Loads that refuse impossible state (issue 12), seen from Python: checkpoints with state no
trainer writes, non-regular JSONL files, NUL in a prompt, NFC/NFD keys, and tree advantages
whose outputs could not be finite."""
from __future__ import annotations

import math
import os
import struct
import zlib

import pytest

import ibtpo

from conftest import random_batch, tiny_config


def _reseal(b: bytearray) -> bytes:
    b[-4:] = struct.pack("<I", zlib.crc32(bytes(b[:-4])))
    return bytes(b)


def _first_data_offset(b: bytes) -> int:
    """Offset of the first float of the first tensor record (docs/checkpoint-format.md)."""
    pos = 140
    (n,) = struct.unpack_from("<I", b, pos)
    pos += 4 + n
    (rank,) = struct.unpack_from("<I", b, pos)
    return pos + 4 + 8 * rank + 8


def test_impossible_checkpoints_are_refused(tmp_path):
    path, bad = tmp_path / "a.ckpt", tmp_path / "bad.ckpt"
    with ibtpo.Trainer(tiny_config(seed=3)) as t:
        t.step_supervised(*random_batch(1))
        t.save(path)
        good = path.read_bytes()
        w = _first_data_offset(good)
        cases = {
            "NaN weight": (w, struct.pack("<f", math.nan), "finite"),
            "inf weight": (w + 4, struct.pack("<f", math.inf), "finite"),
            "zero RNG": (104, bytes(32), "RNG"),
            "tie_embeddings 2": (16 + 7 * 8, struct.pack("<q", 2), "tie_embeddings"),
            "reserved 1": (16 + 8 * 8, struct.pack("<q", 1), "reserved"),
            "step INT64_MAX": (96, struct.pack("<q", 2**63 - 1), "step"),
        }
        for name, (at, data, word) in cases.items():
            b = bytearray(good)
            b[at:at + len(data)] = data
            bad.write_bytes(_reseal(b))
            with pytest.raises(ibtpo.IBTPOError) as e:
                t.load(bad)
            assert e.value.code == ibtpo.ERR_BAD_CHECKPOINT, name
            assert e.value.message.startswith(str(bad) + ": ") and word in e.value.message, (name, e.value.message)
        assert t.step == 1


def test_jsonl_must_be_a_regular_file(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for p in ("/dev/zero", "/dev/urandom", fifo):
        with pytest.raises(ibtpo.IBTPOError) as e:
            ibtpo.Task.from_jsonl(p, 64)
        assert e.value.code == ibtpo.ERR_IO and "not a regular file" in e.value.message, e.value.message


def test_jsonl_nul_and_exact_keys(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text('{"prompt": "1+1\\n", "answer": "2", "split": "train", "\\u00e9": 1, "e\\u0301": 2}\n'
                 '{"prompt": "2+2\\n", "answer": "4", "split": "test"}\n')
    ibtpo.Task.from_jsonl(p, 64).close()  # NFC and NFD é are two keys, not a duplicate
    p.write_text('{"prompt": "1+1\\n", "answer": "2", "split": "train"}\n'
                 '{"prompt": "2+\\u00002\\n", "answer": "4", "split": "test"}\n')
    with pytest.raises(ibtpo.IBTPOError) as e:
        ibtpo.Task.from_jsonl(p, 64)
    assert e.value.code == ibtpo.ERR_BAD_DATA and f"{p}:2:" in e.value.message and "NUL" in e.value.message


@pytest.mark.parametrize("setting", [{"beta": 1e-310}, {"lambda_": 1e308}, {"ratio_when_parent_zero": 1e308}])
def test_tree_advantages_refuse_non_finite_outputs(setting):
    # leaves 3..6 under node 1 (reward 0) and 7 under node 2 (reward 1): p̂(root) = 1/5, r(2) = 5
    parents = [-1, 0, 0, 1, 1, 1, 1, 2]
    counts = [0, 2, 3, 1, 1, 2, 1, 4]
    logps = [0, -0.5, -0.2, -1.0, -0.3, -0.1, -0.7, -0.4]
    rewards = [0, 0, 0, 0, 0, 0, 0, 1]
    ibtpo.tree_advantages(parents, counts, logps, rewards, ibtpo.RLConfig())
    with pytest.raises(ibtpo.InvalidArgumentError, match="finite"):
        ibtpo.tree_advantages(parents, counts, logps, rewards, ibtpo.RLConfig(**setting))
