// Softmax, layer norm, interpolation, gather / index_select and the losses:
// each raw CUDA launcher against a plain C reference in double (PyTorch's
// formulas), over a sweep of shapes, in f32, f16 and bf16, outputs guarded.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cuda_check.h"
#include "rng.h"

static const useg_dtype DTYPES[] = {USEG_F32, USEG_F16, USEG_BF16};
enum { N_DTYPES = sizeof DTYPES / sizeof DTYPES[0] };

// Random stored values of dt on the device; *values gets them as doubles.
static void *random_on_device(useg_ctx *ctx, useg_dtype dt, int64_t n, double lo, double hi, double **values) {
    *values = host_doubles(ctx, n ? n : 1);
    void *h = host_random(ctx, dt, n, lo, hi, *values);
    return to_device(ctx, h, (size_t)(n ? n : 1) * useg_dtype_size(dt));
}

static void *upload_doubles(useg_ctx *ctx, useg_dtype dt, int64_t n, const double *v) {
    int64_t shape[1] = {n ? n : 1};
    return device_values(ctx, dt, 1, shape, v)->data;
}

// A guarded output of n values of dt, tracked in a small table so one call checks them all.
typedef struct {
    guarded g[4];
    int n;
} guards;

static void *out_alloc(useg_ctx *ctx, guards *gs, useg_dtype dt, int64_t n) {
    USEG_ASSERT(gs->n < 4, "too many guarded outputs");
    return guarded_alloc(ctx, (size_t)(n ? n : 1) * useg_dtype_size(dt), &gs->g[gs->n++]);
}

static void guards_check(useg_ctx *ctx, const guards *gs, const char *what) {
    for (int i = 0; i < gs->n; i++) guarded_check(ctx, &gs->g[i], what);
}

// --- Softmax --------------------------------------------------------------------------------

static void test_softmax(useg_ctx *ctx) {
    const int64_t cases[][3] = {{1, 1, 1},   {1, 7, 1},    {33, 97, 1}, {5, 1000, 1}, {3, 4097, 1},
                                {2, 10007, 1}, {4, 19, 31}, {2, 3, 1025}, {1, 129, 2}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int k = 0; k < N_DTYPES; k++)
            for (int is_log = 0; is_log < 2; is_log++) {
                useg_dtype dt = DTYPES[k];
                int64_t outer = cases[c][0], size = cases[c][1], inner = cases[c][2], n = outer * size * inner;
                if (!cuda_case_fits(n)) continue;
                double *vx, *vdy;
                void *x = random_on_device(ctx, dt, n, -6, 6, &vx);
                void *dy = random_on_device(ctx, dt, n, -1, 1, &vdy);
                double *ref = host_doubles(ctx, n), *yst = host_doubles(ctx, n), *dref = host_doubles(ctx, n);
                for (int64_t o = 0; o < outer; o++)
                    for (int64_t i = 0; i < inner; i++) {
                        int64_t base = o * size * inner + i;
                        double m = -INFINITY, s = 0, sum = 0;
                        for (int64_t j = 0; j < size; j++) m = fmax(m, vx[base + j * inner]);
                        for (int64_t j = 0; j < size; j++) s += exp(vx[base + j * inner] - m);
                        for (int64_t j = 0; j < size; j++) {
                            int64_t e = base + j * inner;
                            ref[e] = is_log ? vx[e] - m - log(s) : exp(vx[e] - m) / s;
                            yst[e] = round_to(dt, ref[e]); // the y the backward is given
                        }
                        for (int64_t j = 0; j < size; j++) {
                            int64_t e = base + j * inner;
                            sum += is_log ? vdy[e] : vdy[e] * yst[e];
                        }
                        for (int64_t j = 0; j < size; j++) {
                            int64_t e = base + j * inner;
                            dref[e] = is_log ? vdy[e] - exp(yst[e]) * sum : yst[e] * (vdy[e] - sum);
                        }
                    }
                guards gs = {0};
                void *y = out_alloc(ctx, &gs, dt, n), *dx = out_alloc(ctx, &gs, dt, n);
                CHECK_LAUNCH(ctx, useg_softmax_forward_cuda(ctx, dt, y, x, outer, size, inner, is_log));
                CHECK_LAUNCH(ctx, useg_softmax_backward_cuda(ctx, dt, dx, dy, upload_doubles(ctx, dt, n, yst), outer,
                                                             size, inner, is_log));
                char what[96];
                snprintf(what, sizeof what, "%s (%lld, %lld, %lld) %s", is_log ? "log_softmax" : "softmax", (long long)outer,
                         (long long)size, (long long)inner, useg_dtype_name(dt));
                check_close(ctx, what, dt, y, ref, n, cuda_tol(dt));
                snprintf(what, sizeof what, "%s backward (%lld, %lld, %lld) %s", is_log ? "log_softmax" : "softmax",
                         (long long)outer, (long long)size, (long long)inner, useg_dtype_name(dt));
                check_close(ctx, what, dt, dx, dref, n, cuda_tol(dt));
                guards_check(ctx, &gs, what);
                useg_step_end(ctx);
            }
}

