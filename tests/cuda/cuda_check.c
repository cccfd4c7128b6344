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

// The CPU context of op_parity's references: a context of its own, so the
// two runs' tapes and backwards do not meet.
static useg_ctx cpu_ctx;
static bool cpu_ctx_ready;

int cuda_check_finish(useg_ctx *ctx, const char *program) {
    CHECK_OK(ctx, useg_cuda_sync(ctx));
    useg_ctx_free(ctx);
    if (cpu_ctx_ready) useg_ctx_free(&cpu_ctx);
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

// CHECK got[i] against ref[i] (both on the host, n values).
static bool compare(const char *what, const double *got, const double *ref, int64_t n, double tol) {
    double diff2 = 0, ref2 = 0, worst = 0;
    int64_t worst_at = -1, nan_at = -1;
    for (int64_t i = 0; i < n; i++) {
        double g = got[i], r = ref[i];
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
                    got[nan_at], ref[nan_at]);
        if (worst_at >= 0)
            fprintf(stderr, "  largest difference at %lld: got %.9g, want %.9g\n", (long long)worst_at,
                    got[worst_at], ref[worst_at]);
    }
    return ok;
}

bool check_close(useg_ctx *ctx, const char *what, useg_dtype dt, const void *dev, const double *ref, int64_t n,
                 double tol) {
    const void *stored = to_host(ctx, dev, (size_t)n * useg_dtype_size(dt));
    double *got = host_doubles(ctx, n ? n : 1);
    for (int64_t i = 0; i < n; i++) got[i] = stored_value(dt, stored, i);
    return compare(what, got, ref, n, tol);
}

useg_tensor *guarded_tensor(useg_ctx *ctx, useg_dtype dt, int ndim, const int64_t *shape, guarded *g) {
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= shape[d];
    return device_tensor(ctx, dt, ndim, shape, guarded_alloc(ctx, (size_t)(n ? n : 1) * useg_dtype_size(dt), g));
}

bool check_tensor(useg_ctx *ctx, const char *what, const useg_tensor *got, const useg_tensor *ref, double tol) {
    if (!got || !ref || !useg_same_shape(got, ref)) {
        char a[96] = "none", b[96] = "none";
        if (got) useg_shape_str(got, a, sizeof a);
        if (ref) useg_shape_str(ref, b, sizeof b);
        CHECK(false, "%s: got %s, want %s", what, a, b);
        return false;
    }
    useg_tensor *host;
    if (useg_to_device(ctx, (useg_tensor *)got, USEG_DEVICE_CPU, &host) != USEG_OK) {
        CHECK(false, "%s: copy to the host: %s", what, ctx->message);
        useg_clear_error(ctx);
        return false;
    }
    int64_t n = useg_numel(ref);
    double *g = host_doubles(ctx, n ? n : 1), *r = host_doubles(ctx, n ? n : 1);
    for (int64_t i = 0; i < n; i++) g[i] = useg_get_flat(host, i), r[i] = useg_get_flat(ref, i);
    return compare(what, g, r, n, tol);
}

// A leaf of `in`'s shape holding `values`, on the CPU in f64 (cpu_ctx) or on the GPU in dt.
static useg_tensor *leaf(useg_ctx *ctx, bool gpu, useg_dtype dt, const parity_input *in, const double *values) {
    useg_tensor *t;
    if (gpu) {
        t = device_values(ctx, dt, in->ndim, in->shape, values);
    } else {
        USEG_ASSERT(useg_empty(&cpu_ctx, NULL, USEG_F64, in->ndim, in->shape, &t) == USEG_OK, "%s", cpu_ctx.message);
        memcpy(t->data, values, (size_t)useg_numel(t) * sizeof(double));
    }
    t->requires_grad = !in->constant;
    return t;
}

