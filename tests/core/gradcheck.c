#include "gradcheck.h"

#include <math.h>
#include <stdio.h>

#include "../check.h"
#include "ops.h"

static useg_status eval_loss(useg_ctx *ctx, gradcheck_fn f, useg_tensor **in, useg_tensor *r, useg_tensor **loss,
                             useg_tensor **out) {
    useg_tensor *y, *p;
    USEG_TRY(f(ctx, in, &y));
    if (out) *out = y;
    if (!r) return USEG_OK;
    USEG_TRY(useg_mul(ctx, y, r, &p));
    return useg_sum(ctx, p, 0, false, loss);
}

bool gradcheck(useg_ctx *ctx, const char *name, gradcheck_fn f, useg_tensor **in, int n_in) {
    const double h = 1e-6, tol = 1e-6;
    useg_tensor *y, *r, *loss;
    // Output shape first (no grad), then a fixed random weighting R of it.
    bool prev = useg_no_grad_begin(ctx);
    useg_status st = eval_loss(ctx, f, in, NULL, NULL, &y);
    useg_no_grad_end(ctx, prev);
    if (st == USEG_OK) st = useg_rand_normal(ctx, &ctx->params, USEG_F64, y->ndim, y->shape, 0.0, 1.0, &r);
    for (int k = 0; k < n_in && st == USEG_OK; k++)
        if (in[k]->requires_grad && in[k]->grad) st = useg_zero_grad(ctx, &in[k], 1);
    if (st == USEG_OK) st = eval_loss(ctx, f, in, r, &loss, NULL);
    if (st == USEG_OK) st = useg_backward(ctx, loss);
    if (st != USEG_OK) {
        fprintf(stderr, "gradcheck %s: %s\n", name, ctx->message);
        useg_clear_error(ctx);
        return false;
    }
    double worst = 0;
    prev = useg_no_grad_begin(ctx);
    for (int k = 0; k < n_in; k++) {
        if (!in[k]->requires_grad) continue;
        for (int64_t i = 0; i < useg_numel(in[k]); i++) {
            double v = useg_get_flat(in[k], i), lp = 0, lm = 0;
            useg_set_flat(in[k], i, v + h);
            st = eval_loss(ctx, f, in, r, &loss, NULL);
            if (st == USEG_OK) lp = useg_get_flat(loss, 0);
            useg_set_flat(in[k], i, v - h);
            if (st == USEG_OK) st = eval_loss(ctx, f, in, r, &loss, NULL);
            if (st == USEG_OK) lm = useg_get_flat(loss, 0);
            useg_set_flat(in[k], i, v);
            if (st != USEG_OK) break;
            double num = (lp - lm) / (2 * h), ana = useg_get_flat(in[k]->grad, i);
            double err = fabs(num - ana) / (1 + fabs(num));
            if (err > worst) worst = err;
            if (err > tol)
                fprintf(stderr, "gradcheck %s: input %d element %lld: analytic %.10g numeric %.10g\n", name, k,
                        (long long)i, ana, num);
        }
    }
    useg_no_grad_end(ctx, prev);
    useg_step_end(ctx);
    if (st != USEG_OK) {
        fprintf(stderr, "gradcheck %s: %s\n", name, ctx->message);
        useg_clear_error(ctx);
        return false;
    }
    printf("gradcheck %-28s max error %.2e\n", name, worst);
    return worst <= tol;
}

int gradcheck_run(const grad_case *cases, int n, const char *label) {
    useg_ctx ctx;
    useg_ctx_init(&ctx, &(useg_ctx_options){.seed = 1});
    for (int c = 0; c < n; c++) {
        const grad_case *gc = &cases[c];
        useg_tensor *in[GRAD_MAX_INPUTS];
        for (int k = 0; k < gc->n_in; k++) {
            CHECK_OK(&ctx, useg_rand_normal(&ctx, &ctx.params, USEG_F64, gc->ndim[k], gc->shape[k], 0.0, 1.0, &in[k]));
            for (int64_t i = 0; i < useg_numel(in[k]); i++) {
                double v = useg_get_flat(in[k], i);
                if (gc->domain == GRAD_POSITIVE) v = 0.2 + v * v;
                if (gc->domain == GRAD_AWAY_FROM_ZERO) v = v < 0 ? v - 0.2 : v + 0.2;
                useg_set_flat(in[k], i, v);
            }
            CHECK_OK(&ctx, useg_requires_grad(&ctx, in[k]));
        }
        CHECK(gradcheck(&ctx, gc->name, gc->fn, in, gc->n_in), "%s", gc->name);
    }
    useg_ctx_free(&ctx);
    return check_report(label);
}
