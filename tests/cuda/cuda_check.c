#include "cuda_check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "half.h"
#include "rng.h"

enum { MIB = 1 << 20 };
static const unsigned char CANARY = 0xA5, UNWRITTEN = 0xFF;

int cuda_check_init(useg_ctx *ctx, const char *program) {
    useg_ctx_init(ctx, &(useg_ctx_options){.seed = 1234});
    useg_cuda_options opt = {.params_bytes = 256 * (size_t)MIB, .step_bytes = 4096 * (size_t)MIB,
                             .scratch_bytes = 2048 * (size_t)MIB};
    if (useg_cuda_init(ctx, 0, &opt) != USEG_OK) {
        printf("%s: skipped: %s\n", program, ctx->message);
        useg_ctx_free(ctx);
        return 77;
    }
    printf("%s: on cuda:0, %s (compute capability %d.%d)\n", program, ctx->cuda->name, ctx->cuda->cc_major,
           ctx->cuda->cc_minor);
    return 0;
}

int cuda_check_finish(useg_ctx *ctx, const char *program) {
    CHECK_OK(ctx, useg_cuda_sync(ctx));
    useg_ctx_free(ctx);
    return check_report(program);
}

bool cuda_case_fits(int64_t size) {
    static int quick = -1;
    if (quick < 0) quick = getenv("USEG_CUDA_QUICK") != NULL;
    return !quick || size <= (1 << 18);
}

double cuda_tol(useg_dtype dt) { return dt == USEG_BF16 ? 1e-2 : dt == USEG_F16 ? 2e-3 : 1e-5; }

static void device_fill(useg_ctx *ctx, void *p, unsigned char byte, size_t bytes) {
    CHECK_OK(ctx, useg_cuda_memset(ctx, p, byte, bytes));
}

void *guarded_alloc(useg_ctx *ctx, size_t bytes, guarded *g) {
    unsigned char *base = useg_device_arena_alloc(&ctx->cuda->step, bytes + 2 * GUARD_BYTES);
    USEG_ASSERT(base, "test device arena too small for %zu bytes", bytes);
    *g = (guarded){.base = base, .data = base + GUARD_BYTES, .bytes = bytes};
    device_fill(ctx, base, CANARY, GUARD_BYTES);
    device_fill(ctx, g->data, UNWRITTEN, bytes);
    device_fill(ctx, base + GUARD_BYTES + bytes, CANARY, GUARD_BYTES);
    return g->data;
}

void guarded_check(useg_ctx *ctx, const guarded *g, const char *what) {
    const unsigned char *before = to_host(ctx, g->base, GUARD_BYTES);
    const unsigned char *after = to_host(ctx, g->base + GUARD_BYTES + g->bytes, GUARD_BYTES);
    int bad_before = 0, bad_after = 0;
    for (int i = 0; i < GUARD_BYTES; i++) {
        bad_before += before[i] != CANARY;
        bad_after += after[i] != CANARY;
    }
    CHECK(bad_before == 0 && bad_after == 0, "%s: %d guard bytes before and %d after the output were overwritten",
          what, bad_before, bad_after);
}

double round_to(useg_dtype dt, double v) {
    switch (dt) {
    case USEG_F32: return (float)v;
    case USEG_F16: return useg_f16_to_f32(useg_f32_to_f16((float)v));
    case USEG_BF16: return useg_bf16_to_f32(useg_f32_to_bf16((float)v));
    default: return v;
    }
}

double stored_value(useg_dtype dt, const void *host, int64_t i) {
    switch (dt) {
    case USEG_F32: return ((const float *)host)[i];
    case USEG_F64: return ((const double *)host)[i];
    case USEG_F16: return useg_f16_to_f32(((const uint16_t *)host)[i]);
    case USEG_BF16: return useg_bf16_to_f32(((const uint16_t *)host)[i]);
    case USEG_I32: return ((const int32_t *)host)[i];
    case USEG_I64: return (double)((const int64_t *)host)[i];
    default: return ((const uint8_t *)host)[i];
    }
}

static void store_value(useg_dtype dt, void *host, int64_t i, double v) {
    switch (dt) {
    case USEG_F32: ((float *)host)[i] = (float)v; break;
    case USEG_F16: ((uint16_t *)host)[i] = useg_f32_to_f16((float)v); break;
    case USEG_BF16: ((uint16_t *)host)[i] = useg_f32_to_bf16((float)v); break;
    case USEG_I64: ((int64_t *)host)[i] = (int64_t)v; break;
    case USEG_I32: ((int32_t *)host)[i] = (int32_t)v; break;
    default: USEG_ASSERT(0, "no test storage for dtype %s", useg_dtype_name(dt));
    }
}