// --- Layer norm -------------------------------------------------------------------------------

static void test_layer_norm(useg_ctx *ctx) {
    const int64_t cases[][2] = {{1, 1}, {1, 7}, {3, 31}, {197, 384}, {65, 768}, {1000, 33}, {7, 4099}, {513, 257}};
    const float eps = 1e-6f;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int k = 0; k < N_DTYPES; k++)
            for (int affine = 0; affine < 2; affine++) {
                useg_dtype dt = DTYPES[k];
                int64_t rows = cases[c][0], C = cases[c][1], n = rows * C;
                if (!cuda_case_fits(n)) continue;
                double *vx, *vdy, *vw = NULL, *vb = NULL;
                void *x = random_on_device(ctx, dt, n, -3, 5, &vx), *dy = random_on_device(ctx, dt, n, -1, 1, &vdy);
                void *w = affine ? random_on_device(ctx, dt, C, 0.5, 1.5, &vw) : NULL;
                void *b = affine ? random_on_device(ctx, dt, C, -1, 1, &vb) : NULL;
                double *ref = host_doubles(ctx, n), *dref = host_doubles(ctx, n), *mref = host_doubles(ctx, rows),
                       *rref = host_doubles(ctx, rows), *dwref = host_doubles(ctx, C), *dbref = host_doubles(ctx, C);
                for (int64_t j = 0; j < C; j++) dwref[j] = dbref[j] = 0;
                for (int64_t r = 0; r < rows; r++) {
                    const double *xr = vx + r * C, *gr = vdy + r * C;
                    double mean = 0, var = 0, mg = 0, mgx = 0;
                    for (int64_t j = 0; j < C; j++) mean += xr[j];
                    mean /= (double)C;
                    for (int64_t j = 0; j < C; j++) var += (xr[j] - mean) * (xr[j] - mean);
                    var /= (double)C;
                    double rstd = 1 / sqrt(var + eps);
                    mref[r] = mean, rref[r] = rstd;
                    for (int64_t j = 0; j < C; j++) {
                        double xh = (xr[j] - mean) * rstd, g = gr[j] * (vw ? vw[j] : 1);
                        ref[r * C + j] = xh * (vw ? vw[j] : 1) + (vb ? vb[j] : 0);
                        mg += g, mgx += g * xh;
                        dwref[j] += gr[j] * xh;
                        dbref[j] += gr[j];
                    }
                    mg /= (double)C, mgx /= (double)C;
                    for (int64_t j = 0; j < C; j++) {
                        double xh = (xr[j] - mean) * rstd, g = gr[j] * (vw ? vw[j] : 1);
                        dref[r * C + j] = rstd * (g - mg - xh * mgx);
                    }
                }
                guards gs = {0};
                void *y = out_alloc(ctx, &gs, dt, n), *dx = out_alloc(ctx, &gs, dt, n);
                float *mean = out_alloc(ctx, &gs, USEG_F32, rows), *rstd = out_alloc(ctx, &gs, USEG_F32, rows);
                guarded gw, gb;
                void *dw = affine ? guarded_alloc(ctx, (size_t)C * useg_dtype_size(dt), &gw) : NULL;
                void *db = affine ? guarded_alloc(ctx, (size_t)C * useg_dtype_size(dt), &gb) : NULL;
                CHECK_LAUNCH(ctx, useg_layer_norm_forward_cuda(ctx, dt, y, mean, rstd, x, w, b, rows, C, eps));
                CHECK_LAUNCH(ctx, useg_layer_norm_backward_cuda(ctx, dt, dx, dw, db, dy, x, w, mean, rstd, rows, C));
                char what[96];
                snprintf(what, sizeof what, "layer_norm (%lld, %lld)%s %s", (long long)rows, (long long)C,
                         affine ? " affine" : "", useg_dtype_name(dt));
                check_close(ctx, what, dt, y, ref, n, cuda_tol(dt));
                check_close(ctx, "layer_norm mean", USEG_F32, mean, mref, rows, 1e-5);
                check_close(ctx, "layer_norm rstd", USEG_F32, rstd, rref, rows, 1e-5);
                // The backward reads the stored x; its f32 statistics differ from the
                // double ones by rounding only, so the dtype's tolerance holds.
                check_close(ctx, "layer_norm dx", dt, dx, dref, n, 2 * cuda_tol(dt));
                if (affine) {
                    check_close(ctx, "layer_norm dweight", dt, dw, dwref, C, 2 * cuda_tol(dt));
                    check_close(ctx, "layer_norm dbias", dt, db, dbref, C, 2 * cuda_tol(dt));
                    guarded_check(ctx, &gw, what);
                    guarded_check(ctx, &gb, what);
                }
                guards_check(ctx, &gs, what);
                useg_step_end(ctx);
            }
}

