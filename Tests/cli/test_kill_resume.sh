#!/usr/bin/env bash
# Kill-and-resume: a short GRPO run and a short SFT run are killed with SIGKILL at a random
# step, then resumed (repeatedly, if the kill came before the first checkpoint the run starts
# over); the final checkpoint must equal an uninterrupted run's byte for byte, and the GRPO log
# must hold each step once with the same records (wall-time fields aside).
# Usage: Tests/cli/test_kill_resume.sh path/to/ibtpo   (prints "ok"/"FAIL" lines; exit 1 on failure)
set -u
BIN="${1:-dist/bin/ibtpo}"
TMP="$(mktemp -d /tmp/ibtpo-kill-XXXXXX)"
trap 'rm -rf "$TMP"' EXIT
pass=0; fail=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }
# Records without the wall-time fields, one per line.
strip_times() { sed -E 's/, "(sampling|probe|update)_seconds": [^,}]*//g' "$1"; }

sft=(sft --task add --option digits=2 --steps 40 --batch 8 --seq 48 --eval-count 0 --threads 1)
"$BIN" "${sft[@]}" --out "$TMP/init.ckpt" > /dev/null || { echo "FAIL sft warm-up"; exit 1; }

# ---- GRPO: kill when the log reaches a random step K (checkpoints every 3 steps, so the log
# is usually ahead of the checkpoint), resume to the end.
N=10
rl=(train --algo grpo --init-from "$TMP/init.ckpt" --task add --option digits=2 --prompts-per-step 2 --group-size 2
    --seq 48 --max-new-tokens 20 --batch 8 --eval-count 0 --threads 1 --steps $N --checkpoint-every 3)
"$BIN" "${rl[@]}" --out "$TMP/rl-straight.ckpt" --log "$TMP/rl-straight.jsonl" > /dev/null || bad "straight GRPO run"
K=$((4 + RANDOM % (N - 4)))   # 4..N-1: after the first checkpoint (step 3), before the end
"$BIN" "${rl[@]}" --out "$TMP/rl.ckpt" --log "$TMP/rl.jsonl" > "$TMP/rl-killed.out" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
    [ -f "$TMP/rl.jsonl" ] && [ "$(grep -c '"step"' "$TMP/rl.jsonl")" -ge "$K" ] && break
    sleep 0.05
done
kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
reached=$(grep -c '"step"' "$TMP/rl.jsonl" 2>/dev/null || echo 0)
echo "     GRPO killed after logging $reached of $N steps (target $K)"
for attempt in 1 2 3; do
    if [ -f "$TMP/rl.ckpt" ]; then resume=(--resume "$TMP/rl.ckpt"); else resume=(); echo "     (no checkpoint yet: starting over)"; fi
    "$BIN" "${rl[@]}" "${resume[@]}" --out "$TMP/rl.ckpt" --log "$TMP/rl.jsonl" > "$TMP/rl-resumed.out" 2>&1 && break
done
grep -E "resumed|dropped" "$TMP/rl-resumed.out" | sed 's/^/     /'
if cmp -s "$TMP/rl-straight.ckpt" "$TMP/rl.ckpt"; then ok "GRPO killed at step $reached and resumed: final checkpoint byte-identical"
else bad "GRPO killed at step $reached and resumed: final checkpoints differ"; fi
if diff <(strip_times "$TMP/rl-straight.jsonl") <(strip_times "$TMP/rl.jsonl") > "$TMP/rl.diff"; then
    ok "GRPO log after resume: each of the $N steps once, same records (wall times aside)"
else bad "GRPO logs differ:"; head -5 "$TMP/rl.diff" | sed 's/^/     /'; fi
steps_logged=$(grep -o '"step": [0-9]*' "$TMP/rl.jsonl" | sort | uniq -d | wc -l)
[ "$steps_logged" = 0 ] && ok "GRPO log has no repeated step" || bad "GRPO log repeats $steps_logged steps"
ls "$TMP"/rl.ckpt.tmp.* > /dev/null 2>&1 && bad "stale temporaries left: $(ls "$TMP"/rl.ckpt.tmp.*)" || ok "no stale temporaries"

# ---- SFT: kill at a random time after the first checkpoint (every 5 steps), resume.
S=40
"$BIN" "${sft[@]}" --init-from "$TMP/init.ckpt" --steps $S --out "$TMP/sft-straight.ckpt" > /dev/null || bad "straight SFT run"
"$BIN" "${sft[@]}" --init-from "$TMP/init.ckpt" --steps $S --checkpoint-every 5 --out "$TMP/sft.ckpt" > /dev/null 2>&1 &
pid=$!
for _ in $(seq 1 600); do [ -f "$TMP/sft.ckpt" ] && break; sleep 0.02; done
sleep "0.$((RANDOM % 8))"
kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
for attempt in 1 2 3; do
    if [ -f "$TMP/sft.ckpt" ]; then resume=(--resume "$TMP/sft.ckpt"); else resume=(); echo "     (no checkpoint yet: starting over)"; fi
    "$BIN" "${sft[@]}" --init-from "$TMP/init.ckpt" --steps $S --checkpoint-every 5 "${resume[@]}" --out "$TMP/sft.ckpt" \
        > "$TMP/sft-resumed.out" 2>&1 && break
done
grep -E "resumed|already completed" "$TMP/sft-resumed.out" | sed 's/^/     /'
if cmp -s "$TMP/sft-straight.ckpt" "$TMP/sft.ckpt"; then ok "SFT killed and resumed: final checkpoint byte-identical"
else bad "SFT killed and resumed: final checkpoints differ"; sed 's/^/     /' "$TMP/sft-resumed.out" | tail -3; fi

echo "kill-and-resume: $pass passed, $fail failed"
[ "$fail" = 0 ]
