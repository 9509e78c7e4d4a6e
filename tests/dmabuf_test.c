/* dma-buf input (vd_frame.dmabuf): a frame passed as a buffer fd gives the same packets as
 * the same pixels passed as data, on the CPU path (a memfd stands in for the dma-buf, so this
 * part runs everywhere) and on the GPU path (memory exported by the Vulkan device: a dma-buf
 * where the driver exports them, else an opaque fd, which lavapipe exports as a memfd, with
 * the import switched to that handle type).  Checks the import happens and is reused, bad
 * descriptors are refused and leave the encoder working, and failed imports fall back.
 * Exits 77 after the CPU part when there is no Vulkan device.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE /* memfd_create */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gpu.h"

#if VD_GPU_BUILT
#include <vulkan/vulkan.h>
#endif

/* The field took space from reserved[32]: the struct keeps its size. */
_Static_assert(sizeof(void *) != 8 || sizeof(vd_frame) == 128, "vd_frame changed size");

#define DRM_FORMAT_MOD_INVALID 0x00ffffffffffffffull

static int warnings;

static void log_cb(void *opaque, enum vd_log_level level, const char *msg)
{
    (void)opaque;
    if (level <= VD_LOG_WARNING)
        warnings++;
    fprintf(stderr, "  [log %d] %s\n", (int)level, msg);
}

/* A buffer the host renders into: its fd and a CPU mapping. */
typedef struct host_buf {
    int fd;
    uint8_t *map;    /* the memory */
    size_t size;     /* of the memory */
    uint32_t base;   /* where the memory starts in the fd: 0, lavapipe's opaque fds 4096 */
    size_t fd_size;  /* fstat()'s */
} host_buf;

/* Sends a frame and takes its packets in place of o's. */
static int encode(vd_encoder *enc, const vd_frame *f, tu_packets *o)
{
    tu_packets_clear(o);
    int ret = vd_encoder_send_frame(enc, f);
    tu_receive_packets(enc, o);
    return ret;
}

static void same_bytes(const tu_packets *a, const tu_packets *b, const char *what, int frame)
{
    CHECK(a->size == b->size && (!a->size || !memcmp(a->data, b->data, a->size)),
          "%s, frame %d: %zu bytes, the data encoder %zu", what, frame, a->size, b->size);
}

static vd_encoder *encoder(const vd_encoder_config *base, int gpu)
{
    vd_encoder_config cfg = *base;
    cfg.video_codecs = 0;
    if (!gpu)
        cfg.gpu = VD_GPU_OFF;
    vd_encoder *enc;
    CHECK(vd_encoder_new(&cfg, &enc) == 0, "vd_encoder_new");
    return enc;
}

static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    CHECK(d, "/proc/self/fd");
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* The frame of canvas c as it lies in buffer b at offset with stride: data NULL. */
static vd_frame dmabuf_frame(const tu_canvas *c, const host_buf *b, vd_dmabuf *d, uint32_t offset,
                             int stride, const vd_rect *damage, size_t n_damage)
{
    vd_copy_rows(b->map + offset, (size_t)stride, c->data, (size_t)c->stride,
                 (size_t)c->width * (size_t)c->bpp, (size_t)c->height);
    *d = (vd_dmabuf){.fd = b->fd, .offset = b->base + offset};
    vd_frame f = tu_frame(c, 1, damage, n_damage);
    f.stride = stride;
    f.data = NULL;
    f.dmabuf = d;
    return f;
}

/* Random changes with exact, unknown or empty damage. */
static void change(tu_rng *r, const tu_canvas *c, vd_rect *damage, const vd_rect **dmg,
                   size_t *n)
{
    *n = 0;
    *dmg = damage;
    switch (tu_rng_below(r, 4)) {
    case 0:
        break; /* nothing changed */
    case 1:
        tu_scribble(r, c, damage, 8);
        *dmg = NULL;
        break;
    default:
        *n = tu_scribble(r, c, damage, 8);
        break;
    }
}

