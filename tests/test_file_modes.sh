#!/bin/sh
# Files the ckeras tool creates get mode 0666 less the umask, as fopen gives them (they were
# 0600 or 0644 whatever the umask): `ckeras predict` writing .npy and .npz under umask 022, 077
# and 002, then over an existing file of mode 0640 (kept). The library's savers are checked in
# tests/test_files.c (new_files_follow_the_umask).
# Run from the source root after `make`: sh tests/test_file_modes.sh
set -u
root=$(pwd)
bin="$root/bin/ckeras"
[ -x "$bin" ] || { echo "test_file_modes: FAIL: $bin is missing (run make first)"; exit 1; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
fail=0
bad() { echo "test_file_modes: FAIL: $*"; fail=1; }
ok() { echo "test_file_modes: ok: $*"; }

# a (2, 4) float32 .npy for the model's (None, 4) input: 10 + 118 header bytes, then 8 zeros
hdr="{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4), }"
pad=$((128 - 10 - ${#hdr} - 1))
{ printf '\223NUMPY\001\000\166\000%s%*s\n' "$hdr" "$pad" ""; head -c 32 /dev/zero; } > "$tmp/in.npy"
model="$root/tests/fixtures/layers/smoke/dense_relu.h5"

for mask in 022 077 002; do
    want=$(printf '%o' $((0666 & ~0$mask)))
    for ext in npy npz; do
        out="$tmp/out-$mask.$ext"
        if ! (umask $mask && "$bin" predict "$model" "$tmp/in.npy" "$out") > "$tmp/log" 2>&1; then
            bad "ckeras predict ... $ext under umask $mask:"; sed 's/^/    /' "$tmp/log"; continue
        fi
        got=$(stat -c %a "$out")
        [ "$got" = "$want" ] && ok "predict -> .$ext under umask $mask: mode $got" ||
            bad "predict -> .$ext under umask $mask: mode $got, expected $want"
    done
done
out="$tmp/out-022.npy"
chmod 640 "$out"
(umask 077 && "$bin" predict "$model" "$tmp/in.npy" "$out") > "$tmp/log" 2>&1 || bad "predict over a file"
got=$(stat -c %a "$out")
[ "$got" = 640 ] && ok "predict over an existing file keeps its mode 640" || bad "predict over a 640 file: mode $got"

if [ $fail -ne 0 ]; then
    echo "test_file_modes: FAILED"
    exit 1
fi
echo "test_file_modes: passed"
