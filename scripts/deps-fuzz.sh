#!/bin/sh
# Installs what `make fuzz` needs beyond scripts/deps.sh: clang 14 with libFuzzer and the
# sanitizer runtimes (libclang-rt-14-dev), llvm-symbolizer for readable stacks (llvm), LLVM's
# OpenMP runtime (clang's -fopenmp), and valgrind for `make check-valgrind`. As root it runs apt-get; otherwise it prints the command.
set -e
PKGS="clang clang-14 libclang-rt-14-dev llvm llvm-14 libomp-14-dev valgrind"
missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
if [ -n "$missing" ]; then
    echo "deps-fuzz.sh: missing Debian packages:$missing"
    if [ "$(id -u)" = 0 ]; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends $missing
    else
        echo "deps-fuzz.sh: run: sudo apt-get install$missing" >&2
        exit 1
    fi
fi
# `clang` may be absent when only clang-14 is installed; make fuzz uses FUZZ_CC=clang.
if ! command -v clang >/dev/null 2>&1 && command -v clang-14 >/dev/null 2>&1; then
    echo "deps-fuzz.sh: no 'clang' on PATH; use make FUZZ_CC=clang-14" >&2
fi
exit 0
