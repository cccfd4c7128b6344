// Devices: choosing a GPU, device memory by lifetime, copies between host and
// device, and the table through which the core ops reach the CUDA kernels.
//
// A context computes on the CPU until useg_cuda_init gives it a GPU. From then
// on it owns one CUDA stream (every kernel, copy and cuBLAS call of the
// context runs on it, in order), the cuBLAS handles, and ONE cudaMalloc'd
// block cut into three device arenas that mirror the host ones of context.h:
// params, step and scratch. A device tensor's struct lives in the host arena
// of its lifetime and its data in the device arena of the same lifetime, so
// useg_step_end frees both. Nothing calls cudaMalloc after useg_cuda_init.
//
// Because all the work of a context is ordered on its one stream, device
// memory handed back to an arena (a rewind, the end of a step) can be handed
// out again at once: the kernels that reuse it run after the ones that used
// it. The host waits for the stream only where it reads device memory (a copy
// to the CPU) or calls useg_cuda_sync. Errors of asynchronous work surface at
// the next checked CUDA call as USEG_ERR_DEVICE.
//
// The CUDA functions below exist in every build; in a build without CUDA
// (meson -Dcuda=disabled) they answer USEG_ERR_DEVICE, so callers need no #if.
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "context.h"
#include "ops.h"

// --- Device arenas -------------------------------------------------------------------
// Bump allocation inside a block the arena does not own. The bookkeeping is
// host-side arithmetic only (the block is never dereferenced here), so it runs
// and is tested without a GPU. Blocks are aligned to 256 bytes, cudaMalloc's
// alignment, so every tensor starts on a full memory transaction.
enum { USEG_DEVICE_ALIGN = 256 };

// n rounded up to a multiple of USEG_DEVICE_ALIGN (0 stays 0): the size a
// device arena block of n bytes takes, also used to lay out workspaces.
static inline size_t useg_device_align_up(size_t n) {
    return (n + USEG_DEVICE_ALIGN - 1) & ~(size_t)(USEG_DEVICE_ALIGN - 1);
}

typedef struct useg_device_arena {
    const char *name;  // for messages ("cuda step", ...)
    char *base;        // start of the block
    size_t size;       // bytes in the block
    size_t used;       // bytes handed out since the last reset
    size_t peak;       // largest `used` seen
} useg_device_arena;

void useg_device_arena_init(useg_device_arena *a, const char *name, void *base, size_t size);
// `bytes` bytes aligned to USEG_DEVICE_ALIGN, or NULL when the block is full.
void *useg_device_arena_alloc(useg_device_arena *a, size_t bytes);
void useg_device_arena_reset(useg_device_arena *a);
// A mark is the `used` count to rewind to.
size_t useg_device_arena_mark(const useg_device_arena *a);
void useg_device_arena_rewind(useg_device_arena *a, size_t mark);

// --- The GPU of a context ----------------------------------------------------------
// Arena sizes default to shares of the GPU memory free at init, less 64 MiB
// of cuBLAS workspace and 512 MiB left to the libraries.
typedef struct useg_cuda_options {
    size_t params_bytes;   // device params arena (0: a quarter of the free memory)
    size_t step_bytes;     // device step arena (0: half of the free memory)
    size_t scratch_bytes;  // device scratch arena (0: an eighth of the free memory)
    bool allow_tf32;       // f32 GEMMs may run on TF32 tensor cores (~1e-3 relative error)
} useg_cuda_options;

// cudaStream_t, cublasHandle_t and cublasLtHandle_t are pointers to these.
struct CUstream_st;
struct cublasContext;
struct cublasLtContext;

