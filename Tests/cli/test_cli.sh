#!/usr/bin/env bash
# End-to-end checks of the `ibtpo` command line: every subcommand runs, bad input gives a
# one-line error and the documented non-zero exit status, files go in and out.
# Usage: Tests/cli/test_cli.sh path/to/ibtpo
set -u
BIN="${1:-dist/bin/ibtpo}"
TMP="$(mktemp -d /tmp/ibtpo-cli-XXXXXX)"
trap 'rm -rf "$TMP"' EXIT
pass=0; fail=0

# check NAME EXPECTED_STATUS PATTERN -- command...
check() {
    local name="$1" want="$2" pattern="$3"; shift 4
    "$@" > "$TMP/out" 2>&1
    local got=$?
    if [ "$got" = "$want" ] && grep -qE -- "$pattern" "$TMP/out"; then
        echo "ok   $name (exit $got)"; pass=$((pass + 1))
    else
        echo "FAIL $name: exit $got (want $want), output:"; sed 's/^/     /' "$TMP/out" | head -20; fail=$((fail + 1))
    fi
}

check "help" 0 "sft" -- "$BIN" --help
check "version" 0 "^0\.2\.0" -- "$BIN" --version
check "info shows the memory plan" 0 "memory plan" -- "$BIN" info --model small --batch 8 --seq 64
check "unknown task" 2 "unknown task 'nope'" -- "$BIN" sft --task nope --steps 1
check "bad task option" 2 "digits" -- "$BIN" sft --task add --option digits=99 --steps 1
check "malformed option" 64 "NAME=INTEGER" -- "$BIN" sft --task add --option digits --steps 1
check "missing checkpoint" 3 "cannot open" -- "$BIN" eval --checkpoint "$TMP/none.ckpt" --task add
printf '{"prompt": "1+1=", "answer": "2"}\n{"prompt": "2+2="}\n' > "$TMP/bad.jsonl"
check "bad JSONL names file and line" 9 "bad.jsonl:2:" -- "$BIN" sft --data "$TMP/bad.jsonl" --steps 1
check "sft writes a checkpoint and evaluates" 0 "eval \(16 held-out add problems\)" -- \
    "$BIN" sft --task add --option digits=2 --steps 30 --batch 8 --seq 48 --out "$TMP/a.ckpt" --eval-count 16 --k 2
check "eval reads it" 0 "greedy" -- "$BIN" eval --checkpoint "$TMP/a.ckpt" --task add --option digits=2 --seq 48 --eval-count 8 --k 2
check "sample prints completions" 0 "sample 0: reward" -- "$BIN" sample --checkpoint "$TMP/a.ckpt" --task add --option digits=2 --count 1 --samples 2
check "sample --tree prints a tree" 0 "trajectories" -- "$BIN" sample --checkpoint "$TMP/a.ckpt" --task add --option digits=2 --count 1 --tree 2,3,1,1
check "train writes the JSONL log" 0 "train step 1/1" -- \
    "$BIN" train --algo ibtpo --init-from "$TMP/a.ckpt" --task add --option digits=2 --steps 1 --prompts 2 --tree 2,2,1,1 \
    --seq 64 --max-new 40 --batch 8 --eval-count 0 --log "$TMP/log.jsonl" --out "$TMP/rl.ckpt"
check "log has one JSON line with the metrics" 0 '"eff_rate"' -- cat "$TMP/log.jsonl"
check "plot draws the log as SVG" 0 "wrote .*curves.svg: 1 run" -- "$BIN" plot "$TMP/log.jsonl" --out "$TMP/curves.svg"
check "the SVG has the panels" 0 "Eff-Rate" -- cat "$TMP/curves.svg"
# Resume: 3 steps straight == 1 step, then --resume for the rest (bit-identical checkpoints).
rl_args=(--algo ibtpo --init-from "$TMP/a.ckpt" --task add --option digits=2 --prompts 2 --tree 2,2,1,1 --minibatches 2
         --seq 64 --max-new 40 --batch 8 --eval-count 0)
check "train 3 steps straight" 0 "train step 3/3" -- "$BIN" train "${rl_args[@]}" --steps 3 --out "$TMP/straight.ckpt"
check "train stops after step 1" 0 "stopped after RL step 1" -- \
    "$BIN" train "${rl_args[@]}" --steps 3 --stop-after 1 --out "$TMP/part.ckpt" --log "$TMP/part.jsonl"
check "train --resume continues after step 1" 0 "resumed .* after RL step 1" -- \
    "$BIN" train "${rl_args[@]}" --steps 3 --resume "$TMP/part.ckpt" --out "$TMP/part.ckpt" --log "$TMP/part.jsonl"
check "resumed run equals the straight run byte for byte" 0 "identical" -- \
    bash -c "cmp '$TMP/straight.ckpt' '$TMP/part.ckpt' && echo identical"
check "resumed log has 3 steps" 0 "^3$" -- bash -c "grep -c eff_rate '$TMP/part.jsonl'"
check "score prints log p of reference solutions" 0 "^1: log p = -[0-9.]+ +mean" -- \
    "$BIN" score --checkpoint "$TMP/a.ckpt" --task add --option digits=2 --count 2
check "score --tokens prints per-token values" 0 "<eos>" -- \
    "$BIN" score --checkpoint "$TMP/a.ckpt" --prompt '1+2\n' --completion 'answer: 3' --tokens
check "score needs both --prompt and --completion" 64 "give both" -- "$BIN" score --checkpoint "$TMP/a.ckpt" --prompt x
check "demo runs the whole pipeline (short settings)" 0 "after SFT \+ IB-TPO" -- \
    "$BIN" demo --sft-steps 5 --rl-steps 1 --eval-count 4 --out "$TMP/demo"
check "demo wrote log, picture and checkpoints" 0 "curves.svg" -- ls "$TMP/demo"
head -c 300 "$TMP/a.ckpt" > "$TMP/cut.ckpt"
check "truncated checkpoint is rejected" 4 "checksum|truncated|short" -- "$BIN" eval --checkpoint "$TMP/cut.ckpt" --task add

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
