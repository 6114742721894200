#!/usr/bin/env bash
# End-to-end checks of the `ibtpo` command line: every subcommand runs, bad input gives a
# one-line error and the documented non-zero exit status, files go in and out.
# Usage: Tests/cli/test_cli.sh path/to/ibtpo
set -u
BIN="${1:-dist/bin/ibtpo}"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
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
# The version the header declares, e.g. 0.3.0 (the CLI must print the library's).
HEADER_VERSION=$(awk '/define IBTPO_VERSION_(MAJOR|MINOR|PATCH) /{v[++n]=$3} END{print v[1]"\\."v[2]"\\."v[3]}' "$ROOT/include/ibtpo.h")
check "version" 0 "^$HEADER_VERSION" -- "$BIN" --version
check "info shows the memory plan" 0 "memory plan" -- "$BIN" info --model small --batch 8 --seq 64
check "unknown task" 2 "unknown task 'nope'" -- "$BIN" sft --task nope --steps 1
check "bad task option" 2 "digits" -- "$BIN" sft --task add --option digits=99 --steps 1
check "malformed option" 64 "NAME=INTEGER" -- "$BIN" sft --task add --option digits --steps 1
check "missing checkpoint" 3 "cannot open" -- "$BIN" eval --checkpoint "$TMP/none.ckpt" --task add
printf '{"prompt": "1+1=", "answer": "2"}\n{"prompt": "2+2="}\n' > "$TMP/bad.jsonl"
check "bad JSONL names file and line" 9 "bad.jsonl:2:" -- "$BIN" sft --data "$TMP/bad.jsonl" --steps 1
# --step-delimiter: the verifier reads the answer from the last step, so these solutions are
# accepted only with " | " (and the escaped "\n\n" one only with that delimiter).
printf '{"prompt": "1+1=", "answer": "2", "solution": "1+1=2 | answer: 2", "split": "train"}\n{"prompt": "2+2=", "answer": "4", "split": "test"}\n' > "$TMP/steps.jsonl"
check "a data set whose steps are not lines is refused by default" 9 "steps.jsonl:1:" -- \
    "$BIN" sft --data "$TMP/steps.jsonl" --steps 1 --batch 2 --seq 48 --eval-count 0 --out "$TMP/steps0.ckpt"
check "--step-delimiter ' | ' accepts it" 0 "sft step 1/1" -- \
    "$BIN" sft --data "$TMP/steps.jsonl" --step-delimiter " | " --steps 1 --batch 2 --seq 48 --eval-count 0 --out "$TMP/steps.ckpt"
printf '{"prompt": "1+1=", "answer": "2", "solution": "1+1=2\\n\\nanswer: 2", "split": "train"}\n{"prompt": "2+2=", "answer": "4", "split": "test"}\n' > "$TMP/para.jsonl"
check "--step-delimiter '\\n\\n' (escapes)" 0 "sft step 1/1" -- \
    "$BIN" sft --data "$TMP/para.jsonl" --step-delimiter '\n\n' --steps 1 --batch 2 --seq 48 --eval-count 0 --out "$TMP/para.ckpt"
check "eval counts each problem once and says the split was smaller" 0 "eval \(1 held-out steps problems, the whole split \(--eval-count 1000" -- \
    "$BIN" eval --checkpoint "$TMP/steps.ckpt" --data "$TMP/steps.jsonl" --step-delimiter " | " --seq 48 --eval-count 1000 --k 2
check "--task and --data together are refused" 64 "name two tasks" -- \
    "$BIN" sft --task countdown --data "$TMP/steps.jsonl" --steps 1 --out "$TMP/x.ckpt"
check "--option with --data is refused" 64 "a --data set takes none" -- \
    "$BIN" sft --option digits=2 --data "$TMP/steps.jsonl" --steps 1 --out "$TMP/x.ckpt"
check "--step-delimiter with a built-in task is refused" 64 "applies to --data" -- \
    "$BIN" sft --task add --step-delimiter " | " --steps 1 --out "$TMP/x.ckpt"
