/* The Vulkan compute backend (lib/gpu.h).
 *
 * The loader is opened with dlopen() rather than linked: libvd then runs on hosts without
 * libvulkan.so.1 (the CPU path), and a missing loader is one more failure to fall back from.
 * Only Vulkan 1.0 core calls are used.
 *
 * A surface keeps two device images with rows padded to 4 bytes: cur, the last uploaded frame,
 * and ref, the encoder's reference (what the client has).  A scan is one submission:
 *   1. ref takes the rectangles the encoder sent from the previous frame (copied from cur,
 *      which still holds that frame), or the CPU reference when it must be re-seeded;
 *   2. the new frame goes staging -> cur, or, when it came as a dma-buf the device imported,
 *      straight from that buffer to cur (cur, not the import, is what the next steps and the
 *      next scan read: the host may overwrite its buffer once send_frame returns, while the
 *      next scan's reference update still needs this frame, and cur has the packed stride
 *      the shaders share with ref);
 *   3. one workgroup per candidate tile compares cur with ref (lib/shaders/damage_compare.comp);
 *   4. one workgroup per tile that differs takes the classifier's statistics of it against the
 *      same reference (lib/shaders/tile_stats.comp), for 4-byte pixels.
 * A conversion to YUV (lib/shaders/yuv_convert.comp) is a second submission that reads cur
 * again: its rectangles (video regions) are known only once the classifier has taken the
 * first submission's statistics.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#define _POSIX_C_SOURCE 200809L /* CLOCK_THREAD_CPUTIME_ID */

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define VK_NO_PROTOTYPES
#include <vulkan/vulkan.h>

#include "clock.h"
#include "gpu.h"
#include "log.h"

#include "shaders/damage_compare.spv.h"
#include "shaders/ref_update.spv.h"
#include "shaders/tile_stats.spv.h"
#include "shaders/yuv_convert.spv.h"

#define MAX_DEVICES 16
#define MAX_IMPORTS 8         /* per surface: a host cycles through two to four scanout buffers */
#define IMPORT_IDLE_SCANS 120 /* an import not used for this many scans of its surface goes */
#define FENCE_TIMEOUT_NS 10000000000ull /* a frame that takes 10 s means a hung device */
#define N_SCAN_TIMESTAMPS 5 /* then the conversion's two */
#define N_TIMESTAMPS (N_SCAN_TIMESTAMPS + 2)
#define STATS_WORDS 8 /* per tile, see tile_stats.comp */

/* ---- the loader and its functions ----------------------------------------------------- */

#define VD_VK_INSTANCE_FUNCS(X)                                                                   \
    X(vkDestroyInstance)                                                                          \
    X(vkEnumeratePhysicalDevices)                                                                 \
    X(vkGetPhysicalDeviceProperties)                                                              \
    X(vkGetPhysicalDeviceQueueFamilyProperties)                                                   \
    X(vkGetPhysicalDeviceMemoryProperties)                                                        \
    X(vkEnumerateDeviceExtensionProperties)                                                       \
    X(vkCreateDevice)                                                                             \
    X(vkGetDeviceProcAddr)

#define VD_VK_DEVICE_FUNCS(X)                                                                     \
    X(vkDestroyDevice)                                                                            \
    X(vkGetDeviceQueue)                                                                           \
    X(vkDeviceWaitIdle)                                                                           \
    X(vkCreateBuffer)                                                                             \
    X(vkDestroyBuffer)                                                                            \
    X(vkGetBufferMemoryRequirements)                                                              \
    X(vkAllocateMemory)                                                                           \
    X(vkFreeMemory)                                                                               \
    X(vkBindBufferMemory)                                                                         \
    X(vkMapMemory)                                                                                \
    X(vkCreateShaderModule)                                                                       \
    X(vkDestroyShaderModule)                                                                      \
    X(vkCreateDescriptorSetLayout)                                                                \
    X(vkDestroyDescriptorSetLayout)                                                               \
    X(vkCreatePipelineLayout)                                                                     \
    X(vkDestroyPipelineLayout)                                                                    \
    X(vkCreateComputePipelines)                                                                   \
    X(vkDestroyPipeline)                                                                          \
    X(vkCreateDescriptorPool)                                                                     \
    X(vkDestroyDescriptorPool)                                                                    \
    X(vkAllocateDescriptorSets)                                                                   \
    X(vkUpdateDescriptorSets)                                                                     \
    X(vkCreateCommandPool)                                                                        \
    X(vkDestroyCommandPool)                                                                       \
    X(vkAllocateCommandBuffers)                                                                   \
    X(vkBeginCommandBuffer)                                                                       \
    X(vkEndCommandBuffer)                                                                         \
    X(vkCmdBindPipeline)                                                                          \
    X(vkCmdBindDescriptorSets)                                                                    \
    X(vkCmdPushConstants)                                                                         \
    X(vkCmdDispatch)                                                                              \
    X(vkCmdCopyBuffer)                                                                            \
    X(vkCmdPipelineBarrier)                                                                       \
    X(vkCmdResetQueryPool)                                                                        \
    X(vkCmdWriteTimestamp)                                                                        \
    X(vkCreateQueryPool)                                                                          \
    X(vkDestroyQueryPool)                                                                         \
    X(vkGetQueryPoolResults)                                                                      \
    X(vkCreateFence)                                                                              \
    X(vkDestroyFence)                                                                             \
    X(vkWaitForFences)                                                                            \
    X(vkResetFences)                                                                              \
    X(vkQueueSubmit)

#define VD_VK_DECLARE(name) PFN_##name name;

typedef struct vk_instance_fns {
    VD_VK_INSTANCE_FUNCS(VD_VK_DECLARE)
} vk_instance_fns;

typedef struct vk_device_fns {
    VD_VK_DEVICE_FUNCS(VD_VK_DECLARE)
} vk_device_fns;

/* What the process found once: the loader and the devices. */
typedef struct vk_device_info {
    char name[VK_MAX_PHYSICAL_DEVICE_NAME_SIZE];
    VkPhysicalDeviceType type;
    int has_compute;
} vk_device_info;

static struct {
    pthread_once_t once;
    PFN_vkGetInstanceProcAddr get_instance_proc;
    PFN_vkCreateInstance create_instance;
    const char *error; /* why there is no loader or no device list */
    vk_device_info devices[MAX_DEVICES];
    int n_devices;
    VkInstance instance; /* the probe's */
} loader = {.once = PTHREAD_ONCE_INIT};

static atomic_int fail_countdown;
static struct {
    uint64_t base, size;
} import_opaque; /* the test hook's; set before contexts are made */

void vd_gpu_test_import_opaque(uint64_t base, uint64_t size)
{
    import_opaque.base = base;
    import_opaque.size = size;
}

void vd_gpu_test_fail_call(int n) { atomic_store(&fail_countdown, n); }

/* The test hook: nonzero when this call is the one to fail. */
static int injected_failure(void)
{
    int n = atomic_load(&fail_countdown);
    while (n > 0) {
        if (atomic_compare_exchange_weak(&fail_countdown, &n, n - 1))
            return n == 1;
    }
    return 0;
}

static const char *vk_result_name(VkResult r)
{
    switch (r) {
    case VK_TIMEOUT: return "VK_TIMEOUT";
    case VK_ERROR_OUT_OF_HOST_MEMORY: return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY: return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED: return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_DEVICE_LOST: return "VK_ERROR_DEVICE_LOST";
    case VK_ERROR_MEMORY_MAP_FAILED: return "VK_ERROR_MEMORY_MAP_FAILED";
    case VK_ERROR_LAYER_NOT_PRESENT: return "VK_ERROR_LAYER_NOT_PRESENT";
    case VK_ERROR_EXTENSION_NOT_PRESENT: return "VK_ERROR_EXTENSION_NOT_PRESENT";
    case VK_ERROR_FEATURE_NOT_PRESENT: return "VK_ERROR_FEATURE_NOT_PRESENT";
    case VK_ERROR_INCOMPATIBLE_DRIVER: return "VK_ERROR_INCOMPATIBLE_DRIVER";
    case VK_ERROR_TOO_MANY_OBJECTS: return "VK_ERROR_TOO_MANY_OBJECTS";
    default: return "a Vulkan error";
    }
}

static const VkApplicationInfo app_info = {
    .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
    .pApplicationName = "libvd",
    .pEngineName = "libvd",
    .apiVersion = VK_API_VERSION_1_0,
};

/* Those of names the instance has, into found; returns how many. */
static uint32_t instance_extensions(const char *const *names, uint32_t n, const char **found)
{
    PFN_vkEnumerateInstanceExtensionProperties enumerate =
        (PFN_vkEnumerateInstanceExtensionProperties)loader.get_instance_proc(
            NULL, "vkEnumerateInstanceExtensionProperties");
    VkExtensionProperties props[256];
    uint32_t n_props = VD_ARRAY_SIZE(props), n_found = 0;
    if (!enumerate || enumerate(NULL, &n_props, props) < 0)
        return 0;
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t j = 0; j < n_props; j++)
            if (!strcmp(props[j].extensionName, names[i])) {
                found[n_found++] = names[i];
                break;
            }
    return n_found;
}

/* *can_import: the instance has what device-level memory import needs. */
static VkResult instance_new(VkInstance *inst, vk_instance_fns *fn, int *can_import)
{
    /* What the device's VK_KHR_external_memory (dma-buf import) depends on in Vulkan 1.0. */
    static const char *const wanted[] = {"VK_KHR_get_physical_device_properties2",
                                         "VK_KHR_external_memory_capabilities"};
    const char *exts[VD_ARRAY_SIZE(wanted)];
    VkInstanceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
                               .pApplicationInfo = &app_info, .ppEnabledExtensionNames = exts};
    ci.enabledExtensionCount = instance_extensions(wanted, VD_ARRAY_SIZE(wanted), exts);
    *can_import = ci.enabledExtensionCount == VD_ARRAY_SIZE(wanted);
    VkResult r = loader.create_instance(&ci, NULL, inst);
    if (r != VK_SUCCESS)
        return r;
