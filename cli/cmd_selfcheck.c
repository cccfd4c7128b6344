// `useg selfcheck`: the main job until a pipeline lands. It fits a small
// model with the autograd core on synthetic data from the seeded RNG, checks
// one gradient against central finite differences in f64, and prints what it
// measured. Deterministic: the same seed prints the same numbers.
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "context.h"
#include "ops.h"
#include "progress.h"

static void help(FILE *f) {
    fprintf(f,
            "usage: useg selfcheck [--seed N] [--steps N]\n"
            "\n"
            "Fits y = tanh(w * x + b) to noisy synthetic data with gradient descent on the\n"
            "autograd core, then compares the analytic gradient of the loss with central\n"
            "finite differences in double precision. Prints the loss before and after and\n"
            "the gradient error; exits 1 if the loss did not fall or the gradients disagree.\n"
            "\n"
            "  --seed N    RNG seed (default 0)\n"
            "  --steps N   gradient steps (default 200)\n"
            "  -h, --help  this text\n");
}

// loss = mean((tanh(w * x + b) - y)^2) over the batch.
static useg_status loss_of(useg_ctx *ctx, useg_tensor *w, useg_tensor *b, useg_tensor *x, useg_tensor *y,
                           useg_tensor **loss) {
    useg_tensor *t, *u;
    USEG_TRY(useg_mul(ctx, x, w, &t));
    USEG_TRY(useg_add(ctx, t, b, &u));
    USEG_TRY(useg_tanh(ctx, u, &t));
    USEG_TRY(useg_sub(ctx, t, y, &u));
    USEG_TRY(useg_mul(ctx, u, u, &t));
    return useg_mean(ctx, t, 0, false, loss);
}

static useg_status run(useg_ctx *ctx, int steps, double *loss0, double *loss1, double *grad_err) {
    enum { N = 256, F = 8 };
    const int64_t xs[2] = {N, F}, ws[1] = {F}, bs[1] = {1};
    useg_tensor *x, *y, *w_true, *w, *b, *t;
    USEG_TRY(useg_rand_normal(ctx, &ctx->params, USEG_F64, 2, xs, 0.0, 1.0, &x));
    USEG_TRY(useg_rand_normal(ctx, &ctx->params, USEG_F64, 1, ws, 0.0, 0.5, &w_true));
    USEG_TRY(useg_rand_normal(ctx, &ctx->params, USEG_F64, 2, xs, 0.0, 0.05, &y));
    USEG_TRY(useg_mul(ctx, x, w_true, &t));
    USEG_TRY(useg_tanh(ctx, t, &t));
    USEG_TRY(useg_add_into(ctx, y, t) );
    useg_step_end(ctx);
    USEG_TRY(useg_zeros(ctx, &ctx->params, USEG_F64, 1, ws, &w));
    USEG_TRY(useg_zeros(ctx, &ctx->params, USEG_F64, 1, bs, &b));
    USEG_TRY(useg_requires_grad(ctx, w));
    USEG_TRY(useg_requires_grad(ctx, b));
    useg_tensor *params[2] = {w, b};
    useg_progress bar;
    useg_progress_start(&bar, "selfcheck", steps);
    for (int s = 0; s <= steps; s++) {
        useg_tensor *loss;
        USEG_TRY(useg_zero_grad(ctx, params, 2));
        USEG_TRY(loss_of(ctx, w, b, x, y, &loss));
        double l = useg_get_flat(loss, 0);
        if (s == 0) *loss0 = l;
        *loss1 = l;
        if (s == 0) {
            // Gradient check at the start, where the gradient is far from zero.
            USEG_TRY(useg_backward(ctx, loss));
            bool prev = useg_no_grad_begin(ctx);
            double h = 1e-6, worst = 0;
            for (int k = 0; k < 2; k++)
                for (int64_t i = 0; i < useg_numel(params[k]); i++) {
                    double v = useg_get_flat(params[k], i), lp, lm;
                    useg_tensor *lt;
                    useg_set_flat(params[k], i, v + h);
                    USEG_TRY(loss_of(ctx, w, b, x, y, &lt));
                    lp = useg_get_flat(lt, 0);
                    useg_set_flat(params[k], i, v - h);
                    USEG_TRY(loss_of(ctx, w, b, x, y, &lt));
                    lm = useg_get_flat(lt, 0);
                    useg_set_flat(params[k], i, v);
                    double num = (lp - lm) / (2 * h), ana = useg_get_flat(params[k]->grad, i);
                    double err = fabs(num - ana) / fmax(1e-8, fabs(num) + fabs(ana));
                    if (err > worst) worst = err;
                }
            useg_no_grad_end(ctx, prev);
            *grad_err = worst;
        } else {
            USEG_TRY(useg_backward(ctx, loss));
        }
        if (s == steps) break;
        for (int k = 0; k < 2; k++) {
            double *p = params[k]->data, *g = params[k]->grad->data;
            for (int64_t i = 0; i < useg_numel(params[k]); i++) p[i] -= 0.5 * g[i];
        }
        useg_step_end(ctx);
        useg_progress_advance(&bar, 1);
    }
    useg_progress_finish(&bar);
    return USEG_OK;
}

int useg_cmd_selfcheck(int argc, char **argv) {
    static const struct option opts[] = {
        {"seed", required_argument, NULL, 's'},
        {"steps", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    unsigned long long seed = 0;
    long steps = 200;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 's':
            seed = strtoull(optarg, &end, 10);
            if (*end || !*optarg) goto bad_value;
            break;
        case 'n':
            steps = strtol(optarg, &end, 10);
            if (*end || steps < 1 || steps > 1000000) goto bad_value;
            break;
        case 'h': help(stdout); return USEG_EXIT_OK;
        default: help(stderr); return USEG_EXIT_USAGE;
        }
        continue;
    bad_value:
        fprintf(stderr, "useg selfcheck: bad value '%s' for --%s\n", optarg, c == 's' ? "seed" : "steps");
        return USEG_EXIT_USAGE;
    }
    if (optind < argc) {
        fprintf(stderr, "useg selfcheck: unexpected argument '%s'\n", argv[optind]);
        return USEG_EXIT_USAGE;
    }
    useg_ctx ctx;
    useg_ctx_init(&ctx, &(useg_ctx_options){.seed = seed});
    double loss0 = 0, loss1 = 0, grad_err = 0;
    useg_status st = run(&ctx, (int)steps, &loss0, &loss1, &grad_err);
    if (st != USEG_OK) {
        fprintf(stderr, "useg selfcheck: %s\n", ctx.message);
        useg_ctx_free(&ctx);
        return USEG_EXIT_RUNTIME;
    }
    useg_ctx_free(&ctx);
    bool ok = loss1 < 0.5 * loss0 && grad_err < 1e-6;
    printf("loss: %.6g -> %.6g after %ld steps\n", loss0, loss1, steps);
    printf("gradient vs finite differences: max relative error %.3g\n", grad_err);
    printf("selfcheck %s\n", ok ? "passed" : "FAILED");
    return ok ? USEG_EXIT_OK : USEG_EXIT_RUNTIME;
}