// --- Interpolation ------------------------------------------------------------------------------
// PyTorch's formulas in f32 source coordinates, summed in double.

static double cubic1(double x) { return ((-0.75 + 2) * x - (-0.75 + 3)) * x * x + 1; }
static double cubic2(double x) { return ((-0.75 * x - 5 * -0.75) * x + 8 * -0.75) * x - 4 * -0.75; }

// Taps of output o: *first (unclamped) and weights w[0..n).
static int ref_taps(int64_t o, int64_t in, int64_t out, bool cubic, int64_t *first, double *w) {
    float scale = (float)in / (float)out;
    float src = scale * ((float)o + 0.5f) - 0.5f;
    if (!cubic) {
        if (src < 0) src = 0;
        int64_t f = (int64_t)src;
        double l = (double)(src - (float)f);
        *first = f, w[0] = 1 - l, w[1] = l;
        return 2;
    }
    float f = floorf(src);
    double t = (double)(src - f);
    *first = (int64_t)f - 1;
    w[0] = cubic2(t + 1), w[1] = cubic1(t), w[2] = cubic1(1 - t), w[3] = cubic2(2 - t);
    return 4;
}

static int64_t clampi(int64_t i, int64_t n) { return i < 0 ? 0 : i >= n ? n - 1 : i; }

