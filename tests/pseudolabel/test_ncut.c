// The normalized-cut eigensolver and graph against LAPACK, and the MaskCut
// chain's fixed answers and bad input.
//
// usage: test_ncut                  synthetic graphs, known cuts, bad input
//        test_ncut CASE_DIR         also every CASE_DIR/NAME.feats.npy ((h, w, C)
//                                   f32, written by ncut_vs_scipy.py): checked
//                                   against LAPACK here, and the graph, vector
//                                   and masks written beside it for SciPy
//
// The reference eigenpair is LAPACKE_dsygvd on the dense (D - W, D) built
// here from the graph's bits, with degrees summed here. A unique second
// eigenvector must match with |cos| >= 0.999 and the same side of the mean
// for >= 99% of the nodes (the task's bar; the values seen are printed), the
// eigenvalue to 1e-8, the generalised residual |(D - W) y - lambda D y| /
// |D y| to 1e-6, y' D y = 1, and the sign convention y[argmax |y|] > 0.
// A repeated eigenvalue (constant W) has no unique vector: there only the
// eigenvalue, the residual and the normalisation are checked.
#include <lapacke.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ncut.h"
#include "npy.h"
#include "rng.h"

typedef bool (*link_fn)(int64_t i, int64_t j, const void *arg);

static bool has_link(const useg_ncut_graph *g, int64_t i, int64_t j) {
    return g->adj[i * g->words + j / 64] >> (j % 64) & 1;
}

// A graph from a symmetric link predicate; degrees summed here from W.
static useg_ncut_graph graph_of(useg_ctx *ctx, int64_t n, double eps, link_fn link, const void *arg) {
    useg_ncut_graph g = {.n = n, .words = (n + 63) / 64, .eps = eps};
    g.adj = useg_arena_alloc(&ctx->params, (size_t)(n * g.words) * sizeof(uint64_t));
    g.degree = useg_arena_alloc(&ctx->params, (size_t)n * sizeof(double));
    USEG_ASSERT(g.adj && g.degree, "test graph of %lld nodes", (long long)n);
    memset(g.adj, 0, (size_t)(n * g.words) * sizeof(uint64_t));
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j <= i; j++)
            if (link(i, j, arg)) {
                g.adj[i * g.words + j / 64] |= 1ull << (j % 64);
                g.adj[j * g.words + i / 64] |= 1ull << (i % 64);
            }
    for (int64_t i = 0; i < n; i++) {
        double d = 0;
        for (int64_t j = 0; j < n; j++) d += has_link(&g, i, j) ? 1.0 : eps;
        g.degree[i] = d;
    }
    return g;
}

// lambda_2 and its vector (y' D y = 1) from LAPACK's dense generalised solver.
static double lapack_second(const useg_ncut_graph *g, double *y) {
    const int64_t n = g->n;
    double *a = malloc((size_t)(n * n) * sizeof(double)), *b = calloc((size_t)(n * n), sizeof(double)),
           *w = malloc((size_t)n * sizeof(double));
    USEG_ASSERT(a && b && w, "LAPACK buffers for n = %lld", (long long)n);
    for (int64_t i = 0; i < n; i++) {
        for (int64_t j = 0; j < n; j++) a[i * n + j] = -(has_link(g, i, j) ? 1.0 : g->eps);
        a[i * n + i] += g->degree[i];
        b[i * n + i] = g->degree[i];
    }
    lapack_int info = LAPACKE_dsygvd(LAPACK_ROW_MAJOR, 1, 'V', 'U', (lapack_int)n, a, (lapack_int)n, b,
                                     (lapack_int)n, w);
    USEG_ASSERT(info == 0, "dsygvd failed: info %d", (int)info);
    for (int64_t i = 0; i < n; i++) y[i] = a[i * n + 1]; // eigenvectors are the columns
    const double lambda = w[1];
    free(a);
    free(b);
    free(w);
    return lambda;
}

// |(D - W) y - lambda D y| / |D y|, computed densely.
static double generalised_residual(const useg_ncut_graph *g, const double *y, double lambda) {
    double r2 = 0, dy2 = 0;
    for (int64_t i = 0; i < g->n; i++) {
        double wy = 0;
        for (int64_t j = 0; j < g->n; j++) wy += (has_link(g, i, j) ? 1.0 : g->eps) * y[j];
        const double r = g->degree[i] * y[i] - wy - lambda * g->degree[i] * y[i];
        r2 += r * r;
        dy2 += g->degree[i] * y[i] * g->degree[i] * y[i];
    }
    return sqrt(r2 / dy2);
}

