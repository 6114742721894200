"""trainer.export: a trained pretrained model written as a Hugging Face directory and as GGUF,
read back by the library's own loaders (bit-identical log-probs for F32, the trained weights
and not the source's), with its tokenizer and chat template; the errors for bad arguments.
Uses the committed tiny fixtures (Tests/fixtures/models), so it needs no download and no torch.
(tools/interop/check_export.py compares exports against transformers itself.)"""
from __future__ import annotations

import os

import pytest

import ibtpo
from conftest import REPO, add_task

FIXTURES = os.path.join(REPO, "Tests", "fixtures", "models")
IDS = [[1, 5, 17, 42, 99, 3, 250, 7, 64, 12, 8, 300, 2, 6, 31, 77]]
def scores(t):
    return list(t.score(IDS)[0])  # lists, not numpy: numpy is optional for the binding


def maxdiff(a, b):
    assert len(a) == len(b)
    return max(abs(x - y) for x, y in zip(a, b))


TEXTS = ["Hello, world!", "  tabs\tand\nnewlines ", "1234 + 5678 = 6912", "<|im_start|>user\nhi<|im_end|>"]


def trained(name: str, steps: int = 3) -> ibtpo.Trainer:
    t = ibtpo.Trainer.from_pretrained(os.path.join(FIXTURES, name), context=128, batch=2, seq=64,
                                      threads=1, lr=1e-2, warmup_steps=0, rollout_slots=0)
    with add_task() as task:
        for _ in range(steps):
            t.step_sft(task)
    return t


@pytest.mark.parametrize("source", ["llama_tied.gguf", "qwen2_bias"])
def test_f32_exports_read_back_bit_identical(tmp_path, source):
    with trained(source) as t:
        want = scores(t)
        with ibtpo.Trainer.from_pretrained(os.path.join(FIXTURES, source), context=64, threads=1) as base:
            moved = maxdiff(scores(base), want)
        assert moved > 1e-4, "training did not change the model: the test would prove nothing"
        phases = []
        t.set_progress_fn(lambda phase, done, total: phases.append((phase, done, total)))
        for fmt, out in (("hf", tmp_path / "hf"), ("gguf", tmp_path / "m.gguf")):
            t.export(out, format=fmt)
            with ibtpo.Trainer.from_pretrained(out, context=64, threads=1) as back:
                got = scores(back)
                worst = maxdiff(got, want)
                print(f"{source} -> {fmt} f32: |d log-prob| worst {worst:.1e} (trained vs source {moved:.2e})")
                assert worst == 0.0
                assert [back.tokenize(s) for s in TEXTS] == [t.tokenize(s) for s in TEXTS]
                assert back.chat_template_source == t.chat_template_source != ""
                # A GGUF tokenizer lists the model's whole vocabulary (padding tokens added);
                # a copied tokenizer.json keeps its own size.
                st, bt = t.special_tokens(), back.special_tokens()
                assert bt["vocab"] in (st["vocab"], t.config.model.vocab)
                assert {k: bt[k] for k in ("bos", "eos", "pad")} == {k: st[k] for k in ("bos", "eos", "pad")}
        # A trainer resumed from a checkpoint of the pretrained model exports the same model.
        t.save(tmp_path / "t.ckpt")
        with ibtpo.Trainer.from_pretrained(tmp_path / "t.ckpt", context=128, batch=2, seq=64, threads=1) as r:
            r.export(tmp_path / "from_ckpt", format="hf")
        with ibtpo.Trainer.from_pretrained(tmp_path / "from_ckpt", context=64, threads=1) as back:
            assert scores(back) == want
            assert back.chat_template_source == t.chat_template_source
        assert {p[0] for p in phases} == {"export"} and phases[-1][1] == phases[-1][2] > 0
        assert sorted(os.listdir(tmp_path / "hf")) == ["config.json", "generation_config.json", "model.safetensors",
                                                      "tokenizer.json", "tokenizer_config.json"]


def test_rounded_exports_are_close(tmp_path):
    """The fixture's log-probs reach -21, so relative rounding of the weights (bf16 8 bits,
    f16 11 bits, q8_0 8 bits per block) moves them by up to ~0.1-0.3; f16 must be the closest."""
    with trained("llama_tied.gguf", steps=1) as t:
        want = scores(t)
        worst = {}
        for fmt, dtype, out, bound in (("hf", "bf16", tmp_path / "bf16", 0.5), ("gguf", "f16", tmp_path / "f16.gguf", 0.05),
                                       ("gguf", "q8_0", tmp_path / "q8.gguf", 0.5)):
            t.export(out, format=fmt, dtype=dtype)
            with ibtpo.Trainer.from_pretrained(out, context=64, threads=1) as back:
                worst[dtype] = maxdiff(scores(back), want)
            print(f"{fmt} {dtype}: |d log-prob| worst {worst[dtype]:.2e} (bound {bound}; log-probs down to {min(want):.1f})")
            assert 0 < worst[dtype] < bound
        assert worst["f16"] < worst["bf16"] and worst["f16"] < worst["q8_0"]


def test_a_byte_level_model_exports_without_tokenizer(tmp_path):
    cfg = ibtpo.TrainerConfig(model=ibtpo.ModelConfig(d_model=32, n_layers=1, n_heads=2, n_kv_heads=1, d_ff=64,
                                                       max_seq=32), batch=1, seq=16, threads=1)
    with ibtpo.Trainer(cfg) as t:
        t.export(tmp_path / "m", format="hf")
        assert sorted(os.listdir(tmp_path / "m")) == ["config.json", "generation_config.json", "model.safetensors"]
        t.export(tmp_path / "m.gguf", format="gguf", dtype="F16")  # dtype in any case
        assert (tmp_path / "m.gguf").stat().st_size > 0


def test_bad_arguments_are_clear_errors_and_write_nothing(tmp_path):
    with ibtpo.Trainer.from_pretrained(os.path.join(FIXTURES, "llama_tied.gguf"), context=64, threads=1) as t:
        cases = [(dict(format="onnx"), ibtpo.InvalidArgumentError, "format must be hf or gguf"),
                 (dict(format="gguf", dtype="bf16"), ibtpo.InvalidArgumentError, "gguf takes dtype f32, f16 or q8_0"),
                 (dict(format="hf", dtype="q8_0"), ibtpo.InvalidArgumentError, "hf takes dtype f32 or bf16")]
        for kw, cls, msg in cases:
            with pytest.raises(cls, match=msg):
                t.export(tmp_path / "x", **kw)
        with pytest.raises(TypeError):
            t.export(tmp_path / "x", format=None)
        (tmp_path / "file").write_text("not a directory")
        with pytest.raises(ibtpo.IBTPOError, match="file") as e:
            t.export(tmp_path / "file", format="hf")
        assert e.value.code == ibtpo.ERR_IO
        assert sorted(os.listdir(tmp_path)) == ["file"]
    with pytest.raises(ibtpo.InvalidArgumentError, match="closed"):
        t.export(tmp_path / "y")
