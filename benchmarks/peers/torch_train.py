#!/usr/bin/env python3
"""PyTorch training-throughput peer benchmark.

One training step = forward + backward + AdamW step, cross-entropy (mean) over all
batch*seq next-token predictions, float32, random weights and random byte tokens.
tokens_per_s = batch*seq / median(step time).

Each (config, threads) pair runs in its own child process so that the OpenMP/MKL
thread pools are created with exactly that thread count.

Output (stdout), one line per measurement, e.g.
  peer=torch-train impl=hf attn=sdpa config=tiny threads=2 tokens_per_s=10234.5 step_ms=200.1 ...
"""
import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import peer_common as pc  # noqa: E402


def child(a):
    pc.set_threads_env(a.threads)
    import torch
    import torch.nn.functional as F

    pc.set_torch_threads(torch, a.threads)
    c = pc.CONFIGS[a.config]
    B, T = c["batch"], c["seq"]
    if a.impl == "hf":
        model = pc.build_hf_model(torch, a.config, a.attn)

        def logits_of(x):
            return model(input_ids=x, use_cache=False).logits
    else:
        from plain_llama import PlainLlama

        torch.manual_seed(0)
        model = PlainLlama(pc.VOCAB, c["d_model"], c["n_layers"], c["n_heads"], c["n_kv_heads"], c["d_ff"], T)

        def logits_of(x):
            return model(x)

    model.train()
    opt_kw = {}
    if a.adamw == "fused":
        opt_kw["fused"] = True
    elif a.adamw == "foreach":
        opt_kw["foreach"] = True
    elif a.adamw == "loop":
        opt_kw["foreach"] = False
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0, **opt_kw)
    g = torch.Generator().manual_seed(1)
    data = torch.randint(0, 256, (a.warmup + a.steps, B, T + 1), generator=g)

    times, losses = [], []
    noise = pc.ForeignCPU().__enter__()
    for i in range(a.warmup + a.steps):
        x, y = data[i, :, :-1], data[i, :, 1:]
        t0 = time.perf_counter()
        logits = logits_of(x)
        loss = F.cross_entropy(logits.reshape(-1, pc.VOCAB), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        dt = time.perf_counter() - t0
        losses.append(loss.item())
        if i >= a.warmup:
            times.append(dt)
    noise.__exit__(None, None, None)
    med = pc.median(times)
    pc.emit(
        peer="torch-train",
        impl=a.impl,
        attn=(a.attn if a.impl == "hf" else "sdpa"),
        adamw=a.adamw,
        config=a.config,
        threads=a.threads,
        tokens_per_s=B * T / med,
        step_ms=med * 1e3,
        min_step_ms=min(times) * 1e3,
        steps=a.steps,
        params=pc.n_params(model),
        loss=losses[-1],
        torch=torch.__version__,
        foreign_cpu=noise.value,
    )


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", default="tiny,small")
    p.add_argument("--threads", default="1,2", help="comma list; each runs in its own process")
    p.add_argument("--impl", default="hf", help="comma list of hf,plain")
    p.add_argument("--attn", default="sdpa", help="HF attention implementation(s): sdpa,eager")
    p.add_argument("--adamw", default="default", help="default|fused|foreach|loop (comma list)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--steps", type=int, default=0, help="timed steps (0 = per-config default)")
    p.add_argument("--config", help=argparse.SUPPRESS)
    a = pc.parse_or_run_child(p, child)
    rc = 0
    for cfg in a.configs.split(","):
        steps = a.steps or {"tiny": 20, "small": 6}[cfg]
        for impl in a.impl.split(","):
            attns = a.attn.split(",") if impl == "hf" else ["sdpa"]
            for attn in attns:
                for adamw in a.adamw.split(","):
                    for th in a.threads.split(","):
                        cmd = [sys.executable, os.path.abspath(__file__), "--child", "--config", cfg,
                               "--threads", th, "--impl", impl, "--attn", attn, "--adamw", adamw,
                               "--warmup", str(a.warmup), "--steps", str(steps)]
                        env = dict(os.environ, PEERS_IDLE_BEFORE=f'{pc.wait_idle():.2f}')
                        r = subprocess.run(cmd, env=env)
                        rc |= r.returncode
    return rc


if __name__ == "__main__":
    sys.exit(main())