check "--step-delimiter with an unknown escape is refused" 64 "unknown escape" -- \
    "$BIN" sft --data "$TMP/steps.jsonl" --step-delimiter '\q' --steps 1 --out "$TMP/x.ckpt"
check "sft writes a checkpoint and evaluates" 0 "eval \(16 held-out add problems\)" -- \
    "$BIN" sft --task add --option digits=2 --steps 30 --batch 8 --seq 48 --out "$TMP/a.ckpt" --eval-count 16 --k 2
# Divergence (issue 12): a checkpoint whose final norm weights are 3e38 (finite, so it loads)
# makes every forward overflow; each update is skipped, and after --max-skipped-steps in a row
# the run stops with exit status 13 and saves nothing. The tensor record is found by its
# name ("norm", u32 length 4) and the CRC-32 re-sealed (docs/checkpoint-format.md).
python3 - "$TMP/a.ckpt" "$TMP/huge.ckpt" <<'PY'
import struct, sys, zlib
b = bytearray(open(sys.argv[1], "rb").read())
at = b.index(struct.pack("<I", 4) + b"norm") + 8
rank = struct.unpack_from("<I", b, at)[0]
at += 4 + 8 * rank
count = struct.unpack_from("<Q", b, at)[0]
at += 8
struct.pack_into("<%df" % count, b, at, *([3e38] * count))
struct.pack_into("<I", b, len(b) - 4, zlib.crc32(bytes(b[:-4])))
open(sys.argv[2], "wb").write(b)
PY
check "a diverging run stops with exit 13 after 3 skipped steps" 13 "3 consecutive skipped steps" -- \
    "$BIN" sft --task add --option digits=2 --init-from "$TMP/huge.ckpt" --steps 10 --batch 8 --seq 48 \
    --max-skipped-steps 3 --eval-count 0 --out "$TMP/diverged.ckpt"
check "... and writes no checkpoint" 0 "absent" -- bash -c "test -e '$TMP/diverged.ckpt' || echo absent"
check "eval reads it" 0 "greedy" -- "$BIN" eval --checkpoint "$TMP/a.ckpt" --task add --option digits=2 --seq 48 --eval-count 8 --k 2
check "sample prints completions" 0 "sample 0: reward" -- "$BIN" sample --checkpoint "$TMP/a.ckpt" --task add --option digits=2 --count 1 --samples 2
check "sample --tree prints a tree" 0 "trajectories" -- "$BIN" sample --checkpoint "$TMP/a.ckpt" --task add --option digits=2 --count 1 --tree 2,3,1,1
check "train writes the JSONL log" 0 "train step 1/1" -- \
    "$BIN" train --algo ibtpo --init-from "$TMP/a.ckpt" --task add --option digits=2 --steps 1 --prompts 2 --tree 2,2,1,1 \
    --seq 64 --max-new-tokens 40 --batch 8 --eval-count 0 --log "$TMP/log.jsonl" --out "$TMP/rl.ckpt"
check "log has one JSON line with the metrics" 0 '"eff_rate"' -- cat "$TMP/log.jsonl"
check "plot draws the log as SVG" 0 "wrote .*curves.svg: 1 run" -- "$BIN" plot "$TMP/log.jsonl" --out "$TMP/curves.svg"
check "the SVG has the panels" 0 "Eff-Rate" -- cat "$TMP/curves.svg"
# Resume: 3 steps straight == 1 step, then --resume for the rest (bit-identical checkpoints).
rl_args=(--algo ibtpo --init-from "$TMP/a.ckpt" --task add --option digits=2 --prompts-per-step 2 --tree 2,2,1,1
         --minibatches 2 --seq 64 --max-new-tokens 40 --batch 8 --eval-count 0)
check "train 3 steps straight" 0 "train step 3/3" -- "$BIN" train "${rl_args[@]}" --steps 3 --out "$TMP/straight.ckpt"
check "train stops after step 1" 0 "stopped after RL step 1" -- \
    "$BIN" train "${rl_args[@]}" --steps 3 --stop-after 1 --out "$TMP/part.ckpt" --log "$TMP/part.jsonl"