static void test_interpolate(useg_ctx *ctx) {
    const int64_t cases[][5] = {{1, 1, 1, 1, 1},     {2, 1, 1, 5, 3},    {3, 7, 5, 7, 5},      {2, 7, 5, 28, 20},
                                {1, 13, 17, 5, 6},   {4, 14, 14, 224, 224}, {2, 31, 29, 97, 101}, {1, 64, 64, 16, 16},
                                {1, 37, 3, 1, 2}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int k = 0; k < N_DTYPES; k++)
            for (int mode = 0; mode < 2; mode++) {
                useg_dtype dt = DTYPES[k];
                bool cubic = mode == USEG_INTERP_BICUBIC;
                int64_t BC = cases[c][0], H = cases[c][1], W = cases[c][2], OH = cases[c][3], OW = cases[c][4];
                int64_t nin = BC * H * W, nout = BC * OH * OW;
                if (!cuda_case_fits(nin + nout)) continue;
                double *vx, *vdy;
                void *x = random_on_device(ctx, dt, nin, -1, 1, &vx), *dy = random_on_device(ctx, dt, nout, -1, 1, &vdy);
                double *ref = host_doubles(ctx, nout), *dref = host_doubles(ctx, nin);
                for (int64_t i = 0; i < nin; i++) dref[i] = 0;
                bool same = H == OH && W == OW;
                for (int64_t bc = 0; bc < BC; bc++)
                    for (int64_t oy = 0; oy < OH; oy++)
                        for (int64_t ox = 0; ox < OW; ox++) {
                            int64_t e = (bc * OH + oy) * OW + ox;
                            if (same) {
                                ref[e] = vx[e], dref[e] = vdy[e];
                                continue;
                            }
                            int64_t fy, fx;
                            double wy[4], wx[4];
                            int ny = ref_taps(oy, H, OH, cubic, &fy, wy), nx = ref_taps(ox, W, OW, cubic, &fx, wx);
                            double acc = 0;
                            for (int a = 0; a < ny; a++)
                                for (int b = 0; b < nx; b++) {
                                    int64_t at = (bc * H + clampi(fy + a, H)) * W + clampi(fx + b, W);
                                    acc += wy[a] * wx[b] * vx[at];
                                    dref[at] += wy[a] * wx[b] * vdy[e];
                                }
                            ref[e] = acc;
                        }
                guards gs = {0};
                void *y = out_alloc(ctx, &gs, dt, nout), *dx = out_alloc(ctx, &gs, dt, nin);
                CHECK_LAUNCH(ctx, useg_interpolate_forward_cuda(ctx, dt, y, x, BC, H, W, OH, OW, (useg_interp_mode)mode));
                CHECK_LAUNCH(ctx, useg_interpolate_backward_cuda(ctx, dt, dx, dy, BC, H, W, OH, OW, (useg_interp_mode)mode));
                char what[96];
                snprintf(what, sizeof what, "%s %lldx%lld -> %lldx%lld %s", cubic ? "bicubic" : "bilinear", (long long)H,
                         (long long)W, (long long)OH, (long long)OW, useg_dtype_name(dt));
                check_close(ctx, what, dt, y, ref, nout, cuda_tol(dt));
                check_close(ctx, "interpolate backward", dt, dx, dref, nin, 2 * cuda_tol(dt));
                guards_check(ctx, &gs, what);
                useg_step_end(ctx);
            }
}

// --- Gather and index_select ------------------------------------------------------------------------