/* frames frames into ref (data) and each of encs (the pixels written into bufs in turn,
 * passed as a dma-buf; with_data: data too, every other frame); all must give the same
 * bytes.  check(frame, i) runs after each frame of encoder i. */
static void run(vd_encoder *ref, vd_encoder *const *encs, int n_encs, const host_buf *bufs,
                int n_bufs, enum vd_pixel_format fmt, int w, int h, int pad, uint32_t offset,
                int frames, uint64_t seed, int with_data, const char *what,
                void (*check)(vd_encoder *enc, int frame))
{
    tu_rng r = tu_rng_init(seed);
    tu_canvas c = tu_canvas_new(fmt, w, h, 0);
    tu_fill_desktop(&r, &c);
    int stride = c.stride + pad;
    tu_packets a = {0}, b = {0};
    for (int frame = 0; frame < frames; frame++) {
        vd_rect damage[8];
        const vd_rect *dmg = NULL;
        size_t n_damage = 0;
        if (frame)
            change(&r, &c, damage, &dmg, &n_damage);
        vd_frame rf = tu_frame(&c, 1, dmg, n_damage);
        CHECK(encode(ref, &rf, &a) == 0, "%s, frame %d: the data encoder", what, frame);
        for (int i = 0; i < n_encs; i++) {
            vd_dmabuf d;
            vd_frame f = dmabuf_frame(&c, &bufs[frame % n_bufs], &d, offset, stride, dmg, n_damage);
            if (with_data && i == n_encs - 1 && frame % 2)
                f.data = bufs[frame % n_bufs].map + offset;
            int ret = encode(encs[i], &f, &b);
            CHECK(ret == 0, "%s, frame %d, encoder %d: %s", what, frame, i, vd_strerror(ret));
            same_bytes(&b, &a, what, frame);
            if (check)
                check(encs[i], frame);
        }
    }
    tu_packets_free(&a);
    tu_packets_free(&b);
    tu_canvas_free(&c);
}

/* Bad descriptors are refused, the encoder unchanged: its next frame matches ref's. */
static void bad_descriptors(vd_encoder *enc, vd_encoder *ref, const host_buf *b, const char *what)
{
    tu_rng r = tu_rng_init(7);
    tu_canvas c = tu_canvas_new(VD_FORMAT_BGRX8888, 150, 90, 0);
    tu_fill_desktop(&r, &c);
    tu_packets x = {0}, y = {0};
    vd_dmabuf d;
    vd_frame good = dmabuf_frame(&c, b, &d, 0, c.stride, NULL, 0);
    CHECK(encode(enc, &good, &x) == 0 && encode(ref, &good, &y) == 0, "%s: a good frame", what);
    same_bytes(&x, &y, what, 0);
    tu_scribble(&r, &c, (vd_rect[8]){{0}}, 8);
    good = dmabuf_frame(&c, b, &d, 0, c.stride, NULL, 0);
    int closed = dup(b->fd);
    close(closed);
    struct {
        const char *name;
        vd_dmabuf d;
        int stride, err;
        int no_dmabuf;
    } cases[] = {
        {"negative fd", {.fd = -1}, c.stride, EBADF, 0},
        {"closed fd", {.fd = closed}, c.stride, EBADF, 0},
        {"offset past the end",
         {.fd = b->fd, .offset = (uint32_t)(b->fd_size - (size_t)c.stride * 89)}, c.stride, EINVAL, 0},
        {"stride past the end", {.fd = b->fd}, (int)(b->fd_size / 89) + 1, EINVAL, 0},
        {"stride too small", {.fd = b->fd}, c.stride - 1, EINVAL, 0},
        {"tiled modifier", {.fd = b->fd, .modifier = 0x0100000000000001ull}, c.stride, ENOTSUP, 0},
        {"DRM_FORMAT_MOD_INVALID", {.fd = b->fd, .modifier = DRM_FORMAT_MOD_INVALID}, c.stride,
         ENOTSUP, 0},
        {"neither data nor dma-buf", {.fd = b->fd}, c.stride, EINVAL, 1},
    };
    for (size_t i = 0; i < TU_ARRAY_SIZE(cases); i++) {
        vd_frame f = good;
        f.dmabuf = cases[i].no_dmabuf ? NULL : &cases[i].d;
        f.stride = cases[i].stride;
        warnings = 0;
        int ret = encode(enc, &f, &x);
        CHECK(ret == VD_ERR(cases[i].err), "%s: %s gave %s, expected %s", what, cases[i].name,
              vd_strerror(ret), vd_strerror(VD_ERR(cases[i].err)));
        CHECK(warnings == 1 && x.size == 0, "%s: %s: %d warnings, %zu bytes", what, cases[i].name,
              warnings, x.size);
    }
    CHECK(encode(enc, &good, &x) == 0 && encode(ref, &good, &y) == 0, "%s: after", what);
    same_bytes(&x, &y, what, 1);
    tu_packets_free(&x);
    tu_packets_free(&y);
    tu_canvas_free(&c);
}

