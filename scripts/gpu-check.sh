#!/usr/bin/env bash
# On the GPU machine (made ready by scripts/gpu-prepare.sh, `.gpu/` carried): the CPU-vs-CUDA
# agreement test, `bench --device cuda`, a short r18 training on SIRST with eval and infer on
# the GPU, and the authors' PyTorch code timed on the same GPU. Planned to end within 6
# minutes. Results go to $OUT (default gpu-results/): bench-cuda.json, pytorch-cuda.json,
# metrics.csv, eval.json, gpu-memory.csv (nvidia-smi every 200 ms) and log.txt.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-gpu-results}
mkdir -p "$out"
exec > >(tee "$out/log.txt") 2>&1

# The CUDA 13 libraries (cuBLAS, cuRAND, NVRTC) of PyTorch's nvidia wheels.
libraries=$(python3 -c 'import nvidia, os; print(os.path.join(nvidia.__path__[0], "cu13", "lib"))')
export LD_LIBRARY_PATH=$libraries${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# The CUDA headers at the path the binary's run-time kernel compilation looks in (see
# gpu-prepare.sh): PyTorch's wheels ship them beside the libraries.
include_dir=$(cat .gpu/include-dir.txt)
if [ ! -e "$include_dir" ]; then
    mkdir -p "$(dirname "$include_dir")" && ln -s "$(dirname "$libraries")/include" "$include_dir"
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
nvidia-smi --query-gpu=timestamp,memory.used --format=csv,noheader -lms 200 > "$out/gpu-memory.csv" &
poller=$!
phase() { echo "=== $(date +%T) $*"; }
gunzip -kf .gpu/rrcanet.gz .gpu/cuda_agreement.gz && chmod +x .gpu/rrcanet .gpu/cuda_agreement

phase "agreement test"
timeout 120 .gpu/cuda_agreement --ignored --test-threads 1
phase "bench --device cuda"
timeout 90 .gpu/rrcanet bench --device cuda --model r18 --batch 8 --size 256 --steps 5 --json > "$out/bench-cuda.json"
phase "PyTorch on the same GPU"
timeout 90 python3 scripts/bench_pytorch.py --authors .gpu/authors --model r18 --batch 8 --size 256 --steps 5 --device cuda > "$out/pytorch-cuda.json"
phase "train r18 on SIRST 50_50, 3 epochs"
timeout 150 .gpu/rrcanet train --dataset .gpu/sirst --split 50_50 --model r18 --epochs 3 --seed 0 --device cuda --out /tmp/gpu-run
cp /tmp/gpu-run/metrics.csv "$out/metrics.csv"
phase "eval and infer on cuda"
timeout 60 .gpu/rrcanet eval --checkpoint /tmp/gpu-run --device cuda --json --out /tmp/gpu-eval > "$out/eval.json"
timeout 30 .gpu/rrcanet infer --checkpoint /tmp/gpu-run --device cuda --input .gpu/sirst/images --out /tmp/gpu-infer | tail -3
phase "done"
kill "$poller"
