#!/bin/sh
# Use from the build tree: `make` writes build/ckeras-uninstalled.pc (pkg-config's convention for
# uninstalled libraries), and with PKG_CONFIG_PATH=build alone, outside the source tree:
#  - examples/seed_mlp.c builds with `pkg-config --cflags --libs ckeras`, needs libckeras.so
#    from lib/, and runs (LD_LIBRARY_PATH=lib, and with -Wl,-rpath instead);
#  - it builds with `pkg-config --cflags --static --libs ckeras` from lib/libckeras.a (no
#    libckeras.so in NEEDED, so BLIS, HDF5, OpenMP, ... all come from Libs.private) and runs
#    without LD_LIBRARY_PATH; both give the same test line.
# Run from the source root after `make`: sh tests/test_uninstalled_pc.sh
set -u
MAKE=${MAKE:-make}
CC=${CC:-cc}
PKG_CONFIG=${PKG_CONFIG:-pkg-config}
root=$(pwd)
fail=0
bad() { echo "test_uninstalled_pc: FAIL: $*"; fail=1; }
ok() { echo "test_uninstalled_pc: ok: $*"; }
show() { sed 's/^/    /' "$1" | tail -${2:-20}; }
command -v "$PKG_CONFIG" > /dev/null 2>&1 || { echo "test_uninstalled_pc: skipped: no pkg-config"; exit 0; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

$MAKE --no-print-directory -s build/ckeras-uninstalled.pc build/ckeras-so-uninstalled.pc > "$tmp/make.log" 2>&1 ||
    { bad "make build/ckeras-uninstalled.pc"; show "$tmp/make.log"; exit 1; }
for f in lib/libckeras.a lib/libckeras.so; do
    [ -e "$f" ] || { bad "$f is missing (run make first)"; exit 1; }
done
version=$(sed -n 's/^#define CKERAS_VERSION "\(.*\)"/\1/p' include/ckeras.h)

# only the build tree's files: no installed ckeras.pc can answer
PC="env PKG_CONFIG_PATH=$root/build PKG_CONFIG_LIBDIR=$root/build $PKG_CONFIG"
[ "$($PC --modversion ckeras)" = "$version" ] && ok "pkg-config --modversion ckeras: $version" ||
    bad "pkg-config --modversion ckeras: '$($PC --modversion ckeras)', expected $version"
# the system's .pc files are needed for nothing: the dependencies are written out in full
cflags=$($PC --cflags ckeras) && libs=$($PC --libs ckeras) && slibs=$($PC --static --libs ckeras) ||
    { bad "pkg-config --cflags/--libs ckeras failed"; exit 1; }
echo "test_uninstalled_pc: cflags: $cflags"
echo "test_uninstalled_pc: libs:   $libs"
echo "test_uninstalled_pc: static: $slibs"
case "$cflags" in *"-I$root/include"*) ok "Cflags name the build tree's include/" ;; *) bad "Cflags: $cflags" ;; esac
case "$libs" in *"-L$root/lib "*"-lckeras"*) ok "Libs name the build tree's lib/" ;; *) bad "Libs: $libs" ;; esac
case "$libs" in *libckeras.a*) bad "the shared link names libckeras.a" ;; esac
case "$slibs" in "$root/lib/libckeras.a "*) ok "--static starts with lib/libckeras.a" ;; *) bad "--static: $slibs" ;; esac
for dep in -lgomp -lhdf5 -ljansson -lzip -lpng16 -ljpeg -lz -lm -lpthread blis; do
    case " $slibs " in *"$dep"*) ;; *) bad "pkg-config --static --libs ckeras lacks $dep" ;; esac
done

work="$tmp/work"
mkdir -p "$work/data"
cp examples/seed_mlp.c "$work/" && cp examples/data/breast_cancer.csv "$work/data/" || exit 1
cd "$work" || exit 1
run_ok() { # label output-file command...
    label=$1; out=$2; shift 2
    if "$@" > "$out" 2>&1 && grep -q '^test: ' "$out"; then
        ok "$label: $(grep '^test: ' "$out" | head -1)"
    else
        bad "$label"; show "$out"
    fi
}

# shared
if $CC -std=c11 -Wall -Wextra -Werror -o seed_shared seed_mlp.c $cflags $libs > "$tmp/cc.log" 2>&1; then
    if LD_LIBRARY_PATH="$root/lib" ldd ./seed_shared | grep -q "=> $root/lib/libckeras.so"; then
        ok "seed_shared loads libckeras.so from lib/"
    else
        bad "seed_shared does not load lib/libckeras.so"; LD_LIBRARY_PATH="$root/lib" ldd ./seed_shared
    fi
    run_ok "seed_mlp (shared, LD_LIBRARY_PATH=lib)" "$tmp/shared.txt" env LD_LIBRARY_PATH="$root/lib" ./seed_shared
else
    bad "seed_mlp.c does not build with pkg-config --cflags --libs ckeras"; show "$tmp/cc.log"
fi
if $CC -std=c11 -o seed_rpath seed_mlp.c $cflags $libs -Wl,-rpath,"$root/lib" > "$tmp/cc.log" 2>&1; then
    run_ok "seed_mlp (shared, -Wl,-rpath,$root/lib)" "$tmp/rpath.txt" env -u LD_LIBRARY_PATH ./seed_rpath
else
    bad "seed_mlp.c does not build with -Wl,-rpath"; show "$tmp/cc.log"
fi

# static
if $CC -std=c11 -Wall -Wextra -Werror -o seed_static seed_mlp.c $cflags $slibs > "$tmp/cc.log" 2>&1; then
    if readelf -d seed_static | grep NEEDED | grep -q libckeras; then
        bad "seed_static needs libckeras.so (the archive was not linked)"
    else
        ok "seed_static has lib/libckeras.a linked in (no libckeras.so in NEEDED)"
    fi
    run_ok "seed_mlp (static)" "$tmp/static.txt" env -u LD_LIBRARY_PATH ./seed_static
    if [ -s "$tmp/shared.txt" ]; then
        if [ "$(grep '^test: ' "$tmp/static.txt")" = "$(grep '^test: ' "$tmp/shared.txt")" ]; then
            ok "static and shared builds give the same result"
        else
            bad "static and shared builds differ"
        fi
    fi
else
    bad "seed_mlp.c does not link lib/libckeras.a with pkg-config --static --libs ckeras"; show "$tmp/cc.log"
fi

if [ $fail -ne 0 ]; then
    echo "test_uninstalled_pc: FAILED"
    exit 1
fi
echo "test_uninstalled_pc: passed"