/* ---- the CPU path: memfds ---------------------------------------------------------------- */

static host_buf memfd_buf(size_t size)
{
    host_buf b = {.size = size, .fd_size = size};
    b.fd = memfd_create("vd-frame", MFD_CLOEXEC);
    CHECK(b.fd >= 0 && ftruncate(b.fd, (off_t)size) == 0, "memfd_create: %s", strerror(errno));
    b.map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, b.fd, 0);
    CHECK(b.map != MAP_FAILED, "mmap");
    return b;
}

/* A frame layout in a buffer: format, size, padding per row, offset of its first byte. */
typedef struct scenario {
    enum vd_pixel_format fmt;
    int w, h, pad;
    uint32_t offset;
} scenario;

static void test_cpu(const vd_encoder_config *cfg)
{
    host_buf bufs[3];
    for (int i = 0; i < 3; i++)
        bufs[i] = memfd_buf(1 << 20);
    int fds = open_fds();
    static const scenario sc[] = {
        {VD_FORMAT_BGRX8888, 333, 201, 0, 0},
        {VD_FORMAT_RGBA8888, 130, 70, 12, 4096 + 64},
        {VD_FORMAT_RGB565, 257, 99, 2, 6},
    };
    for (size_t i = 0; i < TU_ARRAY_SIZE(sc); i++) {
        vd_encoder *ref = encoder(cfg, 0), *encs[2] = {encoder(cfg, 0), encoder(cfg, 0)};
        char what[64];
        snprintf(what, sizeof(what), "memfd scenario %zu", i);
        run(ref, encs, 2, bufs, 3, sc[i].fmt, sc[i].w, sc[i].h, sc[i].pad, sc[i].offset, 30,
            10 + i, 1, what, NULL);
        vd_encoder_free(&encs[0]);
        vd_encoder_free(&encs[1]);
        vd_encoder_free(&ref);
    }
    vd_encoder *enc = encoder(cfg, 0), *ref = encoder(cfg, 0);
    bad_descriptors(enc, ref, &bufs[0], "memfd");
    vd_encoder_free(&enc);
    vd_encoder_free(&ref);
    CHECK(open_fds() == fds, "%d fds open, %d before", open_fds(), fds);
    for (int i = 0; i < 3; i++) {
        CHECK(fcntl(bufs[i].fd, F_GETFD) >= 0, "libvd closed the host's fd");
        munmap(bufs[i].map, bufs[i].size);
        close(bufs[i].fd);
    }
    printf("dmabuf_test: memfd frames (3 formats, strides and offsets, with and without data) "
           "give the data path's bytes; 8 bad descriptors refused\n");
}

/* ---- the GPU path: memory the Vulkan device exports ---------------------------------------- */

#if VD_GPU_BUILT