#define VD_VK_LOAD_INSTANCE(name)                                                                 \
    if (!(fn->name = (PFN_##name)loader.get_instance_proc(*inst, #name)))                         \
        r = VK_ERROR_INITIALIZATION_FAILED;
    VD_VK_INSTANCE_FUNCS(VD_VK_LOAD_INSTANCE)
    if (r != VK_SUCCESS && fn->vkDestroyInstance)
        fn->vkDestroyInstance(*inst, NULL);
    return r;
}

static int compute_family(const vk_instance_fns *fn, VkPhysicalDevice pd, uint32_t *timestamp_bits)
{
    VkQueueFamilyProperties fam[16];
    uint32_t n = VD_ARRAY_SIZE(fam);
    fn->vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, fam);
    for (uint32_t i = 0; i < n; i++) {
        if (fam[i].queueFlags & VK_QUEUE_COMPUTE_BIT) {
            if (timestamp_bits)
                *timestamp_bits = fam[i].timestampValidBits;
            return (int)i;
        }
    }
    return -1;
}

static void loader_init(void)
{
    void *lib = dlopen("libvulkan.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        loader.error = "no Vulkan loader (libvulkan.so.1)";
        return;
    }
    /* Never dlclose()d: drivers register atexit handlers and threads of their own. */
    loader.get_instance_proc = (PFN_vkGetInstanceProcAddr)dlsym(lib, "vkGetInstanceProcAddr");
    if (loader.get_instance_proc)
        loader.create_instance =
            (PFN_vkCreateInstance)loader.get_instance_proc(NULL, "vkCreateInstance");
    if (!loader.create_instance) {
        loader.error = "the Vulkan loader lacks vkGetInstanceProcAddr";
        return;
    }
    VkInstance inst;
    vk_instance_fns fn;
    int can_import;
    VkResult r = instance_new(&inst, &fn, &can_import);
    if (r != VK_SUCCESS) {
        loader.error = "no Vulkan instance (no driver?)";
        return;
    }
    VkPhysicalDevice pds[MAX_DEVICES];
    uint32_t n = MAX_DEVICES;
    r = fn.vkEnumeratePhysicalDevices(inst, &n, pds);
    if (r >= 0) {
        for (uint32_t i = 0; i < n; i++) {
            VkPhysicalDeviceProperties props;
            fn.vkGetPhysicalDeviceProperties(pds[i], &props);
            vk_device_info *d = &loader.devices[i];
            snprintf(d->name, sizeof(d->name), "%s", props.deviceName);
            d->type = props.deviceType;
            d->has_compute = compute_family(&fn, pds[i], NULL) >= 0;
        }
        loader.n_devices = (int)n;
    }
    /* Kept, never destroyed: the loader unloads the drivers with their last instance, and
     * loading them again for each encoder's context would cost far more than the instance.
     * (It also keeps leaks inside a driver attributable to it for LeakSanitizer.) */
    loader.instance = inst;
}

/* Lower is better: discrete, integrated, virtual, other, CPU. */
static int type_rank(VkPhysicalDeviceType t)
{
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 4;
    default: return 3;
    }
}

/* ---- the context ------------------------------------------------------------------------ */

typedef struct gpu_buffer {
    VkBuffer buf;
    VkDeviceMemory mem;
    void *map; /* host-visible buffers stay mapped */
    VkDeviceSize size;
} gpu_buffer;

/* A compute shader with its own descriptor set of storage buffers (bindings 0..n-1). */
typedef struct gpu_pipe {
    VkShaderModule shader;
    VkDescriptorSetLayout set_layout;
    VkPipelineLayout layout;
    VkPipeline pipeline;
    VkDescriptorSet set;
    uint32_t n_bindings, pc_size;
} gpu_pipe;

/* A dma-buf the device imported, cached by file identity (st_dev, st_ino), not by fd number:
 * a host may pass the same buffer under different fds, and a number may be reused for another
 * buffer once closed.  Host memory imports use buf and mem alone (fd -1). */
typedef struct gpu_import {
    int used;
    dev_t dev;
    ino_t ino;
    int fd;             /* a dup of the host's: while it is open the identity cannot be reused */
    VkBuffer buf;       /* VK_NULL_HANDLE: the import failed; the buffer's frames use staging */
    VkDeviceMemory mem;
    uint64_t last_scan; /* the surface's scan count when it was last passed */
} gpu_import;

/* A buffer the host registered (vd_gpu_register()): imported once, frames inside read there. */
typedef struct gpu_registered {
    const uint8_t *data; /* NULL: a free slot */
    size_t size;
    VkDeviceSize offset; /* of data in the import, which starts at the aligned address below */
    int writable;        /* the encoder's planes, which vd_gpu_convert() writes; not frames */
    gpu_import imp;
} gpu_registered;

struct vd_gpu {
    vk_instance_fns fi;
    vk_device_fns fd;
    VkInstance instance;
    VkPhysicalDevice pd;
    VkDevice device;
    VkQueue queue;
    uint32_t family;
    VkPhysicalDeviceMemoryProperties mem;
    VkDeviceSize max_buffer; /* maxStorageBufferRange */
    char name[VK_MAX_PHYSICAL_DEVICE_NAME_SIZE];
    int is_cpu;
    VkDescriptorPool pool;
    gpu_pipe compare, stats, convert, ref_update;
    gpu_buffer pieces; /* the reference update's pieces (ref_update.comp), grown */
    gpu_buffer conv_planes, conv_out; /* the conversion's plane list and output, grown */
    VkCommandPool cmd_pool;
    VkCommandBuffer cmd;
    VkFence fence;
    VkQueryPool queries; /* VK_NULL_HANDLE: no timestamps on this queue */
    float timestamp_period;
    uint64_t timestamp_mask;
    int failed;
    VkBufferCopy *regions; /* scratch for the reference update and dma-buf copies */
    size_t regions_cap;
    vd_gpu_times times;
    /* dma-buf import: the handle type (0: the device cannot), its properties call (dma-bufs
     * only), whether a failure was logged, and the counters of vd_gpu_times. */
    VkExternalMemoryHandleTypeFlagBits import_type;
    uint64_t import_base, import_size; /* the test hook's opaque fds: memory at base, size */
    PFN_vkGetMemoryFdPropertiesKHR get_fd_props;
    int import_logged;
    uint64_t imports, import_reuses, import_failures;
    /* Host frames read in place (VK_EXT_external_memory_host) rather than copied to staging:
     * the call (NULL: the device cannot), the pointer alignment, counters as for dma-bufs. */
    PFN_vkGetMemoryHostPointerPropertiesEXT get_host_props;
    VkDeviceSize host_align;
    int host_logged, per_frame_off;
    uint64_t host_imports, host_failures;
    /* The host's frame buffers, and the encoder's own plane buffer (vd_gpu_convert()). */
    gpu_registered registered[VD_MAX_BUFFERS + 1];
};

/* The first failure of a context logs; later calls see failed and do nothing. */
static void gpu_fail(vd_gpu *g, const char *what, VkResult r)
{
    if (g->failed)
        return;
    g->failed = 1;
    vd_log(VD_LOG_WARNING, "GPU offload: %s failed on %s (%s); damage detection goes on on the CPU",
           what, g->name[0] ? g->name : "the Vulkan device", vk_result_name(r));
}

static int vk_ok(vd_gpu *g, VkResult r, const char *what)
{
    if (r == VK_SUCCESS)
        return 1;
    gpu_fail(g, what, r);
    return 0;
}

/* Every call that returns a VkResult goes through here; the test hook can fail any of them. */
#define VK(g, what, call) vk_ok((g), injected_failure() ? VK_ERROR_DEVICE_LOST : (call), (what))

const char *vd_gpu_device_name(const vd_gpu *gpu) { return gpu->name; }

int vd_gpu_device_is_cpu(const vd_gpu *gpu) { return gpu->is_cpu; }

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void vd_gpu_get_times(const vd_gpu *gpu, vd_gpu_times *times)
{
    *times = gpu->times;
    times->dmabuf_imports = gpu->imports;
    times->dmabuf_reuses = gpu->import_reuses;
    times->dmabuf_failures = gpu->import_failures;
    times->host_imports = gpu->host_imports;
    times->host_failures = gpu->host_failures;
}

static int memory_type(const vd_gpu *g, uint32_t bits, VkMemoryPropertyFlags want,
                       VkMemoryPropertyFlags prefer)
{
    for (int pass = 0; pass < 2; pass++) {
        VkMemoryPropertyFlags need = pass ? want : want | prefer;
        for (uint32_t i = 0; i < g->mem.memoryTypeCount; i++)
            if ((bits & (1u << i)) && (g->mem.memoryTypes[i].propertyFlags & need) == need)
                return (int)i;
    }
    return -1;
}

static int buffer_new(vd_gpu *g, gpu_buffer *b, VkDeviceSize size, VkBufferUsageFlags usage,
                      int host)
{
    *b = (gpu_buffer){.size = size};
    VkBufferCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .size = size,
                             .usage = usage, .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    if (!VK(g, "vkCreateBuffer", g->fd.vkCreateBuffer(g->device, &ci, NULL, &b->buf)))
        return VD_ERR(EIO);
    VkMemoryRequirements req;
    g->fd.vkGetBufferMemoryRequirements(g->device, b->buf, &req);
    int type = host ? memory_type(g, req.memoryTypeBits,
                                  VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                      VK_MEMORY_PROPERTY_HOST_COHERENT_BIT,
                                  VK_MEMORY_PROPERTY_HOST_CACHED_BIT)
                    : memory_type(g, req.memoryTypeBits, 0, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
    if (type < 0) {
        gpu_fail(g, "finding a memory type", VK_ERROR_OUT_OF_DEVICE_MEMORY);
        return VD_ERR(EIO);
    }
    VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                               .allocationSize = req.size, .memoryTypeIndex = (uint32_t)type};
    if (!VK(g, "vkAllocateMemory", g->fd.vkAllocateMemory(g->device, &ai, NULL, &b->mem)) ||
        !VK(g, "vkBindBufferMemory", g->fd.vkBindBufferMemory(g->device, b->buf, b->mem, 0)))
        return VD_ERR(EIO);
    if (host && !VK(g, "vkMapMemory", g->fd.vkMapMemory(g->device, b->mem, 0, VK_WHOLE_SIZE, 0, &b->map)))
        return VD_ERR(EIO);
    return 0;
}

