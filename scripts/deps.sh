#!/bin/sh
# Installs ckeras' Debian build dependencies when they are missing.
# As root it runs apt-get; otherwise it prints the command to run.
set -e
PKGS="gcc make pkg-config libblis-openmp-dev libblis-dev libhdf5-dev check libjansson-dev zlib1g-dev libzip-dev libpng-dev libjpeg62-turbo-dev abigail-tools"
OPTIONAL="python3-numpy python3-h5py g++ python3 dataset-fashion-mnist graphviz"
# CKERAS_DEPS_MPI=1: the MPI build's (make MPI=1, make check-mpi)
MPI_PKGS="mpich libmpich-dev"
missing=""
for p in $PKGS ${CKERAS_DEPS_OPTIONAL:+$OPTIONAL} ${CKERAS_DEPS_MPI:+$MPI_PKGS}; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0
echo "deps.sh: missing Debian packages:$missing"
if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends $missing
else
    echo "deps.sh: run: sudo apt-get install$missing" >&2
    exit 1
fi
