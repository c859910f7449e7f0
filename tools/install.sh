#!/usr/bin/env bash
# Create a virtual environment with a PyTorch build that matches this machine, then
# install wmhmap and its dependencies into it, torch pinned so nothing replaces it.
#
#   tools/install.sh [VENV]          (default .venv)
#
# GPU machines (nvidia-smi lists a GPU) get PyPI's default CUDA build of torch; other
# Linux machines get the CPU build (a local wheel when pip's find-links offers one,
# else PyTorch's CPU index), never the multi-GB CUDA packages. macOS gets PyPI's torch
# (CPU/MPS). Override with WMHMAP_TORCH_SPEC (e.g. "torch==2.13.0+cu126") and
# WMHMAP_TORCH_INDEX (an index URL).
set -euo pipefail

VENV=${1:-.venv}
TORCH_VERSION=${WMHMAP_TORCH_VERSION:-2.13.0}
CPU_INDEX=https://download.pytorch.org/whl/cpu
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}

cd "$(dirname "$0")/.."
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
"${PIP[@]}" install --quiet --upgrade pip

have_gpu() { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q GPU; }

if "$VENV/bin/python" -c "import torch" 2>/dev/null; then
    echo "torch already installed: $("$VENV/bin/python" -c 'import torch; print(torch.__version__)')"
elif [ -n "${WMHMAP_TORCH_SPEC:-}" ]; then
    "${PIP[@]}" install ${WMHMAP_TORCH_INDEX:+--index-url "$WMHMAP_TORCH_INDEX"} "$WMHMAP_TORCH_SPEC"
elif [ "$(uname -s)" = Darwin ] || have_gpu; then
    "${PIP[@]}" install "torch==$TORCH_VERSION"
else
    "${PIP[@]}" install "torch==$TORCH_VERSION+cpu" 2>/dev/null \
        || "${PIP[@]}" install --index-url "$CPU_INDEX" "torch==$TORCH_VERSION+cpu"
fi

# Pin whatever torch is now installed, so no dependency (nnunetv2 -> timm ->
# torchvision) can swap it for another build.
"$VENV/bin/python" -c "import torch; print(f'torch=={torch.__version__}')" > "$VENV/torch-constraint.txt"
echo "keeping $(cat "$VENV/torch-constraint.txt")"
"${PIP[@]}" install --quiet -c "$VENV/torch-constraint.txt" -e ".[dev]"

# On CPU-only Linux, PyPI's torchvision (pulled in by timm) is built for CUDA torch and
# cannot load. wmhmap never imports it (see docs/installing.md); try to get the matching CPU build.
if ! "$VENV/bin/python" -c "import torchvision" 2>/dev/null; then
    TV=$("$VENV/bin/python" -c "import importlib.metadata as m; print(m.version('torchvision'))" 2>/dev/null || true)
    if [ -n "$TV" ] && "${PIP[@]}" install --quiet --no-deps --index-url "$CPU_INDEX" "torchvision==${TV%%+*}+cpu" 2>/dev/null; then
        echo "installed the CPU build of torchvision $TV"
    else
        echo "note: torchvision does not import with this torch; wmhmap does not need it (docs/installing.md)"
    fi
fi
"$VENV/bin/python" -c "import wmhmap, nnunetv2, ants, deepbet, snakemake; print('wmhmap', wmhmap.__version__, 'ready')"
