// Row-wise walk over a shape for up to three operands with their own strides
// (stride 0 on broadcast axes). A "row" is the last axis; kernels loop over
// it themselves with the operands' inner strides, so the common contiguous
// case runs a plain inner loop. `useg_iter_seek` lets each thread start at its
// own row.
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "tensor.h"

enum { USEG_ITER_MAX_OPS = 3 };

typedef struct useg_iter {
    int ndim;                 // >= 1 (a scalar walks as shape (1))
    int n_ops;
    int64_t shape[USEG_MAX_DIMS];
    int64_t strides[USEG_ITER_MAX_OPS][USEG_MAX_DIMS];
    int64_t idx[USEG_MAX_DIMS];
    int64_t offset[USEG_ITER_MAX_OPS];  // element offset of the current row's start
    int64_t inner;                      // length of a row
    int64_t inner_stride[USEG_ITER_MAX_OPS];
    int64_t rows;                       // number of rows
} useg_iter;

void useg_iter_init(useg_iter *it, int ndim, const int64_t *shape, int n_ops, const int64_t *const *strides);
// Position on row r (0 <= r < rows).
void useg_iter_seek(useg_iter *it, int64_t r);
// Advance to the next row.
void useg_iter_next(useg_iter *it);
