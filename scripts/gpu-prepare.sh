#!/usr/bin/env bash
# Here (a machine with cargo, no GPU needed): builds what scripts/gpu-check.sh runs on a GPU
# machine that has the NVIDIA driver, CUDA 13 and PyTorch but no Rust toolchain, and puts it
# in .gpu/ (ignored by git), under the device tool's 64 MiB:
#   .gpu/rrcanet.gz, .gpu/cuda_agreement.gz  the CUDA binary and the agreement test (stripped
#                                      and compressed: 24 + 19 MB become 6 + 5 MB; compute
#                                      capability CUDA_COMPUTE_CAP, default 90);
#   .gpu/sirst                         the SIRST dataset (default ../shared/data/sirst);
#   .gpu/authors                       the authors' RRCA-Net/model folder, for PyTorch's side.
# Usage: scripts/gpu-prepare.sh AUTHORS_MODEL_DIR [SIRST_DIR]
# Then, with the device tool: run `bash scripts/gpu-check.sh` carrying `.gpu`.
set -euo pipefail
cd "$(dirname "$0")/.."
authors=${1:?usage: $0 AUTHORS_MODEL_DIR [SIRST_DIR]}
sirst=${2:-../shared/data/sirst}
[ -f "$authors/RRCANet.py" ] || { echo "$authors holds no RRCANet.py" >&2; exit 2; }
[ -d "$sirst/images" ] || { echo "$sirst holds no images/" >&2; exit 2; }

# shellcheck source=scripts/cuda-env.sh
source scripts/cuda-env.sh
target=target/cuda
cargo build --release --features cuda --target-dir "$target"
cargo test --release --features cuda --target-dir "$target" --test cuda_agreement --no-run
test_binary=$(ls -t "$target"/release/deps/cuda_agreement-* | grep -v '\.d$' | head -1)

rm -rf .gpu && mkdir -p .gpu/authors
strip -o .gpu/rrcanet "$target/release/rrcanet"
strip -o .gpu/cuda_agreement "$test_binary"
gzip -9 .gpu/rrcanet .gpu/cuda_agreement
cp -r "$sirst" .gpu/sirst
cp "$authors"/*.py .gpu/authors/
# dfdx compiles its concat and reshape kernels at run time with NVRTC, with this build's
# include folder fixed in the binary: gpu-check.sh makes that path there.
echo "$CUDA_ROOT/include" > .gpu/include-dir.txt
du -sh .gpu
# The device tool carries the working tree and .gpu together, at most 64 MiB.
size=$(( $(du -sm .gpu | cut -f1) + $(git ls-files -z | du -cm --files0-from=- | tail -1 | cut -f1) ))
[ "$size" -lt 60 ] || { echo ".gpu and the working tree are ${size} MiB: over what the device tool carries" >&2; exit 1; }
echo "ready: ${size} MiB to carry; device tool: run 'bash scripts/gpu-check.sh' with carry [\".gpu\"]"
