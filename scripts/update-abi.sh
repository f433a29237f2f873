#!/bin/sh
# The ABI's two committed descriptions, kept in line with include/ckeras.h:
#
# scripts/update-abi.sh [--allow-removal]
#   Brings src/ckeras.map (the exported symbols, version node CKERAS_1) in line with the functions
#   include/ckeras.h declares CKERAS_API: adds new ones in alphabetical order. Removing a listed
#   function breaks the ABI, so it is refused unless --allow-removal is given. Then `make` and
#   `sh tests/test_symbols.sh`.
# scripts/update-abi.sh --abidw [LIB]
#   Writes abi/libckeras.so.1.abi, libabigail's description of the released ABI (functions,
#   parameter and return types, the types they reach, symbol versions), from LIB (default
#   lib/libckeras.so.1, built with -g by `make`). Done once per release: the file is the
#   reference `make check-abi` compares every later build with. Reproducible: no paths, no line
#   numbers, only the exported interfaces (the same compiler gives the same file).
# scripts/update-abi.sh --check [LIB]
#   What `make check-abi` runs: abidiff of abi/libckeras.so.1.abi against LIB. abidiff's exit
#   status is a bit set: 1 error, 2 usage error, 4 an ABI change, 8 an incompatible change (a
#   removed function). Every bit fails the check, 4 included: after 1.0 a function's parameter
#   or return type, a struct, an enum's values or a typedef may not change at all (abidiff
#   reports a changed parameter type as 4, not 8, so failing on 8 alone would let it through).
#   Added functions are allowed (--no-added-syms; test_symbols.sh checks they are listed).
# Run from the source root.
set -eu
MAP=src/ckeras.map
HEADER=include/ckeras.h
HEADERS="include/ckeras.h include/ckeras_mpi.h"
ABI_XML=abi/libckeras.so.1.abi
ABI_FLAGS="--exported-interfaces-only --drop-private-types"
ABIDW_FLAGS="--headers-dir include $ABI_FLAGS --no-corpus-path --no-comp-dir-path --no-show-locs --no-elf-needed"
case "${1:-}" in
--abidw)
    lib=${2:-lib/libckeras.so.1}
    command -v abidw > /dev/null || { echo "update-abi: abidw missing (apt-get install abigail-tools)" >&2; exit 1; }
    [ -e "$lib" ] || { echo "update-abi: $lib is missing (run make)" >&2; exit 1; }
    mkdir -p abi
    abidw $ABIDW_FLAGS --out-file "$ABI_XML" "$lib"
    echo "update-abi: wrote $ABI_XML from $lib ($(grep -c '<elf-symbol ' "$ABI_XML") symbols)"
    exit 0
    ;;
--check)
    lib=${2:-lib/libckeras.so.1}
    command -v abidiff > /dev/null || { echo "check-abi: abidiff missing (apt-get install abigail-tools)" >&2; exit 1; }
    [ -e "$lib" ] || { echo "check-abi: $lib is missing (run make)" >&2; exit 1; }
    rc=0
    abidiff --headers-dir2 include $ABI_FLAGS --no-added-syms "$ABI_XML" "$lib" || rc=$?
    if [ $rc -ne 0 ]; then
        why=""
        [ $((rc & 1)) -ne 0 ] && why="$why error,"
        [ $((rc & 2)) -ne 0 ] && why="$why usage error,"
        [ $((rc & 4)) -ne 0 ] && why="$why ABI change,"
        [ $((rc & 8)) -ne 0 ] && why="$why incompatible change,"
        echo "check-abi: FAILED: abidiff exit status $rc ($(echo $why | sed "s/,$//")) against $ABI_XML, the 1.0.0 ABI" >&2
        echo "check-abi: a released function may not change; add a new function instead (README, Versioning)" >&2
        exit 1
    fi
    echo "check-abi: ok: $lib keeps the 1.0.0 ABI of $ABI_XML"
    exit 0
    ;;
esac
allow_removal=0
[ "${1:-}" = "--allow-removal" ] && allow_removal=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

grep -h '^[[:space:]]*CKERAS_API[[:space:]]' $HEADERS | grep -o 'ckeras_[A-Za-z0-9_]*[[:space:]]*(' |
    tr -d ' \t(' | sort -u > "$tmp/declared"
sed -e 's|/\*.*\*/||' "$MAP" | grep -o '^[[:space:]]*ckeras_[A-Za-z0-9_]*[[:space:]]*;' |
    tr -d ' \t;' | sort -u > "$tmp/listed"
comm -13 "$tmp/listed" "$tmp/declared" > "$tmp/added"
comm -23 "$tmp/listed" "$tmp/declared" > "$tmp/removed"
if [ -s "$tmp/removed" ] && [ $allow_removal -eq 0 ]; then
    echo "update-abi: these listed functions are no longer declared (an ABI break):" >&2
    sed 's/^/    /' "$tmp/removed" >&2
    echo "update-abi: restore them, or rerun with --allow-removal (and bump the SONAME)" >&2
    exit 1
fi
if [ ! -s "$tmp/added" ] && [ ! -s "$tmp/removed" ]; then
    echo "update-abi: $MAP is up to date ($(wc -l < "$tmp/listed") symbols)"
    exit 0
fi
# Rewrite the global: list of the map's only node; comments and the rest stay as they are.
awk -v list="$tmp/declared" '
    /^[[:space:]]*global:/ { print; while ((getline s < list) > 0) print "        " s ";"; skip = 1; next }
    /^[[:space:]]*local:/ { skip = 0 }
    !skip { print }
' "$MAP" > "$tmp/map"
cp "$tmp/map" "$MAP"
[ -s "$tmp/added" ] && { echo "update-abi: added to $MAP:"; sed 's/^/    /' "$tmp/added"; }
[ -s "$tmp/removed" ] && { echo "update-abi: removed from $MAP:"; sed 's/^/    /' "$tmp/removed"; }
exit 0
