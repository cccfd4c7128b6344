// The CUDA device runtime: arenas, copies across devices (strided, every
// dtype, converting), fills, pinned buffers, the copy kernel's bounds, and the
// errors a caller can cause (memory exhausted, mixed devices, f64 on CUDA).
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cuda_check.h"
#include "ops.h"

enum { MIB = 1 << 20 };

// A host tensor whose element i is a value every dtype stores exactly.
static useg_tensor *host_pattern(useg_ctx *ctx, useg_dtype dt, int ndim, const int64_t *shape) {
    useg_tensor *t;
    CHECK_OK(ctx, useg_empty(ctx, NULL, dt, ndim, shape, &t));
    for (int64_t i = 0; i < useg_numel(t); i++) useg_set_flat(t, i, (double)((i * 7) % 101));
    return t;
}

// CHECK that two host tensors hold the same values element by element.
static void check_equal(const char *what, const useg_tensor *got, const useg_tensor *want) {
    int64_t bad = 0, n = useg_numel(want);
    CHECK(useg_same_shape(got, want), "%s: shapes differ", what);
    for (int64_t i = 0; i < n; i++) bad += useg_get_flat(got, i) != useg_get_flat(want, i);
    CHECK(bad == 0, "%s: %lld of %lld values differ", what, (long long)bad, (long long)n);
}

static useg_tensor *back_to_host(useg_ctx *ctx, useg_tensor *d) {
    useg_tensor *h = NULL;
    CHECK_OK(ctx, useg_to_device(ctx, d, USEG_DEVICE_CPU, &h));
    return h;
}

static void test_round_trips(useg_ctx *ctx) {
    const int64_t shape[3] = {3, 17, 5};
    for (int dt = 0; dt < USEG_DTYPE_COUNT; dt++) {
        useg_tensor *h = host_pattern(ctx, (useg_dtype)dt, 3, shape), *d = NULL;
        CHECK_OK(ctx, useg_to_device(ctx, h, USEG_DEVICE_CUDA, &d));
        CHECK(d && d->device == USEG_DEVICE_CUDA && useg_is_contiguous(d), "round trip %s: device tensor",
              useg_dtype_name(dt));
        if (d) check_equal(useg_dtype_name(dt), back_to_host(ctx, d), h);
        useg_step_end(ctx);
    }
}

static void test_strided_copies(useg_ctx *ctx) {
    // A transposed host view up, a sliced device view down, and device-to-device
    // copies between strided views with dtype conversion, against the CPU copy.
    const int64_t shape[2] = {13, 9};
    useg_tensor *h = host_pattern(ctx, USEG_F32, 2, shape), *ht, *d, *hs, *ds;
    CHECK_OK(ctx, useg_transpose(ctx, h, 0, 1, &ht));
    CHECK_OK(ctx, useg_to_device(ctx, ht, USEG_DEVICE_CUDA, &d));
    useg_tensor *want;
    CHECK_OK(ctx, useg_contiguous(ctx, ht, &want));
    check_equal("transposed host view to the device", back_to_host(ctx, d), want);

    CHECK_OK(ctx, useg_slice(ctx, d, 1, 1, 12, 3, &ds));
    CHECK_OK(ctx, useg_slice(ctx, ht, 1, 1, 12, 3, &hs));
    CHECK_OK(ctx, useg_contiguous(ctx, hs, &want));
    check_equal("sliced device view to the host", back_to_host(ctx, ds), want);

    for (int dt = 0; dt < USEG_DTYPE_COUNT; dt++) {
        if (dt == USEG_F32) continue;
        // device f32 (9, 13) -> transposed view of a device (13, 9) tensor of dtype dt
        useg_tensor *dst, *dst_t, *cpu_dst, *cpu_dst_t;
        const int64_t tshape[2] = {13, 9};
        CHECK_OK(ctx, useg_empty_on(ctx, NULL, USEG_DEVICE_CUDA, (useg_dtype)dt, 2, tshape, &dst));
        CHECK_OK(ctx, useg_transpose(ctx, dst, 0, 1, &dst_t));
        CHECK_OK(ctx, useg_copy_into(ctx, dst_t, d));
        CHECK_OK(ctx, useg_empty(ctx, NULL, (useg_dtype)dt, 2, tshape, &cpu_dst));
        CHECK_OK(ctx, useg_transpose(ctx, cpu_dst, 0, 1, &cpu_dst_t));
        CHECK_OK(ctx, useg_copy_into(ctx, cpu_dst_t, ht));
        char what[64];
        snprintf(what, sizeof what, "strided device copy f32 -> %s", useg_dtype_name(dt));
        check_equal(what, back_to_host(ctx, dst), cpu_dst);
        // Across devices with a conversion: host f32 view into the device tensor's view.
        CHECK_OK(ctx, useg_copy_into(ctx, dst_t, ht));
        snprintf(what, sizeof what, "host f32 view -> device %s view", useg_dtype_name(dt));
        check_equal(what, back_to_host(ctx, dst), cpu_dst);
    }
    useg_step_end(ctx);
}