// Share of nodes on the same side of the mean in y and in +-ref (sign aligned).
static double same_side(const double *y, const double *ref, int64_t n) {
    double my = 0, mr = 0, d = 0;
    for (int64_t i = 0; i < n; i++) {
        my += y[i];
        mr += ref[i];
        d += y[i] * ref[i];
    }
    my /= (double)n;
    mr /= (double)n;
    const double s = d < 0 ? -1 : 1;
    int64_t same = 0;
    for (int64_t i = 0; i < n; i++) same += (y[i] > my) == (s * ref[i] > s * mr);
    return (double)same / (double)n;
}

static double abs_cos(const double *a, const double *b, int64_t n) {
    double ab = 0, aa = 0, bb = 0;
    for (int64_t i = 0; i < n; i++) {
        ab += a[i] * b[i];
        aa += a[i] * a[i];
        bb += b[i] * b[i];
    }
    return fabs(ab) / sqrt(aa * bb);
}

// Solve g and check it against LAPACK; `unique`: lambda_2 is simple.
static void check_solve(useg_ctx *ctx, const char *name, const useg_ncut_graph *g, bool unique) {
    const int64_t n = g->n;
    useg_tensor *yt;
    useg_ncut_eig_info info;
    CHECK_OK(ctx, useg_ncut_fiedler(ctx, g, NULL, &yt, &info));
    if (ctx->status != USEG_OK) return;
    const double *y = yt->data;
    double *ref = malloc((size_t)n * sizeof(double));
    const double lambda = lapack_second(g, ref);
    double yDy = 0;
    int64_t peak = 0;
    for (int64_t i = 0; i < n; i++) {
        yDy += g->degree[i] * y[i] * y[i];
        if (fabs(y[i]) > fabs(y[peak])) peak = i;
    }
    const double res = generalised_residual(g, y, info.eigenvalue);
    CHECK(info.converged, "%s: not converged after %d steps", name, info.iterations);
    CHECK(fabs(info.eigenvalue - lambda) <= 1e-8, "%s: lambda %.15g, LAPACK %.15g", name, info.eigenvalue, lambda);
    CHECK(res <= 1e-6, "%s: generalised residual %.3g", name, res);
    CHECK(fabs(yDy - 1) <= 1e-10, "%s: y'Dy = %.15g", name, yDy);
    CHECK(y[peak] > 0, "%s: y[argmax |y|] = %g is not positive", name, y[peak]);
    double cos = NAN, side = NAN;
    if (unique) {
        cos = abs_cos(y, ref, n);
        side = same_side(y, ref, n);
        CHECK(cos >= 0.999, "%s: |cos| with LAPACK %.9f", name, cos);
        CHECK(side >= 0.99, "%s: same side of the mean for %.4f of the nodes", name, side);
    }
    printf("%-34s n %5lld  steps %3d  lambda %.10f  d lambda %.1e  residual %.1e  |cos| %.12f  same side %.4f\n",
           name, (long long)n, info.iterations, info.eigenvalue, fabs(info.eigenvalue - lambda), res, cos, side);
    free(ref);
}

// --- Synthetic graphs ------------------------------------------------------------------

typedef struct blocks {
    int64_t bounds[4];  // block b holds nodes [bounds[b], bounds[b + 1])
    int count;
    double p_in, p_out; // link probabilities within and across blocks
    uint64_t seed;
} blocks;

static int block_of(const blocks *b, int64_t i) {
    int k = 0;
    while (i >= b->bounds[k + 1]) k++;
    return k;
}

// A hash of (i, j) in [0, 1): symmetric noise that needs no state.
static double pair_uniform(int64_t i, int64_t j, uint64_t seed) {
    if (i < j) {
        const int64_t t = i;
        i = j;
        j = t;
    }
    useg_rng r;
    useg_rng_seed(&r, seed ^ ((uint64_t)i * 1000003u + (uint64_t)j), 7);
    return useg_rng_uniform(&r);
}

static bool block_link(int64_t i, int64_t j, const void *arg) {
    const blocks *b = arg;
    if (i == j) return true;
    return pair_uniform(i, j, b->seed) < (block_of(b, i) == block_of(b, j) ? b->p_in : b->p_out);
}

