// Determinism check for backward kernels: the gradient of sum(f(x) * r) must
// be bit-identical whatever the OpenMP thread count.
#pragma once

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "gradcheck.h"
#include "ops.h"

// x: an f32 leaf in ctx->params that requires a gradient; f builds the output
// from in[0] = x. Compares 1 thread against 3 (more than the cores here too).
static void check_thread_invariance(useg_ctx *ctx, const char *name, gradcheck_fn f, useg_tensor *x) {
    size_t bytes = (size_t)useg_numel(x) * useg_dtype_size(x->dtype);
    void *grads[2] = {malloc(bytes), malloc(bytes)};
    const int threads[2] = {1, 3};
    int prev = omp_get_max_threads();
    useg_tensor *y, *r = NULL, *p, *loss;
    for (int k = 0; k < 2 && grads[0] && grads[1]; k++) {
        omp_set_num_threads(threads[k]);
        CHECK_OK(ctx, useg_zero_grad(ctx, &x, 1));
        CHECK_OK(ctx, f(ctx, &x, &y));
        if (!r) CHECK_OK(ctx, useg_rand_normal(ctx, &ctx->params, y->dtype, y->ndim, y->shape, 0.0, 1.0, &r));
        CHECK_OK(ctx, useg_mul(ctx, y, r, &p));
        CHECK_OK(ctx, useg_sum(ctx, p, 0, false, &loss));
        CHECK_OK(ctx, useg_backward(ctx, loss));
        memcpy(grads[k], x->grad->data, bytes);
        useg_step_end(ctx);
    }
    omp_set_num_threads(prev);
    CHECK(grads[0] && grads[1] && memcmp(grads[0], grads[1], bytes) == 0, "%s: gradient depends on the thread count",
          name);
    free(grads[0]);
    free(grads[1]);
}
