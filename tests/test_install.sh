#!/bin/sh
# `make install` into a temporary DESTDIR with a PREFIX, then, outside the source tree:
#  - the seed example (C) and the C++ example build with `pkg-config --cflags --libs ckeras`
#    (PKG_CONFIG_PATH into the DESTDIR tree, prefix moved with --define-variable) and run
#    against the installed libckeras.so;
#  - the seed example builds from libckeras.a with `pkg-config --static --libs ckeras` and runs
#    without libckeras.so;
#  - the Python binding (installed with the docs) loads the installed library;
# then `make uninstall` leaves no file behind. Reuses the libraries `make` built.
# Run from the source root: sh tests/test_install.sh
set -u
MAKE=${MAKE:-make}
CC=${CC:-cc}
CXX=${CXX:-g++}
PKG_CONFIG=${PKG_CONFIG:-pkg-config}
root=$(pwd)
fail=0
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
bad() { echo "test_install: FAIL: $*"; fail=1; }
ok() { echo "test_install: ok: $*"; }
show() { sed 's/^/    /' "$1" | tail -${2:-20}; }

command -v "$PKG_CONFIG" > /dev/null 2>&1 || { echo "test_install: skipped: no pkg-config"; exit 0; }

dest="$tmp/dest"
prefix=/opt/ckeras-test
top="$dest$prefix"
# `make install` must not need to rebuild anything `make` built.
if ! $MAKE --no-print-directory -C "$root" install DESTDIR="$dest" PREFIX="$prefix" > "$tmp/install.log" 2>&1; then
    bad "make install DESTDIR=$dest PREFIX=$prefix"; show "$tmp/install.log"; exit 1
fi
if grep -E '(^|[ /])(cc|gcc|ar) ' "$tmp/install.log" | grep -q -v -e '^install' -e '^sed'; then
    bad "make install recompiled or relinked something:"; grep -E '(^|[ /])(cc|gcc|ar) ' "$tmp/install.log" | head -3
fi
ok "make install DESTDIR=\$tmp PREFIX=$prefix"

version=$(sed -n 's/^#define CKERAS_VERSION "\(.*\)"/\1/p' "$root/include/ckeras.h")
major=${version%%.*}
for f in include/ckeras.h lib/libckeras.so.$version lib/libckeras.a lib/pkgconfig/ckeras.pc \
    share/man/man1/ckeras.1 share/man/man3/ckeras.3 share/doc/ckeras/README.md \
    share/doc/ckeras/guide.md share/doc/ckeras/examples/seed_mlp.c; do
    [ -f "$top/$f" ] || bad "not installed: $prefix/$f"
done
[ "$(readlink "$top/lib/libckeras.so.$major")" = "libckeras.so.$version" ] || bad "libckeras.so.$major link"
[ "$(readlink "$top/lib/libckeras.so")" = "libckeras.so.$major" ] || bad "libckeras.so link"
if [ -f "$root/bin/ckeras" ]; then
    if [ ! -x "$top/bin/ckeras" ]; then
        bad "bin/ckeras not installed"
    elif "$top/bin/ckeras" version | grep -q "^ckeras $version"; then
        ok "installed ckeras tool: $("$top/bin/ckeras" version)"
    else
        bad "the installed ckeras tool does not run"
    fi
fi
find "$dest" -type f | sed "s|^$dest||" | sort > "$tmp/files"
echo "test_install: $(wc -l < "$tmp/files") files installed"

# pkg-config, from the DESTDIR tree only
export PKG_CONFIG_PATH="$top/lib/pkgconfig"
export PKG_CONFIG_LIBDIR="$top/lib/pkgconfig"   # nothing from the system's ckeras.pc, if any
PC="$PKG_CONFIG --define-variable=prefix=$top"
if [ "$($PC --modversion ckeras)" != "$version" ]; then bad "pkg-config --modversion: $($PC --modversion ckeras)"; fi
cflags=$($PC --cflags ckeras) && libs=$($PC --libs ckeras) && slibs=$($PC --static --libs ckeras) ||
    { bad "pkg-config --cflags/--libs ckeras failed"; exit 1; }
echo "test_install: cflags: $cflags"
echo "test_install: libs:   $libs"
echo "test_install: static: $slibs"
case "$cflags $libs" in
    *"$top/include"*"$top/lib"*) ok "--define-variable=prefix relocates the paths" ;;
    *) bad "pkg-config paths do not follow the prefix" ;;
esac
case "$cflags $slibs" in
    *"$root"*) bad "pkg-config output points into the source tree" ;;
esac
unset PKG_CONFIG_LIBDIR
# without --define-variable, the paths are the install paths
case "$(PKG_CONFIG_LIBDIR="$top/lib/pkgconfig" $PKG_CONFIG --cflags ckeras | sed "s/ *$//")" in
    "-I$prefix/include") ok "the .pc names $prefix" ;;
    *) bad "the .pc's own prefix is not $prefix" ;;
esac

# a work folder outside the source tree with copies of the examples and the data
work="$tmp/work"
mkdir -p "$work/data"
cp "$top/share/doc/ckeras/examples/seed_mlp.c" "$top/share/doc/ckeras/examples/cpp_example.cpp" "$work/"
cp "$top/share/doc/ckeras/examples/data/breast_cancer.csv" "$work/data/"
cd "$work" || exit 1
run_ok() { # label expected-line-pattern command...
    label=$1; pattern=$2; shift 2
    if "$@" > "$tmp/run.log" 2>&1 && grep -q "$pattern" "$tmp/run.log"; then
        ok "$label: $(grep "$pattern" "$tmp/run.log" | head -1)"
    else
        bad "$label"; show "$tmp/run.log"
    fi
}