// The backward of sum(out * w).
static useg_status backward_weighted(useg_ctx *ctx, useg_tensor *out, useg_tensor *w) {
    useg_tensor *prod, *loss;
    USEG_TRY(useg_mul(ctx, out, w, &prod));
    USEG_TRY(useg_sum(ctx, prod, 0, false, &loss));
    return useg_backward(ctx, loss);
}

bool op_parity(useg_ctx *ctx, const char *what, useg_dtype dt, parity_fn fn, const void *arg, int n_in,
               const parity_input *in, useg_tensor *aux, double tol, double grad_scale, parity *p) {
    USEG_ASSERT(n_in <= PARITY_MAX_IN, "op_parity: %d inputs", n_in);
    if (!cpu_ctx_ready) useg_ctx_init(&cpu_ctx, &(useg_ctx_options){.seed = 1});
    else useg_step_end(&cpu_ctx);
    cpu_ctx_ready = true;
    *p = (parity){.n_in = n_in};
    bool grad = false;
    for (int i = 0; i < n_in; i++) {
        int64_t n = 1;
        for (int d = 0; d < in[i].ndim; d++) n *= in[i].shape[d];
        double *v = host_doubles(ctx, n ? n : 1);
        host_random(ctx, dt, n, in[i].lo, in[i].hi, v);
        p->gpu_in[i] = leaf(ctx, true, dt, &in[i], v);
        p->cpu_in[i] = leaf(ctx, false, dt, &in[i], v);
        grad |= !in[i].constant;
    }
    if (aux) CHECK_OK(ctx, useg_to_device(ctx, aux, USEG_DEVICE_CUDA, &p->gpu_aux));
    useg_status st = fn(&cpu_ctx, p->cpu_in, aux, arg, &p->cpu_out);
    // The upstream gradient: random, of the output's shape, the same stored values on both.
    useg_tensor *cpu_w = NULL, *gpu_w = NULL;
    if (st == USEG_OK && grad && p->cpu_out->dtype == USEG_F64) {
        int64_t n = useg_numel(p->cpu_out);
        double *v = host_doubles(ctx, n ? n : 1);
        host_random(ctx, dt, n, -grad_scale, grad_scale, v);
        parity_input wi = {.ndim = p->cpu_out->ndim, .constant = true};
        memcpy(wi.shape, p->cpu_out->shape, sizeof wi.shape);
        gpu_w = leaf(ctx, true, dt, &wi, v);
        cpu_w = leaf(ctx, false, dt, &wi, v);
        st = backward_weighted(&cpu_ctx, p->cpu_out, cpu_w);
    }
    CHECK(st == USEG_OK, "%s: on the cpu: %s", what, cpu_ctx.message);
    if (st != USEG_OK) {
        useg_clear_error(&cpu_ctx);
        return false;
    }
    st = fn(ctx, p->gpu_in, p->gpu_aux, arg, &p->gpu_out);
    if (st == USEG_OK && gpu_w) st = backward_weighted(ctx, p->gpu_out, gpu_w);
    CHECK(st == USEG_OK, "%s: on cuda: %s", what, ctx->message);
    if (st != USEG_OK) {
        useg_clear_error(ctx);
        return false;
    }
    p->gpu_w = gpu_w;
    CHECK(p->gpu_out->device == USEG_DEVICE_CUDA, "%s: the output of cuda inputs lives on %s", what,
          useg_device_name(p->gpu_out->device));
    check_tensor(ctx, what, p->gpu_out, p->cpu_out, tol);
    for (int i = 0; i < n_in && gpu_w; i++) {
        if (in[i].constant) continue;
        char name[160];
        snprintf(name, sizeof name, "%s: gradient of input %d", what, i);
        if (!p->cpu_in[i]->grad) { // nothing flowed back on the CPU: nothing may on the GPU
            CHECK(!p->gpu_in[i]->grad, "%s: a gradient on cuda only", name);
            continue;
        }
        check_tensor(ctx, name, p->gpu_in[i]->grad, p->cpu_in[i]->grad, 2 * tol);
    }
    return true;
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
