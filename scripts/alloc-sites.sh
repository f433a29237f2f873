#!/bin/sh
# Counts the library's allocation call sites (ck_malloc, ck_calloc, ck_realloc, ck_alloc_aligned,
# ck_strdup in src/, except src/core/alloc.c which defines them) that tests/test_alloc_fail.c
# reaches. Its k-loop makes every allocation reached by an operation fail once, so a site that
# is reached is a site whose failure is tested. Builds a gcov copy in build-cov/.
#   scripts/alloc-sites.sh [-v]     (-v lists the sites not reached)
set -eu
cd "$(dirname "$0")/.."
B=build-cov
rm -rf "$B"
mkdir -p "$B"
DEP="$(pkg-config --cflags hdf5-serial jansson check)"
CF="-std=c11 -O0 -g --coverage -fopenmp -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L -DCK_BLIS_STATIC=1 -Iinclude -Isrc -Itests -I/usr/include/x86_64-linux-gnu/blis-openmp $DEP"
objs=""
for f in $(ls src/*/*.c | grep -v '^src/cli/'); do
    o="$B/$(echo "$f" | tr / _ | sed 's/\.c$/.o/')"
    cc $CF -c "$f" -o "$o"
    objs="$objs $o"
done
cc $CF -o "$B/test_alloc_fail" tests/test_alloc_fail.c tests/testutil.c $objs \
    $(pkg-config --libs check) /usr/lib/x86_64-linux-gnu/blis-openmp/libblis.a \
    $(pkg-config --libs hdf5-serial jansson) -lz -fopenmp -lpthread -lm
CK_NO_FORK=1 "$B/test_alloc_fail" > "$B/run.log" 2>&1 || { tail -20 "$B/run.log"; exit 1; }
total=0
hit=0
: > "$B/missed.txt"
for f in $(ls src/*/*.c | grep -v '^src/cli/' | grep -v '^src/core/alloc.c$'); do
    o="$B/$(echo "$f" | tr / _ | sed 's/\.c$/.o/')"
    gcov -o "$o" "$f" > /dev/null 2>&1 || true
    g="$(basename "$f").gcov"
    [ -f "$g" ] && mv "$g" "$B/" && g="$B/$g"
    [ -f "$g" ] || continue
    # gcov lines: "  count:  line: source"; count is '-' (no code), '#####' (not run) or a number
    grep -E 'ck_(malloc|calloc|realloc|alloc_aligned|strdup)\(' "$g" | grep -v 'ck_strdup(const char' > "$B/sites" || true
    n=$(wc -l < "$B/sites")
    h=$(grep -cvE '^ *(#####|-):' "$B/sites" || true)
    total=$((total + n))
    hit=$((hit + h))
    grep -E '^ *#####:' "$B/sites" | sed "s|^ *#####: *\([0-9]*\):|$f:\1:|" >> "$B/missed.txt" || true
done
echo "allocation call sites in src/: $total; reached (and so failed) by test_alloc_fail: $hit"
[ "${1:-}" = "-v" ] && cat "$B/missed.txt"
exit 0