static void buffer_free(vd_gpu *g, gpu_buffer *b)
{
    /* Freeing the memory unmaps it. */
    if (b->buf)
        g->fd.vkDestroyBuffer(g->device, b->buf, NULL);
    if (b->mem)
        g->fd.vkFreeMemory(g->device, b->mem, NULL);
    *b = (gpu_buffer){0};
}

/* A host-visible storage buffer of at least size bytes; the previous submission has completed. */
static int buffer_reserve(vd_gpu *g, gpu_buffer *b, VkDeviceSize size)
{
    if (b->buf && b->size >= size)
        return 0;
    buffer_free(g, b);
    VkDeviceSize cap = 4096;
    while (cap < size)
        cap *= 2;
    return buffer_new(g, b, cap, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, 1);
}

static void pipe_free(vd_gpu *g, gpu_pipe *p)
{
    if (p->pipeline)
        g->fd.vkDestroyPipeline(g->device, p->pipeline, NULL);
    if (p->layout)
        g->fd.vkDestroyPipelineLayout(g->device, p->layout, NULL);
    if (p->set_layout)
        g->fd.vkDestroyDescriptorSetLayout(g->device, p->set_layout, NULL);
    if (p->shader)
        g->fd.vkDestroyShaderModule(g->device, p->shader, NULL);
    *p = (gpu_pipe){0};
}

static void import_free(vd_gpu *g, gpu_import *e);

void vd_gpu_free(vd_gpu **pgpu)
{
    vd_gpu *g = *pgpu;
    if (!g)
        return;
    if (g->device) {
        /* A lost device may say so again; destruction is allowed regardless. */
        g->fd.vkDeviceWaitIdle(g->device);
        if (g->queries)
            g->fd.vkDestroyQueryPool(g->device, g->queries, NULL);
        if (g->fence)
            g->fd.vkDestroyFence(g->device, g->fence, NULL);
        if (g->cmd_pool)
            g->fd.vkDestroyCommandPool(g->device, g->cmd_pool, NULL);
        if (g->pool)
            g->fd.vkDestroyDescriptorPool(g->device, g->pool, NULL);
        pipe_free(g, &g->compare);
        pipe_free(g, &g->stats);
        pipe_free(g, &g->convert);
        pipe_free(g, &g->ref_update);
        for (size_t i = 0; i < VD_ARRAY_SIZE(g->registered); i++)
            import_free(g, &g->registered[i].imp);
        buffer_free(g, &g->pieces);
        buffer_free(g, &g->conv_planes);
        buffer_free(g, &g->conv_out);
        g->fd.vkDestroyDevice(g->device, NULL);
    }
    if (g->instance)
        g->fi.vkDestroyInstance(g->instance, NULL);
    free(g->regions);
    free(g);
    *pgpu = NULL;
}

/* Push constants of damage_compare.comp, in its order. */
typedef struct compare_params {
    uint32_t stride_words, row_bytes, tile_bytes, mask, cols, height;
} compare_params;

/* Push constants of tile_stats.comp, in its order. */
typedef struct stats_params {
    uint32_t stride_words, cols;
    int32_t width, height;
    int32_t skip[4];
} stats_params;

/* Push constants of yuv_convert.comp, in its order. */
typedef struct convert_params {
    uint32_t stride_words, r_shift, b_shift;
} convert_params;

/* yuv_convert.comp's Plane and KIND_*. */
typedef struct conv_plane {
    int32_t x, y, w, h;
    uint32_t kind, offset, stride, words, rows;
} conv_plane;
enum plane_kind { KIND_Y, KIND_U, KIND_V, KIND_U2, KIND_V2, KIND_UV2 };

/* Push constants of ref_update.comp, in its order. */
typedef struct ref_params {
    uint32_t stride_words, n_pieces, groups_x;
} ref_params;

#define N_PIPES 4
#define N_DESCRIPTORS 13 /* the pipes' bindings together */

static int pipe_new(vd_gpu *g, gpu_pipe *p, const uint32_t *code, size_t code_size,
                    uint32_t n_bindings, uint32_t pc_size)
{
    p->n_bindings = n_bindings;
    p->pc_size = pc_size;
    VkShaderModuleCreateInfo sm = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
                                   .codeSize = code_size, .pCode = code};
    if (!VK(g, "vkCreateShaderModule", g->fd.vkCreateShaderModule(g->device, &sm, NULL, &p->shader)))
        return VD_ERR(EIO);
    VkDescriptorSetLayoutBinding bind[4];
    for (uint32_t i = 0; i < n_bindings; i++)
        bind[i] = (VkDescriptorSetLayoutBinding){.binding = i,
                                                 .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                                 .descriptorCount = 1,
                                                 .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
    VkDescriptorSetLayoutCreateInfo dl = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                          .bindingCount = n_bindings, .pBindings = bind};
    if (!VK(g, "vkCreateDescriptorSetLayout",
            g->fd.vkCreateDescriptorSetLayout(g->device, &dl, NULL, &p->set_layout)))
        return VD_ERR(EIO);
    VkPushConstantRange pc = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .size = pc_size};
    VkPipelineLayoutCreateInfo pl = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
                                     .setLayoutCount = 1, .pSetLayouts = &p->set_layout,
                                     .pushConstantRangeCount = 1, .pPushConstantRanges = &pc};
    if (!VK(g, "vkCreatePipelineLayout", g->fd.vkCreatePipelineLayout(g->device, &pl, NULL, &p->layout)))
        return VD_ERR(EIO);
    VkComputePipelineCreateInfo cp = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                  .stage = VK_SHADER_STAGE_COMPUTE_BIT, .module = p->shader, .pName = "main"},
        .layout = p->layout,
    };
    if (!VK(g, "vkCreateComputePipelines",
            g->fd.vkCreateComputePipelines(g->device, VK_NULL_HANDLE, 1, &cp, NULL, &p->pipeline)))
        return VD_ERR(EIO);
    VkDescriptorSetAllocateInfo da = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                      .descriptorPool = g->pool, .descriptorSetCount = 1,
                                      .pSetLayouts = &p->set_layout};
    if (!VK(g, "vkAllocateDescriptorSets", g->fd.vkAllocateDescriptorSets(g->device, &da, &p->set)))
        return VD_ERR(EIO);
    return 0;
}

static int pipelines_new(vd_gpu *g)
{
    VkDescriptorPoolSize ps = {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, N_DESCRIPTORS};
    VkDescriptorPoolCreateInfo dp = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                     .maxSets = N_PIPES, .poolSizeCount = 1, .pPoolSizes = &ps};
    if (!VK(g, "vkCreateDescriptorPool", g->fd.vkCreateDescriptorPool(g->device, &dp, NULL, &g->pool)))
        return VD_ERR(EIO);
    int ret;
    if ((ret = pipe_new(g, &g->compare, vd_spv_damage_compare, sizeof(vd_spv_damage_compare), 3,
                        sizeof(compare_params))) < 0 ||
        (ret = pipe_new(g, &g->stats, vd_spv_tile_stats, sizeof(vd_spv_tile_stats), 4,
                        sizeof(stats_params))) < 0 ||
        (ret = pipe_new(g, &g->convert, vd_spv_yuv_convert, sizeof(vd_spv_yuv_convert), 3,
                        sizeof(convert_params))) < 0 ||
        (ret = pipe_new(g, &g->ref_update, vd_spv_ref_update, sizeof(vd_spv_ref_update), 3,
                        sizeof(ref_params))) < 0)
        return ret;
    return 0;
}

static int context_init(vd_gpu *g, int index)
{
    int can_import;
    if (!VK(g, "vkCreateInstance", instance_new(&g->instance, &g->fi, &can_import)))
        return VD_ERR(EIO);
    VkPhysicalDevice pds[MAX_DEVICES];
    uint32_t n = MAX_DEVICES;
    VkResult r = g->fi.vkEnumeratePhysicalDevices(g->instance, &n, pds);
    if (r == VK_INCOMPLETE)
        r = VK_SUCCESS;
    if (!VK(g, "vkEnumeratePhysicalDevices", r))
        return VD_ERR(EIO);
    if ((uint32_t)index >= n) { /* the devices changed since the probe */
        gpu_fail(g, "finding the device again", VK_ERROR_INITIALIZATION_FAILED);
        return VD_ERR(ENODEV);
    }
    g->pd = pds[index];
    VkPhysicalDeviceProperties props;
    g->fi.vkGetPhysicalDeviceProperties(g->pd, &props);
    snprintf(g->name, sizeof(g->name), "%s", props.deviceName);
    g->is_cpu = props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU;
    g->max_buffer = props.limits.maxStorageBufferRange;
    /* The shaders' workgroups: 64 x 4 (the spec guarantees only 128 invocations). */
    if (props.limits.maxComputeWorkGroupInvocations < 256 ||
        props.limits.maxComputeWorkGroupSize[0] < 64 || props.limits.maxComputeWorkGroupSize[1] < 4) {
        gpu_fail(g, "finding workgroups of 64 x 4", VK_ERROR_FEATURE_NOT_PRESENT);
        return VD_ERR(ENODEV);
    }
    g->timestamp_period = props.limits.timestampPeriod;
    uint32_t ts_bits = 0;
    int family = compute_family(&g->fi, g->pd, &ts_bits);
    if (family < 0) {
        gpu_fail(g, "finding a compute queue", VK_ERROR_FEATURE_NOT_PRESENT);
        return VD_ERR(ENODEV);
    }
    g->family = (uint32_t)family;
    g->fi.vkGetPhysicalDeviceMemoryProperties(g->pd, &g->mem);

    float prio = 1.0f;
    VkDeviceQueueCreateInfo qci = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                   .queueFamilyIndex = g->family, .queueCount = 1,
                                   .pQueuePriorities = &prio};
    /* Optional: importing dma-bufs needs all three; the test hook's opaque fds the first two. */
    static const char *const import_exts[] = {"VK_KHR_external_memory", "VK_KHR_external_memory_fd",
                                              "VK_EXT_external_memory_dma_buf"};
    static const char host_ext[] = "VK_EXT_external_memory_host";
    const char *exts[VD_ARRAY_SIZE(import_exts) + 1];
    uint32_t n_exts = 0;
    VkExtensionProperties props_ext[256];
    uint32_t n_props = VD_ARRAY_SIZE(props_ext);
    if (g->fi.vkEnumerateDeviceExtensionProperties(g->pd, NULL, &n_props, props_ext) < 0)
        n_props = 0;
    for (uint32_t i = 0; can_import && i < VD_ARRAY_SIZE(import_exts) && n_exts == i; i++)
        for (uint32_t j = 0; j < n_props; j++)
            if (!strcmp(props_ext[j].extensionName, import_exts[i])) {
                exts[n_exts++] = import_exts[i];
                break;
            }
    uint32_t n_fd_exts = n_exts;
    /* Reading host frames in place depends on VK_KHR_external_memory, the first above. */
    for (uint32_t j = 0; n_exts >= 1 && j < n_props; j++)
        if (!strcmp(props_ext[j].extensionName, host_ext)) {
            exts[n_exts++] = host_ext;
            break;
        }
    VkDeviceCreateInfo dci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                              .queueCreateInfoCount = 1, .pQueueCreateInfos = &qci,
                              .enabledExtensionCount = n_exts, .ppEnabledExtensionNames = exts};
    if (!VK(g, "vkCreateDevice", g->fi.vkCreateDevice(g->pd, &dci, NULL, &g->device)))
        return VD_ERR(EIO);
    r = VK_SUCCESS;
