#!/bin/sh
# ckeras' Debian packages, built and checked end to end (not part of make check or CI).
#
#   scripts/deb-check.sh build    only builds the packages (what `make deb` runs)
#   scripts/deb-check.sh          builds them, runs lintian, then installs them in a clean
#                                 Debian bookworm chroot and builds and runs the seed example
#                                 against the installed libckeras-dev (needs root)
#   scripts/deb-check.sh lint     lintian on the packages already built
#   scripts/deb-check.sh chroot   the chroot test on the packages already built (root)
#
# 1. build: a copy of the source tree (git's tracked and untracked-but-not-ignored files) in
#    $DEB_OUT/ckeras-<version>/, then `dpkg-buildpackage -us -uc -b` there; the .debs, .changes
#    and .buildinfo land in $DEB_OUT (default build/deb). Needs dpkg-dev, debhelper, fakeroot and
#    the Build-Depends of debian/control (the ones scripts/deps.sh installs).
# 2. lint: `lintian --display-info --pedantic` on the .changes into $DEB_OUT/lintian.txt; fails on any
#    error (E:) tag.
# 3. chroot: debootstrap --variant=minbase bookworm into $DEB_BASE (default
#    /var/tmp/ckeras-bookworm-base; made once, from the mirror of /etc/apt/sources.list*, else
#    $DEB_MIRROR or deb.debian.org), copied afresh into a scratch chroot for each run; there
#    `apt install ./*.deb`, then build-essential and pkg-config, then the installed
#    examples/seed_mlp.c is built with `pkg-config --cflags --libs ckeras` (libckeras.so.1) and
#    with `pkg-config --static --libs ckeras` (libckeras.a), both run on the installed data, and
#    the ckeras tool reads the model file the example saved. Output in $DEB_OUT/chroot.log.
#    Needs root (chroot, mount) and debootstrap; network access to the Debian mirror.
set -eu
mode=${1:-all}
root=$(cd "$(dirname "$0")/.." && pwd)
DEB_OUT=${DEB_OUT:-build/deb}
case $DEB_OUT in /*) ;; *) DEB_OUT=$root/$DEB_OUT ;; esac
DEB_BASE=${DEB_BASE:-/var/tmp/ckeras-bookworm-base}
DEB_SUITE=${DEB_SUITE:-bookworm}
version=$(sed -n 's/^#define CKERAS_VERSION "\(.*\)"/\1/p' "$root/include/ckeras.h")
arch=$(dpkg --print-architecture)
changes=$DEB_OUT/ckeras_$(dpkg-parsechangelog -l "$root/debian/changelog" -S Version)_$arch.changes

say() { echo "deb-check: $*"; }
die() { echo "deb-check: FAIL: $*" >&2; exit 1; }

build() {
    for t in dpkg-buildpackage dh fakeroot; do
        command -v $t > /dev/null 2>&1 ||
            die "$t is missing: apt-get install dpkg-dev debhelper fakeroot"
    done
    (cd "$root" && dpkg-checkbuilddeps) ||
        die "missing build dependencies (above): scripts/deps.sh installs them"
    src=$DEB_OUT/ckeras-$version
    rm -rf "$src"
    rm -f "$DEB_OUT"/*.deb "$DEB_OUT"/*.ddeb "$DEB_OUT"/*.changes "$DEB_OUT"/*.buildinfo
    mkdir -p "$src"
    if git -C "$root" rev-parse --is-inside-work-tree > /dev/null 2>&1; then
        (cd "$root" && git ls-files -z -c -o --exclude-standard | tar cf - --null --no-recursion -T -) |
            tar xf - -C "$src"
    else # a release tarball: everything but the build outputs
        tar cf - -C "$root" --exclude=./build --exclude='./build-*' --exclude=./lib \
            --exclude='./lib-*' --exclude=./bin/ckeras . | tar xf - -C "$src"
    fi
    say "dpkg-buildpackage -us -uc -b in $src (log: $DEB_OUT/build.log)"
    if ! (cd "$src" && dpkg-buildpackage -us -uc -b) > "$DEB_OUT/build.log" 2>&1; then
        tail -40 "$DEB_OUT/build.log"; die "dpkg-buildpackage failed (log: $DEB_OUT/build.log)"
    fi
    rm -rf "$src"
    say "built:"; ls -l "$DEB_OUT"/*.deb | sed 's/^/    /'
}

lint() {
    command -v lintian > /dev/null 2>&1 || die "lintian is missing: apt-get install lintian"
    [ -f "$changes" ] || die "no $changes: run scripts/deb-check.sh build first"
    say "lintian --display-info --pedantic $(basename "$changes")"
    lintian --display-info --pedantic "$changes" > "$DEB_OUT/lintian.txt" 2>&1 || true
    sed 's/^/    /' "$DEB_OUT/lintian.txt"
    say "lintian: $(grep -c '^E:' "$DEB_OUT/lintian.txt") errors, $(grep -c '^W:' "$DEB_OUT/lintian.txt") warnings, $(grep -c '^I:' "$DEB_OUT/lintian.txt") info, $(grep -c '^P:' "$DEB_OUT/lintian.txt") pedantic"
    if grep -q '^E:' "$DEB_OUT/lintian.txt"; then die "lintian reports errors"; fi
}

mirror() {
    [ -n "${DEB_MIRROR:-}" ] && { echo "$DEB_MIRROR"; return; }
    m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources \
        2>/dev/null | grep -v '^ *#' | grep -o 'https\?://[^ ]*/debian/\?' | grep -v security | head -1)
    echo "${m:-http://deb.debian.org/debian}"
}

