#!/bin/sh
# Runs the PyTorch reference benchmarks (bench/torch/*.py, or the scripts given as arguments)
# with the system python when it has torch; otherwise prints a skip line. PYTHON overrides the
# interpreter (default /usr/bin/python3).
#
# PyTorch runs in its best set-up on these machines (../shared/BASELINES.md):
#  - OpenBLAS's OpenMP build for its dense layers: Debian's torch links libblas.so.3, which is
#    whatever the system's alternative points at (often BLIS or the reference BLAS). The first
#    of $TORCH_OPENBLAS_DIR, /usr/lib/<multiarch>/openblas-openmp (libopenblas0-openmp
#    installed) and bench/out/openblas-openmp/usr/lib/<multiarch>/openblas-openmp (made by
#    `make -C bench torch-openblas`, which unpacks the Debian package without installing it)
#    that exists goes in front of LD_LIBRARY_PATH;
#  - OPENBLAS_CORETYPE unset (OpenBLAS picks its AVX-512 kernels itself);
#  - GLIBC_TUNABLES keeping freed memory in the process (mmap and trim thresholds of 4 GB), as
#    jemalloc or tcmalloc would: otherwise glibc hands large freed tensors back to the kernel
#    and torch spends its time faulting pages in again.
# TORCH_SETUP=asis runs torch in the environment as it is instead (for comparison).
# The scripts print `# torch blas: ...` with the library actually loaded.
PYTHON=${PYTHON:-/usr/bin/python3}
here=$(cd "$(dirname "$0")" && pwd)
if ! "$PYTHON" -c 'import torch' >/dev/null 2>&1; then
    echo "# skip torch benchmarks: $PYTHON has no torch"
    exit 0
fi
if [ "${TORCH_SETUP:-best}" != asis ]; then
    multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
    ob=
    for d in "${TORCH_OPENBLAS_DIR:-}" "/usr/lib/$multiarch/openblas-openmp" \
        "$here/out/openblas-openmp/usr/lib/$multiarch/openblas-openmp"; do
        if [ -n "$d" ] && [ -f "$d/libblas.so.3" ]; then
            ob=$d
            break
        fi
    done
    if [ -n "$ob" ]; then
        LD_LIBRARY_PATH=$ob${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
        export LD_LIBRARY_PATH
    else
        echo "# note: OpenBLAS's OpenMP build not found: torch uses the system's libblas.so.3" \
            "($(readlink -f "/usr/lib/$multiarch/libblas.so.3" 2>/dev/null || echo unknown));" \
            "'make -C bench torch-openblas' unpacks Debian's libopenblas0-openmp into bench/out"
    fi
    unset OPENBLAS_CORETYPE
    GLIBC_TUNABLES=${GLIBC_TUNABLES:+$GLIBC_TUNABLES:}glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=4294967296
    export GLIBC_TUNABLES
fi
if [ $# -eq 0 ]; then
    set -- "$here"/torch/[!_]*.py
fi
for f in "$@"; do
    echo "== $f"
    "$PYTHON" "$f" || exit 1
done