#define VD_VK_LOAD_DEVICE(name)                                                                   \
    if (!(g->fd.name = (PFN_##name)g->fi.vkGetDeviceProcAddr(g->device, #name)))                  \
        r = VK_ERROR_INITIALIZATION_FAILED;
    VD_VK_DEVICE_FUNCS(VD_VK_LOAD_DEVICE)
    if (!g->fd.vkDestroyDevice || !g->fd.vkDeviceWaitIdle) {
        /* Without these vd_gpu_free() cannot run its device half. */
        PFN_vkDestroyDevice destroy =
            (PFN_vkDestroyDevice)g->fi.vkGetDeviceProcAddr(g->device, "vkDestroyDevice");
        if (destroy)
            destroy(g->device, NULL);
        g->device = VK_NULL_HANDLE;
    }
    if (!vk_ok(g, r, "vkGetDeviceProcAddr"))
        return VD_ERR(EIO);
    g->get_fd_props = (PFN_vkGetMemoryFdPropertiesKHR)g->fi.vkGetDeviceProcAddr(
        g->device, "vkGetMemoryFdPropertiesKHR");
    g->import_base = import_opaque.base;
    g->import_size = import_opaque.size;
    if (g->import_size ? n_fd_exts >= 2 : n_fd_exts == 3 && g->get_fd_props)
        g->import_type = g->import_size ? VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT
                                        : VK_EXTERNAL_MEMORY_HANDLE_TYPE_DMA_BUF_BIT_EXT;
    if (n_exts > n_fd_exts) {
        PFN_vkGetPhysicalDeviceProperties2KHR props2 = (PFN_vkGetPhysicalDeviceProperties2KHR)
            loader.get_instance_proc(g->instance, "vkGetPhysicalDeviceProperties2KHR");
        VkPhysicalDeviceExternalMemoryHostPropertiesEXT hp = {
            .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_MEMORY_HOST_PROPERTIES_EXT};
        VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                          .pNext = &hp};
        PFN_vkGetPhysicalDeviceExternalBufferPropertiesKHR ext_props =
            (PFN_vkGetPhysicalDeviceExternalBufferPropertiesKHR)loader.get_instance_proc(
                g->instance, "vkGetPhysicalDeviceExternalBufferPropertiesKHR");
        VkPhysicalDeviceExternalBufferInfo bi = {
            .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_BUFFER_INFO,
            .usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_STORAGE_BUFFER_BIT,
            .handleType = VK_EXTERNAL_MEMORY_HANDLE_TYPE_HOST_ALLOCATION_BIT_EXT};
        VkExternalBufferProperties bp = {.sType = VK_STRUCTURE_TYPE_EXTERNAL_BUFFER_PROPERTIES};
        if (props2 && ext_props) {
            props2(g->pd, &p2);
            ext_props(g->pd, &bi, &bp);
        }
        g->host_align = hp.minImportedHostPointerAlignment;
        long page = sysconf(_SC_PAGESIZE);
        /* A power of two by the spec.  Above the page size, widening a range to it could
         * take in unmapped memory: off then, as without the extension. */
        if ((bp.externalMemoryProperties.externalMemoryFeatures &
             VK_EXTERNAL_MEMORY_FEATURE_IMPORTABLE_BIT) &&
            g->host_align && !(g->host_align & (g->host_align - 1)) && page > 0 &&
            g->host_align <= (VkDeviceSize)page)
            g->get_host_props = (PFN_vkGetMemoryHostPointerPropertiesEXT)g->fi.vkGetDeviceProcAddr(
                g->device, "vkGetMemoryHostPointerPropertiesEXT");
    }
    g->fd.vkGetDeviceQueue(g->device, g->family, 0, &g->queue);

    int ret = pipelines_new(g);
    if (ret < 0)
        return ret;
    VkCommandPoolCreateInfo cpi = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                   .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                   .queueFamilyIndex = g->family};
    if (!VK(g, "vkCreateCommandPool", g->fd.vkCreateCommandPool(g->device, &cpi, NULL, &g->cmd_pool)))
        return VD_ERR(EIO);
    VkCommandBufferAllocateInfo cai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                       .commandPool = g->cmd_pool,
                                       .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                       .commandBufferCount = 1};
    if (!VK(g, "vkAllocateCommandBuffers", g->fd.vkAllocateCommandBuffers(g->device, &cai, &g->cmd)))
        return VD_ERR(EIO);
    VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    if (!VK(g, "vkCreateFence", g->fd.vkCreateFence(g->device, &fci, NULL, &g->fence)))
        return VD_ERR(EIO);
    /* Timestamps are optional: without them vdbench shows host times only. */
    if (ts_bits && g->timestamp_period > 0) {
        VkQueryPoolCreateInfo qp = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                                    .queryType = VK_QUERY_TYPE_TIMESTAMP,
                                    .queryCount = N_TIMESTAMPS};
        if (!VK(g, "vkCreateQueryPool", g->fd.vkCreateQueryPool(g->device, &qp, NULL, &g->queries)))
            return VD_ERR(EIO);
        g->timestamp_mask = ts_bits >= 64 ? UINT64_MAX : (UINT64_C(1) << ts_bits) - 1;
    }
    return 0;
}

/* Whether this host may have a GPU at all: a DRM render node, NVIDIA's device files or
 * WSL's /dev/dxg.  Without one, auto does not even load the Vulkan loader: every process that
 * makes an encoder would otherwise load every driver (lavapipe brings LLVM) to find nothing. */
static int gpu_node_exists(void)
{
    static const char *const files[] = {"/dev/nvidiactl", "/dev/dxg"};
    struct stat st;
    for (size_t i = 0; i < VD_ARRAY_SIZE(files); i++)
        if (stat(files[i], &st) == 0) /* stat, not open: opening a GPU's file has effects */
            return 1;
    DIR *d = opendir("/dev/dri");
    if (!d)
        return 0;
    int found = 0;
    for (struct dirent *e; !found && (e = readdir(d));)
        found = !strncmp(e->d_name, "renderD", 7);
    closedir(d);
    return found;
}

/* The device cfg and VD_GPU ask for: an index into loader.devices, or -1 (logged why). */
static int pick_device(const vd_encoder_config *cfg)
{
    enum vd_gpu_choice choice = cfg->gpu;
    int index = cfg->gpu_index;
    const char *name = cfg->gpu_name;
    const char *env = getenv("VD_GPU");
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (!strcmp(env, "off")) {
            choice = VD_GPU_OFF;
        } else if (!strcmp(env, "auto")) {
            choice = VD_GPU_AUTO;
        } else if (*end == '\0' && v >= 0 && v <= INT32_MAX) {
            choice = VD_GPU_INDEX;
            index = (int)v;
        } else {
            choice = VD_GPU_NAME;
            name = env;
        }
    }
    if (choice == VD_GPU_OFF)
        return -1;
    /* Auto on a host without a GPU is the normal case, not worth a warning. */
    enum vd_log_level level = choice == VD_GPU_AUTO ? VD_LOG_INFO : VD_LOG_WARNING;
    if (choice == VD_GPU_AUTO && !gpu_node_exists()) {
        vd_log(level, "GPU offload: no GPU device node; damage detection runs on the CPU");
        return -1;
    }
    pthread_once(&loader.once, loader_init);
    if (loader.error) {
        vd_log(level, "GPU offload: %s; damage detection runs on the CPU", loader.error);
        return -1;
    }
    int best = -1;
    for (int i = 0; i < loader.n_devices; i++) {
        const vk_device_info *d = &loader.devices[i];
        int eligible = choice == VD_GPU_INDEX ? i == index
                       : choice == VD_GPU_NAME ? name && strstr(d->name, name) != NULL
                                                : d->type != VK_PHYSICAL_DEVICE_TYPE_CPU;
        if (eligible && d->has_compute &&
            (best < 0 || type_rank(d->type) < type_rank(loader.devices[best].type)))
            best = i;
    }
    if (best < 0) {
        if (choice == VD_GPU_INDEX)
            vd_log(level, "GPU offload: no usable Vulkan device %d (there are %d); damage detection runs on the CPU",
                   index, loader.n_devices);
        else if (choice == VD_GPU_NAME)
            vd_log(level, "GPU offload: no usable Vulkan device named like \"%s\"; damage detection runs on the CPU",
                   name ? name : "");
        else
            vd_log(level, "GPU offload: no GPU among %d Vulkan devices; damage detection runs on the CPU",
                   loader.n_devices);
    }
    return best;
}