# unmounts what chroot_test mounted; removes the scratch chroot only when nothing is mounted in it
cleanup_chroot() {
    umount "$1/dev/pts" 2>/dev/null || true
    umount "$1/proc" 2>/dev/null || true
    if grep -q " $1/" /proc/mounts; then
        echo "deb-check: $1 still has mounts; not removed" >&2
    else
        rm -rf "$1"
    fi
}

chroot_test() {
    [ "$(id -u)" = 0 ] || die "the chroot test needs root"
    command -v debootstrap > /dev/null 2>&1 || die "debootstrap is missing: apt-get install debootstrap"
    ls "$DEB_OUT"/*.deb > /dev/null 2>&1 || die "no .deb in $DEB_OUT: run scripts/deb-check.sh build first"
    if [ ! -x "$DEB_BASE/usr/bin/apt-get" ]; then
        say "debootstrap --variant=minbase $DEB_SUITE $DEB_BASE $(mirror)"
        rm -rf "$DEB_BASE"
        debootstrap --variant=minbase "$DEB_SUITE" "$DEB_BASE" "$(mirror)" > "$DEB_OUT/debootstrap.log" 2>&1 ||
            { tail -20 "$DEB_OUT/debootstrap.log"; die "debootstrap failed (log: $DEB_OUT/debootstrap.log)"; }
    fi
    c=$(mktemp -d /var/tmp/ckeras-deb-chroot.XXXXXX)
    trap 'cleanup_chroot "$c"' EXIT INT TERM
    say "a fresh copy of $DEB_BASE in $c"
    cp -a "$DEB_BASE/." "$c/"
    mkdir -p "$c/debs"
    cp "$DEB_OUT"/*.deb "$c/debs/"
    cp /etc/resolv.conf "$c/etc/resolv.conf" 2>/dev/null || true
    mount -t proc proc "$c/proc"
    mkdir -p "$c/dev/pts" && mount --bind /dev/pts "$c/dev/pts" # apt's log of dpkg's terminal
    cat > "$c/run.sh" << 'EOS'
set -eux
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8
apt-get update -qq
cd /debs
ls
apt install -y --no-install-recommends ./*.deb
dpkg -l 'libckeras*' 'ckeras*' | grep ^ii
apt-get install -y -qq --no-install-recommends build-essential pkg-config > /dev/null
pkg-config --modversion ckeras
pkg-config --cflags --libs ckeras
pkg-config --static --libs ckeras
ckeras version
mkdir -p /work/data && cd /work
ex=/usr/share/doc/libckeras-dev/examples
for f in seed_mlp.c data/breast_cancer.csv; do
    if [ -f $ex/$f ]; then cp $ex/$f $f; else zcat $ex/$f.gz > $f; fi
done
gcc -std=c11 -Wall -Wextra -Werror -o seed_shared seed_mlp.c $(pkg-config --cflags --libs ckeras)
ldd seed_shared | grep -E 'libckeras|libblis' || true
./seed_shared
gcc -std=c11 -Wall -Wextra -Werror -o seed_static seed_mlp.c $(pkg-config --cflags ckeras) \
    $(pkg-config --static --libs ckeras | sed 's/-lckeras\b/-l:libckeras.a/')
! readelf -d seed_static | grep -q 'NEEDED.*libckeras'
./seed_static | tail -3
ckeras summary model_file.h5 | tail -8
echo "chroot test: all passed"
EOS
    say "apt install ./*.deb and the seed example in the chroot (log: $DEB_OUT/chroot.log)"
    if chroot "$c" /bin/sh /run.sh > "$DEB_OUT/chroot.log" 2>&1; then
        sed 's/^/    /' "$DEB_OUT/chroot.log"; say "chroot test passed"
    else
        sed 's/^/    /' "$DEB_OUT/chroot.log"; die "chroot test failed (log: $DEB_OUT/chroot.log)"
    fi
}

mkdir -p "$DEB_OUT"
case $mode in
    build) build ;;
    lint) lint ;;
    chroot) chroot_test ;;
    all) build; lint; chroot_test ;;
    *) die "usage: scripts/deb-check.sh [build|lint|chroot]" ;;
esac
