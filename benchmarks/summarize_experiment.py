#!/usr/bin/env python3
"""Summarise benchmarks/experiment.sh logs: per method, the final held-out greedy and avg@k
(mean and spread over seeds), mean Eff-Rate, mean IB-Score and Cov(η1, η2) over the run and
over its last quarter, steps and generated tokens. Standard library only.

    python3 benchmarks/summarize_experiment.py runs/experiment/countdown
"""
import glob
import json
import os
import re
import statistics
import sys


def load(path):
    steps, evals = [], []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            rec = json.loads(line)
            (evals if "eval_greedy" in rec else steps).append(rec)
    return steps, evals


def mean(xs):
    xs = [x for x in xs if x is not None]
    return statistics.fmean(xs) if xs else float("nan")


def spread(xs):
    return (min(xs), max(xs)) if xs else (float("nan"), float("nan"))


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "runs/experiment/countdown"
    runs = {}
    for path in sorted(glob.glob(os.path.join(root, "*.jsonl"))):
        m = re.match(r"(.+)-s(\d+)\.jsonl$", os.path.basename(path))
        if not m:
            continue
        steps, evals = load(path)
        if not evals or not steps or evals[-1]["step"] != steps[-1]["step"]:
            continue  # unfinished run (the final evaluation follows the last step)
        runs.setdefault(m.group(1), []).append((int(m.group(2)), steps, evals[-1], evals))
    print(f"{'method':16} {'seeds':>5} {'steps':>6} {'tokens':>8} {'greedy %':>16} {'avg@k %':>16} "
          f"{'Eff-Rate':>8} {'IB':>7} {'Cov':>9} {'Cov last¼':>9}")
    for method, rs in sorted(runs.items()):
        g = [r[2]["eval_greedy"] * 100 for r in rs]
        a = [r[2]["eval_avg_at_k"] * 100 for r in rs]
        eff = mean([s["eff_rate"] for r in rs for s in r[1]])
        ib = mean([s.get("ib_score") for r in rs for s in r[1]])
        cov = mean([s.get("ib_cov") for r in rs for s in r[1]])
        cov_last = mean([s.get("ib_cov") for r in rs for s in r[1][3 * len(r[1]) // 4:]])
        nsteps = mean([len(r[1]) for r in rs])
        toks = mean([r[1][-1]["generated_tokens_total"] for r in rs if r[1]])
        gs, as_ = spread(g), spread(a)
        print(f"{method:16} {len(rs):5d} {nsteps:6.0f} {toks:8.0f} {mean(g):6.1f} [{gs[0]:.1f},{gs[1]:.1f}] "
              f"{mean(a):6.1f} [{as_[0]:.1f},{as_[1]:.1f}] {eff:8.2f} {ib:7.3f} {cov:9.5f} {cov_last:9.5f}")

    # Held-out avg@k against generated tokens: mean over seeds at each evaluation point.
    print("\nheld-out avg@k % by evaluation point (mean over seeds; tokens = mean generated tokens so far)")
    for method, rs in sorted(runs.items()):
        n = min(len(r[3]) for r in rs)
        pts = []
        for i in range(n):
            toks = mean([r[3][i]["generated_tokens_total"] for r in rs]) / 1000
            pts.append(f"{toks:.0f}k:{mean([r[3][i]['eval_avg_at_k'] * 100 for r in rs]):.1f}")
        print(f"{method:16} " + "  ".join(pts))

    # Entropy and Cov(η1, η2) in the first and last quarter of training.
    print("\nquarter means (first → last): entropy, Cov(η1, η2), Eff-Rate, KL")
    for method, rs in sorted(runs.items()):
        def q(key, last):
            vals = []
            for r in rs:
                k = len(r[1]) // 4
                part = r[1][-k:] if last else r[1][:k]
                vals += [x.get(key) for x in part]
            return mean(vals)
        print(f"{method:16} entropy {q('entropy', False):.3f} → {q('entropy', True):.3f}   "
              f"Cov {q('ib_cov', False):+.4f} → {q('ib_cov', True):+.4f}   "
              f"Eff {q('eff_rate', False):.2f} → {q('eff_rate', True):.2f}   KL {q('kl', False):.4f} → {q('kl', True):.4f}")


if __name__ == "__main__":
    main()
