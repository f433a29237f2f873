#!/bin/sh
# (Re)makes the seed corpora of the fuzz targets in tests/fuzz/corpus/<target>/:
#  - files the library writes (tests/fuzz/gen_seeds.c: saved models, model JSON, npy, CSV, IDX)
#    and the seed call sequences of fuzz_api;
#  - small fixtures: tests/fixtures/h5/*.h5 and ../shared/fixtures/**/*.h5 (<= 128 KiB),
#    tests/fixtures/npy and ../shared/fixtures .npy/.npz (<= 64 KiB);
#  - the model_config JSON of every .h5 fixture (needs /usr/bin/python3 with h5py; skipped if not);
#  - the head of ../shared/data/breast_cancer.csv.
# Seeds are named by content hash (as libFuzzer names its inputs), so running it twice adds
# nothing new. Run from anywhere; needs `make all` first (lib/libckeras.a).
set -eu
cd "$(dirname "$0")/.."
C=tests/fuzz/corpus
SHARED=${CK_SHARED_FIXTURES:-../shared/fixtures}
SHARED_DATA=$(dirname "$SHARED")/data
mkdir -p "$C/load_model" "$C/model_json" "$C/npy" "$C/csv" "$C/idx" "$C/api"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

add() { # add TARGET FILE: copies FILE into the corpus under its sha1
    h=$(sha1sum "$2" | cut -c1-40)
    cp "$2" "$C/$1/$h"
}

cc ${CFLAGS:-} -std=c11 -D_DEFAULT_SOURCE -Iinclude -o "$tmp/gen_seeds" tests/fuzz/gen_seeds.c lib/libckeras.a \
    /usr/lib/x86_64-linux-gnu/blis-openmp/libblis.a $(pkg-config --libs hdf5-serial jansson) -lz -fopenmp -lpthread -lm
"$tmp/gen_seeds" "$tmp/gen"
for t in load_model model_json npy csv idx api; do
    for f in "$tmp/gen/$t"/*; do [ -f "$f" ] && add "$t" "$f"; done
done

h5s=$(find tests/fixtures/h5 "$SHARED" -name '*.h5' 2>/dev/null | sort)
for f in $h5s; do
    [ "$(stat -c %s "$f")" -le 131072 ] && add load_model "$f"
done
for f in $(find tests/fixtures/npy "$SHARED" \( -name '*.npy' -o -name '*.npz' \) 2>/dev/null | sort); do
    [ "$(stat -c %s "$f")" -le 65536 ] && add npy "$f"
done
if [ -f "$SHARED_DATA/breast_cancer.csv" ]; then
    head -c 4000 "$SHARED_DATA/breast_cancer.csv" | sed '$d' > "$tmp/bc.csv"
    add csv "$tmp/bc.csv"
fi

if /usr/bin/python3 -c 'import h5py' 2>/dev/null; then
    mkdir -p "$tmp/json"
    /usr/bin/python3 - "$tmp/json" $h5s <<'PY'
import h5py, hashlib, os, sys
out = sys.argv[1]
for path in sys.argv[2:]:
    try:
        with h5py.File(path, "r") as f:
            cfg = f.attrs.get("model_config")
    except Exception:
        continue
    if cfg is None:
        continue
    if isinstance(cfg, bytes):
        cfg = cfg.decode("utf-8", "replace")
    cfg = str(cfg)
    if len(cfg) > 65536:
        continue
    name = os.path.join(out, os.path.basename(path) + ".json")
    with open(name, "w") as g:
        g.write(cfg)
PY
    for f in "$tmp/json"/*.json; do [ -f "$f" ] && add model_json "$f"; done
else
    echo "fuzz-seeds.sh: no h5py for /usr/bin/python3: model_config JSON of the fixtures skipped" >&2
fi
for t in load_model model_json npy csv idx api; do
    echo "$t: $(ls "$C/$t" | wc -l) files, $(du -sk "$C/$t" | cut -f1) KiB"
done