static bool path_link(int64_t i, int64_t j, const void *arg) {
    (void)arg;
    return llabs(i - j) <= 1;
}

static bool grid_link(int64_t i, int64_t j, const void *arg) {
    const int64_t w = *(const int64_t *)arg, d = llabs(i - j);
    return d == 0 || d == w || (d == 1 && i / w == j / w);
}

static bool all_link(int64_t i, int64_t j, const void *arg) {
    (void)i, (void)j, (void)arg;
    return true;
}

static bool no_link(int64_t i, int64_t j, const void *arg) {
    (void)i, (void)j, (void)arg;
    return false;
}

static bool self_link(int64_t i, int64_t j, const void *arg) {
    (void)arg;
    return i == j;
}

// A clique on [0, k) and nodes >= k linked to nothing, not even themselves
// (the rows of masked patches).
static bool clique_and_isolated(int64_t i, int64_t j, const void *arg) {
    const int64_t k = *(const int64_t *)arg;
    return i < k && j < k;
}

// The cut y > mean(y) puts nodes [0, k) on one side and the rest on the other.
static bool splits_at(const useg_tensor *yt, int64_t k) {
    const double *y = yt->data;
    const int64_t n = yt->shape[0];
    double mean = 0;
    for (int64_t i = 0; i < n; i++) mean += y[i] / (double)n;
    for (int64_t i = 1; i < n; i++)
        if ((y[i] > mean) != ((i < k) == (y[0] > mean))) return false;
    return true;
}

static void test_synthetic(useg_ctx *ctx) {
    const double eps = 1e-5;
    useg_tensor *y;
    useg_ncut_eig_info info;

    const blocks two = {{0, 60, 150}, 2, 0.8, 0.05, 11};
    useg_ncut_graph g = graph_of(ctx, 150, eps, block_link, &two);
    check_solve(ctx, "two blocks 60/90, noisy", &g, true);
    CHECK_OK(ctx, useg_ncut_fiedler(ctx, &g, NULL, &y, &info));
    CHECK(splits_at(y, 60), "two blocks: the cut is not the blocks");

    const blocks three = {{0, 50, 130, 250}, 3, 0.85, 0.03, 12};
    g = graph_of(ctx, 250, eps, block_link, &three);
    check_solve(ctx, "three blocks 50/80/120, noisy", &g, true);

    g = graph_of(ctx, 120, eps, path_link, NULL);
    check_solve(ctx, "path of 120", &g, true);
    CHECK_OK(ctx, useg_ncut_fiedler(ctx, &g, NULL, &y, &info));
    CHECK(splits_at(y, 60), "path: the cut is not at the middle");

    // An even width: with an odd one the middle column sits exactly on the
    // mean and rounding alone decides its side.
    const int64_t gw = 18;
    g = graph_of(ctx, 12 * gw, eps, grid_link, &gw);
    check_solve(ctx, "grid 12 x 18, 4-neighbour", &g, true);

    // Disconnected link graphs: eps keeps W connected, lambda_2 = O(eps).
    const blocks cliques2 = {{0, 40, 110}, 2, 1.0, 0.0, 13};
    g = graph_of(ctx, 110, eps, block_link, &cliques2);
    check_solve(ctx, "disconnected: cliques 40/70", &g, true);
    CHECK_OK(ctx, useg_ncut_fiedler(ctx, &g, NULL, &y, &info));
    CHECK(splits_at(y, 40), "two cliques: the cut is not the components");
    CHECK(info.eigenvalue < 1e-3, "two cliques: lambda %g is not O(eps)", info.eigenvalue);
    const blocks cliques3 = {{0, 30, 80, 160}, 3, 1.0, 0.0, 14};
    g = graph_of(ctx, 160, eps, block_link, &cliques3);
    check_solve(ctx, "disconnected: cliques 30/50/80", &g, true);
    const int64_t k = 50;
    g = graph_of(ctx, 60, eps, clique_and_isolated, &k);
    check_solve(ctx, "clique 50 + 10 isolated nodes", &g, true);

    // Constant W: lambda_2 = 1 with multiplicity n - 1; any vector off z0 is one.
    g = graph_of(ctx, 100, eps, all_link, NULL);
    check_solve(ctx, "all linked (equal features)", &g, false);
    CHECK_OK(ctx, useg_ncut_fiedler(ctx, &g, NULL, &y, &info));
    CHECK(info.iterations == 1 && fabs(info.eigenvalue - 1) < 1e-12, "all linked: %d steps, lambda %.15g",
          info.iterations, info.eigenvalue);
    g = graph_of(ctx, 100, eps, no_link, NULL);
    check_solve(ctx, "nothing linked (all masked)", &g, false);

    // Two nodes: lambda_2 = 1 when linked, 2 eps / (1 + eps) when not.
    g = graph_of(ctx, 2, eps, all_link, NULL);
    check_solve(ctx, "two nodes, linked", &g, true); // z0's complement is 1-D: unique
    g = graph_of(ctx, 2, eps, self_link, NULL);
    check_solve(ctx, "two nodes, not linked", &g, true);
    CHECK_OK(ctx, useg_ncut_fiedler(ctx, &g, NULL, &y, &info));
    CHECK(fabs(info.eigenvalue - 2 * eps / (1 + eps)) < 1e-15, "two nodes: lambda %.17g", info.eigenvalue);

    // The step cap: a slow graph stopped after 3 steps still returns a unit y.
    g = graph_of(ctx, 120, eps, path_link, NULL);
    CHECK_OK(ctx, useg_ncut_fiedler(ctx, &g, &(useg_ncut_eig_options){.max_iter = 3}, &y, &info));
    CHECK(!info.converged && info.iterations == 3, "capped: converged %d after %d steps", info.converged,
          info.iterations);
    useg_step_end(ctx);
}

