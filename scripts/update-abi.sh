#!/bin/sh
# Brings src/ckeras.map (the exported ABI, version node CKERAS_1) in line with the functions
# include/ckeras.h declares CKERAS_API: adds new ones in alphabetical order. Removing a listed
# function breaks the ABI, so it is refused unless --allow-removal is given.
# Run from the source root: scripts/update-abi.sh [--allow-removal]; then `make` and
# `sh tests/test_symbols.sh`.
set -eu
MAP=src/ckeras.map
HEADER=include/ckeras.h
HEADERS="include/ckeras.h include/ckeras_mpi.h"
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
