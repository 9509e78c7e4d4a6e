#!/bin/sh
# Packs what bench/gpu-check.sh runs (tests/gpu_test, tests/dmabuf_test, bench/vdbench), built
# here, with every shared library they load (FFmpeg and the rest, the Vulkan loader, glvnd's
# dispatch libraries for NVIDIA's driver) into DIR, for a GPU machine that has a driver but
# no compiler or -dev packages (the device tool's machines: carry DIR, run DIR/run.sh).
# With them tests/video_test, and when installed here, vainfo and the VA-API driver for NVIDIA
# GPUs (Debian's nvidia-vaapi-driver, decoding through NVDEC), for the video backends' checks
# on real hardware (run.sh video).
#   bench/gpu-bundle.sh [DIR]      (default: .gpucarry in the source tree; about 60 MB)
# Needs a tree configured and built with the Vulkan backend (./configure --enable-vulkan=yes).
# SPDX-License-Identifier: LGPL-2.1-or-later
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$src/.gpucarry}
cd "$src"
grep -q '^#define VD_HAVE_VULKAN 1' config.h 2>/dev/null ||
    { echo "configure with --enable-vulkan=yes and build first"; exit 1; }
make -s tests/gpu_test tests/dmabuf_test tests/video_test bench/vdbench >/dev/null
rm -rf "$out" && mkdir -p "$out/bin" "$out/lib" "$out/tmp/dri"
cp tests/gpu_test tests/dmabuf_test tests/video_test bench/vdbench "$out/bin/"
vadriver=$(ls /usr/lib/x86_64-linux-gnu/dri/nvidia_drv_video.so 2>/dev/null || true)
[ -n "$vadriver" ] && cp "$vadriver" "$out/tmp/dri/" || echo "note: nvidia-vaapi-driver not installed here"
command -v vainfo >/dev/null && cp "$(command -v vainfo)" "$out/bin/" || echo "note: vainfo not installed here"
# The C library's own files come from the machine's; the rest from here.
ldd "$out"/bin/* $vadriver | awk '/=> \//{print $3}' | sort -u |
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
# On the GPU machine: the libraries unpacked beside the driver's, then the phases named
# (default both): gpu = the GPU test, the dma-buf test and vdbench --gpu; video = the video
# backends (NVENC; decoding through NVDEC, and through VAAPI where nvidia-vaapi-driver finds
# a DRM node) in video_test and vdbench.  Logs and the benchmark's
# output go to $OUT (or /tmp/out).
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
j=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
[ -f "$j" ] && export __EGL_VENDOR_LIBRARY_FILENAMES=$j
echo "icd: ${VK_DRIVER_FILES:-none found, the loader searches}"; nvidia-smi -L 2>/dev/null
phases=${*:-gpu video}
case " $phases " in *" gpu "*)
echo "=== gpu_test"; timeout 300 bin/gpu_test >"$out/gpu_test.log" 2>&1; echo "rc=$?"
grep '^gpu_test' "$out/gpu_test.log"
echo "=== dmabuf_test"; timeout 120 bin/dmabuf_test >"$out/dmabuf_test.log" 2>&1; echo "rc=$?"
grep '^dmabuf_test' "$out/dmabuf_test.log"
echo "=== vdbench --gpu -n ${N:-120}"
timeout 400 bin/vdbench --gpu -q -n "${N:-120}" >"$out/vdbench_gpu.txt" 2>&1; echo "rc=$?"
grep -E '^(device|workload|mixed|terminal|drag|video|3d|windows) ' "$out/vdbench_gpu.txt"
;; esac
case " $phases " in *" video "*)
# Video backends on real hardware: NVENC where the chip has one; decoding through NVDEC, and
# through VAAPI where the machine has a DRM node for nvidia-vaapi-driver.
echo "=== video hardware"; ls -l /dev/dri 2>&1 | head -5; ls /dev/nvidia* 2>&1 | tr '\n' ' '; echo
ls /usr/local/nvidia/lib64 /usr/local/nvidia/lib 2>/dev/null | grep -E 'nvcuvid|nvidia-encode|libcuda\.' | tr '\n' ' '; echo
export LIBVA_DRIVERS_PATH=/tmp/vdlib/dri LIBVA_DRIVER_NAME=nvidia NVD_BACKEND=${NVD_BACKEND:-direct}
timeout 60 bin/vainfo >"$out/vainfo.txt" 2>&1; echo "vainfo rc=$?"; grep -E 'Driver version|VAProfileH264High|VAProfileAV1|error' "$out/vainfo.txt" | head -8
echo "--- video_test"; timeout 240 bin/video_test >"$out/video_test.log" 2>&1; echo "rc=$?"
grep -E '^(video:|FAIL)' "$out/video_test.log" | head -30
for w in ${WORKLOADS:-video}; do for codec in ${CODECS:-h264 av1}; do for be in ${BACKENDS:-software auto}; do
    [ "$be" = auto ] && unset VD_VIDEO_BACKEND || export VD_VIDEO_BACKEND=$be
    log="$out/vdbench_${w}_${codec}_$be.txt"
    timeout 300 bin/vdbench -q -v -w "$w" -n "${VN:-150}" --codec $codec >"$log" 2>&1
    echo "--- vdbench $w $codec VD_VIDEO_BACKEND=$be: rc=$?"
    grep -E "^(libvd (info|warning)|$w  |$w video)" "$log" | sort -u
done; done; done; unset VD_VIDEO_BACKEND
;; esac
echo "=== done in $(( $(date +%s) - t0 )) s"
RUN
chmod +x "$out/run.sh"
du -sh "$out"