typedef struct useg_cuda useg_cuda;
struct useg_cuda {
    int index;                     // CUDA device ordinal
    char name[256];                // "NVIDIA H100 80GB HBM3", ...
    int cc_major, cc_minor;        // compute capability
    int sm_count;
    size_t smem_optin;             // shared memory a block may opt in to, bytes
    struct CUstream_st *stream;    // the context's one stream
    struct cublasContext *blas;
    struct cublasLtContext *blaslt;
    void *block;                   // the one cudaMalloc behind everything below
    void *blas_workspace;          // cuBLAS / cuBLASLt workspace, inside `block`
    size_t blas_workspace_bytes;
    useg_device_arena params, step, scratch;
    bool allow_tf32;
};

// Number of CUDA GPUs the driver reports (0 is a valid answer). Fails with
// USEG_ERR_DEVICE and a one-line reason when there is no usable driver, or
// when this build has no CUDA.
useg_status useg_cuda_device_count(useg_ctx *ctx, int *count);
// Give ctx the GPU `index`: makes it the calling thread's current device,
// creates the stream and the cuBLAS handles, and takes the one device block
// (sizes from opt; NULL for the defaults). Fails with USEG_ERR_DEVICE (no
// driver, no GPU, bad index, compute capability below 8.0), or
// USEG_ERR_OUT_OF_MEMORY, leaving ctx on the CPU. Use one context per GPU and
// thread.
useg_status useg_cuda_init(useg_ctx *ctx, int index, const useg_cuda_options *opt);
// Wait for the context's stream and give back everything useg_cuda_init took.
// Safe on a context without a GPU (useg_ctx_free calls it).
void useg_cuda_release(useg_ctx *ctx);
// Wait for all queued work; reports an asynchronous kernel error as USEG_ERR_DEVICE.
useg_status useg_cuda_sync(useg_ctx *ctx);
// Copy `bytes` bytes; at least one side on the device. Ordered on the stream;
// a copy into host memory is complete when the call returns.
useg_status useg_cuda_memcpy(useg_ctx *ctx, void *dst, useg_device dst_device, const void *src,
                             useg_device src_device, size_t bytes);
// Set `bytes` bytes of device memory to `byte`, on the stream.
useg_status useg_cuda_memset(useg_ctx *ctx, void *dst, int byte, size_t bytes);
// Page-locked host memory, for image batches the loader fills and copies to the
// GPU each step: a copy from it runs asynchronously, so the caller must not
// refill it before useg_cuda_sync. Allocate once and reuse (it is slow to get).
useg_status useg_pinned_alloc(useg_ctx *ctx, size_t bytes, void **out);
void useg_pinned_free(void *p);

// --- Tensors on a device -------------------------------------------------------------
// Like useg_empty / useg_zeros / useg_full on `device`. `lifetime` is a host
// arena of ctx naming the lifetime (NULL: ctx->step); a CUDA tensor's data
// goes to the device arena of the same lifetime (ctx->params -> params, ...).
useg_status useg_empty_on(useg_ctx *ctx, useg_arena *lifetime, useg_device device, useg_dtype dt, int ndim,
                          const int64_t *shape, useg_tensor **out);
useg_status useg_zeros_on(useg_ctx *ctx, useg_arena *lifetime, useg_device device, useg_dtype dt, int ndim,
                          const int64_t *shape, useg_tensor **out);
// Set every element of t (any strides, any device) to `value`.
useg_status useg_fill(useg_ctx *ctx, useg_tensor *t, double value);
// x itself when it already lives on `device`, else a contiguous copy there
// (step lifetime). Not recorded on the tape: move inputs and parameters, not
// intermediate values.
useg_status useg_to_device(useg_ctx *ctx, useg_tensor *x, useg_device device, useg_tensor **out);
// useg_copy_into when either side is on the GPU: device to device by a kernel,
// across devices through the stream (staged through scratch when a side is
// strided or the dtypes differ).
useg_status useg_copy_device(useg_ctx *ctx, useg_tensor *dst, const useg_tensor *src);
// "cpu" or "cuda".
const char *useg_device_name(useg_device d);

