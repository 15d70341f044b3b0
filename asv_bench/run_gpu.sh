#!/usr/bin/env bash
# Run the GPU tests and the GPU side-by-side benchmarks on a CUDA machine.
#
#   OUT=/tmp/gpu bash asv_bench/run_gpu.sh tests cg tensor completion deep
#
# Each stage runs in its own process under its own time limit, so one slow or
# hanging stage cannot take the others down; every log lands in $OUT.
# Extra wheels (pyamg, tensorly for the peers) may be placed in .whl/.
set -u
OUT=${OUT:-/tmp/lrsolve-gpu}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=".:${PYTHONPATH:-}"
[ -d .gpudata ] && export LRSOLVE_DATA=$PWD/.gpudata
T=${STAGE_TIMEOUT:-300}

stage() {  # name, command...
    local name=$1; shift
    echo "=== $name ($(date -u +%T))"
    timeout "$T" "$@" >"$OUT/$name.log" 2>&1
    echo "=== $name rc=$? ($(date -u +%T))"
    tail -n 25 "$OUT/$name.log"
}

for s in "$@"; do
    case $s in
    env)
        { nvidia-smi; python3 -c "import lrsolve; lrsolve.show_config()"; } >"$OUT/env.log" 2>&1
        cat "$OUT/env.log";;
    tests)
        stage tests python3 -m pytest -m gpu -q -rfE -p no:cacheprovider --timeout 240 tests;;
    cg)
        stage cg python3 asv_bench/compare.py --only gpu --json "$OUT/cg.json";;
    cg-nozm)  # the one-plane-per-block stencil kernel, for comparison
        LRSOLVE_STENCIL_ZMARCH=0 stage cg_nozm python3 asv_bench/compare.py --only gpu \
            --json "$OUT/cg_nozm.json";;
    tune)  # stencil launch sweep, then the cg comparison with the best setting
        stage tune python3 asv_bench/tune_stencil_gpu.py
        best=$(grep '^best:' "$OUT/tune.log" | sed 's/^best: //; s/ (.*//')
        echo "best setting: $best"
        env $best bash -c "python3 asv_bench/compare.py --only gpu --json $OUT/cg_tuned.json" \
            >"$OUT/cg_tuned.log" 2>&1
        cat "$OUT/cg_tuned.log";;
    tensor)
        stage tensor python3 asv_bench/compare_tensor.py --only gpu;;
    completion)
        stage completion python3 asv_bench/compare_completion.py --only gpu;;
    deep-quick)
        stage deep python3 asv_bench/compare_deep.py --device cuda --quick;;
    deep)
        stage deep python3 asv_bench/compare_deep.py --device cuda --sizes2d --sizes3d 64 128;;
    train)  # DCDM models trained on the GPU (the shipped ones were trained on a 2-core CPU)
        for dim in ${TRAIN_DIMS:-3 2}; do
            if [ $dim = 3 ]; then grid="32 32 32"; else grid="128 128"; fi
            stage train$dim python3 -m lrsolve train-dcdm --grid $grid --n-operators 16 \
                --n-ritz 256 --n-samples 4800 --epochs 400 --batch-size 16 --lr 1e-3 --seed 0 \
                --time-limit "${TRAIN_SECONDS:-200}" --device cuda --no-progress \
                --out "$OUT/poisson${dim}d"
        done
        cp "$OUT"/poisson?d.pt "$OUT"/poisson?d.json lrsolve/deep/weights/ 2>/dev/null;;
    deep3)  # 3-D only, no AMG (its host set-up dominates): after 'train', with the new model
        stage deep python3 asv_bench/compare_deep.py --device cuda --sizes2d --sizes3d 64 128 \
            --methods dcdm,cg,ic0-pcg,cupyx-cg;;
    *)
        echo "unknown stage $s";;
    esac
done
cp asv_bench/*-cuda-*.log asv_bench/*-cuda-*.json asv_bench/*-gpu-*.json "$OUT/" 2>/dev/null
exit 0
