// Indexing ops on CUDA tensors against the same ops on the CPU (op_parity,
// forward and backward): gather (index smaller than x outside the axis,
// repeated indices, strided index views), index_select (the sorted backward
// and the per-column one), concat of two to nine inputs (chained tape nodes)
// and split; then the CUDA twins gather / scatter_add with guarded outputs;
// gather of integer tensors; and out-of-range indices, which must fail
// cleanly, naming the value.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cuda_check.h"
#include "rng.h"

static const useg_dtype DTYPES[] = {USEG_F32, USEG_F16, USEG_BF16};
enum { N_DTYPES = sizeof DTYPES / sizeof DTYPES[0] };

// A CPU i64 tensor of `shape` with entries below `size` (repeats likely).
static useg_tensor *random_index(useg_ctx *ctx, int ndim, const int64_t *shape, int64_t size) {
    useg_tensor *t;
    CHECK_OK(ctx, useg_empty(ctx, NULL, USEG_I64, ndim, shape, &t));
    for (int64_t i = 0; i < useg_numel(t); i++) useg_set_flat(t, i, (double)useg_rng_below(&ctx->rng, (uint32_t)size));
    return t;
}

// --- Gather and index_select --------------------------------------------------------------

typedef struct {
    bool select;      // index_select (1-D index) rather than gather
    int ndim, axis;
    int64_t x[3];     // x's shape
    int64_t index[3]; // gather: the index's shape; index_select: index[0] entries
    bool transpose;   // gather: the index read through a transposed view (its storage is (i1, i0, ...))
} index_case;

static const index_case INDEX_CASES[] = {
    {false, 2, 0, {1, 1}, {1, 1}, false},         {false, 3, 1, {3, 7, 5}, {3, 4, 5}, false},
    {false, 3, 2, {2, 7, 3}, {1, 5, 9}, false},   {false, 2, 1, {2, 97}, {2, 300}, false},
    {false, 3, 0, {5, 13, 33}, {13, 13, 33}, false}, {false, 2, 0, {1000, 64}, {2000, 64}, false},
    {false, 2, 1, {6, 11}, {5, 6}, true},          {false, 2, 0, {40, 3}, {7, 3}, true},
    {true, 2, 0, {1, 1}, {1}, false},              {true, 2, 0, {1000, 64}, {2000}, false},
    {true, 3, 1, {5, 13, 33}, {20}, false},        {true, 3, 2, {4, 3, 9}, {17}, false},
    {true, 1, 0, {100003}, {4099}, false},
};

typedef struct {
    bool select, transpose;
    int axis;
} index_arg;

static useg_status index_fn(useg_ctx *ctx, useg_tensor *const *in, useg_tensor *index, const void *arg,
                            useg_tensor **out) {
    const index_arg *a = arg;
    if (a->select) return useg_index_select(ctx, in[0], a->axis, index, out);
    useg_tensor *iv = index;
    if (a->transpose) USEG_TRY(useg_transpose(ctx, index, 0, 1, &iv));
    return useg_gather(ctx, in[0], a->axis, iv, out);
}