static void test_index(useg_ctx *ctx) {
    const int64_t cases[][4] = {{1, 1, 1, 1}, {3, 7, 5, 4}, {2, 97, 1, 300}, {5, 13, 33, 13}, {1, 1000, 64, 2000}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int k = 0; k < N_DTYPES; k++)
            for (int gather = 0; gather < 2; gather++) {
                useg_dtype dt = DTYPES[k];
                int64_t outer = cases[c][0], size = cases[c][1], inner = cases[c][2], n = cases[c][3];
                int64_t nx = outer * size * inner, ny = outer * n * inner, nidx = gather ? ny : n;
                if (!cuda_case_fits(nx + ny)) continue;
                double *vx, *vdy, *vi = host_doubles(ctx, nidx);
                void *x = random_on_device(ctx, dt, nx, -1, 1, &vx), *dy = random_on_device(ctx, dt, ny, -1, 1, &vdy);
                for (int64_t j = 0; j < nidx; j++) vi[j] = (double)useg_rng_below(&ctx->rng, (uint32_t)size); // repeats
                const int64_t *index = upload_doubles(ctx, USEG_I64, nidx, vi);
                double *ref = host_doubles(ctx, ny), *dref = host_doubles(ctx, nx);
                for (int64_t e = 0; e < nx; e++) dref[e] = 0;
                for (int64_t o = 0; o < outer; o++)
                    for (int64_t j = 0; j < n; j++)
                        for (int64_t i = 0; i < inner; i++) {
                            int64_t e = (o * n + j) * inner + i, s = (int64_t)vi[gather ? e : j];
                            ref[e] = vx[(o * size + s) * inner + i];
                            dref[(o * size + s) * inner + i] += vdy[e];
                        }
                guards gs = {0};
                void *y = out_alloc(ctx, &gs, dt, ny), *dx = out_alloc(ctx, &gs, dt, nx);
                int32_t *bad = out_alloc(ctx, &gs, USEG_I32, 1);
                if (gather) {
                    CHECK_LAUNCH(ctx, useg_gather_forward_cuda(ctx, dt, y, x, index, outer, size, inner, n, bad));
                    CHECK_LAUNCH(ctx, useg_gather_backward_cuda(ctx, dt, dx, dy, index, outer, size, inner, n));
                } else {
                    CHECK_LAUNCH(ctx, useg_index_select_forward_cuda(ctx, dt, y, x, index, outer, size, inner, n, bad));
                    CHECK_LAUNCH(ctx, useg_index_select_backward_cuda(ctx, dt, dx, dy, index, outer, size, inner, n));
                }
                char what[96];
                snprintf(what, sizeof what, "%s case %zu %s", gather ? "gather" : "index_select", c, useg_dtype_name(dt));
                check_close(ctx, what, dt, y, ref, ny, 0.0);
                check_close(ctx, "index backward", dt, dx, dref, nx, cuda_tol(dt));
                double zero = 0;
                check_close(ctx, "no bad index flagged", USEG_I32, bad, &zero, 1, 0.0);
                guards_check(ctx, &gs, what);
                useg_step_end(ctx);
            }
    // An index out of range raises the flag.
    double vi[3] = {0, 5, -1};
    double *vx;
    void *x = random_on_device(ctx, USEG_F32, 10, -1, 1, &vx);
    guards gs = {0};
    void *y = out_alloc(ctx, &gs, USEG_F32, 6);
    int32_t *bad = out_alloc(ctx, &gs, USEG_I32, 1);
    CHECK_LAUNCH(ctx, useg_index_select_forward_cuda(ctx, USEG_F32, y, x, upload_doubles(ctx, USEG_I64, 3, vi), 1, 5,
                                                     2, 3, bad));
    double one = 1;
    check_close(ctx, "bad index flagged", USEG_I32, bad, &one, 1, 0.0);
    useg_step_end(ctx);
}

// --- Losses ------------------------------------------------------------------------------------------

static double sigmoid(double x) { return 1 / (1 + exp(-x)); }
static double bce(double x, double t) { return fmax(x, 0) - x * t + log1p(exp(-fabs(x))); }

