#!/usr/bin/env bash
# PyTorch peer benchmarks: one command for `make bench-peers`.
# stdout: only parseable `peer=... key=value ...` lines; everything else goes to stderr.
#
# Environment knobs:
#   PEERS_THREADS   thread counts to measure          (default "1,2")
#   PEERS_CONFIGS   model configs                     (default "tiny,small")
#   PEERS_TRL       1 = also install TRL and run trl_grpo.py (default 1; 0 skips it)
#   PEERS_QUICK     1 = few steps/repeats (smoke test, numbers not meaningful)
#   PEERS_IDLE_WAIT max seconds to wait for an idle machine before each measurement (default 120)
#   PEERS_ROUNDS    repeat the whole suite N times (default 1); summarise with summarize.py
#   PEERS_ATTN      HF attention implementation(s) (default "eager,sdpa": neither wins everywhere, see README;
#                   TRL uses the first one)
#   PEERS_VENV      virtualenv location (default benchmarks/.venv)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export PEERS_VENV="${PEERS_VENV:-$HERE/../.venv}"
PY="$PEERS_VENV/bin/python"
THREADS="${PEERS_THREADS:-1,2}"
CONFIGS="${PEERS_CONFIGS:-tiny,small}"
export PEERS_TRL="${PEERS_TRL:-1}"

bash "$HERE/setup.sh" 1>&2

echo "# bench-peers: $(uptime)" >&2
if [ "${PEERS_QUICK:-0}" = 1 ]; then
    train_args=(--steps 2 --warmup 1); gen_args=(--repeats 1 --min-time 0); grpo_args=(--iters 1)
else
    train_args=(); gen_args=(); grpo_args=()
fi

ATTN="${PEERS_ATTN:-eager,sdpa}"
for round in $(seq 1 "${PEERS_ROUNDS:-1}"); do
    echo "# bench-peers: round $round $(uptime)" >&2
    "$PY" "$HERE/torch_train.py" --configs "$CONFIGS" --threads "$THREADS" --impl hf,plain --attn "$ATTN" "${train_args[@]}"
    "$PY" "$HERE/hf_generate.py" --configs "$CONFIGS" --threads "$THREADS" --attn "$ATTN" "${gen_args[@]}"
    if [ "$PEERS_TRL" = 1 ]; then
        "$PY" "$HERE/trl_grpo.py" --threads "$THREADS" --attn "${ATTN%%,*}" "${grpo_args[@]}"
    fi
done
echo "# bench-peers: done $(uptime)" >&2
