#!/bin/sh
# On a machine with a real GPU: builds libvd with the Vulkan backend required, runs the GPU
# test and vdbench --gpu, and prints the device.  Under 5 minutes on a 16-core machine.
#   bench/gpu-check.sh [BUILD_DIR]      (default: a fresh directory under /tmp)
# VD_GPU picks the device (an index or a name substring); by default the best GPU.
# A GPU machine without a compiler or the -dev packages (the device tool's) runs the same
# checks from a bundle made here: bench/gpu-bundle.sh DIR, then DIR/run.sh there.
# SPDX-License-Identifier: LGPL-2.1-or-later
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$(mktemp -d /tmp/libvd-gpu.XXXXXX)}
jobs=$(nproc 2>/dev/null || echo 4)
start=$(date +%s)

echo "=== libvd GPU check: source $src, build $build"
mkdir -p "$build"
if [ -f "$src/config.status" ]; then
    # Configured in place, so it cannot host a separate build: build a clean copy instead.
    rm -rf "$build/src"
    cp -a "$src" "$build/src"
    (cd "$build/src" && make distclean >/dev/null 2>&1 || true)
    src=$build/src
fi
[ -x "$src/configure" ] || (cd "$src" && autoreconf -fi >/dev/null)
cd "$build"
"$src/configure" --enable-vulkan=yes --enable-werror >configure.log 2>&1 ||
    { tail -n 20 configure.log; echo "FAILED: configure (--enable-vulkan=yes)"; exit 1; }
grep -E 'Vulkan backend' configure.log || true
make -j"$jobs" >make.log 2>&1 || { tail -n 30 make.log; echo "FAILED: build"; exit 1; }
make -j"$jobs" tests/gpu_test >>make.log 2>&1 || { tail -n 30 make.log; echo "FAILED: build"; exit 1; }

echo "=== tests/gpu_test"
status=0
./tests/gpu_test >gpu_test.log 2>&1 || status=$?
grep -E '^gpu_test:' gpu_test.log || true
case $status in
0) ;;
77) echo "SKIPPED: no Vulkan device"; exit 77 ;;
*) tail -n 30 gpu_test.log; echo "FAILED: gpu_test (exit $status)"; exit 1 ;;
esac
# The device the test used is not always the one auto picks: say which auto takes too.
grep -m1 '^gpu_test: device' gpu_test.log | sed 's/^gpu_test: device/device:/'

echo "=== vdbench --gpu (1920x1080, 120 frames per workload)"
./bench/vdbench --gpu -q -n 120 || { echo "FAILED: vdbench --gpu"; exit 1; }

echo "=== done in $(( $(date +%s) - start )) s"
