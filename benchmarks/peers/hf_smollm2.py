#!/usr/bin/env python3
"""HF transformers on the real model: SmolLM2-135M-Instruct loaded from the same GGUF file
libibtpo reads (transformers dequantises it to float32), then `generate` at 1, 8 and 64
concurrent sequences, the peer of `ibtpo bench --decode --model M`.

Same work as libibtpo's decode bench: S random prompts of 16 token ids below 256, exactly 64
new tokens each (min_new_tokens = max_new_tokens, so EOS never ends a row early), multinomial
sampling at temperature 1 (top_k=0, top_p=1), KV cache on, prefill included in the time.
tokens_per_s = S*64 / median(wall time of one generate call), after one warm-up call.
load_s is from_pretrained on the GGUF (a fresh process: imports excluded, file in page cache).

  hf_smollm2.py --model PATH.gguf [--threads 2] [--seqs 1,8,64] [--repeats 3] [--attn sdpa]
Output: peer=hf-smollm2 kind=load ... / peer=hf-smollm2 kind=decode threads=2 seqs=8 tokens_per_s=...
"""
import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import peer_common as pc  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seqs", default="1,8,64")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--prompt-len", type=int, default=16)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--attn", default="sdpa")
    a = ap.parse_args()
    pc.set_threads_env(a.threads)
    import torch
    from transformers import AutoModelForCausalLM

    pc.set_torch_threads(torch, a.threads)
    path = os.path.abspath(a.model)
    t0 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path),
                                                 torch_dtype=torch.float32, attn_implementation=a.attn)
    load = time.perf_counter() - t0
    model.eval()
    pc.emit(peer="hf-smollm2", kind="load", threads=a.threads, seconds=load,
            parameters=sum(p.numel() for p in model.parameters()))
    g = torch.Generator().manual_seed(2)
    eos = model.config.eos_token_id
    for S in [int(s) for s in a.seqs.split(",")]:
        prompts = torch.randint(0, 256, (S, a.prompt_len), generator=g)
        mask = torch.ones_like(prompts)
        kw = dict(max_new_tokens=a.new_tokens, min_new_tokens=a.new_tokens, use_cache=True, do_sample=True,
                  temperature=1.0, top_k=0, top_p=1.0, pad_token_id=eos, eos_token_id=eos)
        times, foreign = pc.time_generate(torch, model, prompts, mask, kw, a.new_tokens, a.repeats)
        med = pc.median(times)
        pc.emit(peer="hf-smollm2", kind="decode", attn=a.attn, threads=a.threads, seqs=S,
                tokens_per_s=S * a.new_tokens / med, call_ms=med * 1e3, repeats=len(times), foreign_cpu=foreign)


if __name__ == "__main__":
    main()