// Features (n, C): `clusters` centres plus noise, some rows zero (masked).
static useg_tensor *clustered_features(useg_ctx *ctx, int64_t n, int64_t c, int clusters, double noise) {
    useg_tensor *centres, *f;
    CHECK_OK(ctx, useg_rand_normal(ctx, NULL, USEG_F32, 2, (const int64_t[]){clusters, c}, 0, 1, &centres));
    CHECK_OK(ctx, useg_rand_normal(ctx, NULL, USEG_F32, 2, (const int64_t[]){n, c}, 0, noise, &f));
    float *x = f->data;
    const float *m = centres->data;
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < c; k++)
            x[i * c + k] = i % 37 == 5 ? 0.0f : x[i * c + k] + m[(i * clusters / n) * c + k];
    return f;
}

// The graph of features: bits against S computed here in double (pairs within
// 1e-5 of tau are skipped: f32 rounding may decide them either way),
// symmetry, degrees; then the eigenpair against LAPACK.
static void test_affinity(useg_ctx *ctx) {
    const int64_t n = 700, c = 24; // several GEMM blocks, n not a multiple of 64
    useg_tensor *f = clustered_features(ctx, n, c, 3, 0.9);
    for (int t = 0; t < 2; t++) {
        const double tau = t == 0 ? 0.15 : -0.05; // a negative tau links zero rows to everything
        useg_ncut_graph g;
        CHECK_OK(ctx, useg_ncut_affinity(ctx, NULL, f, tau, 1e-5, &g));
        if (ctx->status != USEG_OK) return;
        const float *x = f->data;
        int64_t wrong = 0, skipped = 0, asym = 0, bad_degree = 0;
        for (int64_t i = 0; i < n; i++) {
            int64_t links = 0;
            for (int64_t j = 0; j < n; j++) {
                double ij = 0, ii = 0, jj = 0;
                for (int64_t k = 0; k < c; k++) {
                    ij += (double)x[i * c + k] * x[j * c + k];
                    ii += (double)x[i * c + k] * x[i * c + k];
                    jj += (double)x[j * c + k] * x[j * c + k];
                }
                const double s = ii > 0 && jj > 0 ? ij / sqrt(ii * jj) : 0;
                const bool link = has_link(&g, i, j);
                links += link;
                asym += link != has_link(&g, j, i);
                if (fabs(s - tau) < 1e-5) skipped++;
                else wrong += link != (s > tau);
            }
            bad_degree += fabs(g.degree[i] - (links + (n - links) * 1e-5)) > 1e-9;
        }
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = n; j < g.words * 64; j++) wrong += has_link(&g, i, j); // padding stays 0
        CHECK(wrong == 0 && asym == 0 && bad_degree == 0, "tau %g: %lld wrong links, %lld asymmetric, %lld degrees",
              tau, (long long)wrong, (long long)asym, (long long)bad_degree);
        printf("affinity tau %5.2f: %lld pairs within 1e-5 of tau skipped\n", tau, (long long)skipped);
        check_solve(ctx, tau > 0 ? "features, 3 clusters, tau 0.15" : "features, 3 clusters, tau -0.05", &g, true);
    }

    // Equal features link everything: the degenerate case of test_synthetic.
    useg_tensor *same;
    CHECK_OK(ctx, useg_full(ctx, NULL, USEG_F32, 2, (const int64_t[]){64, 5}, 0.3, &same));
    useg_ncut_graph g;
    CHECK_OK(ctx, useg_ncut_affinity(ctx, NULL, same, 0.15, 1e-5, &g));
    int64_t links = 0;
    for (int64_t i = 0; i < 64; i++)
        for (int64_t j = 0; j < 64; j++) links += has_link(&g, i, j);
    CHECK(links == 64 * 64, "equal features: %lld of %d pairs linked", (long long)links, 64 * 64);
    check_solve(ctx, "equal features", &g, false);
    useg_step_end(ctx);
}

