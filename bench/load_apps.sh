#!/bin/sh
# Load time of Keras Applications files (weights=None, saved as .h5 by real Keras 3.11.3):
# ckeras' load_model beside h5py reading the same weights and Keras' own load_model, each the
# median of REPS fresh processes (a user's program loads a file once; a second load in the same
# process reuses freed memory and hides the cost of first touching it).
#   bench/load_apps.sh [DIR]      DIR holds/gets the files (default bench/apps, not committed)
# Needs the Keras oracle (KERAS_ORACLE_SRC, ../shared/tools/keras-oracle) to make the files and
# to time Keras; h5py from Debian's python3-h5py. Run `make all` and `make -C bench build` first.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$root/bench/apps}
apps=${APPS:-"ResNet50 ResNet101 DenseNet121"}
reps=${REPS:-5}
py=/usr/bin/python3
oracle=${KERAS_ORACLE_TOOL:-$root/../shared/tools/keras-oracle}
if [ -z "${KERAS_ORACLE_SRC:-}" ]; then
    echo "# skip load_apps: KERAS_ORACLE_SRC is unset (the Keras oracle makes the files)"
    exit 0
fi
mkdir -p "$dir"
median() { sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
printf '%-12s %10s %10s %10s %10s %8s\n' model params ckeras_s h5py_s keras_s ck/h5py
for app in $apps; do
    f=$dir/$app.h5
    [ -f "$f" ] || ORACLE=$oracle "$py" -W ignore - "$app" "$f" <<'PY' >/dev/null 2>&1
import os, sys
sys.path.insert(0, os.environ["ORACLE"])
import oracle_env  # noqa: F401
import keras
getattr(keras.applications, sys.argv[1])(weights=None).save(sys.argv[2])
PY
    ck=$(for i in $(seq "$reps"); do "$root/bench/out/bench_load" "$f" | awk '/seconds/ {print $4}'; done | median)
    params=$("$root/bench/out/bench_load" "$f" | awk '/params/ {print $4}')
    h5=$(for i in $(seq "$reps"); do "$py" - "$f" <<'PY'
import sys, time, h5py
t = time.perf_counter()
with h5py.File(sys.argv[1], "r") as f:
    arrays = []
    f["model_weights"].visititems(lambda n, o: arrays.append(o[()]) if isinstance(o, h5py.Dataset) else None)
print(time.perf_counter() - t)
PY
    done | median)
    ks=$(for i in $(seq 3); do ORACLE=$oracle "$py" -W ignore - "$f" <<'PY' 2>/dev/null | tail -1
import os, sys, time
sys.path.insert(0, os.environ["ORACLE"])
import oracle_env  # noqa: F401
import keras
t = time.perf_counter()
keras.models.load_model(sys.argv[1], compile=False)
print(time.perf_counter() - t)
PY
    done | median)
    printf '%-12s %10s %10.3f %10.3f %10.3f %8.2f\n' "$app" "$params" "$ck" "$h5" "$ks" "$(echo "$ck / $h5" | bc -l)"
done
