#include "strided.h"

void useg_iter_init(useg_iter *it, int ndim, const int64_t *shape, int n_ops, const int64_t *const *strides) {
    it->n_ops = n_ops;
    if (ndim == 0) {
        it->ndim = 1;
        it->shape[0] = 1;
        for (int k = 0; k < n_ops; k++) it->strides[k][0] = 0;
    } else {
        it->ndim = ndim;
        for (int d = 0; d < ndim; d++) {
            it->shape[d] = shape[d];
            for (int k = 0; k < n_ops; k++) it->strides[k][d] = strides[k][d];
        }
    }
    it->inner = it->shape[it->ndim - 1];
    for (int k = 0; k < n_ops; k++) it->inner_stride[k] = it->strides[k][it->ndim - 1];
    it->rows = 1;
    for (int d = 0; d < it->ndim - 1; d++) it->rows *= it->shape[d];
    useg_iter_seek(it, 0);
}

void useg_iter_seek(useg_iter *it, int64_t r) {
    for (int k = 0; k < it->n_ops; k++) it->offset[k] = 0;
    it->idx[it->ndim - 1] = 0;
    for (int d = it->ndim - 2; d >= 0; d--) {
        int64_t i = it->shape[d] ? r % it->shape[d] : 0;
        r = it->shape[d] ? r / it->shape[d] : 0;
        it->idx[d] = i;
        for (int k = 0; k < it->n_ops; k++) it->offset[k] += i * it->strides[k][d];
    }
}

void useg_iter_next(useg_iter *it) {
    for (int d = it->ndim - 2; d >= 0; d--) {
        it->idx[d]++;
        for (int k = 0; k < it->n_ops; k++) it->offset[k] += it->strides[k][d];
        if (it->idx[d] < it->shape[d]) return;
        for (int k = 0; k < it->n_ops; k++) it->offset[k] -= it->idx[d] * it->strides[k][d];
        it->idx[d] = 0;
    }
}