typedef struct vk_env {
    VkInstance inst;
    VkDevice dev;
    VkExternalMemoryHandleTypeFlagBits type;
    VkDeviceMemory mem[3];
    host_buf bufs[3];
} vk_env;

/* Exports three host-visible allocations of size bytes from the device called name. */
static int vk_env_new(vk_env *e, const char *name, size_t size)
{
    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                             .apiVersion = VK_API_VERSION_1_1};
    VkInstanceCreateInfo ici = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
                                .pApplicationInfo = &app};
    if (vkCreateInstance(&ici, NULL, &e->inst) != VK_SUCCESS)
        return -1;
    VkPhysicalDevice pds[16], pd = VK_NULL_HANDLE;
    uint32_t n = 16;
    vkEnumeratePhysicalDevices(e->inst, &n, pds);
    for (uint32_t i = 0; i < n && !pd; i++) {
        VkPhysicalDeviceProperties p;
        vkGetPhysicalDeviceProperties(pds[i], &p);
        if (!strcmp(p.deviceName, name))
            pd = pds[i];
    }
    if (!pd)
        return -1;
    VkExtensionProperties ext[512];
    uint32_t n_ext = 512;
    vkEnumerateDeviceExtensionProperties(pd, NULL, &n_ext, ext);
    int has_dmabuf = 0;
    for (uint32_t i = 0; i < n_ext; i++)
        has_dmabuf |= !strcmp(ext[i].extensionName, "VK_EXT_external_memory_dma_buf");
    VkPhysicalDeviceExternalBufferInfo bi = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_BUFFER_INFO,
        .usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT,
        .handleType = VK_EXTERNAL_MEMORY_HANDLE_TYPE_DMA_BUF_BIT_EXT};
    VkExternalBufferProperties bp = {.sType = VK_STRUCTURE_TYPE_EXTERNAL_BUFFER_PROPERTIES};
    if (has_dmabuf)
        vkGetPhysicalDeviceExternalBufferProperties(pd, &bi, &bp);
    e->type = bp.externalMemoryProperties.externalMemoryFeatures &
                      VK_EXTERNAL_MEMORY_FEATURE_EXPORTABLE_BIT
                  ? VK_EXTERNAL_MEMORY_HANDLE_TYPE_DMA_BUF_BIT_EXT
                  : VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT;
    const char *exts[] = {"VK_KHR_external_memory_fd", "VK_EXT_external_memory_dma_buf"};
    float prio = 1;
    VkDeviceQueueCreateInfo qci = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                   .queueCount = 1, .pQueuePriorities = &prio};
    VkDeviceCreateInfo dci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                              .queueCreateInfoCount = 1, .pQueueCreateInfos = &qci,
                              .enabledExtensionCount =
                                  e->type == VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT ? 1 : 2,
                              .ppEnabledExtensionNames = exts};
    if (vkCreateDevice(pd, &dci, NULL, &e->dev) != VK_SUCCESS)
        return -1;
    PFN_vkGetMemoryFdKHR get_fd = (PFN_vkGetMemoryFdKHR)vkGetDeviceProcAddr(e->dev, "vkGetMemoryFdKHR");
    VkPhysicalDeviceMemoryProperties mp;
    vkGetPhysicalDeviceMemoryProperties(pd, &mp);
    uint32_t type = UINT32_MAX;
    VkMemoryPropertyFlags want = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    for (uint32_t i = 0; i < mp.memoryTypeCount && type == UINT32_MAX; i++)
        if ((mp.memoryTypes[i].propertyFlags & want) == want)
            type = i;
    if (!get_fd || type == UINT32_MAX)
        return -1;
    for (int i = 0; i < 3; i++) {
        VkExportMemoryAllocateInfo ex = {.sType = VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO,
                                         .handleTypes = e->type};
        VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .pNext = &ex,
                                   .allocationSize = size, .memoryTypeIndex = type};
        VkMemoryGetFdInfoKHR gi = {.sType = VK_STRUCTURE_TYPE_MEMORY_GET_FD_INFO_KHR,
                                   .handleType = e->type};
        void *map;
        if (vkAllocateMemory(e->dev, &ai, NULL, &e->mem[i]) != VK_SUCCESS ||
            vkMapMemory(e->dev, e->mem[i], 0, VK_WHOLE_SIZE, 0, &map) != VK_SUCCESS)
            return -1;
        gi.memory = e->mem[i];
        if (get_fd(e->dev, &gi, &e->bufs[i].fd) != VK_SUCCESS)
            return -1;
        e->bufs[i].map = map;
        e->bufs[i].size = size;
    }
    if (e->type == VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT) {
        /* Where does the memory start in the fd?  A marker through the Vulkan mapping.  An
         * fd that is no file holding the memory (NVIDIA's) cannot stand in for a dma-buf. */
        struct stat st;
        CHECK(fstat(e->bufs[0].fd, &st) == 0, "fstat");
        if ((size_t)st.st_size < size)
            return -1;
        const uint8_t *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, e->bufs[0].fd, 0);
        CHECK(m != MAP_FAILED, "mmap of an opaque fd");
        for (size_t i = 0; i < size; i++)
            e->bufs[0].map[i] = (uint8_t)(i * 7 + 1);
        size_t at = 0;
        while (at + size <= (size_t)st.st_size && memcmp(m + at, e->bufs[0].map, size))
            at += 4096;
        CHECK(at + size <= (size_t)st.st_size, "the opaque fd does not hold the memory");
        munmap((void *)m, (size_t)st.st_size);
        for (int i = 0; i < 3; i++)
            e->bufs[i].base = (uint32_t)at;
    }
    for (int i = 0; i < 3; i++) {
        struct stat st;
        CHECK(fstat(e->bufs[i].fd, &st) == 0, "fstat");
        e->bufs[i].fd_size = (size_t)st.st_size;
    }
    return 0;
}

