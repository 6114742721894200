#!/usr/bin/env bash
# 2-thread training speed of libibtpo and PyTorch, idle vs with one busy process (a 1-thread
# spin loop) on the machine, alternating, ROUNDS times (default 2). Needs `make build` and the
# peers venv (bash benchmarks/peers/setup.sh). Prints one line per round and condition.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PEERS_VENV:-benchmarks/.venv}/bin/python"
ours() { dist/bin/ibtpo bench --models tiny --threads-list 2 --steps 8 --repeats 3 2>&1 | grep kind=train | grep -o 'tokens_per_s=[0-9.]*'; }
torch() { "$PY" benchmarks/peers/torch_train.py --configs tiny --threads 2 --impl plain --attn sdpa 2>/dev/null | grep -o 'tokens_per_s=[0-9.]*'; }
for r in $(seq 1 "${ROUNDS:-2}"); do
  echo "round $r idle ours $(ours) torch $(torch)"
  ( while :; do :; done ) & busy=$!
  sleep 1
  echo "round $r busy ours $(ours) torch $(torch)"
  kill "$busy"; wait "$busy" 2>/dev/null || true
done
