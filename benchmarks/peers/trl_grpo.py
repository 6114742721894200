#!/usr/bin/env python3
"""TRL GRPOTrainer peer benchmark: seconds per full GRPO iteration on CPU (tiny config).

One iteration = 8 prompts x 8 sampled completions (temperature 1, exactly 32 new tokens:
min_new_tokens = max_completion_length), reward computation, advantage normalisation,
log-prob forward/backward over the 64 sequences and one AdamW step (beta=0: no reference
model, TRL's default). The model is HF LlamaForCausalLM (random weights, same config as
libibtpo's tiny) and the tokenizer is a byte-level tokenizer built in-process (ids 0..255 =
bytes, 256/257/258 = BOS/EOS/PAD), so nothing is downloaded.

Iteration time = wall time between consecutive Trainer `on_step_end` callbacks; the first
--warmup iterations are dropped; median reported.

Output: peer=trl-grpo config=tiny threads=2 s_per_iter=... completion_tokens_per_s=...
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import peer_common as pc  # noqa: E402

PROMPTS, GENS, NEW = 8, 8, 32


def byte_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import PreTrainedTokenizerFast

    alphabet = ByteLevel.alphabet()  # 256 printable stand-ins for the bytes (GPT-2 mapping)
    # Recreate GPT-2's bytes_to_unicode so that id == byte value.
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    b2u = {b: chr(c) for b, c in zip(bs, cs)}
    assert set(b2u.values()) == set(alphabet)
    vocab = {b2u[b]: b for b in range(256)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>")
    fast.add_special_tokens({"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>"})
    assert (fast.bos_token_id, fast.eos_token_id, fast.pad_token_id) == (pc.BOS, pc.EOS, pc.PAD), (
        fast.bos_token_id, fast.eos_token_id, fast.pad_token_id)
    assert fast("hi!", add_special_tokens=False)["input_ids"] == [104, 105, 33]
    assert len(fast) == pc.VOCAB
    return fast


def reward_lowercase(completions, **kw):
    """Toy reward: fraction of lowercase ASCII letters in the completion."""
    return [sum(ch.islower() for ch in c) / max(1, len(c)) for c in completions]


def child(a):
    pc.set_threads_env(a.threads)
    warnings.filterwarnings("ignore")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import random

    import torch
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer
    import trl

    pc.set_torch_threads(torch, a.threads)
    tok = byte_tokenizer()
    model = pc.build_hf_model(torch, "tiny", a.attn)
    rng = random.Random(0)
    iters = a.warmup + a.iters
    words = ["count", "the", "apples", "and", "pears", "in", "basket", "number", "two", "sum"]
    prompts = [" ".join(rng.choice(words) for _ in range(3))[:16].ljust(16) for _ in range(PROMPTS * (iters + 2))]
    ds = Dataset.from_dict({"prompt": prompts})

    class Timer(TrainerCallback):
        def __init__(self):
            self.ends = []

        def on_train_begin(self, args, state, control, **kw):
            self.t0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            self.ends.append(time.perf_counter())

    timer = Timer()
    with tempfile.TemporaryDirectory() as out:
        cfg = GRPOConfig(
            output_dir=out,
            per_device_train_batch_size=PROMPTS * GENS,
            gradient_accumulation_steps=1,
            num_generations=GENS,
            max_completion_length=NEW,
            temperature=1.0,
            generation_kwargs={"min_new_tokens": NEW},
            learning_rate=1e-5,
            max_steps=iters,
            logging_steps=1,
            save_strategy="no",
            report_to="none",
            use_cpu=True,
            bf16=False,
            fp16=False,
            dataloader_num_workers=0,
            disable_tqdm=True,
            seed=0,
        )
        trainer = GRPOTrainer(model=model, reward_funcs=[reward_lowercase], args=cfg, train_dataset=ds,
                              processing_class=tok, callbacks=[timer])
        # Trainer prints its log dicts on stdout; keep stdout for the parseable line only.
        real_stdout, sys.stdout = sys.stdout, sys.stderr
        try:
            with pc.ForeignCPU() as noise:
                trainer.train()
        finally:
            sys.stdout = real_stdout
    starts = [timer.t0] + timer.ends[:-1]
    durs = [e - s for s, e in zip(starts, timer.ends)][a.warmup:]
    med = pc.median(durs)
    pc.emit(peer="trl-grpo", config="tiny", attn=a.attn, threads=a.threads, prompts=PROMPTS, completions=GENS,
            new_tokens=NEW, s_per_iter=med, min_s_per_iter=min(durs),
            completion_tokens_per_s=PROMPTS * GENS * NEW / med, iters=len(durs), trl=trl.__version__,
            foreign_cpu=noise.value)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", default="1,2")
    p.add_argument("--attn", default="sdpa")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--iters", type=int, default=5)
    a = pc.parse_or_run_child(p, child)
    rc = 0
    for th in a.threads.split(","):
        cmd = [sys.executable, os.path.abspath(__file__), "--child", "--threads", th, "--attn", a.attn,
               "--warmup", str(a.warmup), "--iters", str(a.iters)]
        env = dict(os.environ, PEERS_IDLE_BEFORE=f'{pc.wait_idle():.2f}')
        rc |= subprocess.run(cmd, env=env).returncode
    return rc


if __name__ == "__main__":
    sys.exit(main())
