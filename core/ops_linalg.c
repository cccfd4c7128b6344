// Linear algebra: batched matmul, linear (nn.Linear) and conv2d, each with
// its backward. Everything is GEMM (kernels/gemm.h, OpenBLAS).
//
// Strided operands without copies: GEMM reads a matrix whose rows are
// contiguous (row-major, any row stride) or whose columns are (the transpose
// of a row-major matrix, passed with GEMM's transpose flag), so transposed
// views, sliced columns and batch axes with any strides (0 when broadcast)
// cost no copy; only matrices that are neither are made contiguous first.
// A batch is a loop of GEMM calls in batch order, folded into one tall GEMM
// where the memory allows: rows stack when the right operand is shared
// (x (..., M, K) @ w (K, N)), the reduction stacks when the output is shared
// (the gradient of a broadcast w, sum_i x_i^T g_i). Gradients are written
// straight into the inputs' gradient buffers with beta = 1, so a broadcast
// operand's gradient is summed over the batch by GEMM itself, in batch order
// (deterministic), with no temporary.
//
// linear runs one GEMM over all leading axes (the bias is written into the
// output first and GEMM adds to it); its backward is two GEMMs and a sum. In
// f32 on an AVX-512 CPU, up to USEG_LINEAR_CPU_MAX_ROWS rows, the forward
// runs kernels/linear_cpu.c instead, which reads the weights in place where
// OpenBLAS would repack them on every call (ViT-S/16 at 224: 6-7% off a
// forward on one thread).
// conv2d lowers to GEMM per image through im2col (a (C KH KW, OH OW) matrix
// of the receptive fields, zeros in the padding); the backward recomputes
// the columns instead of keeping them, and scatters the column gradient
// back with col2im, one channel per thread, so sums keep a fixed order. When
// kernel == stride and there is no padding (ViT's patch embedding) the
// windows tile the image: the patches are a reshape/permute of x, and the
// conv is a matmul of them with the flattened filters, built from recorded
// ops (their backwards give the gradients).
//
// Checked against PyTorch 1.13 (tests/core/torch_linalg.py) and by finite
// differences in f64 (tests/core/test_gradcheck_linalg.c); GEMM speed in
// benchmarks/gemm/.
//
// CUDA tensors take the same paths with cuBLAS in place of OpenBLAS (the
// CUDA table's gemm, device.h; kernels/cuda/gemm.cu): a batch that neither
// fold covers goes to cuBLAS as strided batches over its innermost batch
// axes whose strides chain, looping over the rest (and over any axis where
// the output is shared, so its products still add up in batch order).
// linear runs cuBLASLt with the bias fused in its epilogue, and the
// general conv2d the im2col + batched GEMM kernels of kernels/cuda/conv.cu;
// the patch-embedding conv2d is recorded ops, device-agnostic already.
#include <string.h>

#include "device.h"
#include "dispatch.h"
#include "gemm.h"
#include "linear_cpu.h"
#include "op_internal.h"

// --- Batched GEMM over strided operands -----------------------------------------------

// How the last two axes (r, c) of x lie in memory: row-major with row stride
// ld (*transposed false), or column-major with column stride ld (true: the
// transpose of a row-major c x r matrix). False when neither (a zero stride,
// no unit stride): the caller copies x. A size-1 axis fits either way, an
// empty matrix any way.
static bool matrix_layout(const useg_tensor *x, bool *transposed, int64_t *ld) {
    int64_t r = x->shape[x->ndim - 2], c = x->shape[x->ndim - 1];
    int64_t sr = x->strides[x->ndim - 2], sc = x->strides[x->ndim - 1];
    int64_t rmin = r > 1 ? r : 1, cmin = c > 1 ? c : 1;
    if (r == 0 || c == 0) sr = cmin, sc = 1;
    if ((c == 1 || sc == 1) && (r == 1 || sr >= cmin)) {
        *transposed = false;
        *ld = r == 1 ? cmin : sr;
        return true;
    }
    if ((r == 1 || sr == 1) && (c == 1 || sc >= rmin)) {
        *transposed = true;
        *ld = c == 1 ? rmin : sc;
        return true;
    }
    return false;
}

static bool has_matrix_layout(const useg_tensor *x) {
    bool transposed;
    int64_t ld;
    return matrix_layout(x, &transposed, &ld);
}

// One operand of a batched GEMM: matrix i of the batch starts at data plus
// sum_d idx_d * bstride[d] elements; GEMM reads it with leading dimension ld,
// transposed when `trans`.
typedef struct gemm_operand {
    void *data;
    int64_t bstride[USEG_MAX_DIMS]; // per batch axis, 0 where broadcast
    bool trans;
    int64_t ld;
} gemm_operand;

// The operand reading the matrices of x as op(X) (op = transpose when
// `trans`), over the batch axes (nb, bshape) that x's leading axes broadcast to.
static gemm_operand operand(const useg_tensor *x, bool trans, int nb, const int64_t *bshape) {
    gemm_operand op = {.data = x->data};
    bool transposed;
    bool ok = matrix_layout(x, &transposed, &op.ld);
    USEG_ASSERT(ok, "GEMM operand without a matrix layout");
    op.trans = trans != transposed;
    useg_tensor batch = *x;
    batch.ndim -= 2;
    useg_broadcast_strides(&batch, nb, bshape, op.bstride);
    return op;
}