static void vk_env_free(vk_env *e)
{
    for (int i = 0; i < 3; i++) {
        if (e->mem[i])
            vkFreeMemory(e->dev, e->mem[i], NULL);
        if (e->bufs[i].map)
            close(e->bufs[i].fd);
    }
    if (e->dev)
        vkDestroyDevice(e->dev, NULL);
    if (e->inst)
        vkDestroyInstance(e->inst, NULL);
}

/* Every scan of the GPU encoder read its frame from the import. */
static void check_imported(vd_encoder *enc, int frame)
{
    vd_gpu *g = vd_encoder_gpu(enc);
    if (!g) /* the CPU encoder */
        return;
    vd_gpu_times t;
    vd_gpu_get_times(g, &t);
    CHECK(frame == 0 || t.from_dmabuf, "frame %d: the GPU scan uploaded the frame", frame);
}

static void gpu_times(vd_encoder *enc, vd_gpu_times *t)
{
    CHECK(vd_encoder_gpu(enc), "the GPU failed");
    vd_gpu_get_times(vd_encoder_gpu(enc), t);
}

static void test_gpu(const vd_encoder_config *cfg, vk_env *e)
{
    /* With the GPU (imports), without (mmap), and data: the same bytes, 4- and 2-byte pixels,
     * a packed stride (one copy) and a padded one at an offset (a copy per row). */
    static const scenario sc[] = {
        {VD_FORMAT_BGRX8888, 333, 201, 0, 0},
        {VD_FORMAT_RGBA8888, 200, 130, 12, 4096 + 64},
        {VD_FORMAT_RGB565, 257, 99, 2, 6},
    };
    for (size_t i = 0; i < TU_ARRAY_SIZE(sc); i++) {
        int fds = open_fds();
        vd_encoder *ref = encoder(cfg, 0), *encs[2] = {encoder(cfg, 1), encoder(cfg, 0)};
        char what[64];
        snprintf(what, sizeof(what), "exported memory, scenario %zu", i);
        warnings = 0;
        run(ref, encs, 2, e->bufs, 3, sc[i].fmt, sc[i].w, sc[i].h, sc[i].pad, sc[i].offset, 30,
            20 + i, 0, what, check_imported);
        vd_gpu_times t;
        gpu_times(encs[0], &t);
        /* 29 scans (the first frame creates the surface): 3 imports, 26 reuses. */
        CHECK(t.dmabuf_imports == 3 && t.dmabuf_reuses == 26 && t.dmabuf_failures == 0,
              "%s: %llu imports, %llu reuses, %llu failures", what,
              (unsigned long long)t.dmabuf_imports, (unsigned long long)t.dmabuf_reuses,
              (unsigned long long)t.dmabuf_failures);
        CHECK(warnings == 0, "%s: %d warnings", what, warnings);
        if (i == 0) {
            /* Buffers not seen for 120 scans are released and imported again; so are those of
             * a surface that goes. */
            run(ref, encs, 1, e->bufs, 1, sc[i].fmt, sc[i].w, sc[i].h, 0, 0, 125, 30, 0,
                "one buffer", NULL);
            gpu_times(encs[0], &t);
            CHECK(t.dmabuf_imports == 3, "%llu imports", (unsigned long long)t.dmabuf_imports);
            run(ref, encs, 1, e->bufs + 1, 2, sc[i].fmt, sc[i].w, sc[i].h, 0, 0, 3, 31, 0,
                "the others again", NULL);
            gpu_times(encs[0], &t);
            CHECK(t.dmabuf_imports == 5, "%llu imports after the idle buffers came back",
                  (unsigned long long)t.dmabuf_imports);
            CHECK(vd_encoder_destroy_surface(encs[0], 1) == 0 &&
                      vd_encoder_destroy_surface(ref, 1) == 0, "destroy");
            for (vd_packet pkt; vd_encoder_receive_packet(encs[0], &pkt) == 0;)
                ;
            for (vd_packet pkt; vd_encoder_receive_packet(ref, &pkt) == 0;)
                ;
            run(ref, encs, 1, e->bufs, 1, sc[i].fmt, sc[i].w, sc[i].h, 0, 0, 3, 32, 0,
                "a new surface", NULL);
            gpu_times(encs[0], &t);
            CHECK(t.dmabuf_imports == 6, "%llu imports after the surface came back",
                  (unsigned long long)t.dmabuf_imports);
            bad_descriptors(encs[0], ref, &e->bufs[0], "exported memory, GPU encoder");
            CHECK(vd_encoder_gpu(encs[0]), "the GPU failed on a bad descriptor");
        }
        vd_encoder_free(&encs[0]);
        vd_encoder_free(&encs[1]);
        vd_encoder_free(&ref);
        CHECK(open_fds() == fds, "%d fds open, %d before", open_fds(), fds);
    }
    for (int i = 0; i < 3; i++)
        CHECK(fcntl(e->bufs[i].fd, F_GETFD) >= 0, "libvd closed the host's fd");
    printf("dmabuf_test: GPU, mmap and data encoders give the same bytes; each buffer imported "
           "once and reused, released when idle or with its surface; bad descriptors refused\n");

    /* A failure at each Vulkan call of an import (the first calls of a scan whose surface
     * exists): the frame goes up through staging, the context lives, one warning; later
     * calls fail the context (the CPU path).  The bytes never change. */
    int import_fell = 0, n;
    for (n = 1; n < 12; n++) {
        vd_encoder *ge = encoder(cfg, 1), *ref = encoder(cfg, 0);
        tu_rng r = tu_rng_init(40);
        tu_canvas c = tu_canvas_new(VD_FORMAT_BGRX8888, 200, 130, 0);
        tu_fill_desktop(&r, &c);
        tu_packets a = {0}, b = {0};
        for (int frame = 0; frame < 6; frame++) {
            vd_rect damage[8];
            const vd_rect *dmg = NULL;
            size_t n_damage = 0;
            if (frame)
                change(&r, &c, damage, &dmg, &n_damage);
            vd_frame rf = tu_frame(&c, 1, dmg, n_damage);
            vd_dmabuf d;
            vd_frame f = dmabuf_frame(&c, &e->bufs[frame % 3], &d, 0, c.stride, dmg, n_damage);
            if (frame < 2) /* the surface and its device buffers, from data */
                f.dmabuf = NULL, f.data = c.data;
            if (frame == 2) {
                warnings = 0;
                vd_gpu_test_fail_call(n);
            }
            CHECK(encode(ge, &f, &a) == 0 && encode(ref, &rf, &b) == 0, "injected, frame %d", frame);
            same_bytes(&a, &b, "injected failure", frame);
        }
        vd_gpu_test_fail_call(0);
        vd_gpu *g = vd_encoder_gpu(ge);
        if (g) {
            vd_gpu_times t;
            vd_gpu_get_times(g, &t);
            CHECK(t.dmabuf_failures == 1 && t.dmabuf_imports == 2 && warnings == 1,
                  "failure at call %d: %llu failures, %llu imports, %d warnings", n,
                  (unsigned long long)t.dmabuf_failures, (unsigned long long)t.dmabuf_imports,
                  warnings);
            import_fell++;
        } else {
            CHECK(warnings == 1, "failure at call %d: %d warnings", n, warnings);
        }
        tu_packets_free(&a);
        tu_packets_free(&b);
        tu_canvas_free(&c);
        vd_encoder_free(&ge);
        vd_encoder_free(&ref);
        if (!g)
            break;
    }
    CHECK(import_fell >= 3 && n < 12, "%d import failures, the context died at call %d",
          import_fell, n);
    printf("dmabuf_test: a failure at each of the %d Vulkan calls of an import falls back to "
           "staging with the same bytes\n", import_fell);
}