vd_gpu *vd_gpu_new(const vd_encoder_config *cfg)
{
    int index = pick_device(cfg);
    if (index < 0)
        return NULL;
    vd_gpu *g = calloc(1, sizeof(*g));
    if (!g) {
        vd_log(VD_LOG_WARNING, "GPU offload: out of memory; damage detection runs on the CPU");
        return NULL;
    }
    snprintf(g->name, sizeof(g->name), "%s", loader.devices[index].name);
    if (context_init(g, index) < 0) {
        vd_gpu_free(&g);
        return NULL;
    }
    vd_log(VD_LOG_INFO, "GPU offload: damage detection on %s", g->name);
    return g;
}

/* ---- surfaces ---------------------------------------------------------------------------- */

struct vd_gpu_surface {
    vd_tile_grid grid;
    size_t row_bytes, stride; /* device rows: row_bytes padded to 4 */
    gpu_buffer cur, ref;
    gpu_buffer staging;       /* the frame, then room for a seed of the reference */
    gpu_buffer flags;         /* one uint32_t per tile, see damage_compare.comp */
    gpu_buffer stats;         /* STATS_WORDS per tile, see tile_stats.comp */
    vd_rect *rects;           /* reference updates taken from the frame in cur */
    size_t n_rects, rects_cap;
    int seed;                 /* ref must be seeded from the CPU reference */
    int cur_valid;            /* cur holds the frame of the last GPU scan, the CPU's current */
    gpu_import imports[MAX_IMPORTS];
    gpu_import host; /* the scan's host frame read in place; its pages are pinned while it lives */
    uint64_t scans;
    VkBufferCopy *rows;       /* dma-buf -> cur copy regions, one per row */
};

/* ---- dma-buf import ------------------------------------------------------------------- */

/* The device's work on the import has completed (or g is NULL: the context is gone). */
static void import_free(vd_gpu *g, gpu_import *e)
{
    if (!e->used)
        return;
    if (g && e->buf)
        g->fd.vkDestroyBuffer(g->device, e->buf, NULL);
    if (g && e->mem)
        g->fd.vkFreeMemory(g->device, e->mem, NULL);
    if (e->fd >= 0)
        close(e->fd);
    *e = (gpu_import){0};
}

/* Like VK(), but a failure here is the import's, not the context's. */
static int import_ok(VkResult *r, VkResult call)
{
    *r = injected_failure() ? VK_ERROR_DEVICE_LOST : call;
    return *r == VK_SUCCESS;
}

/* Imports the host's fd (size bytes), or with host set the host memory [host, host + size)
 * (writable: also as a storage buffer the shaders write), into e->buf; 0, or -1 with e->buf
 * and e->mem unset (a host memory failure is logged by host_import()). */
static int import_new(vd_gpu *g, gpu_import *e, int fd, void *host, int writable,
                      VkDeviceSize size)
{
    VkExternalMemoryHandleTypeFlagBits type =
        host ? VK_EXTERNAL_MEMORY_HANDLE_TYPE_HOST_ALLOCATION_BIT_EXT : g->import_type;
    uint32_t bits = ~0u;
    VkResult r;
    const char *what = "vkGetMemoryHostPointerPropertiesEXT";
    if (host) {
        VkMemoryHostPointerPropertiesEXT hp = {
            .sType = VK_STRUCTURE_TYPE_MEMORY_HOST_POINTER_PROPERTIES_EXT};
        if (!import_ok(&r, g->get_host_props(g->device, type, host, &hp)))
            goto fail;
        bits = hp.memoryTypeBits;
    }
    what = "vkGetMemoryFdPropertiesKHR";
    if (type == VK_EXTERNAL_MEMORY_HANDLE_TYPE_DMA_BUF_BIT_EXT) {
        VkMemoryFdPropertiesKHR fp = {.sType = VK_STRUCTURE_TYPE_MEMORY_FD_PROPERTIES_KHR};
        if (!import_ok(&r, g->get_fd_props(g->device, type, fd, &fp)))
            goto fail;
        bits = fp.memoryTypeBits;
    }
    VkExternalMemoryBufferCreateInfo ext = {
        .sType = VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_BUFFER_CREATE_INFO, .handleTypes = type};
    VkBufferUsageFlags usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                               (writable ? VK_BUFFER_USAGE_STORAGE_BUFFER_BIT : 0);
    VkBufferCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .pNext = &ext,
                             .size = size, .usage = usage,
                             .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    what = "vkCreateBuffer";
    if (!import_ok(&r, g->fd.vkCreateBuffer(g->device, &ci, NULL, &e->buf)))
        goto fail;
    VkMemoryRequirements req;
    g->fd.vkGetBufferMemoryRequirements(g->device, e->buf, &req);
    bits &= req.memoryTypeBits;
    what = "finding a memory type";
    r = VK_ERROR_FORMAT_NOT_SUPPORTED;
    /* Host memory: a coherent type, so that the host's writes need no flush to be seen. */
    int type_index = host ? memory_type(g, bits, VK_MEMORY_PROPERTY_HOST_COHERENT_BIT, 0)
                          : bits ? __builtin_ctz(bits) : -1;
    if (type_index < 0 || req.size > size)
        goto fail;
    /* The import owns this duplicate once it succeeds. */
    int import_fd = host ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 0);
    what = "dup";
    r = VK_ERROR_TOO_MANY_OBJECTS;
    if (!host && import_fd < 0)
        goto fail;
    VkImportMemoryFdInfoKHR imp = {.sType = VK_STRUCTURE_TYPE_IMPORT_MEMORY_FD_INFO_KHR,
                                   .handleType = type, .fd = import_fd};
    VkImportMemoryHostPointerInfoEXT imp_host = {
        .sType = VK_STRUCTURE_TYPE_IMPORT_MEMORY_HOST_POINTER_INFO_EXT, .handleType = type,
        .pHostPointer = host};
    VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                               .pNext = host ? (const void *)&imp_host : (const void *)&imp,
                               .allocationSize = size,
                               .memoryTypeIndex = (uint32_t)type_index};
    what = "vkAllocateMemory (import)";
    if (!import_ok(&r, g->fd.vkAllocateMemory(g->device, &ai, NULL, &e->mem))) {
        if (import_fd >= 0)
            close(import_fd);
        goto fail;
    }
    what = "vkBindBufferMemory";
    if (!import_ok(&r, g->fd.vkBindBufferMemory(g->device, e->buf, e->mem, 0)))
        goto fail;
    return 0;
fail:
    if (e->buf)
        g->fd.vkDestroyBuffer(g->device, e->buf, NULL);
    if (e->mem)
        g->fd.vkFreeMemory(g->device, e->mem, NULL);
    e->buf = VK_NULL_HANDLE;
    e->mem = VK_NULL_HANDLE;
    if (host) {
        g->host_failures++;
        if (!g->host_logged) {
            g->host_logged = 1;
            vd_log(VD_LOG_WARNING, "GPU offload: importing host memory failed on %s (%s: %s); "
                   "frames there are copied to the device through staging", g->name, what,
                   vk_result_name(r));
        }
        return -1;
    }
    g->import_failures++;
    if (!g->import_logged) {
        g->import_logged = 1;
        vd_log(VD_LOG_WARNING, "GPU offload: importing a dma-buf failed on %s (%s: %s); its "
               "frames go up through host memory", g->name, what, vk_result_name(r));
    }
    return -1;
}

/* Counts a scan of s and frees the imports it has not used for IMPORT_IDLE_SCANS, whatever
 * the frames are now: a host that went back to host memory must not keep buffers pinned.
 * The previous scan completed, so nothing uses them. */
static void imports_age(vd_gpu *g, vd_gpu_surface *s)
{
    s->scans++;
    for (int i = 0; i < MAX_IMPORTS; i++)
        if (s->imports[i].used && s->scans - s->imports[i].last_scan > IMPORT_IDLE_SCANS)
            import_free(g, &s->imports[i]);
}

/* The imported buffer of d for this scan of s, imported now or found in the cache, or
 * VK_NULL_HANDLE when the frame must go up through staging. */