// Whether op's matrices of `rows` stored rows sit one after another in batch
// order, so that the batch reads as one matrix of rows * count rows.
static bool stacks(const gemm_operand *op, int nb, const int64_t *bshape, int64_t rows) {
    int64_t expect = rows * op->ld;
    for (int d = nb - 1; d >= 0; d--) {
        if (bshape[d] == 1) continue;
        if (op->bstride[d] != expect) return false;
        expect *= bshape[d];
    }
    return true;
}

static bool shared(const gemm_operand *op, int nb, const int64_t *bshape) {
    for (int d = 0; d < nb; d++)
        if (bshape[d] != 1 && op->bstride[d] != 0) return false;
    return true;
}

// The run of innermost batch axes [*first, nb) that one strided-batched GEMM
// covers: each further axis's strides are the run's strides times its
// length, in all three operands, and C's are nonzero (the products of one
// call may write concurrently). *run products with strides stride[3] (A, B, C);
// *run is 1 when no axis qualifies.
static void batch_run(int nb, const int64_t *bshape, const gemm_operand *A, const gemm_operand *B,
                      const gemm_operand *C, int *first, int64_t *run, int64_t *stride) {
    const gemm_operand *ops[3] = {A, B, C};
    *first = nb, *run = 1;
    for (int d = nb - 1; d >= 0; d--) {
        if (bshape[d] == 1) {
            *first = d;
            continue;
        }
        bool chains = C->bstride[d] != 0;
        for (int k = 0; k < 3 && chains && *run > 1; k++) chains = ops[k]->bstride[d] == stride[k] * *run;
        if (!chains) return;
        if (*run == 1)
            for (int k = 0; k < 3; k++) stride[k] = ops[k]->bstride[d];
        *run *= bshape[d];
        *first = d;
    }
}

static useg_status gemm(useg_ctx *ctx, useg_device dev, useg_dtype dt, bool ta, bool tb, int64_t M, int64_t N,
                        int64_t K, const void *A, int64_t lda, const void *B, int64_t ldb, double beta, void *C,
                        int64_t ldc) {
    if (dev == USEG_DEVICE_CUDA)
        return USEG_CUDA_CALL(ctx, "matmul", gemm, dt, ta, tb, M, N, K, 1.0f, A, lda, B, ldb, (float)beta, C, ldc);
    if (dt == USEG_F32) return useg_gemm_f32(ctx, ta, tb, M, N, K, 1.0f, A, lda, B, ldb, (float)beta, C, ldc);
    return useg_gemm_f64(ctx, ta, tb, M, N, K, 1.0, A, lda, B, ldb, beta, C, ldc);
}

// C_i = op(A_i) op(B_i) + beta C_i for every i of the batch (nb, bshape), with
// op(A_i) M x K and op(B_i) K x N; C is never read transposed. Where C is
// shared across a batch axis (a gradient summed over it) beta must be 1: the
// products then add up in batch order.
static useg_status batched_gemm(useg_ctx *ctx, useg_device dev, useg_dtype dt, int nb, const int64_t *bshape,
                                int64_t M, int64_t N, int64_t K, const gemm_operand *A, const gemm_operand *B,
                                const gemm_operand *C, double beta) {
    USEG_ASSERT(!C->trans, "batched_gemm writes C row-major");
    int64_t count = 1;
    bool c_full = true;
    for (int d = 0; d < nb; d++) {
        count *= bshape[d];
        c_full = c_full && (bshape[d] == 1 || C->bstride[d] != 0);
    }
    USEG_ASSERT(c_full || beta == 1, "a shared C accumulates (beta = 1)");
    if (count == 0) return USEG_OK;
    if (count > 1 && !A->trans && shared(B, nb, bshape) && stacks(A, nb, bshape, M) && stacks(C, nb, bshape, M))
        return gemm(ctx, dev, dt, false, B->trans, M * count, N, K, A->data, A->ld, B->data, B->ld, beta, C->data,
                    C->ld);
    if (count > 1 && A->trans && !B->trans && shared(C, nb, bshape) && stacks(A, nb, bshape, K) &&
        stacks(B, nb, bshape, K))
        return gemm(ctx, dev, dt, true, false, M, N, K * count, A->data, A->ld, B->data, B->ld, beta, C->data,
                    C->ld);
    // The CPU loops over every product; the GPU hands cuBLAS a run of them per call.
    int first = nb;
    int64_t run = 1, stride[3] = {0, 0, 0};
    if (dev == USEG_DEVICE_CUDA) batch_run(nb, bshape, A, B, C, &first, &run, stride);
    int64_t es = (int64_t)useg_dtype_size(dt), idx[USEG_MAX_DIMS] = {0};
    for (int64_t i = 0; i < count / run; i++) {
        int64_t oa = 0, ob = 0, oc = 0;
        for (int d = 0; d < first; d++) {
            oa += idx[d] * A->bstride[d];
            ob += idx[d] * B->bstride[d];
            oc += idx[d] * C->bstride[d];
        }
        const char *a = (const char *)A->data + oa * es, *b = (const char *)B->data + ob * es;
        char *c = (char *)C->data + oc * es;
        if (run > 1)
            USEG_TRY(USEG_CUDA_CALL(ctx, "matmul", gemm_batched, dt, A->trans, B->trans, M, N, K, 1.0f, a, A->ld,
                                    stride[0], b, B->ld, stride[1], (float)beta, c, C->ld, stride[2], run));
        else
            USEG_TRY(gemm(ctx, dev, dt, A->trans, B->trans, M, N, K, a, A->ld, b, B->ld, beta, c, C->ld));
        for (int d = first - 1; d >= 0 && ++idx[d] == bshape[d]; d--) idx[d] = 0;
    }
    return USEG_OK;
}