#endif

int main(void)
{
    vd_log_set_callback(log_cb, NULL);
    vd_log_set_level(VD_LOG_INFO);
    vd_encoder_config cfg;
    vd_encoder_config_default(&cfg);
    test_cpu(&cfg);
#if VD_GPU_BUILT
    /* The device gpu_test would pick: VD_GPU, or the first that works (lavapipe in CI). */
    vd_gpu *g = NULL;
    if (!getenv("VD_GPU"))
        for (int i = 0; !g && i < 4; i++) {
            cfg.gpu = VD_GPU_INDEX;
            cfg.gpu_index = i;
            g = vd_gpu_new(&cfg);
        }
    else
        g = vd_gpu_new(&cfg);
    if (!g) {
        printf("dmabuf_test: no Vulkan device; the CPU path passed\n");
        return 77;
    }
    char name[256];
    snprintf(name, sizeof(name), "%s", vd_gpu_device_name(g));
    vd_gpu_free(&g);
    vk_env e = {0};
    if (vk_env_new(&e, name, 1 << 20) < 0) {
        printf("dmabuf_test: %s exports neither dma-bufs nor opaque fds the CPU can map; the "
               "CPU path passed\n", name);
        vk_env_free(&e);
        return 77;
    }
    if (e.type == VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT) {
        /* lavapipe: its opaque fds are memfds, which the CPU path maps like dma-bufs. */
        printf("dmabuf_test: %s exports no dma-bufs: opaque fds (memory at %u in the fd), "
               "imported as such\n", name, e.bufs[0].base);
        vd_gpu_test_import_opaque(e.bufs[0].base, 1 << 20);
    } else {
        printf("dmabuf_test: %s exports dma-bufs\n", name);
    }
    test_gpu(&cfg, &e);
    vk_env_free(&e);
    printf("dmabuf_test: ok\n");
    return 0;
#else
    printf("dmabuf_test: ok (built without the Vulkan backend: no GPU path to test)\n");
    return 0;
#endif
}
