/* GPU offload (Vulkan compute) for the encoder.  One context per encoder: a device, a queue
 * and one command buffer that carries a frame's damage work in one submission: the damage
 * mask and the classifier's statistics of the damaged tiles.  RGB -> YUV conversion of the
 * same frame, for the video streams, is a second submission (vd_gpu_convert()): its
 * rectangles come from the classification of the first one's statistics.
 *
 * Failure is never fatal: any failed call (no loader, no device, an allocation, a lost
 * device) logs once and makes the context refuse further work; the encoder then frees it and
 * goes on with the CPU path, whose results are identical.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef VD_GPU_H
#define VD_GPU_H

#include <errno.h>
#include <stdlib.h>

#include <vd/encoder.h>

#include "../codec/colour.h"
#include "classify.h"
#include "damage.h"
#include "internal.h"
#include "log.h"

#if defined(VD_HAVE_VULKAN) && VD_ENABLE_ENCODER
#define VD_GPU_BUILT 1
#else
#define VD_GPU_BUILT 0
#endif

typedef struct vd_gpu vd_gpu;
typedef struct vd_gpu_surface vd_gpu_surface;

/* GPU time of the last submission's stages, from timestamp queries (0 when the device has
 * none), and the host's wall-clock time around the whole damage stage. */
typedef struct vd_gpu_times {
    uint64_t upload_ns;    /* staging -> device copy of the frame, or dma-buf -> device */
    uint64_t reference_ns; /* the reference's update (last frame's sent rectangles, or a seed) */
    uint64_t compare_ns;   /* the compare dispatch */
    uint64_t stats_ns;     /* the tile statistics dispatch (0 for 2-byte pixels) */
    uint64_t convert_ns;   /* vd_gpu_convert()'s dispatch, 0 when none since the scan */
    uint64_t convert_host_ns; /* vd_gpu_convert() from entry to planes, wall clock */
    uint64_t convert_host_cpu_ns; /* the same in the calling thread's CPU time */
    int convert_in_place; /* the last conversion wrote into a registered buffer (no read-back) */
    uint64_t host_ns;      /* vd_gpu_damage_scan() from entry to mask, wall clock */
    uint64_t host_cpu_ns;  /* the same in the calling thread's CPU time (not the fence wait) */
    int has_timestamps;
    int from_dmabuf;       /* the last scan read the frame from an imported dma-buf */
    int from_host;         /* ... from host memory in place: 1 pinned for the scan, 2 a
                            * registered buffer (vd_gpu_register()); 0 through staging */
    /* dma-buf imports since the context began: made, used again from the cache, failed
     * (those buffers' frames went up through staging). */
    uint64_t dmabuf_imports, dmabuf_reuses, dmabuf_failures;
    /* Host frames read in place, and failed imports of them (then staging for the context). */
    uint64_t host_imports, host_failures;
} vd_gpu_times;

/* One rectangle to convert and where its planes go, as vd_rgb_to_yuv_c() takes them. */
typedef struct vd_gpu_yuv_job {
    vd_rect rect; /* on the surface, at least 1 x 1 */
    vd_yuv_layout layout;
    uint8_t *planes[3];
    int strides[3];
} vd_gpu_yuv_job;

/* The video streams' RGB -> YUV, for vdbench and the tests. */
typedef struct vd_encoder_yuv_stats {
    /* The last frame's: on the GPU path vd_gpu_convert() from entry to planes plus the planes'
     * copies into the video encoders, else the CPU's conversions. */
    uint64_t convert_ns;
    uint64_t gpu_pictures; /* pictures coded from vd_gpu_convert()'s planes, since the start */
    uint64_t in_place_pictures; /* of those, written by the device into the encoder's planes */
} vd_encoder_yuv_stats;

/* The encoder's context, or NULL: for vdbench and the tests. */
VD_HIDDEN vd_gpu *vd_encoder_gpu(const vd_encoder *enc);
VD_HIDDEN void vd_encoder_get_yuv_stats(const vd_encoder *enc, vd_encoder_yuv_stats *stats);
/* The statistics the classifier took for each tile of the surface's last frame, valid where
 * vd_encoder_get_tile_classes() gives a class; NULL for an unknown surface.  The same. */