check "train --resume continues after step 1" 0 "resumed .* after RL step 1" -- \
    "$BIN" train "${rl_args[@]}" --steps 3 --resume "$TMP/part.ckpt" --out "$TMP/part.ckpt" --log "$TMP/part.jsonl"
check "resumed run equals the straight run byte for byte" 0 "identical" -- \
    bash -c "cmp '$TMP/straight.ckpt' '$TMP/part.ckpt' && echo identical"
check "resumed log has 3 steps" 0 "^3$" -- bash -c "grep -c eff_rate '$TMP/part.jsonl'"
# Resume after a kill: the log is rewound to the checkpoint, the token count comes from the
# checkpoint (issue 12). c1 is the step-1 checkpoint; the log then runs ahead to step 3.
check "train stops after step 1 (token-budget run)" 0 "stopped after RL step 1" -- \
    "$BIN" train "${rl_args[@]}" --steps 5 --stop-after 1 --out "$TMP/tb.ckpt" --log "$TMP/tb.jsonl"
cp "$TMP/tb.ckpt" "$TMP/c1.ckpt"
"$BIN" train "${rl_args[@]}" --steps 5 --stop-after 3 --resume "$TMP/tb.ckpt" --out "$TMP/tb.ckpt" --log "$TMP/tb.jsonl" > /dev/null
"$BIN" train "${rl_args[@]}" --steps 5 --out "$TMP/straight5.ckpt" --log "$TMP/straight5.jsonl" > /dev/null
budget=$(grep -o '"generated_tokens_total": [0-9]*' "$TMP/straight5.jsonl" | sed -n 3p | grep -o '[0-9]*$')
"$BIN" train "${rl_args[@]}" --steps 5 --token-budget "$budget" --out "$TMP/budget.ckpt" > /dev/null
"$BIN" train "${rl_args[@]}" --steps 5 --token-budget "$budget" --resume "$TMP/c1.ckpt" --out "$TMP/tb.ckpt" \
    --log "$TMP/tb.jsonl" > "$TMP/tb.out" 2>&1
check "resume from an older checkpoint rewinds the log" 0 "dropped 2 records after step 1" -- cat "$TMP/tb.out"
check "the resumed budget run stops where the straight one did (tokens from the checkpoint)" 0 \
    "token budget reached: $budget generated tokens after 3 steps" -- cat "$TMP/tb.out"
check "the resumed budget run equals the straight budget run byte for byte" 0 "identical" -- \
    bash -c "cmp '$TMP/budget.ckpt' '$TMP/tb.ckpt' && echo identical"
check "the rewound log holds steps 1, 2, 3 once each" 0 "^1 2 3 $" -- \
    bash -c "grep -o '\"step\": [0-9]*' '$TMP/tb.jsonl' | grep -o '[0-9]*$' | tr '\n' ' '"
# A torn last line (killed while writing it) is dropped with a notice, not an error.
"$BIN" train "${rl_args[@]}" --steps 3 --stop-after 1 --out "$TMP/torn.ckpt" --log "$TMP/torn.jsonl" > /dev/null
printf '{"step": 2, "algo": "ib' >> "$TMP/torn.jsonl"
check "a torn last log line is dropped with a notice" 0 "dropped a torn last line" -- \
    "$BIN" train "${rl_args[@]}" --steps 3 --resume "$TMP/torn.ckpt" --out "$TMP/torn.ckpt" --log "$TMP/torn.jsonl"
check "after the torn line: 3 whole records" 0 "^3$" -- bash -c "grep -c '}$' '$TMP/torn.jsonl'"
printf '{"step": 1, "algo": "ibtpo"}\nnot json\n{"step": 2}\n' > "$TMP/midbad.jsonl"
check "a bad line that is not the last is still an error" 9 "midbad.jsonl:2: not a JSON object" -- \
    "$BIN" train "${rl_args[@]}" --steps 3 --resume "$TMP/torn.ckpt" --out "$TMP/x.ckpt" --log "$TMP/midbad.jsonl"
