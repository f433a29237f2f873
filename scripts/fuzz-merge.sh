#!/bin/sh
# Merges what fuzzing found ($FUZZ_RUN/corpus/<target>, default build-fuzz/run) into the
# committed corpora tests/fuzz/corpus/<target>: libFuzzer's -merge=1 keeps the smallest set of
# inputs that covers every feature of the old corpus and the new inputs (files named by sha1).
#   scripts/fuzz-merge.sh [TARGET...]     (default: every target; needs make fuzz-build)
set -eu
cd "$(dirname "$0")/.."
RUN=${FUZZ_RUN:-build-fuzz/run}
targets=${*:-$(ls tests/fuzz/fuzz_*.c | sed 's|tests/fuzz/fuzz_||; s|\.c$||')}
for t in $targets; do
    bin=build-fuzz/fuzz_$t
    [ -x "$bin" ] || { echo "fuzz-merge.sh: no $bin (make fuzz-build)" >&2; exit 1; }
    [ -d "$RUN/corpus/$t" ] || { echo "$t: nothing to merge"; continue; }
    new=$(mktemp -d)
    before=$(ls tests/fuzz/corpus/$t | wc -l)
    ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 \
        "$bin" -merge=1 -timeout=25 -rss_limit_mb=3072 "$new" tests/fuzz/corpus/$t "$RUN/corpus/$t" \
        > "$RUN/merge_$t.log" 2>&1 || { tail -20 "$RUN/merge_$t.log"; rm -rf "$new"; exit 1; }
    rm -rf tests/fuzz/corpus/$t
    mkdir -p tests/fuzz/corpus/$t
    mv "$new"/* tests/fuzz/corpus/$t/ 2>/dev/null || true
    rmdir "$new"
    echo "$t: $before -> $(ls tests/fuzz/corpus/$t | wc -l) files, $(du -sk tests/fuzz/corpus/$t | cut -f1) KiB"
done
