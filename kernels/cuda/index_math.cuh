// The host-side index math of index.cu's gather and scatter-add, apart so
// that a host test (tests/cuda/test_cuda_host.cu) can replay the kernels'
// addressing against plain coordinates without a GPU.
#pragma once

#include <string.h>

#include "cuda_common.cuh"

// Gather's operands over out's shape: out, index, and x with its axis stride
// zeroed (the kernel adds index * x's axis stride itself).
static inline void gather_operands(const useg_tensor *out, const useg_tensor *index, const useg_tensor *x, int axis,
                                   strided3 *s) {
    int64_t xs[USEG_MAX_DIMS];
    memcpy(xs, x->strides, sizeof xs);
    xs[axis] = 0;
    const int64_t *strides[3] = {out->strides, index->strides, xs};
    strided3_init(s, out->ndim, out->shape, 3, strides);
}

// The scatter-add's columns: g's shape without the axis, with the strides of
// g, index and dx there (the axis is walked inside a column).
static inline void scatter_columns(const useg_tensor *g, const useg_tensor *index, const useg_tensor *dx, int axis,
                                   strided3 *cols) {
    int64_t shape[USEG_MAX_DIMS], gs[USEG_MAX_DIMS], is[USEG_MAX_DIMS], ds[USEG_MAX_DIMS];
    int nd = 0;
    for (int d = 0; d < g->ndim; d++)
        if (d != axis) shape[nd] = g->shape[d], gs[nd] = g->strides[d], is[nd] = index->strides[d], ds[nd++] = dx->strides[d];
    const int64_t *strides[3] = {gs, is, ds};
    strided3_init(cols, nd, shape, 3, strides);
}

// Whether index is index_select's: one contiguous row of n entries along
// `axis`, repeated (stride 0) over the other axes, which g shares with dx.
static inline bool is_select_index(const useg_tensor *index, int axis, const useg_tensor *dx) {
    if (index->strides[axis] != 1 && index->shape[axis] != 1) return false;
    for (int d = 0; d < index->ndim; d++)
        if (d != axis && ((index->shape[d] != 1 && index->strides[d] != 0) || index->shape[d] != dx->shape[d]))
            return false;
    return true;
}
