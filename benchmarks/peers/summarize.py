#!/usr/bin/env python3
"""Summarise repeated `peer=...` lines (stdin or files): median per measurement key.

Lines are grouped by every field except the measured values and noise fields. Runs whose
foreign_cpu (CPU used by other processes during the run) exceeds --max-foreign are
dropped from the 'clean' median and counted separately.

  python3 summarize.py results.txt            # table
  python3 summarize.py --lines results.txt    # one `peer=... median...` line per group
"""
import argparse
import fileinput
import statistics
import sys
from collections import OrderedDict

VALUE_KEYS = {"tokens_per_s", "step_ms", "min_step_ms", "call_ms", "min_call_ms", "s_per_iter", "min_s_per_iter",
              "completion_tokens_per_s", "loss", "foreign_cpu", "idle_before", "repeats", "iters"}
MAIN = {"torch-train": "tokens_per_s", "hf-generate": "tokens_per_s", "trl-grpo": "s_per_iter"}
SHOW = ["peer", "impl", "attn", "mode", "config", "threads", "seqs", "omp_wait"]


def fmt(v):
    return f"{v:.1f}" if abs(v) >= 100 else f"{v:.3f}"


def parse(line):
    kv = OrderedDict()
    for part in line.split():
        if "=" in part:
            k, v = part.split("=", 1)
            kv[k] = v
    return kv


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--max-foreign", type=float, default=0.10)
    p.add_argument("--lines", action="store_true")
    p.add_argument("files", nargs="*")
    a = p.parse_args()
    groups = OrderedDict()
    for line in fileinput.input(a.files):
        if not line.startswith("peer="):
            continue
        kv = parse(line)
        key = tuple((k, v) for k, v in kv.items() if k not in VALUE_KEYS)
        groups.setdefault(key, []).append(kv)
    rows = []
    for key, runs in groups.items():
        d = dict(key)
        m = MAIN[d["peer"]]
        clean = [float(r[m]) for r in runs if float(r.get("foreign_cpu", 0)) <= a.max_foreign]
        allv = [float(r[m]) for r in runs]
        rows.append((d, m, clean, allv))
    if a.lines:
        for d, m, clean, allv in rows:
            vals = clean or allv
            print(" ".join(f"{k}={v}" for k, v in d.items()) +
                  f" {m}_median={fmt(statistics.median(vals))} n={len(vals)} n_noisy={len(allv) - len(clean)}")
        return
    hdr = SHOW + ["metric", "median_clean", "n_clean", "min..max_clean", "median_all", "n_all"]
    print("| " + " | ".join(hdr) + " |")
    print("|" + "---|" * len(hdr))
    for d, m, clean, allv in rows:
        rng = f"{fmt(min(clean))}..{fmt(max(clean))}" if clean else "-"
        med_c = fmt(statistics.median(clean)) if clean else "-"
        cells = [d.get(k, "") for k in SHOW] + [m, med_c, str(len(clean)), rng,
                                                 fmt(statistics.median(allv)), str(len(allv))]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    sys.exit(main())