static void test_copy_bounds(useg_ctx *ctx) {
    // The copy kernel writes exactly the destination: guards around it, sizes
    // 1, primes and a large one, from a strided source.
    const int64_t sizes[] = {1, 2, 31, 257, 4099, 1 << 20};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        int64_t n = sizes[k], src_shape[2] = {n, 2}, dst_shape[1] = {n};
        if (!cuda_case_fits(2 * n)) continue;
        double *vals = host_doubles(ctx, 2 * n);
        void *hsrc = host_random(ctx, USEG_F32, 2 * n, -1, 1, vals);
        useg_tensor *src = device_tensor(ctx, USEG_F32, 2, src_shape, to_device(ctx, hsrc, (size_t)(2 * n) * 4)), *col;
        CHECK_OK(ctx, useg_slice(ctx, src, 1, 1, 2, 1, &col)); // column 1: stride 2
        col->ndim = 1; // (n, 1) -> (n): the stride of axis 0 stays
        guarded g;
        useg_tensor *dst = device_tensor(ctx, USEG_BF16, 1, dst_shape, guarded_alloc(ctx, (size_t)n * 2, &g));
        CHECK_LAUNCH(ctx, useg_copy_cuda(ctx, dst, col));
        double *ref = host_doubles(ctx, n);
        for (int64_t i = 0; i < n; i++) ref[i] = round_to(USEG_BF16, vals[2 * i + 1]);
        char what[64];
        snprintf(what, sizeof what, "strided copy f32 -> bf16, n=%lld", (long long)n);
        check_close(ctx, what, USEG_BF16, dst->data, ref, n, 0.0);
        guarded_check(ctx, &g, what);
        useg_step_end(ctx);
    }
}

static void test_fill_and_zeros(useg_ctx *ctx) {
    const int64_t shape[2] = {7, 10};
    useg_tensor *z, *view;
    CHECK_OK(ctx, useg_zeros_on(ctx, NULL, USEG_DEVICE_CUDA, USEG_F32, 2, shape, &z));
    CHECK_OK(ctx, useg_slice(ctx, z, 1, 1, 10, 2, &view));
    CHECK_OK(ctx, useg_fill(ctx, view, 2.5));
    useg_tensor *h = back_to_host(ctx, z);
    int64_t bad = 0;
    for (int64_t i = 0; i < 70; i++) bad += useg_get_flat(h, i) != ((i % 10) % 2 == 1 ? 2.5 : 0.0);
    CHECK(bad == 0, "fill of a strided view: %lld wrong values", (long long)bad);
    useg_step_end(ctx);
}

static void test_pinned(useg_ctx *ctx) {
    const int64_t shape[1] = {1 << 16};
    void *pinned;
    CHECK_OK(ctx, useg_pinned_alloc(ctx, (size_t)shape[0] * sizeof(float), &pinned));
    if (!pinned) return;
    float *p = pinned;
    for (int64_t i = 0; i < shape[0]; i++) p[i] = (float)i * 0.5f;
    useg_tensor *h, *d;
    CHECK_OK(ctx, useg_wrap(ctx, USEG_F32, 1, shape, pinned, &h));
    CHECK_OK(ctx, useg_to_device(ctx, h, USEG_DEVICE_CUDA, &d));
    CHECK_OK(ctx, useg_cuda_sync(ctx)); // the pinned buffer may be refilled only now
    memset(pinned, 0, (size_t)shape[0] * sizeof(float));
    useg_tensor *back = back_to_host(ctx, d);
    int64_t bad = 0;
    for (int64_t i = 0; i < shape[0]; i++) bad += useg_get_flat(back, i) != (double)i * 0.5;
    CHECK(bad == 0, "pinned upload: %lld wrong values", (long long)bad);
    useg_pinned_free(pinned);
    useg_step_end(ctx);
}

static void test_arenas_and_errors(useg_ctx *ctx) {
    CHECK(ctx->cuda->step.size == 4096 * (size_t)MIB && ctx->cuda->params.size == 256 * (size_t)MIB,
          "arena sizes follow the options");
    const int64_t shape[1] = {1000};
    useg_tensor *t, *p, *c;
    CHECK_OK(ctx, useg_empty_on(ctx, NULL, USEG_DEVICE_CUDA, USEG_F32, 1, shape, &t));
    CHECK_OK(ctx, useg_empty_on(ctx, &ctx->params, USEG_DEVICE_CUDA, USEG_F32, 1, shape, &p));
    CHECK(ctx->cuda->step.used >= 4000 && ctx->cuda->params.used >= 4000, "tensors land in their lifetime's arena");
    CHECK(((uintptr_t)t->data % USEG_DEVICE_ALIGN) == 0, "device tensors are 256-byte aligned");
    useg_step_end(ctx);
    CHECK(ctx->cuda->step.used == 0 && ctx->cuda->params.used >= 4000, "step end frees the device step arena only");

    const int64_t huge[2] = {1 << 20, 1 << 20};
    CHECK_FAILS(ctx, useg_empty_on(ctx, NULL, USEG_DEVICE_CUDA, USEG_F32, 2, huge, &t), USEG_ERR_OUT_OF_MEMORY);
    CHECK_FAILS(ctx, useg_cuda_init(ctx, 0, NULL), USEG_ERR_INVALID_ARG); // already on a GPU

    useg_tensor *h;
    CHECK_OK(ctx, useg_full(ctx, NULL, USEG_F32, 1, shape, 1.0, &h));
    CHECK_OK(ctx, useg_to_device(ctx, h, USEG_DEVICE_CUDA, &t));
    CHECK_FAILS(ctx, useg_add(ctx, h, t, &c), USEG_ERR_INVALID_ARG);
    useg_tensor *d64;
    CHECK_OK(ctx, useg_empty_on(ctx, NULL, USEG_DEVICE_CUDA, USEG_F64, 1, shape, &d64));
    CHECK_FAILS(ctx, useg_exp(ctx, d64, &c), USEG_ERR_SHAPE);
    useg_step_end(ctx);
}

int main(void) {
    useg_ctx ctx;
    int skip = cuda_check_init(&ctx, "cuda_runtime");
    if (skip) return skip;
    test_arenas_and_errors(&ctx);
    test_round_trips(&ctx);
    test_strided_copies(&ctx);
    test_copy_bounds(&ctx);
    test_fill_and_zeros(&ctx);
    test_pinned(&ctx);
    return cuda_check_finish(&ctx, "cuda_runtime");
}
