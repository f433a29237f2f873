#!/bin/sh
# The public headers keep their own rules (scripts/check-header.py): every function returning
# ckeras_status lists its statuses (@return), constructors say when they return NULL, every
# function group states its thread-safety, no untyped flags, void * streams or int tensor ids.
# Run from the source root: sh tests/test_header_rules.sh
set -u
if ! command -v python3 > /dev/null 2>&1; then
    echo "test_header_rules: FAIL: python3 is needed (apt-get install python3)"
    exit 1
fi
python3 scripts/check-header.py include/ckeras.h include/ckeras_mpi.h || { echo "test_header_rules: FAILED"; exit 1; }
# the checker itself: a status function without @return, and a group without its line, fail
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
cat > "$tmp/bad.h" <<'EOB'
/** @name Things */
/**@{*/
/** Does a thing. */
CKERAS_API ckeras_status ckeras_thing_do(ckeras_thing *t, int flags);
/**@}*/
EOB
python3 scripts/check-header.py "$tmp/bad.h" > "$tmp/out" 2>&1
if [ $? -eq 0 ] || ! grep -q 'no @return' "$tmp/out" || ! grep -q 'Thread-safety' "$tmp/out" ||
    ! grep -q 'int flags' "$tmp/out"; then
    echo "test_header_rules: FAIL: the checker accepts a header that breaks the rules:"
    sed 's/^/    /' "$tmp/out"
    exit 1
fi
echo "test_header_rules: ok: the checker refuses a function without @return, a group without thread-safety, int flags"
echo "test_header_rules: passed"