static void test_cross_entropy(useg_ctx *ctx) {
    const int64_t cases[][3] = {{1, 1, 1}, {7, 5, 1}, {64, 1000, 1}, {2, 27, 97}, {3, 2, 4099}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int k = 0; k < N_DTYPES; k++) {
            useg_dtype dt = DTYPES[k];
            int64_t N = cases[c][0], C = cases[c][1], inner = cases[c][2], P = N * inner, n = N * C * inner;
            if (!cuda_case_fits(n)) continue;
            const int64_t ignore = -100;
            double *vx, *vt = host_doubles(ctx, P);
            void *x = random_on_device(ctx, dt, n, -4, 4, &vx);
            for (int64_t p = 0; p < P; p++) vt[p] = p % 5 == 3 ? (double)ignore : (double)useg_rng_below(&ctx->rng, (uint32_t)C);
            if (P == 1) vt[0] = 0;
            const int64_t *target = upload_doubles(ctx, USEG_I64, P, vt);
            double *lse = host_doubles(ctx, P), total = 0, count = 0;
            for (int64_t p = 0; p < P; p++) {
                int64_t nn = p / inner, i = p % inner;
                double m = -INFINITY, s = 0;
                for (int64_t cc = 0; cc < C; cc++) m = fmax(m, vx[(nn * C + cc) * inner + i]);
                for (int64_t cc = 0; cc < C; cc++) s += exp(vx[(nn * C + cc) * inner + i] - m);
                lse[p] = m + log(s);
                if (vt[p] == ignore) continue;
                total += lse[p] - vx[(nn * C + (int64_t)vt[p]) * inner + i];
                count += 1;
            }
            double loss_ref = total / count, g = 1.7, *dref = host_doubles(ctx, n);
            for (int64_t e = 0; e < n; e++) {
                int64_t i = e % inner, cc = (e / inner) % C, p = (e / (inner * C)) * inner + i;
                dref[e] = vt[p] == ignore ? 0 : g / count * (exp(vx[e] - lse[p]) - (cc == (int64_t)vt[p]));
            }
            guards gs = {0};
            void *loss = out_alloc(ctx, &gs, dt, 1), *dx = out_alloc(ctx, &gs, dt, n);
            float *lse_d = out_alloc(ctx, &gs, USEG_F32, P), *count_d = out_alloc(ctx, &gs, USEG_F32, 1);
            CHECK_LAUNCH(ctx, useg_cross_entropy_forward_cuda(ctx, dt, loss, lse_d, count_d, x, target, N, C, inner,
                                                              ignore, NULL));
            CHECK_LAUNCH(ctx, useg_cross_entropy_backward_cuda(ctx, dt, dx, upload_doubles(ctx, dt, 1, &g), x, target,
                                                               lse_d, count_d, N, C, inner, ignore));
            char what[96];
            snprintf(what, sizeof what, "cross_entropy (%lld, %lld, %lld) %s", (long long)N, (long long)C,
                     (long long)inner, useg_dtype_name(dt));
            check_close(ctx, what, dt, loss, &loss_ref, 1, cuda_tol(dt));
            check_close(ctx, "cross_entropy lse", USEG_F32, lse_d, lse, P, 1e-5);
            check_close(ctx, "cross_entropy count", USEG_F32, count_d, &count, 1, 0.0);
            check_close(ctx, "cross_entropy backward", dt, dx, dref, n, cuda_tol(dt));
            guards_check(ctx, &gs, what);
            useg_step_end(ctx);
        }
}

static void test_sigmoid_losses(useg_ctx *ctx) {
    const int64_t sizes[] = {1, 7, 4099, 1 << 20};
    const double params[][2] = {{-1, 0}, {0.25, 2}, {0.5, 1}, {-1, 0.5}}; // (alpha, gamma); first row: BCE
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int k = 0; k < N_DTYPES; k++)
            for (size_t q = 0; q < sizeof params / sizeof params[0]; q++) {
                useg_dtype dt = DTYPES[k];
                bool focal = q > 0;
                double alpha = params[q][0], gamma = params[q][1], g = 0.8;
                int64_t n = sizes[s];
                if (!cuda_case_fits(n)) continue;
                double *vx, *vt;
                void *x = random_on_device(ctx, dt, n, -5, 5, &vx);
                void *t = random_on_device(ctx, dt, n, 0, 1, &vt); // soft targets in [0, 1)
                double total = 0, *dref = host_doubles(ctx, n);
                for (int64_t i = 0; i < n; i++) {
                    double xv = vx[i], tv = vt[i], p = sigmoid(xv), l = bce(xv, tv), d = p - tv;
                    if (focal) {
                        double qv = 1 - (p * tv + (1 - p) * (1 - tv)), dq = -(2 * tv - 1) * p * (1 - p);
                        double at = alpha >= 0 ? alpha * tv + (1 - alpha) * (1 - tv) : 1;
                        double dpow = gamma == 0 ? 0 : gamma * pow(qv, gamma - 1) * dq;
                        d = at * (d * pow(qv, gamma) + l * dpow);
                        l = at * l * pow(qv, gamma);
                    }
                    total += l;
                    dref[i] = g / (double)n * d;
                }
                double loss_ref = total / (double)n;
                guards gs = {0};
                void *loss = out_alloc(ctx, &gs, dt, 1), *dx = out_alloc(ctx, &gs, dt, n);
                void *gd = upload_doubles(ctx, dt, 1, &g);
                if (focal) {
                    CHECK_LAUNCH(ctx, useg_focal_loss_forward_cuda(ctx, dt, loss, x, t, n, (float)alpha, (float)gamma));
                    CHECK_LAUNCH(ctx, useg_focal_loss_backward_cuda(ctx, dt, dx, gd, x, t, n, (float)alpha, (float)gamma));
                } else {
                    CHECK_LAUNCH(ctx, useg_bce_with_logits_forward_cuda(ctx, dt, loss, x, t, n));
                    CHECK_LAUNCH(ctx, useg_bce_with_logits_backward_cuda(ctx, dt, dx, gd, x, t, n));
                }
                char what[96];
                snprintf(what, sizeof what, "%s n=%lld alpha=%g gamma=%g %s", focal ? "focal" : "bce", (long long)n, alpha,
                         gamma, useg_dtype_name(dt));
                check_close(ctx, what, dt, loss, &loss_ref, 1, cuda_tol(dt));
                check_close(ctx, "sigmoid loss backward", dt, dx, dref, n, 2 * cuda_tol(dt));
                guards_check(ctx, &gs, what);
                useg_step_end(ctx);
            }
}

