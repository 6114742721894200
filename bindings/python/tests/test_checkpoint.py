"""save/load: exact resume, corrupt files, I/O errors and configuration mismatch."""
from __future__ import annotations

import os

import pytest

import ibtpo

from conftest import random_batch, tiny_config


def _strip(stats):
    return {k: v for k, v in stats.items() if k != "seconds"}


@pytest.fixture
def checkpoint(tmp_path):
    """A checkpoint after 2 steps, and the stats of 3 further steps on the same trainer."""
    path = tmp_path / "a.ckpt"
    with ibtpo.Trainer(tiny_config(seed=7)) as a:
        a.step_supervised(*random_batch(1))
        a.step_supervised(*random_batch(2))
        a.save(path)
        after = [_strip(a.step_supervised(*random_batch(3 + k))) for k in range(3)]
    return path, after


def test_resume_is_bit_identical(checkpoint):
    path, after = checkpoint
    with ibtpo.Trainer(tiny_config(seed=99)) as b:  # another seed: load must overwrite the init
        b.load(path)
        assert b.step == 2
        resumed = [_strip(b.step_supervised(*random_batch(3 + k))) for k in range(3)]
    assert resumed == after  # loss, grad_norm, lr as float32 bits, step and tokens
    assert [s["step"] for s in resumed] == [3, 4, 5]


def test_path_types(checkpoint, tmp_path):
    path, after = checkpoint
    with ibtpo.Trainer(tiny_config()) as t:
        t.load(str(path))
        t.load(os.fsencode(str(path)))
        t.save(tmp_path / "b.ckpt")
        assert (tmp_path / "b.ckpt").read_bytes() == path.read_bytes()
        with pytest.raises(ibtpo.InvalidArgumentError, match="NUL"):
            t.save(str(tmp_path / "x\0y"))
        with pytest.raises(ibtpo.InvalidArgumentError):
            t.load(42)


def _corruptions(good: bytes):
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0x10
    return {
        "text": b"this is not a checkpoint\n",
        "empty": b"",
        "truncated-8": good[:8],
        "truncated-half": good[: len(good) // 2],
        "truncated-1": good[:-1],
        "flipped-bit": bytes(flipped),
        "trailing": good + b"trailing",
    }


def test_bad_checkpoints_are_rejected_and_change_nothing(checkpoint, tmp_path):
    path, after = checkpoint
    good = path.read_bytes()
    bad = tmp_path / "bad.ckpt"
    with ibtpo.Trainer(tiny_config()) as t:
        t.load(path)
        for name, data in _corruptions(good).items():
            bad.write_bytes(data)
            with pytest.raises(ibtpo.IBTPOError) as e:
                t.load(bad)
            assert e.value.code == ibtpo.ERR_BAD_CHECKPOINT, name
            assert e.value.status == "IBTPO_ERR_BAD_CHECKPOINT" and e.value.message, name
        assert t.step == 2
        assert _strip(t.step_supervised(*random_batch(3))) == after[0]


def test_io_errors(tmp_path, trainer):
    for p in ("", tmp_path / "missing.ckpt", tmp_path):
        with pytest.raises(ibtpo.IBTPOError) as e:
            trainer.load(p)
        assert e.value.code == ibtpo.ERR_IO and e.value.message
    with pytest.raises(ibtpo.IBTPOError) as e:
        trainer.save(tmp_path / "no-such-dir" / "x.ckpt")
    assert e.value.code == ibtpo.ERR_IO
    assert trainer.step == 0


def test_config_mismatch_both_ways(checkpoint, tmp_path):
    path, _ = checkpoint
    other = tmp_path / "other.ckpt"
    with ibtpo.Trainer(tiny_config(model={"d_model": 64})) as o:
        with pytest.raises(ibtpo.IBTPOError) as e:
            o.load(path)
        assert e.value.code == ibtpo.ERR_CONFIG_MISMATCH and e.value.message
        assert o.step == 0
        o.save(other)
    with ibtpo.Trainer(tiny_config()) as t:
        with pytest.raises(ibtpo.IBTPOError) as e:
            t.load(other)
        assert e.value.code == ibtpo.ERR_CONFIG_MISMATCH
        assert t.step == 0
