#!/bin/sh
# Typed flag groups (include/ckeras.h): a flag of another group passed to a call must not compile
# under -Wall -Wextra -Werror (gcc's and clang's -Wenum-conversion), while the right group's
# flags, 0, the *_DEFAULT members and a combination of one group's flags compile cleanly.
# Run from the source root: sh tests/test_flag_groups.sh
set -u
CC=${CC:-cc}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
fail=0
bad() { echo "test_flag_groups: FAIL: $*"; fail=1; }
ok() { echo "test_flag_groups: ok: $*"; }
FLAGS="-std=c11 -Wall -Wextra -Werror -Iinclude"

# must_compile label body / must_fail label body: a function around body, compiled (no link).
unit() {
    printf '#include <ckeras.h>\nint f(ckeras_model *m, ckeras_model **out, char **dot);\n' > "$tmp/$1.c"
    printf 'int f(ckeras_model *m, ckeras_model **out, char **dot)\n{\n    (void)m; (void)out; (void)dot;\n    return (int)(%s);\n}\n' "$2" >> "$tmp/$1.c"
}
must_compile() {
    unit ok "$2"
    if $CC $FLAGS -c "$tmp/ok.c" -o "$tmp/ok.o" > "$tmp/log" 2>&1; then
        ok "compiles: $1"
    else
        bad "does not compile: $1"; sed 's/^/    /' "$tmp/log" | head -10
    fi
}
must_fail() {
    unit no "$2"
    if $CC $FLAGS -c "$tmp/no.c" -o "$tmp/no.o" > "$tmp/log" 2>&1; then
        bad "compiles, but passes a flag of another group: $1"
    elif grep -q 'enum-conversion\|implicit conversion from enumeration type' "$tmp/log"; then
        ok "refused (-Wenum-conversion): $1"
    else
        bad "refused for another reason than the flag's group: $1"; sed 's/^/    /' "$tmp/log" | head -10
    fi
}

must_compile "save with a SAVE flag" 'ckeras_model_save(m, "m.h5", CKERAS_SAVE_NO_OPTIMIZER)'
must_compile "save with 0" 'ckeras_model_save(m, "m.h5", 0)'
must_compile "save with CKERAS_SAVE_DEFAULT" 'ckeras_model_save(m, "m.h5", CKERAS_SAVE_DEFAULT)'
must_compile "save with two SAVE flags" 'ckeras_model_save(m, "m.h5", CKERAS_SAVE_NO_OPTIMIZER | CKERAS_SAVE_KERAS3)'
must_compile "load with a LOAD flag" 'ckeras_load_model("m.h5", CKERAS_LOAD_NO_COMPILE, out)'
must_compile "load_weights with WEIGHTS flags" 'ckeras_model_load_weights(m, "w.h5", CKERAS_WEIGHTS_BY_NAME | CKERAS_WEIGHTS_SKIP_MISMATCH)'
must_compile "to_dot with DOT flags" 'ckeras_model_to_dot(m, CKERAS_DOT_SHAPES, dot)'
must_fail "save with a LOAD flag" 'ckeras_model_save(m, "m.h5", CKERAS_LOAD_NO_COMPILE)'
must_fail "load with a SAVE flag" 'ckeras_load_model("m.h5", CKERAS_SAVE_KERAS3, out)'
must_fail "load_weights with a LOAD flag" 'ckeras_model_load_weights(m, "w.h5", CKERAS_LOAD_NO_COMPILE)'
must_fail "to_dot with a WEIGHTS flag" 'ckeras_model_to_dot(m, CKERAS_WEIGHTS_BY_NAME, dot)'
if command -v clang > /dev/null 2>&1 && [ "$CC" != clang ]; then
    CC=clang must_fail "clang: save with a LOAD flag" 'ckeras_model_save(m, "m.h5", CKERAS_LOAD_NO_COMPILE)'
fi

if [ $fail -ne 0 ]; then echo "test_flag_groups: FAILED"; exit 1; fi
echo "test_flag_groups: passed"