# Stale temporaries of killed runs are removed; a live process's are kept.
sleep 0 & deadpid=$!; wait $deadpid
touch "$TMP/st.ckpt.tmp.$deadpid" "$TMP/st.ckpt.tmp.$$" "$TMP/st.ckpt.tmp.x1" "$TMP/other.ckpt.tmp.$deadpid"
check "a stale temporary of --out is removed" 0 "removed stale temporary .*st.ckpt.tmp.$deadpid" -- \
    "$BIN" sft --task add --option digits=2 --steps 1 --batch 8 --seq 48 --out "$TMP/st.ckpt" --eval-count 0
check "a live process's temporary and other names are kept" 0 "kept" -- bash -c "[ ! -e '$TMP/st.ckpt.tmp.$deadpid' ] \
    && [ -e '$TMP/st.ckpt.tmp.$$' ] && [ -e '$TMP/st.ckpt.tmp.x1' ] && [ -e '$TMP/other.ckpt.tmp.$deadpid' ] && echo kept"
# --out and --log are checked before the first step, with the errno reason.
check "sft --out a device node is refused" 3 "--out /dev/null is a character device, not a regular file" -- \
    "$BIN" sft --task add --option digits=2 --steps 1 --batch 8 --seq 48 --out /dev/null --eval-count 0
check "train --out a directory is refused before training" 3 "is a directory, not a regular file" -- \
    "$BIN" train "${rl_args[@]}" --steps 1 --out "$TMP" --log "$TMP/dir.jsonl"
check "no step ran" 0 "absent" -- bash -c "[ ! -e '$TMP/dir.jsonl' ] && echo absent"
check "train --log under a regular file: errno reason" 3 "Not a directory" -- \
    "$BIN" train "${rl_args[@]}" --steps 1 --out "$TMP/y.ckpt" --log "$TMP/a.ckpt/log.jsonl"
# SFT resume: 20 + 20 resumed steps equal 40 steps bit for bit (the kill test below kills it).
sft_args=(--task add --option digits=2 --steps 40 --batch 8 --seq 48 --eval-count 0)
"$BIN" sft "${sft_args[@]}" --out "$TMP/sft40.ckpt" > /dev/null
check "sft stops after step 20" 0 "stopped after SFT step 20" -- "$BIN" sft "${sft_args[@]}" --stop-after 20 --out "$TMP/sft20.ckpt"
check "sft --resume continues after step 20" 0 "resumed .* after SFT step 20" -- \
    "$BIN" sft "${sft_args[@]}" --resume "$TMP/sft20.ckpt" --out "$TMP/sft20.ckpt"
check "resumed SFT equals the straight run byte for byte" 0 "identical" -- \
    bash -c "cmp '$TMP/sft40.ckpt' '$TMP/sft20.ckpt' && echo identical"
check "sft --resume of a checkpoint without SFT state is refused" 4 "holds no SFT run state" -- \
    "$BIN" sft "${sft_args[@]}" --resume "$TMP/rl.ckpt" --out "$TMP/z.ckpt"
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

