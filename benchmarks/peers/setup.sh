#!/usr/bin/env bash
# Create benchmarks/.venv (git-ignored) with PyTorch (CPU) + transformers for the peer benchmarks.
# Idempotent: does nothing when the venv already imports torch and transformers.
#
# How torch is installed (what was found on the project's machines):
#   * PyPI's Linux `torch` wheels are CUDA builds. `pip install torch` pulls ~20 nvidia-*/cuda-*
#     packages (cuBLAS, cuDNN, NCCL, cuSPARSELt, nvshmem, triton, ...), several GB in total.
#   * `pip install --no-deps torch` (540 MB wheel) + the pure-Python deps does NOT work on CPU:
#     `import torch` fails with "libcublasLt.so.*[0-9] not found" because libtorch_cuda.so (NEEDED
#     by libtorch.so) links cudart, cublas, cudnn, nccl, cufft, cusparse(Lt), cufile, nvrtc.
#   * The CPU-only build (`torch==X+cpu`, ~190 MB) lives on download.pytorch.org, which is not
#     reachable. The machine image ships one such wheel in a pip find-links directory
#     (/opt/wheels, via pip.conf / PIP_FIND_LINKS), where plain `pip index versions torch` shows
#     it as e.g. "2.13.0+cpu".
#   So: use the newest "+cpu" version pip can see; if there is none, fall back to the full PyPI
#   CUDA build (works on CPU, only big). Override with TORCH_SPEC='torch==...' if needed.
# Extra packages: transformers (latest); TRL with PEERS_TRL=1 (for trl_grpo.py).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${PEERS_VENV:-$HERE/../.venv}"
PY="$VENV/bin/python"

want_trl="${PEERS_TRL:-0}"
check() {
    "$PY" - "$want_trl" <<'PY' 2>/dev/null
import sys, importlib.util
mods = ["torch", "transformers"] + (["trl"] if sys.argv[1] == "1" else [])
missing = [m for m in mods if importlib.util.find_spec(m) is None]
sys.exit(1 if missing else 0)
PY
}

if [ -x "$PY" ] && check; then
    echo "# setup: $VENV already has torch/transformers$([ "$want_trl" = 1 ] && echo /trl), skipping" >&2
    exit 0
fi

if [ ! -x "$PY" ]; then
    python3 -m venv "$VENV"
fi
PIP=("$PY" -m pip --disable-pip-version-check)

if ! "$PY" -c 'import torch' 2>/dev/null; then
    spec="${TORCH_SPEC:-}"
    if [ -z "$spec" ]; then
        cpu_ver="$("${PIP[@]}" index versions torch 2>/dev/null \
            | sed -n 's/^Available versions: //p' | tr ',' '\n' | tr -d ' ' | grep '+cpu$' | head -n1 || true)"
        if [ -n "$cpu_ver" ]; then
            spec="torch==$cpu_ver"
            echo "# setup: CPU-only torch wheel available: $spec" >&2
        else
            spec="torch"
            echo "# setup: no '+cpu' torch wheel visible to pip; installing PyPI's CUDA build (several GB)" >&2
        fi
    fi
    "${PIP[@]}" install "$spec"
fi

# transformers: pip keeps the installed torch (it satisfies transformers' requirement).
"$PY" -c 'import transformers' 2>/dev/null || "${PIP[@]}" install transformers
if [ "$want_trl" = 1 ]; then
    "$PY" -c 'import trl' 2>/dev/null || "${PIP[@]}" install trl
fi

"$PY" - <<'PY'
import torch, transformers
x = torch.randn(4, 8, requires_grad=True)
(x @ x.T).sum().backward()
print(f"# setup: ok torch={torch.__version__} cuda_build={torch.version.cuda} transformers={transformers.__version__}")
PY