// --- Shared by the ops -------------------------------------------------------------------

// x itself when `usable`, else a contiguous copy made outside the tape (the
// op's node records x itself).
static useg_status copy_unless(useg_ctx *ctx, useg_tensor *x, bool usable, useg_tensor **out) {
    if (usable) {
        *out = x;
        return USEG_OK;
    }
    bool prev = useg_no_grad_begin(ctx);
    useg_status st = useg_contiguous(ctx, x, out);
    useg_no_grad_end(ctx, prev);
    return st;
}

// t's gradient buffer (contiguous, t's shape), created zeroed when missing,
// for GEMMs that add into it with beta = 1.
static useg_status grad_buffer(useg_ctx *ctx, useg_tensor *t, useg_tensor **g) {
    if (!t->grad) USEG_TRY(useg_zeros_on(ctx, NULL, t->device, t->dtype, t->ndim, t->shape, &t->grad));
    *g = t->grad;
    return USEG_OK;
}

// A tape node for op when a gradient is needed (else *node = NULL), saving
// the operands GEMM read (the inputs or their contiguous copies).
static useg_status record(useg_ctx *ctx, useg_op op, useg_tensor *out, useg_tensor **in, int n_in,
                          useg_tensor *read0, useg_tensor *read1, useg_node **node) {
    *node = NULL;
    if (!useg_needs_grad(ctx, in, n_in)) return USEG_OK;
    *node = useg_record(ctx, op, out, in, n_in);
    if (!*node) return ctx->status;
    (*node)->saved[0] = read0;
    (*node)->saved[1] = read1;
    return USEG_OK;
}

// Float operands of one dtype on one device.
static useg_status check_same_dtype(useg_ctx *ctx, const char *op, const useg_tensor *a, const useg_tensor *b) {
    USEG_TRY(useg_check_float(ctx, op, a));
    USEG_TRY(useg_check_float(ctx, op, b));
    USEG_TRY(useg_check_same_device(ctx, op, a, b));
    if (a->dtype != b->dtype)
        return useg_fail(ctx, USEG_ERR_SHAPE, "%s: dtypes %s and %s differ", op, useg_dtype_name(a->dtype),
                         useg_dtype_name(b->dtype));
    return USEG_OK;
}

// Bias (O) checks shared by linear and conv2d.
static useg_status check_bias(useg_ctx *ctx, const char *op, const useg_tensor *bias, const useg_tensor *w) {
    if (!bias) return USEG_OK;
    USEG_TRY(check_same_dtype(ctx, op, w, bias));
    if (bias->ndim != 1 || bias->shape[0] != w->shape[0]) {
        char a[96], b[96];
        return useg_fail(ctx, USEG_ERR_SHAPE, "%s: bias %s does not match %lld outputs of weight %s", op,
                         useg_shape_str(bias, a, sizeof a), (long long)w->shape[0], useg_shape_str(w, b, sizeof b));
    }
    return USEG_OK;
}

// --- matmul -------------------------------------------------------------------------------