# ---- One config path: defaults, --config FILE, old spellings, --model ----------------------
# check_line NAME EXPECTED_STATUS PATTERN -- command...: as check, and the output is one line.
check_line() {
    local name="$1" want="$2" pattern="$3"; shift 4
    "$@" > "$TMP/out" 2>&1
    local got=$? lines; lines=$(wc -l < "$TMP/out")
    if [ "$got" = "$want" ] && [ "$lines" = 1 ] && grep -qE -- "$pattern" "$TMP/out"; then
        echo "ok   $name (exit $got, one line)"; pass=$((pass + 1))
    else
        echo "FAIL $name: exit $got (want $want), $lines lines (want 1):"; sed 's/^/     /' "$TMP/out" | head -20; fail=$((fail + 1))
    fi
}
# (a) Every default the CLI hands to the library equals the C default (read through the
# Python binding, which takes its defaults from the *_default() fillers). Keys the command
# derives from its other options are skipped, each for the reason given.
export PYTHONPATH="$ROOT/bindings/python${PYTHONPATH:+:$PYTHONPATH}"
export IBTPO_LIBRARY="${IBTPO_LIBRARY:-$ROOT/dist/lib/libibtpo.so}"
if python3 -c 'import ibtpo' 2>/dev/null; then
    "$BIN" train --print-config > "$TMP/train.cfg"
    # train: seq 0 = the checkpoint's max_seq; --lr is the RL lr (rl.lr), so the trainer's
    # schedule is constant after 5 warm-up steps over --steps; rollout slots fit the run.
    check "train --print-config: defaults equal the C defaults" 0 "keys equal to the C defaults" -- \
        python3 "$ROOT/Tests/cli/compare_defaults.py" "$TMP/train.cfg" trainer.seq trainer.lr trainer.min_lr \
        trainer.warmup_steps trainer.total_steps trainer.rollout_slots
    "$BIN" sft --print-config > "$TMP/sft.cfg"
    # sft: seq 0 = the model's max_seq (the preset's); warm-up 5% of --steps and min_lr lr/10
    # (the CLI's schedule rule); the final evaluation fills the context (seq - 2 new tokens).
    check "sft --print-config: defaults equal the C defaults" 0 "keys equal to the C defaults" -- \
        python3 "$ROOT/Tests/cli/compare_defaults.py" "$TMP/sft.cfg" trainer.seq trainer.min_lr trainer.warmup_steps \
        eval.sampling.max_new_tokens
    check "the comparison sees a changed default" 1 "MISMATCH rl.sampling.max_new_tokens: CLI 94" -- bash -c \
        "'$BIN' train --print-config --max-new-tokens 94 > '$TMP/t94.cfg' && python3 '$ROOT/Tests/cli/compare_defaults.py' \
        '$TMP/t94.cfg' trainer.seq trainer.lr trainer.min_lr trainer.warmup_steps trainer.total_steps trainer.rollout_slots"
    want=$(python3 -c 'import ibtpo; print(ibtpo.SamplingConfig().max_new_tokens)')
    check "sample --help shows the C default of --max-new-tokens ($want)" 0 "\\(default: $want\\)" -- \
        bash -c "'$BIN' sample --help | grep -A2 -- '--max-new-tokens'"
else
    echo "skip defaults vs C: the Python binding cannot load $IBTPO_LIBRARY (make lib)"
fi
check "--help documents --seq's one meaning" 0 "Tokens per sequence, prompt \+ completion" -- "$BIN" eval --help
# (b) --config FILE: read, and the command line overrides it.
cat > "$TMP/run.yaml" <<'YAML'
# every key is a long option of the subcommand, with - or _
prompts_per_step: 3
max-new-tokens: 33
kl_coef: 0.01
expand_root: false
branch_rule: entropy
option: [digits=2]
YAML
"$BIN" train --config "$TMP/run.yaml" --print-config > "$TMP/file.cfg" 2>&1
check "config file is read" 0 "rl.prompts_per_step = 3" -- cat "$TMP/file.cfg"
check "config file: values of every kind" 0 "rl.branch_rule = entropy" -- \
    bash -c "grep -q 'rl.sampling.max_new_tokens = 33' '$TMP/file.cfg' && grep -q 'rl.kl_coef = 0.01' '$TMP/file.cfg' \
    && grep -q 'rl.expand_root = 0' '$TMP/file.cfg' && cat '$TMP/file.cfg'"
check "command line overrides the file" 0 "rl.prompts_per_step = 5" -- \
    "$BIN" train --config "$TMP/run.yaml" --prompts-per-step 5 --print-config
check "command line overrides the file under an old spelling" 0 "rl.sampling.max_new_tokens = 21" -- \
    "$BIN" train --config="$TMP/run.yaml" --max-new 21 --print-config
printf 'option: [digits=3]\ncount: 1\n' > "$TMP/score.yaml"
check "the file's repeatable options come first (digits=1 from the command line wins)" 0 "prompt \"[0-9]\+[0-9]\\\\n" -- \
    "$BIN" score --config "$TMP/score.yaml" --checkpoint "$TMP/a.ckpt" --option digits=1