static VkBuffer import_get(vd_gpu *g, vd_gpu_surface *s, const vd_dmabuf *d)
{
    gpu_import *e = NULL, *lru = NULL;
    for (int i = 0; i < MAX_IMPORTS; i++) {
        gpu_import *c = &s->imports[i];
        if (!lru || !c->used || (lru->used && c->last_scan < lru->last_scan))
            lru = c;
    }
    if (!g->import_type) {
        if (!g->import_logged) {
            g->import_logged = 1;
            vd_log(VD_LOG_INFO, "GPU offload: %s cannot import dma-bufs (no "
                   "VK_EXT_external_memory_dma_buf); their frames go up through host memory",
                   g->name);
        }
        return VK_NULL_HANDLE;
    }
    struct stat st;
    if (fstat(d->fd, &st) < 0) /* checked by the encoder; only a racing close() gets here */
        return VK_NULL_HANDLE;
    for (int i = 0; i < MAX_IMPORTS && !e; i++)
        if (s->imports[i].used && s->imports[i].dev == st.st_dev && s->imports[i].ino == st.st_ino)
            e = &s->imports[i];
    if (e) {
        e->last_scan = s->scans;
        g->import_reuses += e->buf != VK_NULL_HANDLE;
        return e->buf;
    }
    if (!s->rows && !(s->rows = malloc((size_t)s->grid.height * sizeof(*s->rows))))
        return VK_NULL_HANDLE;
    e = lru;
    import_free(g, e);
    int fd = fcntl(d->fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
        return VK_NULL_HANDLE;
    *e = (gpu_import){.used = 1, .dev = st.st_dev, .ino = st.st_ino, .fd = fd,
                      .last_scan = s->scans};
    if (import_new(g, e, d->fd, NULL, 0,
                   g->import_size ? g->import_size : (VkDeviceSize)st.st_size) == 0)
        g->imports++;
    return e->buf;
}

/* Imports the host memory [p, p + len), widened to the device's alignment, into e; *offset:
 * where p is in it.  0, or -1 (logged once per context). */
static int host_import(vd_gpu *g, gpu_import *e, const uint8_t *p, size_t len, int writable,
                       VkDeviceSize *offset)
{
    if (!g->get_host_props)
        return -1;
    uintptr_t align = (uintptr_t)g->host_align;
    uintptr_t begin = (uintptr_t)p & ~(align - 1);
    uintptr_t end = VD_ALIGN((uintptr_t)p + len, align);
    *offset = (VkDeviceSize)((uintptr_t)p - begin);
    *e = (gpu_import){.used = 1, .fd = -1};
    if (import_new(g, e, -1, (void *)begin, writable, (VkDeviceSize)(end - begin)) < 0) {
        *e = (gpu_import){0};
        return -1;
    }
    g->host_imports++;
    return 0;
}

int vd_gpu_register(vd_gpu *g, const uint8_t *data, size_t size, int writable)
{
    gpu_registered *r = NULL;
    for (size_t i = 0; i < VD_ARRAY_SIZE(g->registered) && !r; i++)
        if (!g->registered[i].data)
            r = &g->registered[i];
    if (g->failed || !r || host_import(g, &r->imp, data, size, writable, &r->offset) < 0)
        return -1;
    r->data = data;
    r->size = size;
    r->writable = writable;
    return 0;
}

void vd_gpu_unregister(vd_gpu *g, const uint8_t *data)
{
    for (size_t i = 0; i < VD_ARRAY_SIZE(g->registered); i++)
        if (g->registered[i].data == data) {
            import_free(g, &g->registered[i].imp); /* scans wait for their work: none uses it */
            g->registered[i] = (gpu_registered){0};
        }
}

/* The registered buffer that holds all of [p, p + len), or NULL. */
static const gpu_registered *registered_holding(const vd_gpu *g, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < VD_ARRAY_SIZE(g->registered); i++) {
        const gpu_registered *r = &g->registered[i];
        if (r->data && p >= r->data && (size_t)(p - r->data) <= r->size &&
            len <= r->size - (size_t)(p - r->data))
            return r;
    }
    return NULL;
}

/* The buffer the device reads the host frame at cur from, or VK_NULL_HANDLE when it must go
 * through staging; *offset: where the frame starts in it.  A registered buffer holding the
 * frame, else the frame's rows imported for this scan only (freed by the next scan or with
 * the surface: not cached, as a host may free a buffer and map another at the same address). */
static VkBuffer host_source(vd_gpu *g, vd_gpu_surface *s, const uint8_t *cur, size_t cur_stride,
                            VkDeviceSize *offset)
{
    if (!s->rows && !(s->rows = malloc((size_t)s->grid.height * sizeof(*s->rows))))
        return VK_NULL_HANDLE;
    size_t len = (size_t)(s->grid.height - 1) * cur_stride + s->row_bytes;
    const gpu_registered *r = registered_holding(g, cur, len);
    if (r) {
        *offset = r->offset + (VkDeviceSize)(cur - r->data);
        return r->imp.buf;
    }
    if (g->per_frame_off)
        return VK_NULL_HANDLE;
    if (host_import(g, &s->host, cur, len, 0, offset) < 0) {
        /* Not tried again: a host whose frames the driver cannot pin would pay for a failed
         * import every frame.  (A registration failing turns nothing off.) */
        g->per_frame_off = 1;
        return VK_NULL_HANDLE;
    }
    return s->host.buf;
}

/* ---- surfaces (continued) -------------------------------------------------------------- */

int vd_gpu_surface_new(vd_gpu *g, const vd_tile_grid *grid, vd_gpu_surface **out)
{
    *out = NULL;
    if (g->failed)
        return VD_ERR(EIO);
    size_t row_bytes = (size_t)grid->width * (size_t)grid->bpp;
    size_t stride = VD_ALIGN(row_bytes, 4);
    size_t size = stride * (size_t)grid->height;
    if (size > g->max_buffer) /* too large for one storage buffer: this surface stays on the CPU */
        return 0;
    vd_gpu_surface *s = calloc(1, sizeof(*s));
    if (!s) {
        gpu_fail(g, "allocating a surface", VK_ERROR_OUT_OF_HOST_MEMORY);
        return VD_ERR(ENOMEM);
    }
    s->grid = *grid;
    s->row_bytes = row_bytes;
    s->stride = stride;
    s->seed = 1;
    size_t n_tiles = (size_t)grid->cols * (size_t)grid->rows;
    VkBufferUsageFlags dev = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT |
                             VK_BUFFER_USAGE_TRANSFER_SRC_BIT;
    int ret;
    if ((ret = buffer_new(g, &s->cur, size, dev, 0)) < 0 ||
        (ret = buffer_new(g, &s->ref, size, dev, 0)) < 0 ||
        (ret = buffer_new(g, &s->staging, 2 * size, VK_BUFFER_USAGE_TRANSFER_SRC_BIT, 1)) < 0 ||
        (ret = buffer_new(g, &s->flags, n_tiles * sizeof(uint32_t), VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, 1)) < 0 ||
        (grid->bpp == 4 && (ret = buffer_new(g, &s->stats, n_tiles * STATS_WORDS * sizeof(uint32_t),
                                             VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, 1)) < 0) ||
        /* A piece per tile, enough for most frames: scans then allocate nothing. */
        (grid->bpp == 4 && (ret = buffer_reserve(g, &g->pieces, n_tiles * 4 * sizeof(uint32_t))) < 0)) {
        vd_gpu_surface_free(g, &s);
        return ret;
    }
    /* Row padding is never written again: keep it defined (the shader ignores it anyway). */
    memset(s->staging.map, 0, 2 * size);
    *out = s;
    return 0;
}

void vd_gpu_surface_free(vd_gpu *g, vd_gpu_surface **psurf)
{
    vd_gpu_surface *s = *psurf;
    if (!s)
        return;
    if (g)
        g->fd.vkDeviceWaitIdle(g->device);
    for (int i = 0; i < MAX_IMPORTS; i++)
        import_free(g, &s->imports[i]);
    import_free(g, &s->host);
    if (g) {
        buffer_free(g, &s->cur);
        buffer_free(g, &s->ref);
        buffer_free(g, &s->staging);
        buffer_free(g, &s->flags);
        buffer_free(g, &s->stats);
    }
    free(s->rects);
    free(s->rows);
    free(s);
    *psurf = NULL;
}

void vd_gpu_surface_invalidate(vd_gpu_surface *s)
{
    s->seed = 1;
    s->n_rects = 0;
    s->cur_valid = 0;
}

void vd_gpu_surface_record(vd_gpu_surface *s, int x, int y, int w, int h)
{
    if (s->seed || w <= 0 || h <= 0)
        return;
    if (s->n_rects == s->rects_cap) {
        size_t cap = s->rects_cap ? 2 * s->rects_cap : 64;
        vd_rect *r = realloc(s->rects, cap * sizeof(*r));
        if (!r) { /* a seed is always right, only slower */
            vd_gpu_surface_invalidate(s);
            return;
        }
        s->rects = r;
        s->rects_cap = cap;
    }
    s->rects[s->n_rects++] = (vd_rect){x, y, w, h};
}

static VkBufferCopy *regions_reserve(vd_gpu *g, size_t n)
{
    if (n <= g->regions_cap)
        return g->regions;
    VkBufferCopy *r = realloc(g->regions, n * sizeof(*r));
    if (!r)
        return NULL;
    g->regions = r;
    g->regions_cap = n;
    return r;
}

/* The reference update for 4-byte pixels as ref_update.comp's pieces: each rectangle clipped
 * to each tile it covers.  Returns the count, or -1 (the context failed). */
static long reference_pieces(vd_gpu *g, const vd_gpu_surface *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n_rects; i++) {
        const vd_rect *r = &s->rects[i];
        n += (size_t)((r->x + r->width - 1) / 64 - r->x / 64 + 1) *
             (size_t)((r->y + r->height - 1) / 64 - r->y / 64 + 1);
    }
    if (!n || buffer_reserve(g, &g->pieces, n * 4 * sizeof(uint32_t)) < 0)
        return n ? -1 : 0;
    uint32_t *pc = g->pieces.map;
    for (size_t i = 0; i < s->n_rects; i++) {
        const vd_rect *r = &s->rects[i];
        for (int y = r->y; y < r->y + r->height; y = (y / 64 + 1) * 64) {
            int y1 = VD_MIN(r->y + r->height, (y / 64 + 1) * 64);
            for (int x = r->x; x < r->x + r->width; x = (x / 64 + 1) * 64) {
                int x1 = VD_MIN(r->x + r->width, (x / 64 + 1) * 64);
                *pc++ = (uint32_t)x;
                *pc++ = (uint32_t)y;
                *pc++ = (uint32_t)(x1 - x);
                *pc++ = (uint32_t)(y1 - y);
            }
        }
    }
    return (long)n;
}

/* The reference update as copy regions from cur: whole-width rectangles are one region,
 * others one per row.  Returns the count, or -1 without memory. */
static long reference_regions(vd_gpu *g, const vd_gpu_surface *s)
{
    size_t n = 0, bpp = (size_t)s->grid.bpp;
    for (size_t i = 0; i < s->n_rects; i++)
        n += s->rects[i].width == s->grid.width ? 1 : (size_t)s->rects[i].height;
    VkBufferCopy *reg = regions_reserve(g, n);
    if (n && !reg)
        return -1;
    n = 0;
    for (size_t i = 0; i < s->n_rects; i++) {
        const vd_rect *r = &s->rects[i];
        VkDeviceSize off = (VkDeviceSize)r->y * s->stride + (VkDeviceSize)r->x * bpp;
        if (r->width == s->grid.width) {
            reg[n++] = (VkBufferCopy){off, off, (VkDeviceSize)r->height * s->stride};
            continue;
        }
        for (int y = 0; y < r->height; y++, off += s->stride)
            reg[n++] = (VkBufferCopy){off, off, (VkDeviceSize)r->width * bpp};
    }
    return (long)n;
}