// --- Scratch on a tensor's device ------------------------------------------------------
// Where ctx's scratch stands on the host and, with a GPU, on the device: an
// op that takes a workspace where its tensors live rewinds both when done.
typedef struct useg_scratch_mark {
    useg_arena_mark host;
    size_t device;
} useg_scratch_mark;
useg_scratch_mark useg_scratch_get_mark(useg_ctx *ctx);
void useg_scratch_rewind(useg_ctx *ctx, useg_scratch_mark mark);
// `bytes` bytes of scratch on `device` (64-byte aligned on the CPU, 256 on a
// GPU), or USEG_ERR_OUT_OF_MEMORY.
useg_status useg_scratch_alloc(useg_ctx *ctx, useg_device device, size_t bytes, void **out);

// --- The CUDA kernel table --------------------------------------------------------------
// The core ops route CUDA tensors here (dav1d's function tables): each entry
// has the signature of the op's CPU kernel plus the context, works on tensors
// the op has checked and allocated, and returns a status. A NULL entry means
// the op has no CUDA kernel: USEG_CUDA_CALL then answers USEG_ERR_UNSUPPORTED
// "not supported on this device". kernels/cuda/table.cu fills it; a build
// without CUDA has every entry NULL (and can hold no CUDA tensor anyway).
typedef struct useg_cuda_kernels {
    // tensor.c, autograd.c: dst <- src (same shape, any strides and dtypes);
    // dst += src (same float dtype); every element <- value.
    useg_status (*copy)(useg_ctx *ctx, useg_tensor *dst, const useg_tensor *src);
    useg_status (*add_into)(useg_ctx *ctx, useg_tensor *dst, const useg_tensor *src);
    useg_status (*fill)(useg_ctx *ctx, useg_tensor *t, double value);
    // ops_elementwise.c. op: USEG_OP_ADD/SUB/MUL/DIV; a and b any strides,
    // broadcasting to out (contiguous).
    useg_status (*binary)(useg_ctx *ctx, useg_op op, const useg_tensor *a, const useg_tensor *b, useg_tensor *out);
    // op: USEG_OP_SCALE (alpha x + beta) ... USEG_OP_GELU; all contiguous.
    useg_status (*unary)(useg_ctx *ctx, useg_op op, double alpha, double beta, const useg_tensor *x, useg_tensor *y);
    // dx = g * f'(x) given y = f(x); all contiguous.
    useg_status (*unary_backward)(useg_ctx *ctx, useg_op op, double alpha, const useg_tensor *x,
                                  const useg_tensor *y, const useg_tensor *g, useg_tensor *dx);
    // ops_reduce.c. keep (x's shape with reduced axes 1, contiguous) =
    // factor * sum of x (any strides) over the axes in mask.
    useg_status (*sum)(useg_ctx *ctx, const useg_tensor *x, unsigned mask, double factor, useg_tensor *keep);
    // First maximum along `axis` of contiguous x; values (may be NULL) and
    // indices (i64) have x's shape without `axis` (contiguous).
    useg_status (*max)(useg_ctx *ctx, const useg_tensor *x, int axis, useg_tensor *values, useg_tensor *indices);
    // dx (zeroed, contiguous) receives g at the saved indices along `axis`.
    useg_status (*max_backward)(useg_ctx *ctx, const useg_tensor *g, const useg_tensor *indices, int axis,
                                useg_tensor *dx);
    // ops_nn.c; all contiguous. Softmax or log-softmax of x along `axis`, and
    // dx from the forward's y and its gradient g.
    useg_status (*softmax_forward)(useg_ctx *ctx, const useg_tensor *x, int axis, bool log_out, useg_tensor *y);
    useg_status (*softmax_backward)(useg_ctx *ctx, const useg_tensor *y, const useg_tensor *g, int axis,
                                    bool log_out, useg_tensor *dx);
    // Layer norm of x (R, C) over C; w, b (C) or NULL; stats (R, 2) = (mean,
    // rstd) rows, or NULL (f64 on the CPU, f32 on CUDA). The backward writes
    // dx, dw, db (each may be NULL) from g and the saved stats.
    useg_status (*layer_norm_forward)(useg_ctx *ctx, const useg_tensor *x, const useg_tensor *w,
                                      const useg_tensor *b, double eps, useg_tensor *y, useg_tensor *stats);
    useg_status (*layer_norm_backward)(useg_ctx *ctx, const useg_tensor *x, const useg_tensor *w,
                                       const useg_tensor *stats, const useg_tensor *g, useg_tensor *dx,
                                       useg_tensor *dw, useg_tensor *db);
    // ops_loss.c; all contiguous. Each forward writes the 0-d mean `out`; each
    // backward takes the 0-d upstream gradient g and writes the gradients
    // asked for (non-NULL). Cross-entropy: logits x (N, C, ...), validated i64
    // targets (N, ...), `count` non-ignored positions, lse (positions) the
    // per-position log-sum-exp (f64 on the CPU, f32 on CUDA).
    useg_status (*cross_entropy_forward)(useg_ctx *ctx, const useg_tensor *x, const useg_tensor *target,
                                         int64_t ignore_index, double count, useg_tensor *lse, useg_tensor *out);
    useg_status (*cross_entropy_backward)(useg_ctx *ctx, const useg_tensor *x, const useg_tensor *target,
                                          int64_t ignore_index, double count, const useg_tensor *lse,
                                          const useg_tensor *g, useg_tensor *dx);
    // Sigmoid focal loss (BCE with logits: alpha < 0, gamma 0) of x against t.
    useg_status (*focal_forward)(useg_ctx *ctx, const useg_tensor *x, const useg_tensor *t, double alpha,
                                 double gamma, useg_tensor *out);
    useg_status (*focal_backward)(useg_ctx *ctx, const useg_tensor *x, const useg_tensor *t, double alpha,
                                  double gamma, const useg_tensor *g, useg_tensor *dx, useg_tensor *dt);
    // Dice over rows of x, t (N, ...); stats (N, 2) = (2 sum(p t) + 1,
    // sum(p) + sum(t) + 1) per row (f64 on the CPU, f32 on CUDA).
    useg_status (*dice_forward)(useg_ctx *ctx, const useg_tensor *x, const useg_tensor *t, useg_tensor *stats,
                                useg_tensor *out);
    useg_status (*dice_backward)(useg_ctx *ctx, const useg_tensor *x, const useg_tensor *t,
                                 const useg_tensor *stats, const useg_tensor *g, useg_tensor *dx, useg_tensor *dt);
    // ops_index.c, ops_loss.c: the device half of their index validation.
    // Over i64 `index` (any strides) in row-major order: *first_bad = the
    // position of the first entry outside [0, size) and not equal to *ignore
    // (ignore may be NULL), -1 when none, with its value in *bad_value;
    // *counted = the entries in range that are not ignored. Waits for the GPU.
    useg_status (*find_bad_index)(useg_ctx *ctx, const useg_tensor *index, int64_t size, const int64_t *ignore,
                                  int64_t *first_bad, int64_t *bad_value, int64_t *counted);
    // out[c] = x[c with c[axis] replaced by index[c]] (any dtype; out
    // contiguous, x and index any strides; indices validated).
    useg_status (*gather)(useg_ctx *ctx, const useg_tensor *x, int axis, const useg_tensor *index, useg_tensor *out);
    // dx (zeroed, contiguous) += g scattered back through index, each element
    // summing its contributions in ascending order of g's elements.
    useg_status (*scatter_add)(useg_ctx *ctx, useg_tensor *dx, int axis, const useg_tensor *index,
                               const useg_tensor *g);
    // ops_interp.c; contiguous (B, C, H, W). x (src) -> y (dst), or with
    // `backward` dy (src) -> dx (dst); scales[a] > 0 the caller's scale
    // factor along H (a = 0) and W, 0 for "from the sizes".
    useg_status (*interpolate)(useg_ctx *ctx, bool backward, useg_interp_mode mode, const double *scales,
                               const useg_tensor *src, useg_tensor *dst);
    // ops_linalg.c, whose CPU side is OpenBLAS (kernels/gemm.h); device
    // pointers. Row-major C = alpha op(A) op(B) + beta C as useg_gemm_f32;
    // gemm_batched runs `batch` such products, matrix i at A + i stride_a
    // (elements; 0 broadcasts), likewise B and C (C's stride nonzero: the
    // products may run concurrently).
    useg_status (*gemm)(useg_ctx *ctx, useg_dtype dt, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
                        float alpha, const void *A, int64_t lda, const void *B, int64_t ldb, float beta, void *C,
                        int64_t ldc);
    useg_status (*gemm_batched)(useg_ctx *ctx, useg_dtype dt, bool trans_a, bool trans_b, int64_t M, int64_t N,
                                int64_t K, float alpha, const void *A, int64_t lda, int64_t stride_a, const void *B,
                                int64_t ldb, int64_t stride_b, float beta, void *C, int64_t ldc, int64_t stride_c,
                                int64_t batch);
    // y (rows, out) = x (rows, in) w^T (out, in) + bias (out, or NULL); contiguous.
    useg_status (*linear)(useg_ctx *ctx, useg_dtype dt, void *y, const void *x, const void *w, const void *bias,
                          int64_t rows, int64_t in, int64_t out);
    // useg_conv2d on contiguous x (B, C, H, W), w (O, C, KH, KW), bias (O) or
    // NULL -> y (B, O, OH, OW); the backward writes dx, dw, dbias (each may
    // be NULL) from dy.
    useg_status (*conv2d_forward)(useg_ctx *ctx, useg_dtype dt, void *y, const void *x, const void *w,
                                  const void *bias, int64_t B, int64_t C, int64_t H, int64_t W, int64_t O, int KH,
                                  int KW, int stride_h, int stride_w, int pad_h, int pad_w);
    useg_status (*conv2d_backward)(useg_ctx *ctx, useg_dtype dt, void *dx, void *dw, void *dbias, const void *dy,
                                   const void *x, const void *w, int64_t B, int64_t C, int64_t H, int64_t W,
                                   int64_t O, int KH, int KW, int stride_h, int stride_w, int pad_h, int pad_w);
    // ops_attention.c: kernels/attention.h's contract (lse f32 on CUDA); the
    // workspace, of the size asked, lives on the device.
    size_t (*attention_forward_workspace_size)(const useg_tensor *q, const useg_tensor *k);
    useg_status (*attention_forward)(useg_ctx *ctx, const useg_tensor *q, const useg_tensor *k,
                                     const useg_tensor *v, double scale, useg_tensor *out, useg_tensor *lse,
                                     void *workspace);
    size_t (*attention_backward_workspace_size)(const useg_tensor *q, const useg_tensor *k);
    useg_status (*attention_backward)(useg_ctx *ctx, const useg_tensor *q, const useg_tensor *k,
                                      const useg_tensor *v, const useg_tensor *out, const useg_tensor *lse,
                                      const useg_tensor *dout, double scale, useg_tensor *dq, useg_tensor *dk,
                                      useg_tensor *dv, void *workspace);
} useg_cuda_kernels;

extern const useg_cuda_kernels useg_cuda_table;

// Fails with USEG_ERR_UNSUPPORTED "OP: not supported on this device".
useg_status useg_cuda_missing(useg_ctx *ctx, const char *op);

// Call table entry `entry` with the arguments after it, or fail as missing.
#define USEG_CUDA_CALL(ctx, op_name, entry, ...)                                             \
    (useg_cuda_table.entry ? useg_cuda_table.entry((ctx), __VA_ARGS__)                       \
                           : useg_cuda_missing((ctx), (op_name)))