static void test_gather(useg_ctx *ctx) {
    for (size_t c = 0; c < sizeof INDEX_CASES / sizeof INDEX_CASES[0]; c++)
        for (int k = 0; k < N_DTYPES; k++) {
            const index_case *ic = &INDEX_CASES[c];
            useg_dtype dt = DTYPES[k];
            parity_input in = {.ndim = ic->ndim, .lo = -1, .hi = 1};
            memcpy(in.shape, ic->x, sizeof ic->x);
            int64_t ishape[3], n = 1;
            int indim = ic->select ? 1 : ic->ndim;
            memcpy(ishape, ic->index, sizeof ishape);
            if (ic->transpose) ishape[0] = ic->index[1], ishape[1] = ic->index[0];
            for (int d = 0; d < indim; d++) n *= ishape[d];
            if (!cuda_case_fits(n + in.shape[0] * in.shape[1])) continue;
            useg_tensor *index = random_index(ctx, indim, ishape, ic->x[ic->axis]);
            index_arg arg = {ic->select, ic->transpose, ic->axis};
            char what[128];
            snprintf(what, sizeof what, "%s case %zu %s", ic->select ? "index_select" : "gather", c, useg_dtype_name(dt));
            parity p;
            if (!op_parity(ctx, what, dt, index_fn, &arg, 1, &in, index, cuda_tol(dt), 1.0, &p)) {
                useg_step_end(ctx);
                continue;
            }
            // The twins on the op's index (index_select's expanded, gather's view), guarded.
            useg_tensor *iv = p.gpu_aux;
            if (ic->transpose) CHECK_OK(ctx, useg_transpose(ctx, p.gpu_aux, 0, 1, &iv));
            if (ic->select) {
                int64_t col[3], full[3];
                for (int d = 0; d < ic->ndim; d++) {
                    col[d] = d == ic->axis ? ic->index[0] : 1;
                    full[d] = d == ic->axis ? ic->index[0] : ic->x[d];
                }
                useg_tensor *column;
                CHECK_OK(ctx, useg_reshape(ctx, p.gpu_aux, ic->ndim, col, &column));
                CHECK_OK(ctx, useg_expand(ctx, column, ic->ndim, full, &iv));
            }
            guarded gy, gdx;
            useg_tensor *y = guarded_tensor(ctx, dt, iv->ndim, iv->shape, &gy);
            useg_tensor *dx = guarded_tensor(ctx, dt, ic->ndim, ic->x, &gdx);
            CHECK_OK(ctx, useg_cuda_memset(ctx, dx->data, 0, (size_t)useg_numel(dx) * useg_dtype_size(dt)));
            CHECK_LAUNCH(ctx, useg_gather_cuda(ctx, p.gpu_in[0], ic->axis, iv, y));
            CHECK_LAUNCH(ctx, useg_scatter_add_cuda(ctx, dx, ic->axis, iv, p.gpu_w));
            check_tensor(ctx, what, y, p.cpu_out, 0.0); // moves values: exact
            check_tensor(ctx, "scatter_add", dx, p.cpu_in[0]->grad, cuda_tol(dt));
            guarded_check(ctx, &gy, what);
            guarded_check(ctx, &gdx, what);
            useg_step_end(ctx);
        }
}

// Gather moves bits: integer tensors take the same kernel.
static void test_gather_integers(useg_ctx *ctx) {
    const useg_dtype dts[] = {USEG_U8, USEG_I32, USEG_I64};
    const int64_t xs[2] = {9, 5}, is[2] = {4, 5};
    for (int k = 0; k < 3; k++) {
        useg_tensor *x, *index = random_index(ctx, 2, is, 9), *xg, *ig, *cpu, *gpu;
        CHECK_OK(ctx, useg_empty(ctx, NULL, dts[k], 2, xs, &x));
        for (int64_t i = 0; i < 45; i++) useg_set_flat(x, i, (double)(i * 7 % 100));
        CHECK_OK(ctx, useg_to_device(ctx, x, USEG_DEVICE_CUDA, &xg));
        CHECK_OK(ctx, useg_to_device(ctx, index, USEG_DEVICE_CUDA, &ig));
        CHECK_OK(ctx, useg_gather(ctx, x, 0, index, &cpu));
        CHECK_OK(ctx, useg_gather(ctx, xg, 0, ig, &gpu));
        char what[64];
        snprintf(what, sizeof what, "gather of %s", useg_dtype_name(dts[k]));
        check_tensor(ctx, what, gpu, cpu, 0.0);
        useg_step_end(ctx);
    }
}