// A known answer: a square object on a uniform background is the first mask,
// exactly; with early_stop the chain ends there (nothing else to find).
static void test_chain_known(useg_ctx *ctx) {
    const int64_t h = 20, w = 24, c = 8;
    useg_tensor *f;
    CHECK_OK(ctx, useg_rand_normal(ctx, NULL, USEG_F32, 3, (const int64_t[]){h, w, c}, 0, 0.2, &f));
    float *x = f->data;
    for (int64_t r = 0; r < h; r++)
        for (int64_t q = 0; q < w; q++) {
            const bool object = r >= 5 && r < 12 && q >= 8 && q < 17;
            x[(r * w + q) * c + (object ? 0 : 1)] += 2.0f;
        }
    useg_maskcut_options opt = useg_maskcut_default_options();
    useg_maskcut_info info[3];
    useg_tensor *masks;
    int count;
    for (int early = 0; early < 2; early++) {
        opt.early_stop = early;
        CHECK_OK(ctx, useg_maskcut(ctx, f, &opt, &masks, info, &count));
        if (ctx->status != USEG_OK) return;
        const uint8_t *m = masks->data;
        int64_t wrong = 0;
        for (int64_t r = 0; r < h; r++)
            for (int64_t q = 0; q < w; q++) wrong += m[r * w + q] != (r >= 5 && r < 12 && q >= 8 && q < 17);
        CHECK(wrong == 0, "square object: %lld patches wrong in mask 0", (long long)wrong);
        CHECK(early ? count == 1 : count == 3, "square object, early_stop %d: %d masks", early, count);
        CHECK(masks->ndim == 3 && masks->shape[0] == count && masks->shape[1] == h && masks->shape[2] == w,
              "masks shape");
    }
    // Two halves, the blank-mask complaint: cut 0 takes a half; cut 1 peaks
    // among the masked patches (degree n eps) and takes that half again, so
    // it is rejected (IoU 1); cut 2 sees the same features, takes it once
    // more and keeps it (IoU with an empty mask is NaN), adding nothing.
    // early_stop ends the chain after the one real mask.
    useg_tensor *halves;
    CHECK_OK(ctx, useg_rand_normal(ctx, NULL, USEG_F32, 3, (const int64_t[]){h, w, c}, 0, 0.2, &halves));
    for (int64_t p = 0; p < h * w; p++) ((float *)halves->data)[p * c + (p < h * w / 2 ? 2 : 3)] += 2.0f;
    for (int early = 0; early < 2; early++) {
        opt.early_stop = early;
        CHECK_OK(ctx, useg_maskcut(ctx, halves, &opt, &masks, info, &count));
        if (ctx->status != USEG_OK) return;
        const uint8_t *m = masks->data;
        int64_t area[3] = {0, 0, 0};
        for (int t = 0; t < count; t++)
            for (int64_t p = 0; p < h * w; p++) area[t] += m[t * h * w + p];
        CHECK(area[0] == h * w / 2, "halves: mask 0 has %lld patches", (long long)area[0]);
        if (early) {
            CHECK(count == 1, "halves, early stop: %d masks", count);
        } else {
            CHECK(count == 3 && area[1] == 0 && area[2] == 0 && info[1].rejected && !info[2].rejected &&
                      info[2].area == h * w / 2,
                  "halves: %d masks, areas %lld %lld, rejected %d %d", count, (long long)area[1],
                  (long long)area[2], info[1].rejected, info[2].rejected);
        }
    }

    // Non-contiguous features (a transposed grid) give the transposed answer.
    useg_tensor *ft;
    CHECK_OK(ctx, useg_transpose(ctx, f, 0, 1, &ft));
    opt.early_stop = true;
    CHECK_OK(ctx, useg_maskcut(ctx, ft, &opt, &masks, info, &count));
    if (ctx->status == USEG_OK) {
        const uint8_t *m = masks->data;
        int64_t wrong = 0;
        for (int64_t q = 0; q < w; q++)
            for (int64_t r = 0; r < h; r++) wrong += m[q * h + r] != (r >= 5 && r < 12 && q >= 8 && q < 17);
        CHECK(wrong == 0 && count == 1, "transposed grid: %lld patches wrong, %d masks", (long long)wrong, count);
    }
    useg_step_end(ctx);
}

