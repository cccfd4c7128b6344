// Device-independent half of device.h: the device arenas' bookkeeping, tensor
// creation on a device, copies across devices, and, in a build without CUDA,
// the answers of the CUDA runtime functions (kernels/cuda/device.cu has the
// real ones).
//
// A copy across devices moves one contiguous block of the destination's dtype
// with one cudaMemcpyAsync; a strided side or a dtype change is staged through
// a contiguous scratch tensor on the side that has the kernel for it, so the
// conversion and the gathering of strides run where the data is.
#include "device.h"

#include <string.h>

#include "op_internal.h"

// --- Device arenas -------------------------------------------------------------------

void useg_device_arena_init(useg_device_arena *a, const char *name, void *base, size_t size) {
    *a = (useg_device_arena){.name = name, .base = base, .size = size};
}

void *useg_device_arena_alloc(useg_device_arena *a, size_t bytes) {
    size_t need = useg_device_align_up(bytes);
    if (need == 0) need = USEG_DEVICE_ALIGN;
    if (need < bytes || need > a->size - a->used) return NULL;
    void *p = a->base + a->used;
    a->used += need;
    if (a->used > a->peak) a->peak = a->used;
    return p;
}

void useg_device_arena_reset(useg_device_arena *a) { a->used = 0; }

size_t useg_device_arena_mark(const useg_device_arena *a) { return a->used; }

void useg_device_arena_rewind(useg_device_arena *a, size_t mark) {
    USEG_ASSERT(mark <= a->used, "rewinding device arena '%s' forwards", a->name);
    a->used = mark;
}

// --- Tensors on a device -------------------------------------------------------------

const char *useg_device_name(useg_device d) { return d == USEG_DEVICE_CUDA ? "cuda" : "cpu"; }

useg_scratch_mark useg_scratch_get_mark(useg_ctx *ctx) {
    return (useg_scratch_mark){useg_arena_get_mark(&ctx->scratch),
                               ctx->cuda ? useg_device_arena_mark(&ctx->cuda->scratch) : 0};
}

void useg_scratch_rewind(useg_ctx *ctx, useg_scratch_mark mark) {
    useg_arena_rewind(&ctx->scratch, mark.host);
    if (ctx->cuda) useg_device_arena_rewind(&ctx->cuda->scratch, mark.device);
}

useg_status useg_scratch_alloc(useg_ctx *ctx, useg_device device, size_t bytes, void **out) {
    if (device == USEG_DEVICE_CPU) return useg_alloc(ctx, &ctx->scratch, bytes, out);
    if (!ctx->cuda) return useg_fail(ctx, USEG_ERR_DEVICE, "no GPU selected for this context (see useg_cuda_init)");
    useg_device_arena *a = &ctx->cuda->scratch;
    *out = useg_device_arena_alloc(a, bytes);
    if (!*out)
        return useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY,
                         "out of GPU memory: %zu bytes of workspace requested from the %s arena (%zu of %zu in use)",
                         bytes, a->name, a->used, a->size);
    return USEG_OK;
}

useg_status useg_cuda_missing(useg_ctx *ctx, const char *op) {
    return useg_fail(ctx, USEG_ERR_UNSUPPORTED, "%s: not supported on this device (no CUDA kernel)", op);
}

// The device arena with the lifetime of host arena `lifetime`.
static useg_device_arena *device_arena_of(useg_ctx *ctx, useg_arena *lifetime) {
    if (lifetime == &ctx->params) return &ctx->cuda->params;
    if (lifetime == &ctx->scratch) return &ctx->cuda->scratch;
    USEG_ASSERT(lifetime == &ctx->step, "arena '%s' has no device counterpart", lifetime->name);
    return &ctx->cuda->step;
}

useg_status useg_empty_on(useg_ctx *ctx, useg_arena *lifetime, useg_device device, useg_dtype dt, int ndim,
                          const int64_t *shape, useg_tensor **out) {
    if (device == USEG_DEVICE_CPU) return useg_empty(ctx, lifetime, dt, ndim, shape, out);
    if (!ctx->cuda) return useg_fail(ctx, USEG_ERR_DEVICE, "no GPU selected for this context (see useg_cuda_init)");
    if (!lifetime) lifetime = &ctx->step;
    size_t bytes;
    USEG_TRY(useg_check_shape(ctx, dt, ndim, shape, &bytes));
    void *mem;
    USEG_TRY(useg_alloc(ctx, lifetime, sizeof(useg_tensor), &mem));
    useg_device_arena *da = device_arena_of(ctx, lifetime);
    void *data = useg_device_arena_alloc(da, bytes);
    if (!data)
        return useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY,
                         "out of GPU memory: %zu bytes requested from the %s arena (%zu of %zu in use)", bytes,
                         da->name, da->used, da->size);
    useg_tensor *t = mem;
    *t = (useg_tensor){.dtype = dt, .device = USEG_DEVICE_CUDA, .ndim = ndim, .data = data};
    memcpy(t->shape, shape, (size_t)ndim * sizeof(int64_t));
    useg_set_contiguous_strides(t);
    *out = t;
    return USEG_OK;
}