// Out-of-range indices fail with a shape error naming the first one, before
// any kernel reads x[index], and the context goes on working.
static void test_bad_index(useg_ctx *ctx) {
    const int64_t xs[2] = {4, 6}, is[2] = {2, 6}, ss[1] = {3};
    useg_tensor *x, *i2, *i1, *g2, *g1, *out;
    CHECK_OK(ctx, useg_zeros_on(ctx, NULL, USEG_DEVICE_CUDA, USEG_F32, 2, xs, &x));
    CHECK_OK(ctx, useg_zeros(ctx, NULL, USEG_I64, 2, is, &i2));
    CHECK_OK(ctx, useg_zeros(ctx, NULL, USEG_I64, 1, ss, &i1));
    useg_set_flat(i2, 7, 4);  // axis 0 has size 4
    useg_set_flat(i2, 9, -2);
    useg_set_flat(i1, 2, -1);
    CHECK_OK(ctx, useg_to_device(ctx, i2, USEG_DEVICE_CUDA, &g2));
    CHECK_OK(ctx, useg_to_device(ctx, i1, USEG_DEVICE_CUDA, &g1));
    useg_gather(ctx, x, 0, g2, &out);
    CHECK(ctx->status == USEG_ERR_SHAPE && strstr(ctx->message, "index 4 out of range"),
          "gather names the first bad index: %s", ctx->message);
    useg_clear_error(ctx);
    useg_index_select(ctx, x, 1, g1, &out);
    CHECK(ctx->status == USEG_ERR_SHAPE && strstr(ctx->message, "index -1 out of range"),
          "index_select names the bad index: %s", ctx->message);
    useg_clear_error(ctx);
    useg_set_flat(i2, 7, 3);
    useg_set_flat(i2, 9, 0);
    CHECK_OK(ctx, useg_to_device(ctx, i2, USEG_DEVICE_CUDA, &g2));
    CHECK_OK(ctx, useg_gather(ctx, x, 0, g2, &out));
    useg_step_end(ctx);
}

// --- Concat and split ------------------------------------------------------------------------

typedef struct {
    int n, axis;
} concat_arg;

// Concat of the inputs, the third one read transposed when square; then the
// result split in three and joined again in another order.
static useg_status concat_fn(useg_ctx *ctx, useg_tensor *const *in, useg_tensor *aux, const void *arg,
                             useg_tensor **out) {
    (void)aux;
    const concat_arg *a = arg;
    useg_tensor *xs[PARITY_MAX_IN * 2], *joined, *pieces[3];
    for (int k = 0; k < a->n; k++) xs[k] = in[k % PARITY_MAX_IN];
    USEG_TRY(useg_concat(ctx, xs, a->n, a->axis, &joined));
    int64_t size = joined->shape[a->axis], sizes[3] = {size / 3, size - size / 3 - 1, 1};
    USEG_TRY(useg_split(ctx, joined, a->axis, sizes, 3, pieces));
    useg_tensor *order[3] = {pieces[2], pieces[0], pieces[1]};
    return useg_concat(ctx, order, 3, a->axis, out);
}

static void test_concat(useg_ctx *ctx) {
    const int counts[] = {1, 2, 4, 5, 9};
    const int64_t base[3] = {3, 4, 5};
    for (int axis = 0; axis < 3; axis++)
        for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++)
            for (int k = 0; k < N_DTYPES; k++) {
                useg_dtype dt = DTYPES[k];
                parity_input in[PARITY_MAX_IN];
                for (int i = 0; i < PARITY_MAX_IN; i++) {
                    in[i] = (parity_input){.ndim = 3, .lo = -1, .hi = 1, .constant = i == 1};
                    memcpy(in[i].shape, base, sizeof base);
                    in[i].shape[axis] = 1 + i; // every input its own size along the axis
                }
                concat_arg arg = {counts[c], axis};
                char what[96];
                snprintf(what, sizeof what, "concat of %d along %d %s", counts[c], axis, useg_dtype_name(dt));
                parity p;
                op_parity(ctx, what, dt, concat_fn, &arg, PARITY_MAX_IN, in, NULL, cuda_tol(dt), 1.0, &p);
                useg_step_end(ctx);
            }
}

int main(void) {
    useg_ctx ctx;
    int skip = cuda_check_init(&ctx, "cuda_index");
    if (skip) return skip;
    test_gather(&ctx);
    test_gather_integers(&ctx);
    test_bad_index(&ctx);
    test_concat(&ctx);
    return cuda_check_finish(&ctx, "cuda_index");
}