// Graph, vector and masks bit-identical with 1 and 3 OpenMP threads, on a
// grid large enough for every parallel loop to run in parallel.
static void test_thread_invariance(useg_ctx *ctx) {
    const int64_t h = 40, w = 40, c = 16, n = h * w, words = (n + 63) / 64;
    useg_tensor *rows = clustered_features(ctx, n, c, 4, 0.8), *feats, *y, *masks;
    CHECK_OK(ctx, useg_reshape(ctx, rows, 3, (const int64_t[]){h, w, c}, &feats));
    uint64_t *adj[2] = {malloc((size_t)(n * words) * 8), malloc((size_t)(n * words) * 8)};
    double *vec[2] = {malloc((size_t)n * 8), malloc((size_t)n * 8)};
    uint8_t *mk[2] = {calloc((size_t)(3 * n), 1), calloc((size_t)(3 * n), 1)};
    const int threads[2] = {1, 3}, prev = omp_get_max_threads();
    const useg_maskcut_options opt = useg_maskcut_default_options();
    for (int k = 0; k < 2 && ctx->status == USEG_OK; k++) {
        omp_set_num_threads(threads[k]);
        useg_ncut_graph g;
        useg_ncut_eig_info info;
        useg_maskcut_info cuts[3];
        int count;
        CHECK_OK(ctx, useg_ncut_affinity(ctx, NULL, rows, opt.tau, opt.eps, &g));
        CHECK_OK(ctx, useg_ncut_fiedler(ctx, &g, NULL, &y, &info));
        CHECK_OK(ctx, useg_maskcut(ctx, feats, &opt, &masks, cuts, &count));
        if (ctx->status != USEG_OK) break;
        memcpy(adj[k], g.adj, (size_t)(n * words) * 8);
        memcpy(vec[k], y->data, (size_t)n * 8);
        memcpy(mk[k], masks->data, (size_t)(count * n));
    }
    omp_set_num_threads(prev);
    CHECK(memcmp(adj[0], adj[1], (size_t)(n * words) * 8) == 0, "the graph depends on the thread count");
    CHECK(memcmp(vec[0], vec[1], (size_t)n * 8) == 0, "the eigenvector depends on the thread count");
    CHECK(memcmp(mk[0], mk[1], (size_t)(3 * n)) == 0, "the masks depend on the thread count");
    for (int k = 0; k < 2; k++) {
        free(adj[k]);
        free(vec[k]);
        free(mk[k]);
    }
    useg_step_end(ctx);
}

