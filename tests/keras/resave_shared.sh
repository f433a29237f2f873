#!/bin/sh
# Resaves the shared real-Keras fixtures through ckeras and asks real Keras to read the copies.
#
#   tests/keras/resave_shared.sh [FLAGS]
#
# For every .h5 in ../shared/fixtures/keras-real/ and ../shared/fixtures/keras3-oracle/ (override
# with CKERAS_SHARED_FIXTURES=DIR) that has inputs (.inputs.npy or .inputs.npz) and Keras'
# expected outputs (.expected.npy): build/tests/keras/resave loads it with ckeras and saves it
# again (ckeras_model_save flags FLAGS, default 0) into a temporary folder; then, with the oracle
# (KERAS_ORACLE_SRC set), tests/keras/oracle_predict.py --check loads each copy in Keras, predicts
# on the fixture's inputs and compares with the fixture's expected outputs (first output, atol
# 1e-5 + rtol 1e-4). Prints a markdown table: fixture | ckeras loads | Keras loads the resave |
# max diff | warnings, then Keras' messages in full. A dagger marks fixtures with a .patch.txt
# (their expected outputs come from a patched config; see the fixtures' README.md).
# It reports, it does not judge: the exit status is 0 unless the tools cannot run.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SHARED=${CKERAS_SHARED_FIXTURES:-$ROOT/../shared/fixtures}
SHARED=$(cd "$SHARED" 2>/dev/null && pwd) || { echo "resave_shared: no shared fixtures folder"; exit 1; }
FLAGS=${1:-0}
PY=${PYTHON:-/usr/bin/python3}
make -C "$ROOT" --no-print-directory keras-tools >/dev/null || { echo "resave_shared: cannot build the tools"; exit 1; }
RESAVE=$ROOT/build/tests/keras/resave
TMP=$(mktemp -d "${TMPDIR:-/tmp}/ckeras-resave.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT INT TERM
LIST=$TMP/list.tsv
: > "$LIST"
echo "resave_shared: ckeras_model_save flags $FLAGS; fixtures from $SHARED"
for h5 in "$SHARED"/keras-real/*.h5 "$SHARED"/keras3-oracle/*.h5; do
    [ -f "$h5" ] || continue
    base=${h5%.h5}
    dir=$(basename "$(dirname "$h5")")
    label="$dir/$(basename "$h5")"
    [ -f "$base.patch.txt" ] && label="$label †"
    if [ -f "$base.inputs.npy" ]; then in=$base.inputs.npy
    elif [ -f "$base.inputs.npz" ]; then in=$base.inputs.npz
    else in=; fi
    if [ ! -f "$base.expected.npy" ] || [ -z "$in" ]; then
        echo "  (not compared: $label has no inputs or expected outputs)"
        continue
    fi
    out="$TMP/$dir-$(basename "$h5")"
    msg=$("$RESAVE" "$h5" "$out" "$FLAGS" 2>&1)
    if [ $? -eq 0 ]; then st=ok; else st=$(printf '%s' "$msg" | tr '\t\n' '  '); fi
    printf '%s\t%s\t%s\t%s\t%s\n' "$label" "$st" "$out" "$base.expected.npy" "$in" >> "$LIST"
done
echo
if [ -n "${KERAS_ORACLE_SRC:-}" ]; then
    "$PY" -W ignore "$ROOT/tests/keras/oracle_predict.py" --check "$LIST" || echo "resave_shared: oracle_predict.py failed"
else
    echo "resave_shared: KERAS_ORACLE_SRC is not set: Keras' side skipped (no oracle on this machine)"
    echo
    echo "| fixture | ckeras loads and resaves |"
    echo "|---|---|"
    while IFS="$(printf '\t')" read -r label st _rest; do
        if [ "$st" = ok ]; then echo "| $label | yes |"; else echo "| $label | **no**: $st |"; fi
    done < "$LIST"
fi
