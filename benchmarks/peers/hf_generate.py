#!/usr/bin/env python3
"""HF transformers `generate` throughput peer benchmark (CPU, float32, random weights).

For each config and number of concurrent sequences S, a batch of S random byte prompts
(prompt length 16) is extended by exactly 64 new tokens (min_new_tokens = max_new_tokens,
so EOS never ends a sequence early) with use_cache=True (DynamicCache), greedy by default
(--sample for multinomial sampling at temperature 1, top_k=0, top_p=1).
tokens_per_s = S*64 / median(wall time of one generate() call); the time includes the
prompt prefill. One warm-up call, then at least --repeats timed calls and at least --min-time seconds.

Each (config, threads) pair runs in its own child process.

Output: peer=hf-generate config=tiny threads=2 seqs=8 tokens_per_s=... call_ms=...
"""
import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import peer_common as pc  # noqa: E402


def child(a):
    pc.set_threads_env(a.threads)
    import torch

    pc.set_torch_threads(torch, a.threads)
    model = pc.build_hf_model(torch, a.config, a.attn)
    model.eval()
    g = torch.Generator().manual_seed(2)
    for S in [int(s) for s in a.seqs.split(",")]:
        prompts = torch.randint(0, 256, (S, a.prompt_len), generator=g)
        prompts[:, 0] = pc.BOS
        mask = torch.ones_like(prompts)
        kw = dict(
            max_new_tokens=a.new_tokens,
            min_new_tokens=a.new_tokens,
            use_cache=True,
            pad_token_id=pc.PAD,
            eos_token_id=pc.EOS,
            bos_token_id=pc.BOS,
        )
        if a.sample:
            kw.update(do_sample=True, temperature=1.0, top_k=0, top_p=1.0)
        else:
            kw.update(do_sample=False)
        times, foreign = pc.time_generate(torch, model, prompts, mask, kw, a.new_tokens, a.repeats,
                                          min_time=a.min_time, max_repeats=a.max_repeats)
        med = pc.median(times)
        pc.emit(
            peer="hf-generate",
            attn=a.attn,
            mode="sample" if a.sample else "greedy",
            config=a.config,
            threads=a.threads,
            seqs=S,
            tokens_per_s=S * a.new_tokens / med,
            call_ms=med * 1e3,
            min_call_ms=min(times) * 1e3,
            prompt_len=a.prompt_len,
            new_tokens=a.new_tokens,
            repeats=len(times),
            foreign_cpu=foreign,
        )


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", default="tiny,small")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--seqs", default="1,8,64")
    p.add_argument("--attn", default="sdpa", help="comma list of sdpa,eager")
    p.add_argument("--prompt-len", type=int, default=16)
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--repeats", type=int, default=5, help="minimum timed calls")
    p.add_argument("--min-time", type=float, default=3.0, help="keep repeating until this many seconds are timed")
    p.add_argument("--max-repeats", type=int, default=40)
    p.add_argument("--sample", action="store_true")
    p.add_argument("--config", help=argparse.SUPPRESS)
    a = pc.parse_or_run_child(p, child)
    rc = 0
    for cfg in a.configs.split(","):
        for attn in a.attn.split(","):
            for th in a.threads.split(","):
                cmd = [sys.executable, os.path.abspath(__file__), "--child", "--config", cfg, "--threads", th,
                       "--seqs", a.seqs, "--attn", attn, "--prompt-len", str(a.prompt_len),
                       "--new-tokens", str(a.new_tokens), "--repeats", str(a.repeats),
                       "--min-time", str(a.min_time), "--max-repeats", str(a.max_repeats)]
                if a.sample:
                    cmd.append("--sample")
                env = dict(os.environ, PEERS_IDLE_BEFORE=f'{pc.wait_idle():.2f}')
                rc |= subprocess.run(cmd, env=env).returncode
    return rc


if __name__ == "__main__":
    sys.exit(main())
