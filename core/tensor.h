// The tensor: a small plain struct (dtype, device, shape, strides, data).
//
// Strides count elements, not bytes. `data` points at element (0, ..., 0) of
// this tensor, so a view is just another struct over the same storage with
// other shape/strides/data; `base` names the tensor that owns the storage.
// Only the view functions (reshape, permute, slice, expand) and copies accept
// arbitrary strides; compute ops make their inputs contiguous at entry.
//
// Tensor structs and their data live in an arena chosen by lifetime:
// parameters in ctx->params, everything an op returns in ctx->step.
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "status.h"

#define USEG_MAX_DIMS 6

typedef enum useg_dtype {
    USEG_F32,  // compute type
    USEG_F64,  // CPU only: gradient checks and references
    USEG_F16,  // storage (CUDA backend)
    USEG_BF16, // storage (CUDA backend)
    USEG_I32,
    USEG_I64,
    USEG_U8,
    USEG_DTYPE_COUNT
} useg_dtype;

typedef enum useg_device { USEG_DEVICE_CPU, USEG_DEVICE_CUDA } useg_device;

typedef struct useg_tensor useg_tensor;
struct useg_tensor {
    useg_dtype dtype;
    useg_device device;
    int ndim;                        // 0 for a scalar
    int64_t shape[USEG_MAX_DIMS];
    int64_t strides[USEG_MAX_DIMS];  // in elements
    void *data;                      // element (0, ..., 0)
    useg_tensor *base;               // storage owner for a view, NULL if this owns it
    // Autograd (see autograd.h).
    bool requires_grad;
    useg_tensor *grad;               // contiguous, same shape; NULL until needed
};

typedef struct useg_ctx useg_ctx;
typedef struct useg_arena useg_arena;

size_t useg_dtype_size(useg_dtype dt);
const char *useg_dtype_name(useg_dtype dt);
bool useg_dtype_is_float(useg_dtype dt); // F32 or F64: the dtypes ops compute in on the CPU

int64_t useg_numel(const useg_tensor *t);
bool useg_is_contiguous(const useg_tensor *t);
bool useg_same_shape(const useg_tensor *a, const useg_tensor *b);
// "(2, 3, 4) f32" into buf; returns buf.
const char *useg_shape_str(const useg_tensor *t, char *buf, size_t len);

// --- Creation. All return a status; *out is set on success. -----------------
// A contiguous tensor of `shape` in arena `a` (ctx->step when a is NULL).
// The data is not initialised.
useg_status useg_empty(useg_ctx *ctx, useg_arena *a, useg_dtype dt, int ndim, const int64_t *shape,
                       useg_tensor **out);
useg_status useg_zeros(useg_ctx *ctx, useg_arena *a, useg_dtype dt, int ndim, const int64_t *shape,
                       useg_tensor **out);
useg_status useg_full(useg_ctx *ctx, useg_arena *a, useg_dtype dt, int ndim, const int64_t *shape,
                      double value, useg_tensor **out);
// Uniform [lo, hi) or normal(mean, std) from ctx->rng, in element order.
useg_status useg_rand_uniform(useg_ctx *ctx, useg_arena *a, useg_dtype dt, int ndim,
                              const int64_t *shape, double lo, double hi, useg_tensor **out);
useg_status useg_rand_normal(useg_ctx *ctx, useg_arena *a, useg_dtype dt, int ndim,
                             const int64_t *shape, double mean, double std, useg_tensor **out);
// A contiguous tensor over memory the caller owns and keeps alive.
useg_status useg_wrap(useg_ctx *ctx, useg_dtype dt, int ndim, const int64_t *shape, void *data,
                      useg_tensor **out);

// --- Element access (CPU; for tests, I/O and slow paths). -------------------
// Element at a flat index in row-major order of the logical shape.
double useg_get_flat(const useg_tensor *t, int64_t i);
void useg_set_flat(useg_tensor *t, int64_t i, double v);

// --- Views: no copy; recorded on the tape, so gradients flow through. -------
// Reshape copies only when the strides cannot express the new shape. One
// entry of `shape` may be -1 (inferred).
useg_status useg_reshape(useg_ctx *ctx, useg_tensor *x, int ndim, const int64_t *shape, useg_tensor **out);
// out.shape[i] = x.shape[perm[i]].
useg_status useg_permute(useg_ctx *ctx, useg_tensor *x, const int *perm, useg_tensor **out);
useg_status useg_transpose(useg_ctx *ctx, useg_tensor *x, int axis0, int axis1, useg_tensor **out);
// Elements start, start+step, ... < stop along `axis` (negative axis counts from the end; step > 0).
useg_status useg_slice(useg_ctx *ctx, useg_tensor *x, int axis, int64_t start, int64_t stop, int64_t step,
                       useg_tensor **out);
// Broadcast size-1 dims (and new leading dims) to `shape` with stride 0.
useg_status useg_expand(useg_ctx *ctx, useg_tensor *x, int ndim, const int64_t *shape, useg_tensor **out);

// --- Copies. ----------------------------------------------------------------
// x itself when already contiguous, else a contiguous copy (differentiable).
useg_status useg_contiguous(useg_ctx *ctx, useg_tensor *x, useg_tensor **out);
// Copy src into dst elementwise (same shape; any strides and dtypes). Not recorded.
useg_status useg_copy_into(useg_ctx *ctx, useg_tensor *dst, const useg_tensor *src);
// A contiguous copy converted to dtype `dt` (differentiable between float dtypes).
useg_status useg_cast(useg_ctx *ctx, useg_tensor *x, useg_dtype dt, useg_tensor **out);
