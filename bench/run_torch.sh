#!/bin/sh
# Runs the PyTorch reference benchmarks (bench/torch/*.py) with the system python when it has
# torch; otherwise prints a skip line. PYTHON overrides the interpreter (default /usr/bin/python3).
PYTHON=${PYTHON:-/usr/bin/python3}
dir=$(dirname "$0")/torch
if ! "$PYTHON" -c 'import torch' >/dev/null 2>&1; then
    echo "# skip torch benchmarks: $PYTHON has no torch"
    exit 0
fi
for f in "$dir"/*.py; do
    echo "== $f"
    "$PYTHON" "$f" || exit 1
done