VD_HIDDEN const vd_tile_stats *vd_encoder_tile_stats(const vd_encoder *enc, uint32_t surface_id);

#if VD_GPU_BUILT

/* Opens the device that cfg (gpu, gpu_index, gpu_name) or the VD_GPU environment variable
 * asks for; NULL when it is off, when there is none, or on failure (logged). */
VD_HIDDEN vd_gpu *vd_gpu_new(const vd_encoder_config *cfg);
VD_HIDDEN void vd_gpu_free(vd_gpu **gpu);
VD_HIDDEN const char *vd_gpu_device_name(const vd_gpu *gpu);
/* 1 for a CPU implementation (lavapipe): its timings say nothing about a GPU. */
VD_HIDDEN int vd_gpu_device_is_cpu(const vd_gpu *gpu);
VD_HIDDEN void vd_gpu_get_times(const vd_gpu *gpu, vd_gpu_times *times);

/* Frames inside [data, data + size) are read by the device in place from now on, the pages
 * pinned here once (vd_encoder_register_buffer()); writable: the memory is the encoder's and
 * may take vd_gpu_convert()'s planes.  0, or -1 when the device cannot import it (frames there
 * go up as others do; an import that fails is logged once per context). */
VD_HIDDEN int vd_gpu_register(vd_gpu *gpu, const uint8_t *data, size_t size, int writable);
/* Unpins the buffer registered at data, if any. */
VD_HIDDEN void vd_gpu_unregister(vd_gpu *gpu, const uint8_t *data);

/* A surface's device-side images: the uploaded frame and the reference (what the client has).
 * Returns 0, with *out NULL when the surface is too large for the device (it stays on the
 * CPU), or a negative error (logged; the context is then failed). */
VD_HIDDEN int vd_gpu_surface_new(vd_gpu *gpu, const vd_tile_grid *grid, vd_gpu_surface **out);
VD_HIDDEN void vd_gpu_surface_free(vd_gpu *gpu, vd_gpu_surface **surf);

/* The encoder copied w x h pixels at (x, y) of the frame last scanned on the GPU into its
 * reference; the next scan applies the same copy on the device before comparing. */
VD_HIDDEN void vd_gpu_surface_record(vd_gpu_surface *surf, int x, int y, int w, int h);

/* The device reference no longer follows the CPU one (a frame not scanned on the GPU changed
 * it): the next scan seeds it from the CPU reference. */
VD_HIDDEN void vd_gpu_surface_invalidate(vd_gpu_surface *surf);

/* vd_damage_scan() on the GPU: uploads cur (or, with dmabuf not NULL, copies the frame from
 * the imported buffer, on the device; cur is the fallback when the import fails), brings the device reference up to date (recorded
 * rectangles, or prev when invalidated), and marks the VD_TILE_CANDIDATE tiles of state that
 * differ VD_TILE_DIRTY, in one submission.  prev is the CPU reference (packed rows).
 * With stats (not NULL) and 4-byte pixels the same submission also sets stats[i] of every
 * tile it marks dirty to what vd_tile_stats_c() gives for the tile of cur against that
 * reference, with the surface rectangle cursor (moved to the tile's coordinates) as skip.
 * Returns 1 when it set stats, 0 when only the mask, or a negative error with state and stats
 * unchanged (the context is then failed). */
VD_HIDDEN int vd_gpu_damage_scan(vd_gpu *gpu, vd_gpu_surface *surf, const uint8_t *cur,
                                 size_t cur_stride, const vd_dmabuf *dmabuf, const uint8_t *prev,
                                 uint8_t *state, const vd_rect *cursor, vd_tile_stats *stats);

/* vd_rgb_to_yuv_c() of each job's rectangle of the frame of the last vd_gpu_damage_scan() of
 * surf, which is still on the device: one submission, one read-back, the same bytes.  Where
 * every plane lies in one buffer registered with vd_gpu_register(), at offsets and strides
 * that are multiples of 4, the device writes them there instead and nothing is read back;
 * each row's last word is then written whole, zeros past the plane's width.  fmt is
 * the surface's format.  Returns 0; VD_ERR(ENOTSUP) for 2-byte pixels, VD_ERR(ESTALE) when
 * the device holds no frame or an older one (vd_gpu_surface_invalidate() since the scan) and
 * VD_ERR(EINVAL) for a rectangle off the surface, all three with the context still usable; or
 * another negative error (logged; the context is then failed). */
