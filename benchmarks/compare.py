#!/usr/bin/env python3
"""Print libibtpo / PyTorch speed ratios from one `make bench-peers` run.

Reads the parseable lines of benchmarks/peers/run.sh (`peer=... key=value ...`) and of
`ibtpo bench` (`bench kind=... key=value ...`) from the files given (or stdin) and prints,
for each (workload, config, threads[, seqs]), libibtpo's tokens/s, the best PyTorch
variant's tokens/s (HF eager/sdpa, plain module: the strongest baseline) and the ratio.
For `grpo-it` (one full GRPO iteration, TRL's GRPOTrainer as the peer) the numbers are
iterations per second.
Standard library only.
"""
import sys


def parse(lines):
    rows = []
    for line in lines:
        parts = line.split()
        if not parts or not (parts[0].startswith("peer=") or parts[0] == "bench"):
            continue
        kv = dict(p.split("=", 1) for p in parts if "=" in p)
        rows.append(kv)
    return rows


def main():
    lines = []
    for path in sys.argv[1:] or ["-"]:
        lines += (sys.stdin if path == "-" else open(path)).read().splitlines()
    rows = parse(lines)
    ours, peers = {}, {}
    for r in rows:
        tps = float(r.get("tokens_per_s", "nan"))
        if r.get("kind") == "train":
            ours.setdefault(("train", r["config"], r["threads"], "-"), []).append(tps)
        elif r.get("kind") == "decode":
            ours.setdefault(("decode", r["config"], r["threads"], r["seqs"]), []).append(tps)
        elif r.get("peer") == "torch-train":
            peers.setdefault(("train", r["config"], r["threads"], "-"), []).append((tps, f"{r.get('impl')}/{r.get('attn')}"))
        elif r.get("kind") == "grpo-iteration":
            ours.setdefault(("grpo-it", r["config"], r["threads"], "-"), []).append(1.0 / float(r["s_per_iter"]))
        elif r.get("peer") == "trl-grpo":
            peers.setdefault(("grpo-it", r["config"], r["threads"], "-"), []).append((1.0 / float(r["s_per_iter"]), "trl"))
        elif r.get("peer") == "hf-generate":
            peers.setdefault(("decode", r["config"], r["threads"], r["seqs"]), []).append((tps, f"hf/{r.get('attn')}"))
    print(f"{'workload':8} {'config':6} {'thr':>3} {'seqs':>4} {'libibtpo tok/s':>15} {'pytorch tok/s':>14} {'(variant)':14} {'ratio':>6}")
    for key in sorted(set(ours) | set(peers)):
        o = sorted(ours.get(key, []))
        p = peers.get(key, [])
        om = o[len(o) // 2] if o else float("nan")
        best = max(p) if p else (float("nan"), "-")
        ratio = om / best[0] if p and o else float("nan")
        d = 2 if key[0] == "grpo-it" else 0
        print(f"{key[0]:8} {key[1]:6} {key[2]:>3} {key[3]:>4} {om:15.{d}f} {best[0]:14.{d}f} {best[1]:14} {ratio:6.2f}")


if __name__ == "__main__":
    main()
