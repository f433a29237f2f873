#!/bin/sh
# The exported ABI of libckeras.so, checked three ways:
#  1. every dynamic symbol the library defines is ckeras_* (and its version node), nothing else;
#  2. the exported set equals the list in src/ckeras.map, each in a CKERAS_* version node, so
#     an accidental ABI change (a symbol gained or lost) fails here;
#  3. every function declared CKERAS_API in include/ckeras.h is in that list, and the other way
#     round (a new public function must be added to src/ckeras.map).
# Also: the SONAME, and that libckeras.a defines only ck_* / ckeras_* global symbols (a static
# link into a host program must not clash with the host's own names).
# Run from the source root after `make`: sh tests/test_symbols.sh [LIBDIR]
set -u
LIB_DIR=${1:-lib}
SO=$LIB_DIR/libckeras.so
AR=$LIB_DIR/libckeras.a
MAP=src/ckeras.map
HEADER=include/ckeras.h
HEADERS="include/ckeras.h include/ckeras_mpi.h"
fail=0
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

bad() { echo "test_symbols: FAIL: $*"; fail=1; }
ok() { echo "test_symbols: ok: $*"; }

for f in "$SO" "$AR" "$MAP" "$HEADER"; do
    [ -e "$f" ] || { echo "test_symbols: FAIL: $f is missing (run make first)"; exit 1; }
done
if [ -n "$(find "$MAP" -newer "$SO" 2>/dev/null)" ]; then
    bad "$MAP is newer than $SO: run make to relink"
fi

# nm -D prints "ADDR TYPE NAME@@VERSION" for versioned symbols, "0 A NODE" for version nodes.
nm -D --defined-only "$SO" > "$tmp/nm" || { echo "test_symbols: FAIL: nm -D $SO"; exit 1; }
awk 'NF == 3 && $2 != "A" { sub(/@.*/, "", $3); print $3 }' "$tmp/nm" | sort > "$tmp/exported"
awk 'NF == 3 && $2 == "A" { print $3 }' "$tmp/nm" | sort > "$tmp/nodes"
awk 'NF == 3 && $2 != "A" && $3 !~ /@@?CKERAS_/ { print $3 }' "$tmp/nm" > "$tmp/unversioned"
nexp=$(wc -l < "$tmp/exported")

# 1. nothing but ckeras_*
grep -v '^ckeras_' "$tmp/exported" > "$tmp/foreign"
if [ -s "$tmp/foreign" ]; then
    bad "$SO exports symbols outside ckeras_*:"; sed 's/^/    /' "$tmp/foreign"
else
    ok "all $nexp exported symbols are ckeras_*"
fi
grep -v '^CKERAS_' "$tmp/nodes" > "$tmp/badnodes"
if [ -s "$tmp/badnodes" ]; then
    bad "absolute symbols other than CKERAS_* version nodes:"; sed 's/^/    /' "$tmp/badnodes"
fi
if [ -s "$tmp/unversioned" ]; then
    bad "symbols without a CKERAS_* version (is $MAP in the shared link?):"
    sed 's/^/    /' "$tmp/unversioned" | head -20
else
    ok "every symbol is versioned ($(tr '\n' ' ' < "$tmp/nodes"))"
fi

# 2. the exported set equals the checked list
sed -e 's|/\*.*\*/||' "$MAP" | grep -o '^[[:space:]]*ckeras_[A-Za-z0-9_]*[[:space:]]*;' |
    tr -d ' \t;' | sort > "$tmp/listed"
if [ "$(sort -u "$tmp/listed" | wc -l)" != "$(wc -l < "$tmp/listed")" ]; then
    bad "$MAP lists a symbol twice:"; uniq -d "$tmp/listed" | sed 's/^/    /'
fi
if ! diff "$tmp/listed" "$tmp/exported" > "$tmp/diff1"; then
    bad "exported symbols differ from $MAP (< only in the list, > only in the library):"
    grep '^[<>]' "$tmp/diff1" | sed 's/^/    /'
else
    ok "exported set equals $MAP ($(wc -l < "$tmp/listed") symbols)"
fi

# 3. the header's CKERAS_API functions equal the list
grep -h '^[[:space:]]*CKERAS_API[[:space:]]' $HEADERS | grep -o 'ckeras_[A-Za-z0-9_]*[[:space:]]*(' |
    tr -d ' \t(' | sort -u > "$tmp/declared"
if [ ! -s "$tmp/declared" ]; then
    bad "found no CKERAS_API declarations in $HEADER"
elif ! diff "$tmp/listed" "$tmp/declared" > "$tmp/diff2"; then
    bad "CKERAS_API functions of $HEADER differ from $MAP (< only in the list, > only in the header):"
    grep '^[<>]' "$tmp/diff2" | sed 's/^/    /'
else
    ok "every CKERAS_API function of $HEADER is listed, and nothing else"
fi

# SONAME
major=$(sed -n 's/^#define CKERAS_VERSION_MAJOR \([0-9]*\).*/\1/p' "$HEADER")
soname=$(readelf -d "$SO" 2>/dev/null | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
if [ "$soname" != "libckeras.so.$major" ]; then
    bad "SONAME is '$soname', expected libckeras.so.$major"
else
    ok "SONAME $soname"
fi

# the static archive's global names
nm -g --defined-only "$AR" 2>/dev/null | awk 'NF == 3 { print $3 }' | sort -u |
    grep -v -e '^ck_' -e '^ckeras_' > "$tmp/arforeign"
if [ -s "$tmp/arforeign" ]; then
    bad "$AR defines global symbols outside ck_* / ckeras_*:"; sed 's/^/    /' "$tmp/arforeign" | head -20
else
    ok "$AR defines only ck_* and ckeras_* globals"
fi

if [ $fail -ne 0 ]; then
    echo "test_symbols: FAILED (a new public function: declare it CKERAS_API in $HEADER, run scripts/update-abi.sh, make)"
    exit 1
fi
echo "test_symbols: passed"