check "examples/train.yaml is a valid config" 0 "rl.algo = ibtpo" -- \
    "$BIN" train --config "$ROOT/examples/train.yaml" --print-config
check "a config runs a subcommand" 0 "train step 1/1" -- \
    "$BIN" train --config "$ROOT/examples/train.yaml" --init-from "$TMP/a.ckpt" --option digits=2 --steps 1 \
    --prompts-per-step 2 --tree 2,2,1,1 --seq 64 --max-new-tokens 40 --batch 8 --eval-count 0 --out "$TMP/cfgrun.ckpt" \
    --log "$TMP/cfgrun.jsonl"
# (c) errors: one line naming the file and the key, exit status 64.
printf 'prompts_per_step: 3\nnope: 1\n' > "$TMP/unknown.yaml"
check_line "config: unknown key" 64 "unknown.yaml: key 'nope': unknown option for 'ibtpo train'" -- \
    "$BIN" train --config "$TMP/unknown.yaml" --print-config
printf 'steps: ten\n' > "$TMP/type.yaml"
check_line "config: wrong type" 64 "type.yaml: key 'steps': The value 'ten' is invalid" -- \
    "$BIN" train --config "$TMP/type.yaml" --print-config
printf 'tokens: 1\n' > "$TMP/flag.yaml"
check_line "config: a flag takes true or false" 64 "flag.yaml: key 'tokens': a flag takes true or false" -- \
    "$BIN" score --config "$TMP/flag.yaml" --checkpoint "$TMP/a.ckpt"
printf 'steps: [1, 2]\n' > "$TMP/list.yaml"
check_line "config: a list for a single value" 64 "list.yaml: key 'steps': a list is only allowed" -- \
    "$BIN" sft --config "$TMP/list.yaml"
printf 'steps: [\n' > "$TMP/broken.yaml"
check_line "config: not YAML" 64 "broken.yaml: not valid YAML" -- "$BIN" sft --config "$TMP/broken.yaml"
check_line "config: missing file" 64 "cannot open .*none.yaml" -- "$BIN" sft --config "$TMP/none.yaml"
# (d) old spellings still work.
check "old spellings: --prompts --g --rule --kl --max-new" 0 "rl.group_size = 5" -- bash -c \
    "'$BIN' train --print-config --prompts 3 --g 5 --rule random --kl 0.5 --max-new 33 | tee '$TMP/old.cfg' | grep group_size \
    && grep -q 'rl.prompts_per_step = 3' '$TMP/old.cfg' && grep -q 'rl.branch_rule = random' '$TMP/old.cfg' \
    && grep -q 'rl.kl_coef = 0.5' '$TMP/old.cfg' && grep -q 'rl.sampling.max_new_tokens = 33' '$TMP/old.cfg'"
check "sample --rule (old spelling of --branch-rule)" 0 "trajectories" -- \
    "$BIN" sample --checkpoint "$TMP/a.ckpt" --task add --option digits=2 --count 1 --tree 2,2,1,1 --rule random --max-new 20
check "bench --threads is --threads-list" 64 "threads-list expects comma-separated integers" -- "$BIN" bench --threads 1,x
# --model where the checkpoint decides the model.
check "--model naming the checkpoint's model is accepted" 0 "greedy" -- \
    "$BIN" eval --checkpoint "$TMP/a.ckpt" --model tiny --task add --option digits=2 --seq 48 --eval-count 4 --k 0
check "--model naming another model is an error" 64 "--model small differs from the model of" -- \
    "$BIN" eval --checkpoint "$TMP/a.ckpt" --model small --task add --option digits=2 --eval-count 4