useg_status useg_matmul(useg_ctx *ctx, useg_tensor *a, useg_tensor *b, bool trans_a, bool trans_b,
                        useg_tensor **out) {
    USEG_TRY(check_same_dtype(ctx, "matmul", a, b));
    char sa[96], sb[96];
    if (a->ndim < 2 || b->ndim < 2)
        return useg_fail(ctx, USEG_ERR_SHAPE, "matmul: operands need rank >= 2, got %s and %s",
                         useg_shape_str(a, sa, sizeof sa), useg_shape_str(b, sb, sizeof sb));
    int64_t M = a->shape[a->ndim - (trans_a ? 1 : 2)], Ka = a->shape[a->ndim - (trans_a ? 2 : 1)];
    int64_t Kb = b->shape[b->ndim - (trans_b ? 1 : 2)], N = b->shape[b->ndim - (trans_b ? 2 : 1)];
    if (Ka != Kb)
        return useg_fail(ctx, USEG_ERR_SHAPE, "matmul: inner sizes differ: %s%s has %lld, %s%s has %lld",
                         useg_shape_str(a, sa, sizeof sa), trans_a ? " transposed" : "", (long long)Ka,
                         useg_shape_str(b, sb, sizeof sb), trans_b ? " transposed" : "", (long long)Kb);
    useg_tensor a_batch = *a, b_batch = *b;
    a_batch.ndim -= 2;
    b_batch.ndim -= 2;
    int nb;
    int64_t shape[USEG_MAX_DIMS];
    USEG_TRY(useg_broadcast_shape(ctx, "matmul (batch axes)", &a_batch, &b_batch, &nb, shape));
    shape[nb] = M;
    shape[nb + 1] = N;
    useg_tensor *ac, *bc;
    USEG_TRY(copy_unless(ctx, a, has_matrix_layout(a), &ac));
    USEG_TRY(copy_unless(ctx, b, has_matrix_layout(b), &bc));
    USEG_TRY(useg_empty_on(ctx, NULL, a->device, a->dtype, nb + 2, shape, out));
    gemm_operand A = operand(ac, trans_a, nb, shape), B = operand(bc, trans_b, nb, shape);
    gemm_operand C = operand(*out, false, nb, shape);
    USEG_TRY(batched_gemm(ctx, a->device, a->dtype, nb, shape, M, N, Ka, &A, &B, &C, 0.0));
    useg_tensor *in[2] = {a, b};
    useg_node *n;
    USEG_TRY(record(ctx, USEG_OP_MATMUL, *out, in, 2, ac, bc, &n));
    if (n) {
        n->iarg[0] = trans_a;
        n->iarg[1] = trans_b;
    }
    return USEG_OK;
}

// With A~ = op(A) (M x K), B~ = op(B) (K x N) and G = dC:
// dA~ = G B~^T and dB~ = A~^T G; a transposed operand takes the transpose.
USEG_BACKWARD(matmul) {
    useg_tensor *a = node->in[0], *b = node->in[1], *g = node->out->grad, *d;
    const useg_tensor *ac = node->saved[0], *bc = node->saved[1];
    bool ta = node->iarg[0], tb = node->iarg[1];
    int nb = g->ndim - 2;
    const int64_t *bs = g->shape;
    int64_t M = g->shape[nb], N = g->shape[nb + 1], K = ac->shape[ac->ndim - (ta ? 2 : 1)];
    if (a->requires_grad) {
        USEG_TRY(grad_buffer(ctx, a, &d));
        gemm_operand C = operand(d, false, nb, bs);
        if (!ta) { // dA = G B~^T: (M x N)(N x K)
            gemm_operand L = operand(g, false, nb, bs), R = operand(bc, !tb, nb, bs);
            USEG_TRY(batched_gemm(ctx, g->device, g->dtype, nb, bs, M, K, N, &L, &R, &C, 1.0));
        } else { // dA = B~ G^T: (K x N)(N x M)
            gemm_operand L = operand(bc, tb, nb, bs), R = operand(g, true, nb, bs);
            USEG_TRY(batched_gemm(ctx, g->device, g->dtype, nb, bs, K, M, N, &L, &R, &C, 1.0));
        }
    }
    if (b->requires_grad) {
        USEG_TRY(grad_buffer(ctx, b, &d));
        gemm_operand C = operand(d, false, nb, bs);
        if (!tb) { // dB = A~^T G: (K x M)(M x N)
            gemm_operand L = operand(ac, !ta, nb, bs), R = operand(g, false, nb, bs);
            USEG_TRY(batched_gemm(ctx, g->device, g->dtype, nb, bs, K, N, M, &L, &R, &C, 1.0));
        } else { // dB = G^T A~: (N x M)(M x K)
            gemm_operand L = operand(g, true, nb, bs), R = operand(ac, ta, nb, bs);
            USEG_TRY(batched_gemm(ctx, g->device, g->dtype, nb, bs, N, K, M, &L, &R, &C, 1.0));
        }
    }
    return USEG_OK;
}

// --- linear -------------------------------------------------------------------------------

// x (..., C) as the matrix (rows, C) of its leading axes collapsed: 2-D x as
// it is (any GEMM layout), other ranks only when contiguous.
static useg_tensor as_rows(const useg_tensor *x) {
    useg_tensor v = *x;
    if (x->ndim == 2) return v;
    int64_t rows = 1;
    for (int d = 0; d < x->ndim - 1; d++) rows *= x->shape[d];
    v.ndim = 2;
    v.shape[0] = rows;
    v.shape[1] = x->shape[x->ndim - 1];
    useg_set_contiguous_strides(&v);
    return v;
}

// Every row of out (rows, O) set to bias (O).
static void fill_rows(useg_tensor *out, const useg_tensor *bias) {
    int64_t rows = out->shape[0], O = out->shape[1];
    size_t bytes = (size_t)O * useg_dtype_size(out->dtype);
    bool parallel = rows * O > USEG_PARALLEL_THRESHOLD;
    char *dst = out->data;
    const char *src = bias->data;
    _Pragma("omp parallel for schedule(static) if (parallel)")
    for (int64_t r = 0; r < rows; r++) memcpy(dst + (size_t)r * bytes, src, bytes);
}

// Whether the matrix m has contiguous rows (row stride *ld).
static bool is_row_major(const useg_tensor *m, int64_t *ld) {
    bool transposed;
    return matrix_layout(m, &transposed, ld) && !transposed;
}