# C, shared
if $CC -std=c11 -Wall -Wextra -Werror -o seed_shared seed_mlp.c $cflags $libs > "$tmp/cc.log" 2>&1; then
    if LD_LIBRARY_PATH="$top/lib" ldd ./seed_shared | grep -q "=> $top/lib/libckeras.so.$major "; then
        ok "seed_shared loads libckeras.so.$major from the installed tree"
    else
        bad "seed_shared does not load the installed libckeras"; LD_LIBRARY_PATH="$top/lib" ldd ./seed_shared
    fi
    run_ok "seed_mlp (shared)" "^test: " env LD_LIBRARY_PATH="$top/lib" ./seed_shared
else
    bad "seed_mlp.c does not build with pkg-config --cflags --libs"; show "$tmp/cc.log"
fi

# C, static: the archive instead of -lckeras (GNU ld prefers the .so when both exist)
slibs_a=$(echo "$slibs" | sed 's/-lckeras\b/-l:libckeras.a/')
if $CC -std=c11 -Wall -Wextra -Werror -o seed_static seed_mlp.c $cflags $slibs_a > "$tmp/cc.log" 2>&1; then
    if readelf -d seed_static | grep NEEDED | grep -q libckeras; then
        bad "seed_static still needs libckeras.so"
    else
        ok "seed_static has libckeras.a linked in (no libckeras.so in NEEDED)"
    fi
    run_ok "seed_mlp (static)" "^test: " ./seed_static
    if [ -f "$tmp/run.log" ] && [ -x seed_shared ]; then
        grep '^test: ' "$tmp/run.log" > "$tmp/static.txt"
        LD_LIBRARY_PATH="$top/lib" ./seed_shared | grep '^test: ' > "$tmp/shared.txt"
        cmp -s "$tmp/static.txt" "$tmp/shared.txt" && ok "static and shared builds give the same result" ||
            bad "static and shared builds differ: $(cat "$tmp/static.txt") / $(cat "$tmp/shared.txt")"
    fi
else
    bad "seed_mlp.c does not link statically with pkg-config --static --libs"; show "$tmp/cc.log"
fi

# C++
if command -v "$CXX" > /dev/null 2>&1; then
    if $CXX -std=c++11 -Wall -Wextra -pedantic -Werror -o cpp_example cpp_example.cpp $cflags $libs > "$tmp/cc.log" 2>&1; then
        run_ok "cpp_example (shared)" "^test: " env LD_LIBRARY_PATH="$top/lib" ./cpp_example
    else
        bad "cpp_example.cpp does not build with pkg-config"; show "$tmp/cc.log"
    fi
    if $CXX -std=c++11 -o cpp_static cpp_example.cpp $cflags $slibs_a > "$tmp/cc.log" 2>&1; then
        run_ok "cpp_example (static)" "^test: " ./cpp_static
    else
        bad "cpp_example.cpp does not link statically"; show "$tmp/cc.log"
    fi
else
    echo "test_install: skipped the C++ example: $CXX is not installed"
fi

# The Python package outside a checkout: no CKERAS_LIBRARY, so it finds libckeras.so.N through the loader
py=$(command -v /usr/bin/python3 || command -v python3)
if [ -n "$py" ] && "$py" -c 'import numpy' > /dev/null 2>&1; then
    cp -R "$root/python/ckeras" "$work/"
    run_ok "python package finds the installed library" "^$version $top/lib/libckeras.so.$version\$" \
        env -u CKERAS_LIBRARY LD_LIBRARY_PATH="$top/lib" "$py" -c "import ckeras
print(ckeras.version(), [l.split()[-1] for l in open('/proc/self/maps') if 'libckeras' in l][0])"
else
    echo "test_install: skipped the Python package: no python3 with NumPy"
fi

# uninstall: no file is left, and nothing else was removed
cd "$root" || exit 1
mkdir -p "$top/lib" && echo keep > "$top/lib/other-file"
if ! $MAKE --no-print-directory -C "$root" uninstall DESTDIR="$dest" PREFIX="$prefix" > "$tmp/uninstall.log" 2>&1; then
    bad "make uninstall"; show "$tmp/uninstall.log"
fi
left=$(find "$dest" \( -type f -o -type l \) ! -path "$top/lib/other-file")
if [ -n "$left" ]; then
    bad "make uninstall left files behind:"; echo "$left" | sed "s|^$dest|    |"
else
    ok "make uninstall removed all $(wc -l < "$tmp/files") files"
fi
[ -f "$top/lib/other-file" ] || bad "make uninstall removed a file it did not install"
# every file it removes lies under DESTDIR+PREFIX (a bad substitution once named source files)
outside=$($MAKE --no-print-directory -s -n -C "$root" uninstall DESTDIR= PREFIX="$prefix" |
    grep '^rm -f' | tr ' ' '\n' | tr -d '"' | grep -v -e '^rm$' -e '^-f$' -e "^$prefix/" || true)
if [ -n "$outside" ]; then
    bad "make uninstall would remove files outside PREFIX: $outside"
else
    ok "make uninstall removes only files under PREFIX"
fi

if [ $fail -ne 0 ]; then
    echo "test_install: FAILED"
    exit 1
fi
echo "test_install: passed"