# Pretrained models (the committed tiny fixtures): the config, tokenizer and chat template come
# from the file; a checkpoint of one names its source, so eval/sample need nothing else.
FIX="$ROOT/Tests/fixtures/models"
check "info --model HF dir prints its config" 0 "memory plan" -- "$BIN" info --model "$FIX/qwen2_bias" --batch 4 --seq 64
check "sft from an HF directory (qwen2, chat template)" 0 "checkpoint: " -- \
    "$BIN" sft --model "$FIX/qwen2_bias" --task add --chat --steps 3 --batch 4 --seq 128 --eval-count 2 --out "$TMP/q.ckpt"
check "eval a pretrained-model checkpoint" 0 "greedy" -- "$BIN" eval --checkpoint "$TMP/q.ckpt" --task add --seq 128 --eval-count 2
check "sample from a GGUF model without a checkpoint" 0 "sample 0: reward" -- \
    "$BIN" sample --model "$FIX/llama_tied.gguf" --task add --chat --count 1 --samples 1 --max-new-tokens 4
check "generate from a GGUF model" 0 "tok/s" -- "$BIN" generate --model "$FIX/llama_tied.gguf" --prompt "hi" --max-new 4
check "a directory that is not a model" 8 "config.json" -- "$BIN" sample --model "$TMP" --task add --count 1
check "sample with neither checkpoint nor model file" 64 "give --checkpoint" -- "$BIN" sample --task add --count 1

# export: a checkpoint to a Hugging Face directory and to GGUF; bad arguments refused before any work.
check "export hf writes the directory" 0 "wrote .*hf-out \(hf, f32\)" -- \
    "$BIN" export --model "$TMP/a.ckpt" --format hf --out "$TMP/hf-out"
check "the directory has config.json and model.safetensors" 0 "model.safetensors" -- \
    bash -c "ls '$TMP/hf-out' && grep -q '\"model_type\": \"llama\"' '$TMP/hf-out/config.json'"
check "export gguf q8_0 writes the file" 0 "wrote .*x.gguf \(gguf, q8_0\)" -- \
    "$BIN" export --model "$TMP/a.ckpt" --format gguf --dtype q8_0 --out "$TMP/x.gguf"
check "export: unknown format" 64 "--format must be hf or gguf" -- "$BIN" export --model "$TMP/a.ckpt" --format onnx --out "$TMP/y"
check "export: dtype of the other format" 64 "--format hf takes --dtype f32 or bf16" -- \
    "$BIN" export --model "$TMP/a.ckpt" --format hf --dtype q8_0 --out "$TMP/y"
check "export: hf --out is a file" 3 "is a regular file, not a directory" -- \
    "$BIN" export --model "$TMP/a.ckpt" --format hf --out "$TMP/x.gguf"
check "export: gguf --out is a directory" 3 "is a directory, not a regular file" -- \
    "$BIN" export --model "$TMP/a.ckpt" --format gguf --out "$TMP/hf-out"
check "export: --model of another kind" 9 "neither a GGUF file nor an ibtpo checkpoint" -- \
    "$BIN" export --model "$TMP/hf-out/config.json" --format gguf --out "$TMP/z.gguf"
check "export an HF directory (qwen2) to GGUF" 0 "wrote .*q.gguf \(gguf, f16\)" -- \
    "$BIN" export --model "$FIX/qwen2_bias" --format gguf --dtype f16 --out "$TMP/q.gguf"
check "export a pretrained checkpoint to hf: its source's tokenizer files" 0 "wrote .*q-hf \(hf, bf16\)" -- \
    "$BIN" export --model "$TMP/q.ckpt" --format hf --dtype bf16 --out "$TMP/q-hf"
check "... and they are there" 0 "tokenizer_config.json" -- ls "$TMP/q-hf"
check "export a GGUF (llama3 RoPE) to hf: rope_scaling llama3" 0 '"rope_type": "llama3"' -- \
    bash -c "'$BIN' export --model '$FIX/llama3_rope.gguf' --format hf --out '$TMP/l3-hf' > /dev/null && cat '$TMP/l3-hf/config.json'"
echo "$pass passed, $fail failed"
bash "$ROOT/Tests/cli/test_kill_resume.sh" "$BIN" || fail=$((fail + 1))
[ "$fail" = 0 ]