static void barrier(vd_gpu *g, VkPipelineStageFlags src, VkAccessFlags src_access,
                    VkPipelineStageFlags dst, VkAccessFlags dst_access)
{
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER, .srcAccessMask = src_access,
                          .dstAccessMask = dst_access};
    g->fd.vkCmdPipelineBarrier(g->cmd, src, dst, 0, 1, &mb, 0, NULL, 0, NULL);
}

/* Starts recording the one command buffer, resetting n_queries timestamp queries from
 * first_query; 0 or VD_ERR(EIO) (logged, the context failed). */
static int record_begin(vd_gpu *g, uint32_t first_query, uint32_t n_queries)
{
    VkCommandBufferBeginInfo begin = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                      .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    if (!VK(g, "vkBeginCommandBuffer", g->fd.vkBeginCommandBuffer(g->cmd, &begin)))
        return VD_ERR(EIO);
    if (g->queries)
        g->fd.vkCmdResetQueryPool(g->cmd, g->queries, first_query, n_queries);
    return 0;
}

/* Makes the shaders' writes visible to the host, ends the command buffer, submits it and
 * waits for it; 0 or VD_ERR(EIO) (logged, the context failed). */
static int submit_and_wait(vd_gpu *g)
{
    barrier(g, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT,
            VK_PIPELINE_STAGE_HOST_BIT, VK_ACCESS_HOST_READ_BIT);
    if (!VK(g, "vkEndCommandBuffer", g->fd.vkEndCommandBuffer(g->cmd)))
        return VD_ERR(EIO);
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1,
                       .pCommandBuffers = &g->cmd};
    if (!VK(g, "vkResetFences", g->fd.vkResetFences(g->device, 1, &g->fence)) ||
        !VK(g, "vkQueueSubmit", g->fd.vkQueueSubmit(g->queue, 1, &si, g->fence)) ||
        !VK(g, "vkWaitForFences",
            g->fd.vkWaitForFences(g->device, 1, &g->fence, VK_TRUE, FENCE_TIMEOUT_NS)))
        return VD_ERR(EIO);
    return 0;
}

static void timestamp(vd_gpu *g, VkPipelineStageFlagBits stage, uint32_t i)
{
    if (g->queries)
        g->fd.vkCmdWriteTimestamp(g->cmd, stage, g->queries, i);
}

/* Records p's dispatch of groups_x x groups_y workgroups over buffers (its bindings, in
 * order).  The set was last used by a completed submission, so it may be rewritten. */
static void dispatch(vd_gpu *g, const gpu_pipe *p, const VkBuffer *buffers, const void *pc,
                     uint32_t groups_x, uint32_t groups_y, uint32_t groups_z)
{
    VkDescriptorBufferInfo bi[4];
    VkWriteDescriptorSet w[4];
    for (uint32_t i = 0; i < p->n_bindings; i++) {
        bi[i] = (VkDescriptorBufferInfo){buffers[i], 0, VK_WHOLE_SIZE};
        w[i] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                                      .dstSet = p->set, .dstBinding = i, .descriptorCount = 1,
                                      .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                      .pBufferInfo = &bi[i]};
    }
    g->fd.vkUpdateDescriptorSets(g->device, p->n_bindings, w, 0, NULL);
    g->fd.vkCmdBindPipeline(g->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p->pipeline);
    g->fd.vkCmdBindDescriptorSets(g->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p->layout, 0, 1, &p->set,
                                  0, NULL);
    g->fd.vkCmdPushConstants(g->cmd, p->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, p->pc_size, pc);
    g->fd.vkCmdDispatch(g->cmd, groups_x, groups_y, groups_z);
}

/* Nanoseconds between two timestamps. */
static uint64_t ticks_ns(const vd_gpu *g, uint64_t t0, uint64_t t1)
{
    return (uint64_t)((double)((t1 - t0) & g->timestamp_mask) * g->timestamp_period);
}

int vd_gpu_damage_scan(vd_gpu *g, vd_gpu_surface *s, const uint8_t *cur, size_t cur_stride,
                       const vd_dmabuf *dmabuf, const uint8_t *prev, uint8_t *state,
                       const vd_rect *cursor, vd_tile_stats *stats)
{
    if (g->failed)
        return VD_ERR(EIO);
    uint64_t t0 = vd_now_ns(), c0 = thread_cpu_ns();
    const vd_tile_grid *grid = &s->grid;
    size_t size = s->stride * (size_t)grid->height, n_tiles = (size_t)grid->cols * (size_t)grid->rows;
    uint8_t *staging = s->staging.map;
    uint32_t *flags = s->flags.map;
    /* Even with no candidate the frame goes up: the encoder may send tiles of it (a refresh
     * of lossy tiles), and the next scan takes those into the reference from cur. */
    for (size_t i = 0; i < n_tiles; i++)
        flags[i] = state[i] == VD_TILE_CANDIDATE;
    long n_regions = 0, n_pieces = 0;
    if (s->seed) {
        vd_copy_rows(staging + size, s->stride, prev, s->row_bytes, s->row_bytes,
                     (size_t)grid->height);
    } else if (grid->bpp == 4) {
        if ((n_pieces = reference_pieces(g, s)) < 0)
            return VD_ERR(EIO);
    } else if ((n_regions = reference_regions(g, s)) < 0) {
        gpu_fail(g, "allocating copy regions", VK_ERROR_OUT_OF_HOST_MEMORY);
        return VD_ERR(ENOMEM);
    }
    imports_age(g, s);
    import_free(g, &s->host);
    VkBuffer src = dmabuf && dmabuf->offset >= g->import_base ? import_get(g, s, dmabuf)
                                                                : VK_NULL_HANDLE;
    VkDeviceSize src_offset = src ? dmabuf->offset - g->import_base : 0;
    int from_dmabuf = src != VK_NULL_HANDLE;
    /* A dma-buf that did not import is mapped memory a driver cannot pin: staging. */
    if (!src && !dmabuf)
        src = host_source(g, s, cur, cur_stride, &src_offset);
    if (!src)
        vd_copy_rows(staging, s->stride, cur, cur_stride, s->row_bytes, (size_t)grid->height);
    int with_stats = stats && s->stats.buf;

    if (record_begin(g, 0, N_SCAN_TIMESTAMPS) < 0)
        return VD_ERR(EIO);
    timestamp(g, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, 0);
    /* 1. The reference catches up with what the encoder sent from the previous frame. */
    if (s->seed) {
        VkBufferCopy c = {size, 0, size};
        g->fd.vkCmdCopyBuffer(g->cmd, s->staging.buf, s->ref.buf, 1, &c);
    } else if (n_regions) {
        g->fd.vkCmdCopyBuffer(g->cmd, s->cur.buf, s->ref.buf, (uint32_t)n_regions, g->regions);
    } else if (n_pieces) {
        ref_params rp = {(uint32_t)(s->stride / 4), (uint32_t)n_pieces,
                         (uint32_t)VD_MIN(n_pieces, 65535)};
        VkBuffer rb[3] = {s->cur.buf, s->ref.buf, g->pieces.buf};
        dispatch(g, &g->ref_update, rb, &rp, rp.groups_x,
                 (uint32_t)((n_pieces + rp.groups_x - 1) / rp.groups_x), 1);
    }
    timestamp(g, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, 1);
    /* 2. The new frame, once cur has been read. */
    barrier(g, VK_PIPELINE_STAGE_TRANSFER_BIT | VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
            VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_SHADER_READ_BIT,
            VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT);
    if (from_dmabuf) {
        /* Acquire the buffer from the host's side (its writes are complete: see vd_dmabuf). */
        VkBufferMemoryBarrier acq = {.sType = VK_STRUCTURE_TYPE_BUFFER_MEMORY_BARRIER,
                                     .dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT,
                                     .srcQueueFamilyIndex = VK_QUEUE_FAMILY_EXTERNAL_KHR,
                                     .dstQueueFamilyIndex = g->family, .buffer = src,
                                     .size = VK_WHOLE_SIZE};
        g->fd.vkCmdPipelineBarrier(g->cmd, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT,
                                   VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 0, NULL, 1, &acq, 0, NULL);
    }
    if (src) { /* host memory needs no acquire: the submission makes the host's writes visible */
        uint32_t n_rows = cur_stride == s->stride ? 1 : (uint32_t)grid->height;
        for (uint32_t y = 0; y < n_rows; y++)
            s->rows[y] = (VkBufferCopy){src_offset + (VkDeviceSize)y * cur_stride,
                                        (VkDeviceSize)y * s->stride,
                                        n_rows == 1 ? (VkDeviceSize)(grid->height - 1) * s->stride +
                                                          s->row_bytes
                                                    : s->row_bytes};
        g->fd.vkCmdCopyBuffer(g->cmd, src, s->cur.buf, n_rows, s->rows);
    } else {
        VkBufferCopy up = {0, 0, size};
        g->fd.vkCmdCopyBuffer(g->cmd, s->staging.buf, s->cur.buf, 1, &up);
    }
    timestamp(g, VK_PIPELINE_STAGE_TRANSFER_BIT, 2);
    /* 3. The compare, over both updates' results. */
    barrier(g, VK_PIPELINE_STAGE_TRANSFER_BIT | VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
            VK_ACCESS_TRANSFER_WRITE_BIT | VK_ACCESS_SHADER_WRITE_BIT,
            VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_READ_BIT);
    compare_params pc = {(uint32_t)(s->stride / 4), (uint32_t)s->row_bytes,
                         64u * (uint32_t)grid->bpp, grid->mask, (uint32_t)grid->cols,
                         (uint32_t)grid->height};
    VkBuffer bufs[4] = {s->cur.buf, s->ref.buf, s->flags.buf, s->stats.buf};
    dispatch(g, &g->compare, bufs, &pc, (uint32_t)grid->cols, (uint32_t)grid->rows, 1);
    timestamp(g, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 3);
    /* 4. The statistics of the tiles that differ, against the same reference. */
    if (with_stats) {
        barrier(g, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT,
                VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_READ_BIT);
        stats_params sp = {(uint32_t)(s->stride / 4), (uint32_t)grid->cols, grid->width,
                           grid->height, {cursor->x, cursor->y, cursor->width, cursor->height}};
        dispatch(g, &g->stats, bufs, &sp, (uint32_t)grid->cols, (uint32_t)grid->rows, 1);
    }
    timestamp(g, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 4);
    if (submit_and_wait(g) < 0)
        return VD_ERR(EIO);


    vd_gpu_times t = {0};
    uint64_t ts[N_SCAN_TIMESTAMPS];
    if (g->queries &&
        VK(g, "vkGetQueryPoolResults",
           g->fd.vkGetQueryPoolResults(g->device, g->queries, 0, N_SCAN_TIMESTAMPS, sizeof(ts), ts,
                                       sizeof(ts[0]),
                                       VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT))) {
        t.reference_ns = ticks_ns(g, ts[0], ts[1]);
        t.upload_ns = ticks_ns(g, ts[1], ts[2]);
        t.compare_ns = ticks_ns(g, ts[2], ts[3]);
        t.stats_ns = ticks_ns(g, ts[3], ts[4]);
        t.has_timestamps = 1;
    }
    if (g->failed)
        return VD_ERR(EIO);
    t.from_dmabuf = from_dmabuf;
    t.from_host = !src || from_dmabuf ? 0 : src == s->host.buf ? 1 : 2;
    import_free(g, &s->host);
    s->cur_valid = 1;
    const uint32_t *sw = s->stats.map;
    for (size_t i = 0; i < n_tiles; i++) {
        if (flags[i] != 2)
            continue;
        state[i] = VD_TILE_DIRTY;
        if (!with_stats)
            continue;
        int x = (int)(i % (size_t)grid->cols) * 64, y = (int)(i / (size_t)grid->cols) * 64;
        const uint32_t *v = sw + i * STATS_WORDS;
        stats[i] = (vd_tile_stats){.pixels = (uint32_t)(VD_MIN(64, grid->width - x) *
                                                       VD_MIN(64, grid->height - y)),
                                   .changed = v[0], .noise = v[1], .pairs = v[2], .smooth = v[3],
                                   .colours = v[4], .blocks = (uint16_t)v[5],
                                   .triples = v[6], .regular = v[7]};
    }
    s->seed = 0;
    s->n_rects = 0;
    t.host_ns = vd_now_ns() - t0;
    t.host_cpu_ns = thread_cpu_ns() - c0;
    g->times = t;
    return with_stats;
}

