#!/usr/bin/env bash
# Fills .gpu-wheels with the wheels benchmarks/gpu_check.sh installs on a GPU machine, which has no
# package index: RDKit for the machine's Python (3.12 on this workplace's GPU image). Run it here,
# then carry .gpu-wheels (git-ignored) with the check.
set -euo pipefail
cd "$(dirname "$0")/.."
PYVER=${1:-312}
python3 -m pip download rdkit --python-version "$PYVER" --only-binary=:all: \
    --platform manylinux_2_28_x86_64 --no-deps -d .gpu-wheels
ls -la .gpu-wheels