static void test_bad_input(useg_ctx *ctx) {
    useg_ncut_graph g;
    useg_tensor *f, *f64, *empty, *one, *grid1, *y;
    useg_maskcut_info info[3];
    useg_tensor *masks;
    int count;
    CHECK_OK(ctx, useg_rand_normal(ctx, NULL, USEG_F32, 2, (const int64_t[]){10, 4}, 0, 1, &f));
    CHECK_OK(ctx, useg_rand_normal(ctx, NULL, USEG_F64, 2, (const int64_t[]){10, 4}, 0, 1, &f64));
    CHECK_OK(ctx, useg_empty(ctx, NULL, USEG_F32, 2, (const int64_t[]){0, 4}, &empty));
    CHECK_OK(ctx, useg_rand_normal(ctx, NULL, USEG_F32, 2, (const int64_t[]){1, 4}, 0, 1, &one));
    CHECK_OK(ctx, useg_rand_normal(ctx, NULL, USEG_F32, 3, (const int64_t[]){1, 1, 4}, 0, 1, &grid1));
    CHECK_FAILS(ctx, useg_ncut_affinity(ctx, NULL, empty, 0.15, 1e-5, &g), USEG_ERR_SHAPE);
    CHECK_FAILS(ctx, useg_ncut_affinity(ctx, NULL, one, 0.15, 1e-5, &g), USEG_ERR_SHAPE);
    CHECK_FAILS(ctx, useg_ncut_affinity(ctx, NULL, f64, 0.15, 1e-5, &g), USEG_ERR_SHAPE);
    CHECK_FAILS(ctx, useg_ncut_affinity(ctx, NULL, grid1, 0.15, 1e-5, &g), USEG_ERR_SHAPE);
    CHECK_FAILS(ctx, useg_ncut_affinity(ctx, NULL, f, 1.0, 1e-5, &g), USEG_ERR_INVALID_ARG);
    CHECK_FAILS(ctx, useg_ncut_affinity(ctx, NULL, f, -1.5, 1e-5, &g), USEG_ERR_INVALID_ARG);
    CHECK_FAILS(ctx, useg_ncut_affinity(ctx, NULL, f, NAN, 1e-5, &g), USEG_ERR_INVALID_ARG);
    CHECK_FAILS(ctx, useg_ncut_affinity(ctx, NULL, f, 0.15, 0.0, &g), USEG_ERR_INVALID_ARG);
    CHECK_FAILS(ctx, useg_ncut_affinity(ctx, NULL, f, 0.15, 2.0, &g), USEG_ERR_INVALID_ARG);
    useg_set_flat(f, 13, NAN);
    CHECK_FAILS(ctx, useg_ncut_affinity(ctx, NULL, f, 0.15, 1e-5, &g), USEG_ERR_INVALID_ARG);
    useg_set_flat(f, 13, INFINITY);
    CHECK_FAILS(ctx, useg_ncut_affinity(ctx, NULL, f, 0.15, 1e-5, &g), USEG_ERR_INVALID_ARG);
    useg_set_flat(f, 13, 0.5);
    CHECK_FAILS(ctx, useg_ncut_fiedler(ctx, &(useg_ncut_graph){.n = 1, .words = 1, .eps = 1e-5}, NULL, &y, NULL),
                USEG_ERR_SHAPE);

    useg_maskcut_options opt = useg_maskcut_default_options();
    CHECK_FAILS(ctx, useg_maskcut(ctx, f, &opt, &masks, info, &count), USEG_ERR_SHAPE); // 2-D
    CHECK_FAILS(ctx, useg_maskcut(ctx, grid1, &opt, &masks, info, &count), USEG_ERR_SHAPE);
    useg_tensor *f3;
    CHECK_OK(ctx, useg_reshape(ctx, f, 3, (const int64_t[]){2, 5, 4}, &f3));
    opt.n_masks = 0;
    CHECK_FAILS(ctx, useg_maskcut(ctx, f3, &opt, &masks, info, &count), USEG_ERR_INVALID_ARG);
    opt = useg_maskcut_default_options();
    opt.tau = 1.5;
    CHECK_FAILS(ctx, useg_maskcut(ctx, f3, &opt, &masks, info, &count), USEG_ERR_INVALID_ARG);
    opt = useg_maskcut_default_options();
    opt.max_iou = -0.1;
    CHECK_FAILS(ctx, useg_maskcut(ctx, f3, &opt, &masks, info, &count), USEG_ERR_INVALID_ARG);
    opt = useg_maskcut_default_options();
    opt.min_area = NAN;
    CHECK_FAILS(ctx, useg_maskcut(ctx, f3, &opt, &masks, info, &count), USEG_ERR_INVALID_ARG);
    opt = useg_maskcut_default_options();
    useg_set_flat(f3, 7, NAN);
    CHECK_FAILS(ctx, useg_maskcut(ctx, f3, &opt, &masks, info, &count), USEG_ERR_INVALID_ARG);
    useg_step_end(ctx);
}

// --- Feature cases from ncut_vs_scipy.py ----------------------------------------------