static void *host_alloc(useg_ctx *ctx, size_t bytes) {
    void *p = useg_arena_alloc(&ctx->step, bytes ? bytes : 1);
    USEG_ASSERT(p, "test host arena exhausted (%zu bytes)", bytes);
    return p;
}

double *host_doubles(useg_ctx *ctx, int64_t n) { return host_alloc(ctx, (size_t)n * sizeof(double)); }

void *host_random(useg_ctx *ctx, useg_dtype dt, int64_t n, double lo, double hi, double *values) {
    void *p = host_alloc(ctx, (size_t)n * useg_dtype_size(dt));
    for (int64_t i = 0; i < n; i++) {
        store_value(dt, p, i, lo + (hi - lo) * useg_rng_uniform(&ctx->rng));
        if (values) values[i] = stored_value(dt, p, i);
    }
    return p;
}

void *to_device(useg_ctx *ctx, const void *host, size_t bytes) {
    void *d = useg_device_arena_alloc(&ctx->cuda->step, bytes);
    USEG_ASSERT(d, "test device arena too small for %zu bytes", bytes);
    CHECK_OK(ctx, useg_cuda_memcpy(ctx, d, USEG_DEVICE_CUDA, host, USEG_DEVICE_CPU, bytes));
    return d;
}

void *to_host(useg_ctx *ctx, const void *dev, size_t bytes) {
    void *h = host_alloc(ctx, bytes);
    CHECK_OK(ctx, useg_cuda_memcpy(ctx, h, USEG_DEVICE_CPU, dev, USEG_DEVICE_CUDA, bytes));
    return h;
}

bool check_close(useg_ctx *ctx, const char *what, useg_dtype dt, const void *dev, const double *ref, int64_t n,
                 double tol) {
    const void *got = to_host(ctx, dev, (size_t)n * useg_dtype_size(dt));
    double diff2 = 0, ref2 = 0, worst = 0;
    int64_t worst_at = -1, nan_at = -1;
    for (int64_t i = 0; i < n; i++) {
        double g = stored_value(dt, got, i), r = ref[i];
        if (isnan(r) || isinf(r)) {
            bool same = isnan(r) ? isnan(g) : g == r;
            if (!same && nan_at < 0) nan_at = i;
            continue;
        }
        if (!isfinite(g)) {
            if (nan_at < 0) nan_at = i;
            continue;
        }
        diff2 += (g - r) * (g - r);
        ref2 += r * r;
        if (fabs(g - r) > worst) worst = fabs(g - r), worst_at = i;
    }
    double err = sqrt(diff2) / (ref2 > 0 ? sqrt(ref2) : 1.0);
    bool ok = err <= tol && nan_at < 0;
    CHECK(ok, "%s: relative error %.3g (tol %.1g) over %lld values%s", what, err, tol, (long long)n,
          nan_at >= 0 ? "; non-finite mismatch" : "");
    if (!ok) {
        if (nan_at >= 0)
            fprintf(stderr, "  first non-finite mismatch at %lld: got %.9g, want %.9g\n", (long long)nan_at,
                    stored_value(dt, got, nan_at), ref[nan_at]);
        if (worst_at >= 0)
            fprintf(stderr, "  largest difference at %lld: got %.9g, want %.9g\n", (long long)worst_at,
                    stored_value(dt, got, worst_at), ref[worst_at]);
    }
    return ok;
}

useg_tensor *device_values(useg_ctx *ctx, useg_dtype dt, int ndim, const int64_t *shape, const double *values) {
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= shape[d];
    void *h = host_alloc(ctx, (size_t)n * useg_dtype_size(dt));
    for (int64_t i = 0; i < n; i++) store_value(dt, h, i, values[i]);
    return device_tensor(ctx, dt, ndim, shape, to_device(ctx, h, (size_t)n * useg_dtype_size(dt)));
}

useg_tensor *device_tensor(useg_ctx *ctx, useg_dtype dt, int ndim, const int64_t *shape, void *data) {
    useg_tensor *t;
    if (useg_wrap(ctx, dt, ndim, shape, data, &t) != USEG_OK) USEG_ASSERT(0, "device_tensor: %s", ctx->message);
    t->device = USEG_DEVICE_CUDA;
    return t;
}
