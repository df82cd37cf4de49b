# A CUDA toolkit from the Python package registry, for building `--features cuda` on a machine
# without a system toolkit or a GPU. Source it (bash), then build:
#
#     source scripts/cuda-env.sh            # first time: downloads ~1 GB of wheels into .cuda/
#     cargo build --release --features cuda
#
# It installs nvcc, the CUDA headers, cuBLAS, cuRAND, NVRTC and the runtime (CUDA 13, the
# version of PyTorch's CUDA wheels) into CUDA_PREFIX (default: .cuda/ in the repository,
# ignored by git) and exports what cudarc's and dfdx's build scripts read:
#   CUDA_ROOT / CUDA_PATH      the folder holding include/cuda.h, lib/ and bin/nvcc;
#   CUDA_COMPUTE_CAP           the GPU architecture the kernels are compiled for (default 90,
#                              the H100/H200; set it before sourcing for another GPU);
#   PATH                       nvcc, and an `nvidia-smi` stand-in that answers dfdx's build
#                              script with CUDA_COMPUTE_CAP (the build script always asks it);
#   LD_LIBRARY_PATH            the libraries; lib/ also gets a link-time stub of the driver
#                              library libcuda.so (the real one comes with the NVIDIA driver).
# The binary then needs libcublas.so.13, libcublasLt.so.13, libcurand.so.10 and libnvrtc.so.13
# at run time: from this folder, or from PyTorch's nvidia wheels on the GPU machine.

cuda_env_main() {
    local repo prefix python root wheel_dir stub_dir cudarc_sys
    repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    prefix=${CUDA_PREFIX:-$repo/.cuda}
    python=${PYTHON:-python3}
    wheel_dir=$prefix/wheels
    root=$wheel_dir/nvidia/cu13
    stub_dir=$prefix/stubs

    # nvcc, its compiler back end (nvvm, whose PTX version ptxas must know) and its headers
    # (crt) of one release: unpinned, pip takes the newest nvvm and ptxas refuses its PTX.
    if [ ! -x "$root/bin/nvcc" ]; then
        echo "cuda-env: installing the CUDA 13 wheels into $wheel_dir" >&2
        "$python" -m pip install --quiet --target "$wheel_dir" \
            "nvidia-cuda-nvcc==13.2.*" "nvidia-nvvm==13.2.*" "nvidia-cuda-crt==13.2.*" \
            "nvidia-cuda-runtime==13.2.*" \
            "nvidia-cuda-nvrtc==13.2.*" "nvidia-cuda-cccl==13.*" "nvidia-cublas==13.*" \
            "nvidia-curand==10.*" || { echo "cuda-env: pip failed" >&2; return 1; }
    fi
    if [ ! -x "$root/bin/nvcc" ]; then
        echo "cuda-env: no nvcc in $root/bin after installing" >&2
        return 1
    fi

    # The linker wants unversioned names (-lcublas); the wheels ship only libX.so.N.
    local library
    for library in "$root"/lib/lib{cublas,cublasLt,curand,nvrtc,cudart}.so.*; do
        [ -e "$library" ] || continue
        case $library in *.so.*.*) continue ;; esac
        ln -sf "$(basename "$library")" "${library%%.so.*}.so"
    done

    # A stub driver library exporting every driver function cudarc binds, with the driver's
    # soname, so that the binary links here (cudarc's build script searches $root/lib) and
    # loads the real libcuda.so.1 on a GPU machine (no file of that name is here).
    mkdir -p "$stub_dir/bin"
    if [ ! -e "$root/lib/libcuda.so" ]; then
        (cd "$repo" && cargo fetch --quiet) || return 1
        cudarc_sys=$(find "${CARGO_HOME:-$HOME/.cargo}/registry/src" -path '*cudarc-0.9.15/src/driver/sys.rs' | head -1)
        if [ -z "$cudarc_sys" ]; then
            echo "cuda-env: cudarc 0.9.15's driver bindings not found under CARGO_HOME" >&2
            return 1
        fi
        grep -o 'pub fn cu[A-Za-z0-9_]*' "$cudarc_sys" | sed 's/pub fn \(.*\)/void \1(void) {}/' \
            > "$stub_dir/libcuda-stub.c"
        cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$root/lib/libcuda.so" \
            "$stub_dir/libcuda-stub.c" || return 1
    fi
    cat > "$stub_dir/bin/nvidia-smi" <<'SH'
#!/bin/sh
# Stand-in for dfdx's build script: the compute capability from CUDA_COMPUTE_CAP (e.g. 90).
cap=${CUDA_COMPUTE_CAP:-90}
printf 'compute_cap\n%s.%s\n' "${cap%?}" "${cap#"${cap%?}"}"
SH
    chmod +x "$stub_dir/bin/nvidia-smi"

    export CUDA_ROOT=$root CUDA_PATH=$root
    export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}
    export PATH=$root/bin:$stub_dir/bin:$PATH
    export LD_LIBRARY_PATH=$root/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    echo "cuda-env: CUDA_ROOT=$root, compute capability $CUDA_COMPUTE_CAP; now: cargo build --release --features cuda" >&2
}

cuda_env_main