static useg_status write_mask_run(useg_ctx *ctx, const char *dir, const char *name, const char *tag,
                                  const useg_tensor *feats, const useg_maskcut_options *opt) {
    useg_tensor *masks, *meta;
    useg_maskcut_info info[16];
    int count;
    USEG_ASSERT(opt->n_masks <= 16, "n_masks %d", opt->n_masks);
    USEG_TRY(useg_maskcut(ctx, feats, opt, &masks, info, &count));
    // Per cut: eigenvalue, seed, reversed, rejected, area, converged, iterations.
    USEG_TRY(useg_empty(ctx, NULL, USEG_F64, 2, (const int64_t[]){count, 7}, &meta));
    double *m = meta->data;
    for (int t = 0; t < count; t++) {
        const double row[7] = {info[t].eigenvalue, (double)info[t].seed, info[t].reversed, info[t].rejected,
                               (double)info[t].area, info[t].converged, info[t].iterations};
        memcpy(m + 7 * t, row, sizeof row);
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.masks_%s.npy", dir, name, tag);
    USEG_TRY(useg_npy_write(ctx, path, masks));
    snprintf(path, sizeof path, "%s/%s.info_%s.npy", dir, name, tag);
    return useg_npy_write(ctx, path, meta);
}

// One NAME.feats.npy: the graph and vector (checked against LAPACK) and the
// chain under both sign conventions and with early stop, written for SciPy.
static useg_status run_case(useg_ctx *ctx, const char *dir, const char *name) {
    char path[1024];
    useg_tensor *feats, *rows, *y, *adj;
    snprintf(path, sizeof path, "%s/%s.feats.npy", dir, name);
    USEG_TRY(useg_npy_read(ctx, path, NULL, &feats));
    if (feats->ndim != 3) return useg_fail(ctx, USEG_ERR_SHAPE, "%s is not (h, w, C)", path);
    const int64_t n = feats->shape[0] * feats->shape[1];
    USEG_TRY(useg_reshape(ctx, feats, 2, (const int64_t[]){n, feats->shape[2]}, &rows));
    useg_maskcut_options opt = useg_maskcut_default_options();
    useg_ncut_graph g;
    useg_ncut_eig_info info;
    USEG_TRY(useg_ncut_affinity(ctx, NULL, rows, opt.tau, opt.eps, &g));
    USEG_TRY(useg_ncut_fiedler(ctx, &g, NULL, &y, &info));
    char label[300];
    snprintf(label, sizeof label, "%s (LAPACK)", name);
    if (n <= 1024) check_solve(ctx, label, &g, true); // dense LAPACK beyond that takes too long here
    USEG_TRY(useg_empty(ctx, NULL, USEG_U8, 2, (const int64_t[]){n, n}, &adj));
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) ((uint8_t *)adj->data)[i * n + j] = has_link(&g, i, j);
    snprintf(path, sizeof path, "%s/%s.adj.npy", dir, name);
    USEG_TRY(useg_npy_write(ctx, path, adj));
    snprintf(path, sizeof path, "%s/%s.y.npy", dir, name);
    USEG_TRY(useg_npy_write(ctx, path, y));

    USEG_TRY(write_mask_run(ctx, dir, name, "peak_positive", feats, &opt));
    opt.sign = USEG_MASKCUT_PEAK_NEGATIVE;
    USEG_TRY(write_mask_run(ctx, dir, name, "peak_negative", feats, &opt));
    opt.sign = USEG_MASKCUT_PEAK_POSITIVE;
    opt.early_stop = true;
    USEG_TRY(write_mask_run(ctx, dir, name, "early", feats, &opt));
    useg_step_end(ctx);
    return USEG_OK;
}

static void run_cases(useg_ctx *ctx, const char *dir) {
    char path[1024];
    snprintf(path, sizeof path, "%s/cases.txt", dir);
    FILE *list = fopen(path, "r");
    CHECK(list != NULL, "cannot open %s", path);
    if (!list) return;
    char name[256];
    while (fscanf(list, "%255s", name) == 1) CHECK_OK(ctx, run_case(ctx, dir, name));
    fclose(list);
}

int main(int argc, char **argv) {
    useg_ctx ctx;
    useg_ctx_init(&ctx, &(useg_ctx_options){.seed = 5});
    if (argc > 1) {
        run_cases(&ctx, argv[1]);
    } else {
        test_synthetic(&ctx);
        test_affinity(&ctx);
        test_chain_known(&ctx);
        test_thread_invariance(&ctx);
        test_bad_input(&ctx);
    }
    useg_ctx_free(&ctx);
    return check_report(argc > 1 ? "ncut cases" : "ncut");
}