useg_status useg_zeros_on(useg_ctx *ctx, useg_arena *lifetime, useg_device device, useg_dtype dt, int ndim,
                          const int64_t *shape, useg_tensor **out) {
    if (device == USEG_DEVICE_CPU) return useg_zeros(ctx, lifetime, dt, ndim, shape, out);
    USEG_TRY(useg_empty_on(ctx, lifetime, device, dt, ndim, shape, out));
    return useg_cuda_memset(ctx, (*out)->data, 0, (size_t)useg_numel(*out) * useg_dtype_size(dt));
}

useg_status useg_fill(useg_ctx *ctx, useg_tensor *t, double value) {
    if (useg_numel(t) == 0) return USEG_OK;
    if (t->device == USEG_DEVICE_CUDA) return USEG_CUDA_CALL(ctx, "fill", fill, t, value);
    int64_t n = useg_numel(t);
    for (int64_t i = 0; i < n; i++) useg_set_flat(t, i, value);
    return USEG_OK;
}

useg_status useg_to_device(useg_ctx *ctx, useg_tensor *x, useg_device device, useg_tensor **out) {
    if (x->device == device) {
        *out = x;
        return USEG_OK;
    }
    USEG_TRY(useg_empty_on(ctx, NULL, device, x->dtype, x->ndim, x->shape, out));
    return useg_copy_into(ctx, *out, x);
}

useg_status useg_copy_device(useg_ctx *ctx, useg_tensor *dst, const useg_tensor *src) {
    if (useg_numel(dst) == 0) return USEG_OK;
    if (dst->device == src->device) return USEG_CUDA_CALL(ctx, "copy", copy, dst, src);
    if (!ctx->cuda) return useg_fail(ctx, USEG_ERR_DEVICE, "copy: no GPU selected for this context");
    useg_scratch_mark mark = useg_scratch_get_mark(ctx);
    const useg_tensor *s = src;
    useg_tensor *d = dst, *staged;
    useg_status st = USEG_OK;
    if (!useg_is_contiguous(src) || src->dtype != dst->dtype) {
        st = useg_empty_on(ctx, &ctx->scratch, src->device, dst->dtype, src->ndim, src->shape, &staged);
        if (st == USEG_OK) st = useg_copy_into(ctx, staged, src);
        s = staged;
    }
    if (st == USEG_OK && !useg_is_contiguous(dst))
        st = useg_empty_on(ctx, &ctx->scratch, dst->device, dst->dtype, dst->ndim, dst->shape, &d);
    if (st == USEG_OK)
        st = useg_cuda_memcpy(ctx, d->data, d->device, s->data, s->device,
                              (size_t)useg_numel(dst) * useg_dtype_size(dst->dtype));
    if (st == USEG_OK && d != dst) st = useg_copy_into(ctx, dst, d);
    // Safe before the copies finish: a host source was staged by the driver
    // before cudaMemcpyAsync returned, and device memory is reused in stream order.
    useg_scratch_rewind(ctx, mark);
    return st;
}

#if !USEG_HAVE_CUDA
// --- A build without CUDA ------------------------------------------------------------
// No context can get a GPU, so no CUDA tensor exists and the table stays empty.

const useg_cuda_kernels useg_cuda_table = {0};

static useg_status no_cuda(useg_ctx *ctx) {
    return useg_fail(ctx, USEG_ERR_DEVICE, "this build of useg has no CUDA support (rebuild with meson -Dcuda=enabled)");
}

useg_status useg_cuda_device_count(useg_ctx *ctx, int *count) {
    *count = 0;
    return no_cuda(ctx);
}

useg_status useg_cuda_init(useg_ctx *ctx, int index, const useg_cuda_options *opt) {
    (void)index, (void)opt;
    return no_cuda(ctx);
}

void useg_cuda_release(useg_ctx *ctx) { (void)ctx; }

useg_status useg_cuda_sync(useg_ctx *ctx) { return no_cuda(ctx); }

useg_status useg_cuda_memcpy(useg_ctx *ctx, void *dst, useg_device dst_device, const void *src,
                             useg_device src_device, size_t bytes) {
    (void)dst, (void)dst_device, (void)src, (void)src_device, (void)bytes;
    return no_cuda(ctx);
}

useg_status useg_cuda_memset(useg_ctx *ctx, void *dst, int byte, size_t bytes) {
    (void)dst, (void)byte, (void)bytes;
    return no_cuda(ctx);
}

useg_status useg_pinned_alloc(useg_ctx *ctx, size_t bytes, void **out) {
    (void)bytes;
    *out = NULL;
    return no_cuda(ctx);
}

void useg_pinned_free(void *p) { (void)p; }
#endif
