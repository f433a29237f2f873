#!/bin/sh
# Docs that cannot drift: tests/check_docs.py reads the public functions from the headers
# (CKERAS_API in include/ckeras.h and include/ckeras_mpi.h) and fails naming any function that
# has no Doxygen comment block, that docs/ckeras.3 does not list, or that docs/ckeras.3 names
# but no header declares. When doxygen is installed, docs/Doxyfile is also run (XML only, with
# EXTRACT_ALL=NO so that WARN_IF_UNDOCUMENTED reports undocumented members): any warning fails,
# and the XML reference must document every function.
# Run from the source root: sh tests/test_docs.sh
set -u
py=""
for p in python3 /usr/bin/python3; do
    if command -v "$p" > /dev/null 2>&1; then py=$(command -v "$p"); break; fi
done
[ -n "$py" ] || { echo "test_docs: skipped: python3 is not installed"; exit 0; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
fail=0
xml=""
if command -v doxygen > /dev/null 2>&1; then
    version=$(sed -n 's/^#define CKERAS_VERSION "\(.*\)"/\1/p' include/ckeras.h)
    { cat docs/Doxyfile
      echo "OUTPUT_DIRECTORY = $tmp"
      echo "GENERATE_HTML = NO"
      echo "GENERATE_XML = YES"
      echo "EXTRACT_ALL = NO"
      echo "WARN_IF_UNDOCUMENTED = YES"
      echo "WARN_AS_ERROR = NO"
      echo "WARN_LOGFILE = $tmp/warnings.log"
      echo "QUIET = YES"
    } > "$tmp/Doxyfile"
    if ! CKERAS_VERSION=$version doxygen "$tmp/Doxyfile" > "$tmp/doxygen.out" 2>&1; then
        echo "test_docs: FAIL: doxygen failed:"; sed 's/^/    /' "$tmp/doxygen.out" | tail -20; fail=1
    elif [ -s "$tmp/warnings.log" ]; then
        echo "test_docs: FAIL: doxygen warns ($(wc -l < "$tmp/warnings.log") lines):"
        sed 's/^/    /' "$tmp/warnings.log" | head -40; fail=1
    else
        echo "test_docs: ok: doxygen $(doxygen --version) with WARN_IF_UNDOCUMENTED: no warning"
    fi
    [ -d "$tmp/xml" ] && xml="--xml $tmp/xml"
else
    echo "test_docs: doxygen is not installed: the Doxygen run is skipped (the comment check is not)"
fi
"$py" tests/check_docs.py $xml || fail=1
if [ $fail -ne 0 ]; then
    echo "test_docs: FAILED"
    exit 1
fi
echo "test_docs: passed"
