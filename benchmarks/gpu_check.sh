#!/usr/bin/env bash
# The one prepared GPU check (issue 18): on a fresh GPU machine, in under 8 minutes of wall time,
#   1. builds conformer_kernels with CONFORMER_KERNELS_CUDA=1 against the machine's own torch,
#   2. runs the CUDA tests (every kernel's CUDA path against its CPU path, every model on CUDA,
#      CUDA training resumed on the CPU, NCCL DDP where two GPUs exist),
#   3. times every kernel on CUDA against torch's own ops on the same GPU and our CPU kernels,
#   4. trains each model for a few steps on CUDA with bfloat16 autocast,
# and writes summary.json (stage times, figures, failures) and the logs under $OUT (or $1).
#
#   bash benchmarks/gpu_check.sh OUT_DIR
#
# The machine has no package index: packages its image lacks (RDKit for its Python) come as wheels
# from $GPU_WHEELS (default .gpu-wheels, filled here by benchmarks/gpu_wheels.sh and carried along).
# GPU_CHECK_STUB=1 runs every stage on the CPU (no nvcc build, small sizes) to time the script
# without a GPU: the CUDA tests then skip.
set -u
OUT=${1:-${OUT:-gpu-check}}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PY=${GPU_CHECK_PYTHON:-python3}
STUB=${GPU_CHECK_STUB:-0}
DEVICE=cuda; SCALE=1.0; STEPS=20
if [ "$STUB" = 1 ]; then DEVICE=cpu; SCALE=0.02; STEPS=3; fi
STAGES="$OUT/stages.tsv"
: > "$STAGES"

stage() {  # stage NAME COMMAND...: runs it with its log in $OUT/NAME.log; records seconds and status
    local name=$1; shift
    local start=$(date +%s%N)
    echo "== $name: $*"
    ( "$@" ) > "$OUT/$name.log" 2>&1
    local status=$?
    local ms=$(( ($(date +%s%N) - start) / 1000000 ))
    printf '%s\t%d.%03d\t%d\n' "$name" $((ms / 1000)) $((ms % 1000)) "$status" >> "$STAGES"
    tail -n 3 "$OUT/$name.log"
    return 0
}

environment() {
    nvidia-smi || true
    nvcc --version || true
    "$PY" -c "import torch, sys; print(sys.version); print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available())"
}

install() {
    local wheels=${GPU_WHEELS:-$ROOT/.gpu-wheels}
    if ! "$PY" -c "import rdkit" 2>/dev/null; then
        "$PY" -m pip install --no-index --find-links "$wheels" rdkit || return 1
    fi
    if [ "$STUB" = 1 ]; then
        "$PY" -c "import conformer_kernels" && return 0
    fi
    # --no-deps: the machine's torch stays (the build compiles against it); MAX_JOBS: parallel compiles
    CONFORMER_KERNELS_CUDA=$([ "$STUB" = 1 ] && echo 0 || echo 1) MAX_JOBS=16 \
        "$PY" -m pip install --no-deps --no-build-isolation -e . || return 1
    "$PY" -c "import conformer_kernels as ck; print('cuda_compiled', ck.cuda_compiled())"
}

cuda_tests() {
    timeout 300 "$PY" -m pytest -q -p no:cacheprovider tests/kernels tests/models/test_cuda.py -k "cuda" \
        --junitxml "$OUT/cuda_tests.xml"
}

kernel_benchmarks() {
    "$PY" benchmarks/gpu_kernels.py --device "$DEVICE" --scale "$SCALE" --out "$OUT/kernels.json"
}

model_training() {
    local cache=data/nci-xtb/qm9 failed=0
    for cfg in configs/dmcg_qm9_small.yaml configs/confgf_qm9_small.yaml configs/confvae_qm9_small.yaml \
               configs/confopt_qm9_small.yaml configs/confopt_generation_qm9_small.yaml; do
        local name=$(basename "$cfg" .yaml)
        "$PY" -m conformers.cli.main train -c "$cfg" -o "$OUT/runs/$name" --device "$DEVICE" \
            --set data.cache=$cache --set data.split=$cache/split.json --set train.precision=bfloat16 \
            --set train.max_steps=$STEPS --set train.val_every=$STEPS --set train.checkpoint_every=$STEPS \
            --set train.log_every=1 --set train.progress=false || failed=1
    done
    return $failed
}

stage environment environment
stage install install
stage cuda_tests cuda_tests
stage kernel_benchmarks kernel_benchmarks
stage model_training model_training

"$PY" - "$OUT" "$STUB" <<'EOF'
import csv, json, os, sys
out, stub = sys.argv[1], sys.argv[2] == "1"
stages = [{"stage": n, "seconds": float(s), "status": int(c)} for n, s, c in csv.reader(open(f"{out}/stages.tsv"), delimiter="\t")]
summary = {"stub_cpu_run": stub, "stages": stages, "total_seconds": round(sum(s["seconds"] for s in stages), 1),
           "failures": [s["stage"] for s in stages if s["status"]]}
if os.path.isfile(f"{out}/kernels.json"):
    summary["kernels"] = json.load(open(f"{out}/kernels.json"))
runs = os.path.join(out, "runs")
training = {}
for name in sorted(os.listdir(runs)) if os.path.isdir(runs) else []:
    final = os.path.join(runs, name, "final.json")
    training[name] = json.load(open(final)) if os.path.isfile(final) else "no final.json (see model_training.log)"
summary["training"] = training
log = open(f"{out}/cuda_tests.log").read().strip().splitlines() if os.path.isfile(f"{out}/cuda_tests.log") else []
summary["cuda_tests"] = log[-1] if log else None
json.dump(summary, open(f"{out}/summary.json", "w"), indent=1)
print(json.dumps({k: summary[k] for k in ("stages", "total_seconds", "failures", "cuda_tests")}, indent=1))
EOF
rm -rf "$OUT/runs"  # checkpoints are not results; final.json values are in summary.json