VD_HIDDEN int vd_gpu_convert(vd_gpu *gpu, vd_gpu_surface *surf, enum vd_pixel_format fmt,
                             const vd_gpu_yuv_job *jobs, size_t n);

/* Test hook: the n-th Vulkan call from now (in any context of the process) fails as if the
 * device were lost; 0 cancels. */
VD_HIDDEN void vd_gpu_test_fail_call(int n);

/* Test hook for devices (lavapipe) that export and import only opaque fds: size not 0 makes
 * contexts made afterwards import frames' fds as VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT
 * allocations of size bytes whose memory starts base bytes into the fd (lavapipe's are
 * memfds with a header), so that the tests can pass such an fd as a frame's dma-buf. */
VD_HIDDEN void vd_gpu_test_import_opaque(uint64_t base, uint64_t size);

#else /* the backend is not built: every entry point says "no GPU" */

/* Asking for a device by index or name (config or VD_GPU) is worth a warning here. */
static inline vd_gpu *vd_gpu_new(const vd_encoder_config *cfg)
{
    const char *env = getenv("VD_GPU");
    int asked = env && *env ? strcmp(env, "off") && strcmp(env, "auto")
                            : cfg->gpu == VD_GPU_INDEX || cfg->gpu == VD_GPU_NAME;
    if (asked)
        vd_log(VD_LOG_WARNING, "GPU offload: libvd was built without the Vulkan backend; "
                               "damage detection runs on the CPU");
    return NULL;
}
static inline void vd_gpu_free(vd_gpu **gpu) { *gpu = NULL; }
static inline const char *vd_gpu_device_name(const vd_gpu *gpu)
{
    (void)gpu;
    return "none";
}
static inline int vd_gpu_device_is_cpu(const vd_gpu *gpu)
{
    (void)gpu;
    return 0;
}
static inline void vd_gpu_get_times(const vd_gpu *gpu, vd_gpu_times *times)
{
    (void)gpu;
    *times = (vd_gpu_times){0};
}
static inline int vd_gpu_surface_new(vd_gpu *gpu, const vd_tile_grid *grid, vd_gpu_surface **out)
{
    (void)gpu;
    (void)grid;
    *out = NULL;
    return VD_ERR(ENOTSUP);
}
static inline void vd_gpu_surface_free(vd_gpu *gpu, vd_gpu_surface **surf)
{
    (void)gpu;
    *surf = NULL;
}
static inline void vd_gpu_surface_record(vd_gpu_surface *surf, int x, int y, int w, int h)
{
    (void)surf, (void)x, (void)y, (void)w, (void)h;
}
static inline void vd_gpu_surface_invalidate(vd_gpu_surface *surf) { (void)surf; }
static inline int vd_gpu_register(vd_gpu *gpu, const uint8_t *data, size_t size, int writable)
{
    (void)gpu, (void)data, (void)size, (void)writable;
    return -1;
}
static inline void vd_gpu_unregister(vd_gpu *gpu, const uint8_t *data) { (void)gpu, (void)data; }
static inline int vd_gpu_damage_scan(vd_gpu *gpu, vd_gpu_surface *surf, const uint8_t *cur,
                                     size_t cur_stride, const vd_dmabuf *dmabuf,
                                     const uint8_t *prev, uint8_t *state, const vd_rect *cursor,
                                     vd_tile_stats *stats)
{
    (void)gpu, (void)surf, (void)cur, (void)cur_stride, (void)dmabuf, (void)prev, (void)state;
    (void)cursor, (void)stats;
    return VD_ERR(ENOTSUP);
}
static inline void vd_gpu_test_fail_call(int n) { (void)n; }
static inline void vd_gpu_test_import_opaque(uint64_t base, uint64_t size)
{
    (void)base, (void)size;
}
static inline int vd_gpu_convert(vd_gpu *gpu, vd_gpu_surface *surf, enum vd_pixel_format fmt,
                                 const vd_gpu_yuv_job *jobs, size_t n)
{
    (void)gpu, (void)surf, (void)fmt, (void)jobs, (void)n;
    return VD_ERR(ENOTSUP);
}

#endif

#endif
