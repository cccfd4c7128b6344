// vec_math.h against libm in double: useg_exp_f32 on [-87, 0] and below,
// and the f32 GELU built on useg_normal_cdf_f32, through useg_gelu's forward
// and backward (so the vectorised clone this CPU picks is the one checked),
// on a dense grid of [-12, 12] and its specials. The references are
// 0.5 x erfc(-x / sqrt 2) (no cancellation in the left tail) and its
// derivative Phi(x) + x phi(x). Prints the worst errors measured.
#include <math.h>
#include <stdio.h>

#include "../check.h"
#include "ops.h"
#include "vec_math.h"

enum { GRID = 1 << 20 };

static double normal_cdf(double x) { return 0.5 * erfc(-x * M_SQRT1_2); }

static void check_exp(void) {
    double worst = 0;
    for (int i = 0; i <= GRID; i++) {
        float x = (float)(-87.0 * i / GRID);
        double err = fabs(useg_exp_f32(x) - exp(x)) / exp(x);
        if (!(err <= worst)) worst = err;
    }
    printf("exp_f32 on [-87, 0]: worst relative error %.3g\n", worst);
    CHECK(worst <= 2.5e-7, "exp_f32: relative error %.3g", worst); // 2 ulp
    CHECK(useg_exp_f32(0.0f) == 1.0f && useg_exp_f32(-0.0f) == 1.0f, "exp_f32(0) = %g", useg_exp_f32(0.0f));
    const float below[] = {-87.5f, -200.0f, -INFINITY};
    for (int i = 0; i < 3; i++)
        CHECK(fabs(useg_exp_f32(below[i]) - exp(-87.0)) <= 1e-6 * exp(-87.0), "exp_f32(%g) = %g, want exp(-87)",
              below[i], useg_exp_f32(below[i]));
    CHECK(isnan(useg_exp_f32(NAN)), "exp_f32(NaN) = %g", useg_exp_f32(NAN));
}

static void check_gelu(useg_ctx *ctx) {
    const int64_t n = GRID + 4;
    useg_tensor *x, *y, *loss;
    CHECK_OK(ctx, useg_empty(ctx, &ctx->params, USEG_F32, 1, &n, &x));
    float *X = x->data;
    for (int64_t i = 0; i < GRID; i++) X[i] = (float)(-12.0 + 24.0 * (double)i / GRID);
    X[GRID] = 0.0f, X[GRID + 1] = -40.0f, X[GRID + 2] = 40.0f, X[GRID + 3] = NAN;
    CHECK_OK(ctx, useg_requires_grad(ctx, x));
    CHECK_OK(ctx, useg_gelu(ctx, x, &y));
    useg_tensor *head;
    CHECK_OK(ctx, useg_slice(ctx, y, 0, 0, GRID + 3, 1, &head)); // the NaN checked apart
    CHECK_OK(ctx, useg_sum(ctx, head, 0, false, &loss));
    CHECK_OK(ctx, useg_backward(ctx, loss));
    const float *Y = y->data, *D = x->grad->data;
    // Errors relative to |GELU|, and for the derivative to the size of its two
    // terms (it crosses zero near x = -0.75), over the bound 5e-7 (1 + x^2 / 4):
    // f32 rounding of z^2 in exp(-z^2 + P) grows with x^2 in the left tail.
    double worst_y = 0, worst_d = 0, worst_y_mid = 0;
    for (int64_t i = 0; i < GRID + 3; i++) {
        const double v = X[i], cdf = normal_cdf(v), pdf = exp(-0.5 * v * v) / sqrt(2 * M_PI);
        const double bound = 5e-7 * (1 + v * v / 4);
        double ey = fabs(Y[i] - v * cdf) / (fabs(v * cdf) + 1e-30);
        double ed = fabs(D[i] - (cdf + v * pdf)) / (cdf + fabs(v * pdf) + 1e-30);
        if (!(ey / bound <= worst_y)) worst_y = ey / bound;
        if (!(ed / bound <= worst_d)) worst_d = ed / bound;
        if (fabs(v) <= 3 && !(ey <= worst_y_mid)) worst_y_mid = ey;
    }
    printf("gelu f32 on [-12, 12]: worst relative error %.3g on [-3, 3]; over 5e-7 (1 + x^2 / 4): %.3g, "
           "derivative %.3g\n", worst_y_mid, worst_y, worst_d);
    // Beyond x = -12 the tail falls below f32's normal range; the grid stops there.
    CHECK(worst_y <= 1, "gelu: relative error %.3g of the bound", worst_y);
    CHECK(worst_d <= 1, "gelu derivative: relative error %.3g of the bound", worst_d);
    CHECK(isnan(Y[GRID + 3]), "gelu(NaN) = %g", Y[GRID + 3]);
}

int main(void) {
    useg_ctx ctx;
    useg_ctx_init(&ctx, NULL);
    check_exp();
    check_gelu(&ctx);
    useg_ctx_free(&ctx);
    return check_report("vec_math");
}