// y2 (R, O) = x2 (R, I) w^T + bias by the AVX-512 kernel, its workspace in scratch.
static useg_status linear_f32_cpu(useg_ctx *ctx, const useg_tensor *x2, int64_t ldx, const useg_tensor *w,
                                  int64_t ldw, const useg_tensor *bias, useg_tensor *y2) {
    const int64_t R = x2->shape[0], I = x2->shape[1], O = w->shape[0];
    useg_scratch_mark mark = useg_scratch_get_mark(ctx);
    void *ws;
    useg_status st = useg_scratch_alloc(ctx, USEG_DEVICE_CPU, useg_linear_f32_cpu_workspace_size(R, I), &ws);
    if (st == USEG_OK)
        useg_linear_f32_cpu(R, O, I, x2->data, ldx, w->data, ldw, bias ? bias->data : NULL, y2->data, O, ws);
    useg_scratch_rewind(ctx, mark);
    return st;
}

useg_status useg_linear(useg_ctx *ctx, useg_tensor *x, useg_tensor *w, useg_tensor *bias, useg_tensor **out) {
    USEG_TRY(check_same_dtype(ctx, "linear", x, w));
    char sx[96], sw[96];
    if (x->ndim < 1 || w->ndim != 2 || x->shape[x->ndim - 1] != w->shape[1])
        return useg_fail(ctx, USEG_ERR_SHAPE, "linear: input %s does not fit weight %s (out, in)",
                         useg_shape_str(x, sx, sizeof sx), useg_shape_str(w, sw, sizeof sw));
    USEG_TRY(check_bias(ctx, "linear", bias, w));
    int64_t O = w->shape[0], I = w->shape[1], ldx, ldw;
    bool cuda = x->device == USEG_DEVICE_CUDA; // cuBLASLt's linear reads x and w contiguous
    useg_tensor *xc, *wc, *bc = NULL;
    USEG_TRY(copy_unless(ctx, x, x->ndim == 2 && !cuda ? has_matrix_layout(x) : useg_is_contiguous(x), &xc));
    USEG_TRY(copy_unless(ctx, w, cuda ? useg_is_contiguous(w) : has_matrix_layout(w), &wc));
    if (bias) USEG_TRY(copy_unless(ctx, bias, useg_is_contiguous(bias), &bc));
    int64_t shape[USEG_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[x->ndim - 1] = O;
    USEG_TRY(useg_empty_on(ctx, NULL, x->device, x->dtype, x->ndim, shape, out));
    useg_tensor x2 = as_rows(xc), y2 = as_rows(*out);
    if (cuda) {
        USEG_TRY(USEG_CUDA_CALL(ctx, "linear", linear, x->dtype, y2.data, x2.data, wc->data, bc ? bc->data : NULL,
                                x2.shape[0], I, O));
    } else if (x->dtype == USEG_F32 && x2.shape[0] <= USEG_LINEAR_CPU_MAX_ROWS && useg_linear_f32_cpu_available() &&
               is_row_major(&x2, &ldx) && is_row_major(wc, &ldw)) {
        USEG_TRY(linear_f32_cpu(ctx, &x2, ldx, wc, ldw, bc, &y2));
    } else {
        if (bc) fill_rows(&y2, bc);
        gemm_operand A = operand(&x2, false, 0, NULL), B = operand(wc, true, 0, NULL), C = operand(&y2, false, 0, NULL);
        USEG_TRY(batched_gemm(ctx, x->device, x->dtype, 0, NULL, x2.shape[0], O, I, &A, &B, &C, bc ? 1.0 : 0.0));
    }
    useg_tensor *in[3] = {x, w, bias};
    useg_node *n;
    return record(ctx, USEG_OP_LINEAR, *out, in, bias ? 3 : 2, xc, wc, &n);
}

// y = x w^T + b over rows:  dx = g w,  dw = g^T x,  db = sum of g's rows.
USEG_BACKWARD(linear) {
    useg_tensor *x = node->in[0], *w = node->in[1], *bias = node->n_in > 2 ? node->in[2] : NULL, *d;
    useg_tensor x2 = as_rows(node->saved[0]), g2 = as_rows(node->out->grad);
    useg_dtype dt = g2.dtype;
    int64_t R = g2.shape[0], O = g2.shape[1], I = x2.shape[1];
    gemm_operand G = operand(&g2, false, 0, NULL);
    if (x->requires_grad) {
        USEG_TRY(grad_buffer(ctx, x, &d));
        useg_tensor d2 = as_rows(d);
        gemm_operand W = operand(node->saved[1], false, 0, NULL), C = operand(&d2, false, 0, NULL);
        USEG_TRY(batched_gemm(ctx, x->device, dt, 0, NULL, R, I, O, &G, &W, &C, 1.0));
    }
    if (w->requires_grad) {
        USEG_TRY(grad_buffer(ctx, w, &d));
        gemm_operand Gt = operand(&g2, true, 0, NULL), X = operand(&x2, false, 0, NULL);
        gemm_operand C = operand(d, false, 0, NULL);
        USEG_TRY(batched_gemm(ctx, w->device, dt, 0, NULL, O, I, R, &Gt, &X, &C, 1.0));
    }
    if (bias && bias->requires_grad) {
        useg_tensor *db;
        USEG_TRY(useg_sum_to(ctx, node->out->grad, 1, &O, &db));
        USEG_TRY(useg_accumulate_grad(ctx, bias, db));
    }
    return USEG_OK;
}

// --- conv2d -------------------------------------------------------------------------------

typedef struct conv_geom {
    int64_t B, C, H, W;   // input
    int64_t O, KH, KW;    // filters
    int64_t sh, sw, ph, pw;
    int64_t OH, OW;       // output
} conv_geom;

static conv_geom conv_geometry(const useg_tensor *x, const useg_tensor *w, int64_t sh, int64_t sw, int64_t ph,
                               int64_t pw) {
    conv_geom g = {x->shape[0], x->shape[1], x->shape[2], x->shape[3], w->shape[0], w->shape[2], w->shape[3],
                   sh, sw, ph, pw, 0, 0};
    g.OH = (g.H + 2 * ph - g.KH) / sh + 1;
    g.OW = (g.W + 2 * pw - g.KW) / sw + 1;
    return g;
}

// cols (C KH KW, OH OW) of one image x (C, H, W): row (c, kh, kw) holds the
// input each output position sees through that filter tap, 0 in the padding.
static void im2col_cpu(const conv_geom *g, useg_dtype dt, const void *x, void *cols) {
    int64_t rows = g->C * g->KH * g->KW, L = g->OH * g->OW;
    bool parallel = rows * L > USEG_PARALLEL_THRESHOLD;
    USEG_FLOAT_DISPATCH(dt, T, {
        const T *X = x;
        T *D = cols;
        _Pragma("omp parallel for schedule(static) if (parallel)")
        for (int64_t r = 0; r < rows; r++) {
            int64_t c = r / (g->KH * g->KW), kh = r / g->KW % g->KH, kw = r % g->KW;
            const T *src = X + c * g->H * g->W;
            for (int64_t oh = 0; oh < g->OH; oh++) {
                T *d = D + r * L + oh * g->OW;
                int64_t ih = oh * g->sh - g->ph + kh;
                if (ih < 0 || ih >= g->H) {
                    for (int64_t ow = 0; ow < g->OW; ow++) d[ow] = 0;
                    continue;
                }
                const T *s = src + ih * g->W;
                for (int64_t ow = 0; ow < g->OW; ow++) {
                    int64_t iw = ow * g->sw - g->pw + kw;
                    d[ow] = iw >= 0 && iw < g->W ? s[iw] : 0;
                }
            }
        }
    });
}

// dx (C, H, W) += the adjoint of im2col applied to dcols: one channel per
// thread, its taps in a fixed order.
static void col2im_cpu(const conv_geom *g, useg_dtype dt, const void *dcols, void *dx) {
    int64_t L = g->OH * g->OW;
    bool parallel = g->C * g->KH * g->KW * L > USEG_PARALLEL_THRESHOLD;
    USEG_FLOAT_DISPATCH(dt, T, {
        const T *S = dcols;
        T *DX = dx;
        _Pragma("omp parallel for schedule(static) if (parallel)")
        for (int64_t c = 0; c < g->C; c++) {
            T *dst = DX + c * g->H * g->W;
            for (int64_t kh = 0; kh < g->KH; kh++)
                for (int64_t kw = 0; kw < g->KW; kw++) {
                    const T *row = S + ((c * g->KH + kh) * g->KW + kw) * L;
                    for (int64_t oh = 0; oh < g->OH; oh++) {
                        int64_t ih = oh * g->sh - g->ph + kh;
                        if (ih < 0 || ih >= g->H) continue;
                        for (int64_t ow = 0; ow < g->OW; ow++) {
                            int64_t iw = ow * g->sw - g->pw + kw;
                            if (iw >= 0 && iw < g->W) dst[ih * g->W + iw] += row[oh * g->OW + ow];
                        }
                    }
                }
        }
    });
}

// kernel == stride, no padding: the windows tile x (rows and columns past the
// last whole window are unused), so the im2col matrix of an image is a
// permutation of x: patches (B, OH OW, C KH KW) @ w (O, C KH KW)^T, computed
// per image as w p^T so the output comes out (B, O, OH OW) without a transpose.
static useg_status conv2d_patches(useg_ctx *ctx, useg_tensor *x, useg_tensor *w, useg_tensor *bias,
                                  const conv_geom *g, useg_tensor **out) {
    useg_tensor *t = x, *u;
    if (g->OH * g->KH != g->H) USEG_TRY(useg_slice(ctx, t, 2, 0, g->OH * g->KH, 1, &t));
    if (g->OW * g->KW != g->W) USEG_TRY(useg_slice(ctx, t, 3, 0, g->OW * g->KW, 1, &t));
    const int64_t split[6] = {g->B, g->C, g->OH, g->KH, g->OW, g->KW};
    const int to_patches[6] = {0, 2, 4, 1, 3, 5};
    const int64_t rows[3] = {g->B, g->OH * g->OW, g->C * g->KH * g->KW}, filters[2] = {g->O, rows[2]};
    const int64_t image[4] = {g->B, g->O, g->OH, g->OW}, column[3] = {g->O, 1, 1};
    USEG_TRY(useg_reshape(ctx, t, 6, split, &t));       // (B, C, OH, KH, OW, KW)
    USEG_TRY(useg_permute(ctx, t, to_patches, &t));     // (B, OH, OW, C, KH, KW)
    USEG_TRY(useg_reshape(ctx, t, 3, rows, &t));        // (B, OH OW, C KH KW)
    USEG_TRY(useg_reshape(ctx, w, 2, filters, &u));     // (O, C KH KW)
    USEG_TRY(useg_matmul(ctx, u, t, false, true, &t));  // (B, O, OH OW)
    if (!bias) return useg_reshape(ctx, t, 4, image, out);
    USEG_TRY(useg_reshape(ctx, t, 4, image, &t));
    USEG_TRY(useg_reshape(ctx, bias, 3, column, &u));
    return useg_add(ctx, t, u, out);
}

// out (B, O, OH, OW) = bias + w (O, C KH KW) @ im2col(x_b) per image b; x, w,
// bias (or NULL) contiguous.
static useg_status conv2d_forward_cpu(useg_ctx *ctx, const conv_geom *g, const useg_tensor *x,
                                      const useg_tensor *w, const useg_tensor *bias, useg_tensor *out) {
    int64_t L = g->OH * g->OW, CKK = g->C * g->KH * g->KW, es = (int64_t)useg_dtype_size(x->dtype);
    if (bias) {
        // (B O, L) rows, each its output channel's bias.
        USEG_FLOAT_DISPATCH(x->dtype, T, {
            T *Y = out->data;
            const T *bv = bias->data;
            for (int64_t r = 0; r < g->B * g->O; r++)
                for (int64_t i = 0; i < L; i++) Y[r * L + i] = bv[r % g->O];
        });
    }
    useg_arena_mark mark = useg_arena_get_mark(&ctx->scratch);
    void *cols;
    useg_status st = useg_alloc(ctx, &ctx->scratch, (size_t)(CKK * L * es), &cols);
    for (int64_t b = 0; b < g->B && st == USEG_OK; b++) {
        im2col_cpu(g, x->dtype, (const char *)x->data + b * g->C * g->H * g->W * es, cols);
        // out_b (O, L) = w (O, C KH KW) @ cols (C KH KW, L)
        st = gemm(ctx, USEG_DEVICE_CPU, x->dtype, false, false, g->O, L, CKK, w->data, CKK, cols, L,
                  bias ? 1.0 : 0.0, (char *)out->data + b * g->O * L * es, L);
    }
    useg_arena_rewind(&ctx->scratch, mark);
    return st;
}

// Per image b, with cols_b = im2col(x_b) and G_b = dout_b (O, L):
// dw += G_b cols_b^T;  dx_b += col2im(w^T G_b). dw and dx (either may be
// NULL) are the inputs' gradient buffers.
static useg_status conv2d_backward_cpu(useg_ctx *ctx, const conv_geom *geo, const useg_tensor *xc,
                                       const useg_tensor *wc, const useg_tensor *g, useg_tensor *dx,
                                       useg_tensor *dw) {
    useg_dtype dt = g->dtype;
    int64_t L = geo->OH * geo->OW, CKK = geo->C * geo->KH * geo->KW, es = (int64_t)useg_dtype_size(dt);
    useg_arena_mark mark = useg_arena_get_mark(&ctx->scratch);
    void *cols;
    useg_status st = useg_alloc(ctx, &ctx->scratch, (size_t)(CKK * L * es), &cols);
    for (int64_t b = 0; b < geo->B && st == USEG_OK; b++) {
        const char *gb = (const char *)g->data + b * geo->O * L * es;
        if (dw) {
            im2col_cpu(geo, dt, (const char *)xc->data + b * geo->C * geo->H * geo->W * es, cols);
            st = gemm(ctx, USEG_DEVICE_CPU, dt, false, true, geo->O, CKK, L, gb, L, cols, L, 1.0, dw->data, CKK);
        }
        if (dx && st == USEG_OK) {
            // cols now holds w^T G_b (C KH KW, L).
            st = gemm(ctx, USEG_DEVICE_CPU, dt, true, false, CKK, L, geo->O, wc->data, CKK, gb, L, 0.0, cols, L);
            col2im_cpu(geo, dt, cols, (char *)dx->data + b * geo->C * geo->H * geo->W * es);
        }
    }
    useg_arena_rewind(&ctx->scratch, mark);
    return st;
}

useg_status useg_conv2d(useg_ctx *ctx, useg_tensor *x, useg_tensor *w, useg_tensor *bias, int stride_h,
                        int stride_w, int pad_h, int pad_w, useg_tensor **out) {
    USEG_TRY(check_same_dtype(ctx, "conv2d", x, w));
    char sx[96], sw[96];
    if (x->ndim != 4 || w->ndim != 4 || x->shape[1] != w->shape[1])
        return useg_fail(ctx, USEG_ERR_SHAPE, "conv2d: input %s (B, C, H, W) does not fit weight %s (O, C, KH, KW)",
                         useg_shape_str(x, sx, sizeof sx), useg_shape_str(w, sw, sizeof sw));
    USEG_TRY(check_bias(ctx, "conv2d", bias, w));
    if (stride_h < 1 || stride_w < 1 || pad_h < 0 || pad_w < 0)
        return useg_fail(ctx, USEG_ERR_INVALID_ARG, "conv2d: stride %dx%d must be >= 1 and padding %dx%d >= 0",
                         stride_h, stride_w, pad_h, pad_w);
    if (w->shape[2] > x->shape[2] + 2 * pad_h || w->shape[3] > x->shape[3] + 2 * pad_w || w->shape[2] == 0 ||
        w->shape[3] == 0)
        return useg_fail(ctx, USEG_ERR_SHAPE, "conv2d: kernel %lldx%lld does not fit the input %s padded by %dx%d",
                         (long long)w->shape[2], (long long)w->shape[3], useg_shape_str(x, sx, sizeof sx), pad_h,
                         pad_w);
    conv_geom g = conv_geometry(x, w, stride_h, stride_w, pad_h, pad_w);
    if (g.KH == g.sh && g.KW == g.sw && g.ph == 0 && g.pw == 0) return conv2d_patches(ctx, x, w, bias, &g, out);

    useg_tensor *xc, *wc, *bc = NULL;
    USEG_TRY(copy_unless(ctx, x, useg_is_contiguous(x), &xc));
    USEG_TRY(copy_unless(ctx, w, useg_is_contiguous(w), &wc));
    if (bias) USEG_TRY(copy_unless(ctx, bias, useg_is_contiguous(bias), &bc));
    const int64_t shape[4] = {g.B, g.O, g.OH, g.OW};
    USEG_TRY(useg_empty_on(ctx, NULL, x->device, x->dtype, 4, shape, out));
    if (x->device == USEG_DEVICE_CUDA)
        USEG_TRY(USEG_CUDA_CALL(ctx, "conv2d", conv2d_forward, x->dtype, (*out)->data, xc->data, wc->data,
                                bc ? bc->data : NULL, g.B, g.C, g.H, g.W, g.O, (int)g.KH, (int)g.KW, stride_h,
                                stride_w, pad_h, pad_w));
    else
        USEG_TRY(conv2d_forward_cpu(ctx, &g, xc, wc, bc, *out));
    useg_tensor *in[3] = {x, w, bias};
    useg_node *n;
    USEG_TRY(record(ctx, USEG_OP_CONV2D, *out, in, bias ? 3 : 2, xc, wc, &n));
    if (n) {
        n->iarg[0] = stride_h;
        n->iarg[1] = stride_w;
        n->iarg[2] = pad_h;
        n->iarg[3] = pad_w;
    }
    return USEG_OK;
}

// dx, dw from the kernels above (on the GPU written into fresh tensors, then
// accumulated); dbias = the sum of G over (B, OH, OW).
USEG_BACKWARD(conv2d) {
    useg_tensor *x = node->in[0], *w = node->in[1], *bias = node->n_in > 2 ? node->in[2] : NULL;
    const useg_tensor *xc = node->saved[0], *wc = node->saved[1], *g = node->out->grad;
    conv_geom geo = conv_geometry(xc, wc, node->iarg[0], node->iarg[1], node->iarg[2], node->iarg[3]);
    useg_tensor *dw = NULL, *dx = NULL;
    if (x->device == USEG_DEVICE_CUDA) {
        if (w->requires_grad) USEG_TRY(useg_empty_on(ctx, NULL, w->device, w->dtype, 4, w->shape, &dw));
        if (x->requires_grad) USEG_TRY(useg_empty_on(ctx, NULL, x->device, x->dtype, 4, x->shape, &dx));
        USEG_TRY(USEG_CUDA_CALL(ctx, "conv2d", conv2d_backward, g->dtype, dx ? dx->data : NULL, dw ? dw->data : NULL,
                                NULL, g->data, xc->data, wc->data, geo.B, geo.C, geo.H, geo.W, geo.O, (int)geo.KH,
                                (int)geo.KW, (int)geo.sh, (int)geo.sw, (int)geo.ph, (int)geo.pw));
        if (dw) USEG_TRY(useg_accumulate_grad(ctx, w, dw));
        if (dx) USEG_TRY(useg_accumulate_grad(ctx, x, dx));
    } else {
        if (w->requires_grad) USEG_TRY(grad_buffer(ctx, w, &dw));
        if (x->requires_grad) USEG_TRY(grad_buffer(ctx, x, &dx));
        USEG_TRY(conv2d_backward_cpu(ctx, &geo, xc, wc, g, dx, dw));
    }
    if (bias && bias->requires_grad) {
        useg_tensor *db;
        USEG_TRY(useg_sum(ctx, node->out->grad, 0xDu, false, &db)); // axes B, OH, OW
        USEG_TRY(useg_accumulate_grad(ctx, bias, db));
    }
    return USEG_OK;
}
