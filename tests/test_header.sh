#!/bin/sh
# Header hygiene: include/ckeras.h alone must compile, warning-free and pedantic, as C99, C11
# and C++11 (and with clang when it is installed); it must survive being included twice and
# give the same version in its macros as the library at run time. The C++ example must compile
# under the same flags.
# Run from the source root after `make`: sh tests/test_header.sh
set -u
CC=${CC:-cc}
CXX=${CXX:-g++}
fail=0
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
bad() { echo "test_header: FAIL: $*"; fail=1; }
ok() { echo "test_header: ok: $*"; }

# A translation unit that includes only ckeras.h (twice: the include guard) and touches every
# kind of declaration, so the compiler checks their types, not just the tokens.
cat > "$tmp/tu.c" <<'EOF'
#include <ckeras.h>
#include <ckeras.h>

static ckeras_status on_event(ckeras_event event, int index, const ckeras_logs *logs, void *user_data)
{
    (void)index;
    (void)user_data;
    return event == CKERAS_EPOCH_END && ckeras_logs_count(logs) < 0 ? CKERAS_STOP : CKERAS_OK;
}

int main(void)
{
    ckeras_callback_fn fn = on_event;
    const char *(*version)(void) = ckeras_version;
    int64_t shape[CKERAS_MAX_DIMS] = {2, 3};
    ckeras_tensor *t = ckeras_tensor_new(2, shape);
    int64_t n = ckeras_tensor_size(t);
    ckeras_tensor_free(t);
    ckeras_callback_free(ckeras_lambda_callback(fn, NULL));
    return (CKERAS_VERSION_NUMBER == ckeras_version_number() && version() != NULL && n == 6) ? 0 : 1;
}
EOF
cp "$tmp/tu.c" "$tmp/tu.cpp"

compile() { # label compiler args...
    label=$1
    shift
    if "$@" > "$tmp/log" 2>&1; then
        ok "$label"
    else
        bad "$label: $*"
        sed 's/^/    /' "$tmp/log" | head -30
    fi
}

CWARN="-Wall -Wextra -pedantic -Werror -Wstrict-prototypes -Wmissing-prototypes -Wshadow -Wcast-qual"
for std in c99 c11; do
    compile "$CC -std=$std" $CC -std=$std $CWARN -Iinclude -c "$tmp/tu.c" -o "$tmp/tu_$std.o"
done
if command -v clang > /dev/null 2>&1 && [ "$CC" != clang ]; then
    compile "clang -std=c99" clang -std=c99 $CWARN -Iinclude -c "$tmp/tu.c" -o "$tmp/tu_clang.o"
fi

if command -v "$CXX" > /dev/null 2>&1; then
    for std in c++11 c++17; do
        compile "$CXX -std=$std" $CXX -std=$std -Wall -Wextra -pedantic -Werror -Wold-style-cast \
            -Iinclude -c "$tmp/tu.cpp" -o "$tmp/tu_$std.o"
    done
    compile "examples/cpp_example.cpp, $CXX -std=c++11" $CXX -std=c++11 -Wall -Wextra -pedantic -Werror \
        -Iinclude -fsyntax-only examples/cpp_example.cpp
else
    echo "test_header: skipped the C++ checks: $CXX is not installed (apt-get install g++)"
fi

# The C99 object links against the shared library and runs: header and library agree.
if [ -f "$tmp/tu_c99.o" ] && [ -e lib/libckeras.so ]; then
    if $CC -o "$tmp/tu" "$tmp/tu_c99.o" -Llib -lckeras > "$tmp/log" 2>&1 &&
        LD_LIBRARY_PATH=lib "$tmp/tu"; then
        ok "linked against lib/libckeras.so; header version $(sed -n 's/^#define CKERAS_VERSION "\(.*\)"/\1/p' include/ckeras.h) matches the library"
    else
        bad "the C99 test program failed to link or run (version mismatch?)"
        sed 's/^/    /' "$tmp/log" | head -10
    fi
fi

# Everything the header declares is named ckeras_* / CKERAS_* (macros, types, enum constants).
grep -o '#define [A-Za-z_][A-Za-z0-9_]*' include/ckeras.h | awk '{print $2}' |
    grep -v -e '^CKERAS_' -e '^CKERAS_H$' > "$tmp/macros"
{
    grep -o 'typedef [^;(]*[ *][A-Za-z_][A-Za-z0-9_]*;' include/ckeras.h | tr -d ';*' | awk '{print $NF}'
    grep -o '^}[[:space:]]*[A-Za-z_][A-Za-z0-9_]*;' include/ckeras.h | tr -d '};' | awk '{print $NF}'
    grep -o '(\*[[:space:]]*[A-Za-z_][A-Za-z0-9_]*)' include/ckeras.h | tr -d '(*) '
} > "$tmp/types_all"
grep -o '^[[:space:]]*[A-Z_][A-Z0-9_]*[[:space:]]*=' include/ckeras.h | tr -d ' =' > "$tmp/consts"
[ "$(wc -l < "$tmp/types_all")" -ge 12 ] || bad "the type name extraction found too few types"
cat "$tmp/consts" >> "$tmp/types_all"
grep -v -e '^ckeras_' -e '^CKERAS_' "$tmp/types_all" > "$tmp/types"
if [ -s "$tmp/macros" ] || [ -s "$tmp/types" ]; then
    bad "names outside the ckeras namespace: $(cat "$tmp/macros" "$tmp/types" | tr '\n' ' ')"
else
    ok "all macros and types are CKERAS_* / ckeras_*"
fi

# CKERAS_API as each platform sees it (the preprocessor only; _WIN32 defined by hand).
api() { printf '#include <ckeras.h>\nX CKERAS_API Y\n' | $CC -E -P -Iinclude "$@" - 2>/dev/null | grep '^X ' | tr -s ' '; }
w_build=$(api -U__GNUC__ -D_WIN32 -DCKERAS_BUILD)
w_use=$(api -U__GNUC__ -D_WIN32)
w_static=$(api -U__GNUC__ -D_WIN32 -DCKERAS_STATIC)
gnu=$(api)
if [ "$w_build" = "X __declspec(dllexport) Y" ] && [ "$w_use" = "X __declspec(dllimport) Y" ] &&
    [ "$w_static" = "X Y" ] && [ "$gnu" = 'X __attribute__((visibility("default"))) Y' ]; then
    ok "CKERAS_API: dllexport/dllimport/nothing on Windows, visibility(default) with GCC"
else
    bad "CKERAS_API: Windows build '$w_build', use '$w_use', static '$w_static'; GCC '$gnu'"
fi

if [ $fail -ne 0 ]; then
    echo "test_header: FAILED"
    exit 1
fi
echo "test_header: passed"
