#!/bin/sh
# Packs what bench/gpu-check.sh runs (tests/gpu_test, tests/dmabuf_test, bench/vdbench), built
# here, with every shared library they load (FFmpeg and the rest, the Vulkan loader, glvnd's
# dispatch libraries for NVIDIA's driver) into DIR, for a GPU machine that has a driver but
# no compiler or -dev packages (the device tool's machines: carry DIR, run DIR/run.sh).
#   bench/gpu-bundle.sh [DIR]      (default: .gpucarry in the source tree; about 55 MB)
# Needs a tree configured and built with the Vulkan backend (./configure --enable-vulkan=yes).
# SPDX-License-Identifier: LGPL-2.1-or-later
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$src/.gpucarry}
cd "$src"
grep -q '^#define VD_HAVE_VULKAN 1' config.h 2>/dev/null ||
    { echo "configure with --enable-vulkan=yes and build first"; exit 1; }
make -s tests/gpu_test tests/dmabuf_test bench/vdbench >/dev/null
rm -rf "$out" && mkdir -p "$out/bin" "$out/lib" "$out/tmp"
cp tests/gpu_test tests/dmabuf_test bench/vdbench "$out/bin/"
# The C library's own files come from the machine's; the rest from here.
ldd "$out"/bin/* | awk '/=> \//{print $3}' | sort -u |
    grep -Ev '/(libc|libm|libpthread|libdl|librt|ld-linux-x86-64)\.so' |
    while read -r l; do cp -L "$l" "$out/tmp/"; done
for l in libvulkan.so.1 libGLdispatch.so.0 libGLX.so.0 libEGL.so.1 libGL.so.1 libOpenGL.so.0 \
         libX11.so.6 libXext.so.6 libxcb.so.1 libXau.so.6 libXdmcp.so.6 libbsd.so.0 libmd.so.0; do
    p=$(ldconfig -p | awk -v l="$l" '$1 == l && /x86-64/ {print $NF; exit}')
    [ -n "$p" ] && cp -L "$p" "$out/lib/" || echo "note: $l not found here"
done
(cd "$out/tmp" && tar cf - .) | xz -T0 -6 > "$out/libs.tar.xz"
rm -rf "$out/tmp"
cat > "$out/run.sh" <<'RUN'
#!/bin/bash
# On the GPU machine: the libraries unpacked beside the driver's, then the GPU test, the
# dma-buf test and vdbench --gpu; logs and the benchmark's output go to $OUT (or /tmp/out).
cd "$(dirname "$0")"
out=${OUT:-/tmp/out}; mkdir -p "$out"
t0=$(date +%s)
mkdir -p /tmp/vdlib && tar xJf libs.tar.xz -C /tmp/vdlib && cp lib/* /tmp/vdlib/
# The machine's own C++ runtime and zlib are newer than these: keep theirs.
for f in libstdc++.so.6 libgcc_s.so.1 libz.so.1; do
    ldconfig -p | grep -q "$f " && rm -f /tmp/vdlib/$f
done
export LD_LIBRARY_PATH=/tmp/vdlib:/usr/local/nvidia/lib64:/usr/local/nvidia/lib
for j in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json \
         /etc/vulkan/icd.d/nvidia_icd.json; do
    [ -f "$j" ] && { export VK_DRIVER_FILES=$j VK_ICD_FILENAMES=$j; break; }
done
echo "icd: ${VK_DRIVER_FILES:-none found, the loader searches}"; nvidia-smi -L 2>/dev/null
echo "=== gpu_test"; timeout 300 bin/gpu_test >"$out/gpu_test.log" 2>&1; echo "rc=$?"
grep '^gpu_test' "$out/gpu_test.log"
echo "=== dmabuf_test"; timeout 120 bin/dmabuf_test >"$out/dmabuf_test.log" 2>&1; echo "rc=$?"
grep '^dmabuf_test' "$out/dmabuf_test.log"
echo "=== vdbench --gpu -n ${N:-120}"
timeout 400 bin/vdbench --gpu -q -n "${N:-120}" >"$out/vdbench_gpu.txt" 2>&1; echo "rc=$?"
grep -E '^(device|workload|mixed|terminal|drag|video|3d|windows) ' "$out/vdbench_gpu.txt"
echo "=== done in $(( $(date +%s) - t0 )) s"
RUN
chmod +x "$out/run.sh"
du -sh "$out"