/* The planes of a layout (as vd_rgb_to_yuv_c() writes them); returns how many. */
static int layout_kinds(vd_yuv_layout layout, uint32_t kinds[3])
{
    switch (layout) {
    case VD_YUV420P:
        kinds[0] = KIND_Y, kinds[1] = KIND_U2, kinds[2] = KIND_V2;
        return 3;
    case VD_YUV_NV12:
        kinds[0] = KIND_Y, kinds[1] = KIND_UV2;
        return 2;
    case VD_YUV444P:
        kinds[0] = KIND_Y, kinds[1] = KIND_U, kinds[2] = KIND_V;
        return 3;
    }
    return 0;
}

/* Bytes per row and rows of a plane of kind for a w x h rectangle. */
static void plane_size(uint32_t kind, int w, int h, uint32_t *bytes, uint32_t *rows)
{
    uint32_t cw = ((uint32_t)w + 1) / 2;
    *bytes = kind <= KIND_V ? (uint32_t)w : kind == KIND_UV2 ? 2 * cw : cw;
    *rows = kind <= KIND_V ? (uint32_t)h : ((uint32_t)h + 1) / 2;
}

/* The registered buffer that holds every plane of the jobs, each at an offset and stride the
 * shader can write (multiples of 4, the stride at least the row's words, the last row's last
 * word inside the buffer), or NULL: the planes are read back from conv_out. */
static const gpu_registered *planes_registered(const vd_gpu *g, const vd_gpu_yuv_job *jobs,
                                               size_t n)
{
    const gpu_registered *found = NULL;
    for (size_t i = 0; i < n; i++) {
        uint32_t kinds[3];
        int np = layout_kinds(jobs[i].layout, kinds);
        for (int k = 0; k < np; k++) {
            const uint8_t *p = jobs[i].planes[k];
            uint32_t bytes, rows;
            plane_size(kinds[k], jobs[i].rect.width, jobs[i].rect.height, &bytes, &rows);
            size_t stride = (size_t)jobs[i].strides[k], row = VD_ALIGN((size_t)bytes, 4);
            const gpu_registered *r = registered_holding(g, p, (size_t)(rows - 1) * stride + row);
            if (!r || !r->writable || (found && r != found) || stride % 4 || stride < row ||
                (r->offset + (VkDeviceSize)(p - r->data)) % 4 ||
                VD_ALIGN(r->offset + (VkDeviceSize)r->size, g->host_align) >
                    VD_MIN(g->max_buffer, (VkDeviceSize)UINT32_MAX))
                return NULL;
            found = r;
        }
    }
    return found;
}

int vd_gpu_convert(vd_gpu *g, vd_gpu_surface *s, enum vd_pixel_format fmt,
                   const vd_gpu_yuv_job *jobs, size_t n)
{
    if (g->failed)
        return VD_ERR(EIO);
    if (s->grid.bpp != 4)
        return VD_ERR(ENOTSUP);
    if (!s->cur_valid)
        return VD_ERR(ESTALE);
    size_t n_planes = 0, words = 0;
    for (size_t i = 0; i < n; i++) {
        const vd_rect *r = &jobs[i].rect;
        uint32_t kinds[3];
        int np = layout_kinds(jobs[i].layout, kinds);
        if (!np || r->width < 1 || r->height < 1 || r->x < 0 || r->y < 0 ||
            r->x > s->grid.width - r->width || r->y > s->grid.height - r->height)
            return VD_ERR(EINVAL);
        n_planes += (size_t)np;
        for (int k = 0; k < np; k++) {
            uint32_t bytes, rows;
            plane_size(kinds[k], r->width, r->height, &bytes, &rows);
            words += (size_t)(bytes + 3) / 4 * rows;
        }
    }
    if (!n)
        return 0;
    if (n_planes > 65535) /* one workgroup layer each */
        return VD_ERR(EINVAL);
    uint64_t t0 = vd_now_ns(), c0 = thread_cpu_ns();
    int ret;
    const gpu_registered *direct = planes_registered(g, jobs, n);
    if ((ret = buffer_reserve(g, &g->conv_planes, n_planes * sizeof(conv_plane))) < 0 ||
        (!direct && (ret = buffer_reserve(g, &g->conv_out, words * 4)) < 0))
        return ret;
    conv_plane *pl = g->conv_planes.map;
    uint32_t max_words = 0, max_rows = 0, offset = 0;
    for (size_t i = 0, j = 0; i < n; i++) {
        const vd_rect *r = &jobs[i].rect;
        uint32_t kinds[3];
        int np = layout_kinds(jobs[i].layout, kinds);
        for (int k = 0; k < np; k++, j++) {
            uint32_t bytes, rows;
            plane_size(kinds[k], r->width, r->height, &bytes, &rows);
            uint32_t w = (bytes + 3) / 4;
            pl[j] = (conv_plane){r->x, r->y, r->width, r->height, kinds[k], offset, w, w, rows};
            if (direct) { /* where the plane is in the registered buffer */
                pl[j].offset = (uint32_t)((direct->offset +
                                           (VkDeviceSize)(jobs[i].planes[k] - direct->data)) / 4);
                pl[j].stride = (uint32_t)jobs[i].strides[k] / 4;
            }
            offset += w * rows;
            max_words = VD_MAX(max_words, w);
            max_rows = VD_MAX(max_rows, rows);
        }
    }

    if (record_begin(g, N_SCAN_TIMESTAMPS, 2) < 0)
        return VD_ERR(EIO);
    timestamp(g, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, N_SCAN_TIMESTAMPS);
    /* Byte order of the 4-byte formats (vd/common.h): R first in RGBX and RGBA, else B. */
    int rgb_order = fmt == VD_FORMAT_RGBX8888 || fmt == VD_FORMAT_RGBA8888;
    convert_params cp = {(uint32_t)(s->stride / 4), rgb_order ? 0u : 16u, rgb_order ? 16u : 0u};
    /* The scan's submission wrote cur by a copy; a fence wait does not make that visible to
     * this one's shader reads. */
    barrier(g, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT,
            VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_READ_BIT);
    VkBuffer bufs[3] = {s->cur.buf, g->conv_planes.buf, direct ? direct->imp.buf : g->conv_out.buf};
    dispatch(g, &g->convert, bufs, &cp, (max_words + 63) / 64, max_rows, (uint32_t)n_planes);
    timestamp(g, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, N_SCAN_TIMESTAMPS + 1);
    if (submit_and_wait(g) < 0)
        return VD_ERR(EIO);
    uint64_t ts[2];
    if (g->queries &&
        VK(g, "vkGetQueryPoolResults",
           g->fd.vkGetQueryPoolResults(g->device, g->queries, N_SCAN_TIMESTAMPS, 2, sizeof(ts), ts,
                                       sizeof(ts[0]),
                                       VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT)))
        g->times.convert_ns = ticks_ns(g, ts[0], ts[1]);
    if (g->failed)
        return VD_ERR(EIO);
    g->times.convert_in_place = direct != NULL;
    /* The one read-back: rows into the caller's planes. */
    const uint8_t *out = g->conv_out.map;
    for (size_t i = 0, j = 0; !direct && i < n; i++) {
        uint32_t kinds[3];
        int np = layout_kinds(jobs[i].layout, kinds);
        for (int k = 0; k < np; k++, j++) {
            uint32_t bytes, rows;
            plane_size(kinds[k], pl[j].w, pl[j].h, &bytes, &rows);
            vd_copy_rows(jobs[i].planes[k], (size_t)jobs[i].strides[k],
                         out + (size_t)pl[j].offset * 4, (size_t)pl[j].stride * 4, bytes, rows);
        }
    }
    g->times.convert_host_ns = vd_now_ns() - t0;
    g->times.convert_host_cpu_ns = thread_cpu_ns() - c0;
    return 0;
}