static void test_dice(useg_ctx *ctx) {
    const int64_t cases[][2] = {{1, 1}, {3, 7}, {8, 4096}, {33, 257}, {2, 65536}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int k = 0; k < N_DTYPES; k++) {
            useg_dtype dt = DTYPES[k];
            int64_t N = cases[c][0], M = cases[c][1], n = N * M;
            if (!cuda_case_fits(n)) continue;
            double *vx, *vt = host_doubles(ctx, n), g = 1.3;
            void *x = random_on_device(ctx, dt, n, -4, 4, &vx);
            for (int64_t i = 0; i < n; i++) vt[i] = (double)useg_rng_below(&ctx->rng, 2); // binary masks
            void *t = upload_doubles(ctx, dt, n, vt);
            double total = 0, *sums = host_doubles(ctx, 3 * N), *dref = host_doubles(ctx, n);
            for (int64_t r = 0; r < N; r++) {
                double pt = 0, ps = 0, ts = 0;
                for (int64_t m = 0; m < M; m++) {
                    double p = sigmoid(vx[r * M + m]);
                    pt += p * vt[r * M + m], ps += p, ts += vt[r * M + m];
                }
                sums[3 * r] = pt, sums[3 * r + 1] = ps, sums[3 * r + 2] = ts;
                double den = ps + ts + 1, num = 2 * pt + 1;
                total += 1 - num / den;
                for (int64_t m = 0; m < M; m++) {
                    double p = sigmoid(vx[r * M + m]);
                    dref[r * M + m] = g / (double)N * -(2 * vt[r * M + m] * den - num) / (den * den) * p * (1 - p);
                }
            }
            double loss_ref = total / (double)N;
            guards gs = {0};
            void *loss = out_alloc(ctx, &gs, dt, 1), *dx = out_alloc(ctx, &gs, dt, n);
            float *rs = out_alloc(ctx, &gs, USEG_F32, 3 * N);
            CHECK_LAUNCH(ctx, useg_dice_loss_forward_cuda(ctx, dt, loss, rs, x, t, N, M));
            CHECK_LAUNCH(ctx, useg_dice_loss_backward_cuda(ctx, dt, dx, upload_doubles(ctx, dt, 1, &g), x, t, rs, N, M));
            char what[96];
            snprintf(what, sizeof what, "dice (%lld, %lld) %s", (long long)N, (long long)M, useg_dtype_name(dt));
            check_close(ctx, what, dt, loss, &loss_ref, 1, cuda_tol(dt));
            check_close(ctx, "dice row sums", USEG_F32, rs, sums, 3 * N, 1e-5);
            check_close(ctx, "dice backward", dt, dx, dref, n, 2 * cuda_tol(dt));
            guards_check(ctx, &gs, what);
            useg_step_end(ctx);
        }
}

int main(void) {
    useg_ctx ctx;
    int skip = cuda_check_init(&ctx, "cuda_nn");
    if (skip) return skip;
    test_softmax(&ctx);
    test_layer_norm(&ctx);
    test_interpolate(&ctx);
    test_index(&ctx);
    test_cross_entropy(&ctx);
    test_sigmoid_losses(&ctx);
    test_dice(&ctx);
    return cuda_check_finish(&ctx, "cuda_nn");
}
