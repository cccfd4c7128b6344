// CPU kernels of the normalized cut (see spectral.h for the maths and the
// conventions): the bit-matrix affinity graph and a Lanczos eigensolver for
// its second eigenpair.
//
// Affinity. Rows are unit-normalised in f32, then S = F F' is formed in row
// blocks of AFFINITY_BLOCK rows by GEMM, each block only up to its own last
// column: the lower triangle, half the flops of the full product. A block is
// thresholded straight into bits, and the upper triangle is filled by
// transposing 64 x 64 bit tiles, so A is exactly symmetric even where a GEMM
// could round S_ij and S_ji differently.
//
// Products with A. One row of A is ceil(n / 64) words; each byte of a word
// masks an add of 8 consecutive x values (AVX-512 masked adds, 8
// accumulators), so a product costs n^2 / 8 vector adds with x held in L1 and
// A in L2. Rows are independent (OpenMP over rows) and each row sums in a
// fixed order, so results do not depend on the thread count. Without AVX-512
// (or with USEG_NO_AVX512 set) a portable loop visits the set bits instead.
//
// Lanczos. Full reorthogonalisation (classical Gram-Schmidt, applied twice,
// against z0 and every earlier Lanczos vector) keeps the basis orthogonal to
// working precision, so no spurious copies of converged Ritz values appear and
// the steps taken equal the Krylov dimension. After each step the largest
// eigenvalue of the tridiagonal T_k is found by bisection on Sturm counts and
// its eigenvector by inverse iteration; |beta_k s_k| (the last component of
// that eigenvector times the next off-diagonal) is the exact residual norm of
// the Ritz pair in exact arithmetic and is the convergence test. There is no
// restart: the Krylov space grows up to max_iter vectors (300 x 3600 doubles:
// 8.6 MB), far above the 8-16 steps the photo-feature graphs of the tests
// take (sparse graphs are slower: a 120-node path takes all 119).
//
// Measured (benchmarks/pseudolabel, one thread of this shared 2-core Xeon at
// load ~8), graphs of the shared BSDS500 photos, tau 0.15, eps 1e-5:
//   n = 3600: 9-10 steps, 13-20 ms; scipy.linalg.eigh(D - W, D,
//             subset_by_index=[1, 1]) on the same W 10-14 s (670-1000x);
//   n = 900:  0.7-0.8 ms; SciPy 150-230 ms (200-280x);
// |cos| with SciPy's vector 1 to 8 digits, 100% of the nodes on the same
// side of the mean, eigenvalues within 5e-14.
#include "spectral.h"

#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "gemm.h"
#include "rng.h"
#include "spectral_common.h"

// Rows of S per GEMM call: a multiple of 64, so a block starts on a word of A,
// and small enough that its S block (256 x n floats) stays in cache.
enum { AFFINITY_BLOCK = 256 };
_Static_assert(AFFINITY_BLOCK % 64 == 0, "affinity blocks must start on a 64-bit word of A");

enum { DEFAULT_MAX_ITER = 300 };
static const double DEFAULT_TOL = 1e-8;
// |M| <= 1, so an off-diagonal below this means the Krylov space is invariant.
static const double BREAKDOWN = 1e-14;
// Below this |mu_2| (lambda_2 = 1 to rounding: W constant on the live patches)
// twins need not tie in the eigenvector, and equalise_twins is skipped.
static const double TWIN_MIN_MU = 1e-12;

// AVX-512 kernels when the CPU has them, unless USEG_NO_AVX512 is set (the
// tests run the portable loops that way too).
static bool use_avx512(void) {
    return __builtin_cpu_supports("avx512f") && !getenv("USEG_NO_AVX512");
}

// --- Graph construction -------------------------------------------------------

static useg_status graph_alloc(useg_ctx *ctx, useg_arena *a, int64_t n, double eps, useg_ncut_graph *g) {
    g->n = n;
    g->words = (n + 63) / 64;
    g->eps = eps;
    g->device = USEG_DEVICE_CPU;
    USEG_TRY(useg_alloc(ctx, a, (size_t)(n * g->words) * sizeof(uint64_t), (void **)&g->adj));
    return useg_alloc(ctx, a, (size_t)n * sizeof(double), (void **)&g->degree);
}

// d_i = |A_i| + (n - |A_i|) eps: the row sum of W with every term exact but one.
static void set_degrees(useg_ncut_graph *g) {
    const int64_t n = g->n, words = g->words;
    _Pragma("omp parallel for schedule(static) if (n * words >= USEG_PARALLEL_THRESHOLD)")
    for (int64_t i = 0; i < n; i++) {
        int64_t links = 0;
        for (int64_t k = 0; k < words; k++) links += __builtin_popcountll(g->adj[i * words + k]);
        g->degree[i] = (double)links + (double)(n - links) * g->eps;
    }
}

// Transpose a 64 x 64 bit matrix in place; bit c of t[r] is element (r, c).
// Six rounds swap the off-diagonal halves of ever smaller blocks (Warren,
// Hacker's Delight 7-3, with the least significant bit as column 0).
static void transpose64(uint64_t t[64]) {
    static const uint64_t low_half[6] = {0x00000000FFFFFFFFull, 0x0000FFFF0000FFFFull, 0x00FF00FF00FF00FFull,
                                         0x0F0F0F0F0F0F0F0Full, 0x3333333333333333ull, 0x5555555555555555ull};
    for (int level = 0, j = 32; j; level++, j >>= 1) {
        const uint64_t m = low_half[level];
        for (int r = 0; r < 64; r++) {
            if (r & j) continue;
            uint64_t swap = ((t[r] >> j) ^ t[r | j]) & m;
            t[r | j] ^= swap;
            t[r] ^= swap << j;
        }
    }
}

// Fill the upper triangle of A from its lower triangle (diagonal included),
// one 64 x 64 tile at a time; rows past n read as zero.
static void mirror_lower(useg_ncut_graph *g) {
    const int64_t n = g->n, words = g->words;
    _Pragma("omp parallel for schedule(dynamic, 1) if (words > 4)")
    for (int64_t tj = 0; tj < words; tj++) {     // tile column of the lower triangle
        uint64_t tile[64];
        for (int64_t ti = tj; ti < words; ti++) { // tile row, ti >= tj
            for (int r = 0; r < 64; r++) {
                int64_t row = ti * 64 + r;
                tile[r] = row < n ? g->adj[row * words + tj] : 0;
            }
            uint64_t lower[64];
            if (ti == tj) memcpy(lower, tile, sizeof lower);
            transpose64(tile);
            for (int r = 0; r < 64; r++) {
                int64_t row = tj * 64 + r;
                if (row >= n) break;
                // A diagonal tile holds its lower part already: join it with its mirror.
                g->adj[row * words + ti] = ti == tj ? (lower[r] | tile[r]) : tile[r];
            }
        }
    }
}

// The word whose bit j is s[j] > tau for j < count (count <= 64); higher bits 0.
typedef uint64_t (*pack_bits_fn)(const float *s, int64_t count, float tau);

__attribute__((target("avx512f"))) static uint64_t pack_bits_avx512(const float *s, int64_t count, float tau) {
    const __m512 t = _mm512_set1_ps(tau);
    uint64_t word = 0;
    for (int64_t j = 0; j < count; j += 16) {
        const __mmask16 valid = count - j >= 16 ? 0xFFFF : (__mmask16)((1u << (count - j)) - 1);
        const __m512 v = _mm512_maskz_loadu_ps(valid, s + j);
        word |= (uint64_t)_mm512_mask_cmp_ps_mask(valid, v, t, _CMP_GT_OQ) << j;
    }
    return word;
}

static uint64_t pack_bits_generic(const float *s, int64_t count, float tau) {
    uint64_t word = 0;
    for (int64_t j = 0; j < count; j++) word |= (uint64_t)(s[j] > tau) << j;
    return word;
}

// Rows [i0, i0 + rows) of the lower triangle: bit j of row i is S_ij > tau for
// j <= i; words right of the diagonal are cleared (mirror_lower fills them).
// s holds S[i0 + r, 0 .. i0 + rows) at row stride ld.
static void threshold_block(useg_ncut_graph *g, int64_t i0, int64_t rows, const float *s, int64_t ld, float tau) {
    const int64_t words = g->words;
    const pack_bits_fn pack = use_avx512() ? pack_bits_avx512 : pack_bits_generic;
    _Pragma("omp parallel for schedule(static)")
    for (int64_t r = 0; r < rows; r++) {
        const int64_t i = i0 + r;
        uint64_t *arow = g->adj + i * words;
        const int64_t last = i / 64; // word of the diagonal
        for (int64_t k = 0; k <= last; k++)
            arow[k] = pack(s + r * ld + k * 64, k == last ? i + 1 - k * 64 : 64, tau);
        for (int64_t k = last + 1; k < words; k++) arow[k] = 0;
    }
}

useg_status useg_ncut_affinity_cpu(useg_ctx *ctx, useg_arena *a, const float *feats, int64_t n, int64_t c,
                                   double tau, double eps, useg_ncut_graph *g) {
    USEG_TRY(graph_alloc(ctx, a, n, eps, g));
    useg_arena_mark mark = useg_arena_get_mark(&ctx->scratch);
    float *unit, *s;
    useg_status st = useg_alloc(ctx, &ctx->scratch, (size_t)(n * c) * sizeof(float), (void **)&unit);
    if (st == USEG_OK)
        st = useg_alloc(ctx, &ctx->scratch, (size_t)(AFFINITY_BLOCK * n) * sizeof(float), (void **)&s);
    if (st != USEG_OK) goto done;

    // F.normalize: x / max(|x|, 1e-12), the norm accumulated in double.
    _Pragma("omp parallel for schedule(static) if (n * c >= USEG_PARALLEL_THRESHOLD)")
    for (int64_t i = 0; i < n; i++) {
        const float *x = feats + i * c;
        double ss = 0;
        for (int64_t k = 0; k < c; k++) ss += (double)x[k] * x[k];
        const float norm = fmaxf((float)sqrt(ss), 1e-12f);
        for (int64_t k = 0; k < c; k++) unit[i * c + k] = x[k] / norm;
    }
    const float tau_f = (float)tau; // the reference compares f32 similarities with tau rounded to f32
    for (int64_t i0 = 0; i0 < n && st == USEG_OK; i0 += AFFINITY_BLOCK) {
        const int64_t rows = i0 + AFFINITY_BLOCK <= n ? AFFINITY_BLOCK : n - i0, cols = i0 + rows;
        // (rows, cols) = (rows, c) x (cols, c)'
        st = useg_gemm_f32(ctx, false, true, rows, cols, c, 1.0f, unit + i0 * c, c, unit, c, 0.0f, s, n);
        if (st == USEG_OK) threshold_block(g, i0, rows, s, n, tau_f);
    }
    if (st == USEG_OK) {
        mirror_lower(g);
        set_degrees(g);
    }
done:
    useg_arena_rewind(&ctx->scratch, mark);
    return st;
}

useg_status useg_ncut_restrict_cpu(useg_ctx *ctx, useg_arena *a, const useg_ncut_graph *g, const uint8_t *live,
                                   double tau, useg_ncut_graph *out) {
    const int64_t n = g->n, words = g->words;
    USEG_TRY(graph_alloc(ctx, a, n, g->eps, out));
    // A zeroed row has S = 0 with every patch, itself included.
    const bool zero_links = 0.0f > (float)tau;
    useg_arena_mark mark = useg_arena_get_mark(&ctx->scratch);
    uint64_t *live_bits, *valid;
    useg_status st = useg_alloc(ctx, &ctx->scratch, 2 * (size_t)words * sizeof(uint64_t), (void **)&live_bits);
    if (st != USEG_OK) return st;
    valid = live_bits + words;
    memset(live_bits, 0, 2 * (size_t)words * sizeof(uint64_t));
    for (int64_t j = 0; j < n; j++) {
        valid[j / 64] |= 1ull << (j % 64);
        if (live[j]) live_bits[j / 64] |= 1ull << (j % 64);
    }
    _Pragma("omp parallel for schedule(static) if (n * words >= USEG_PARALLEL_THRESHOLD)")
    for (int64_t i = 0; i < n; i++) {
        const uint64_t *src = g->adj + i * words;
        uint64_t *dst = out->adj + i * words;
        for (int64_t k = 0; k < words; k++) {
            const uint64_t dead = valid[k] & ~live_bits[k];
            if (live[i])
                dst[k] = (src[k] & live_bits[k]) | (zero_links ? dead : 0);
            else
                dst[k] = zero_links ? valid[k] : 0;
        }
    }
    set_degrees(out);
    useg_arena_rewind(&ctx->scratch, mark);
    return USEG_OK;
}

// --- Products with A ------------------------------------------------------------

// out = A x; x has words * 64 entries, zero past n, 64-byte aligned.
typedef void (*adj_matvec_fn)(const useg_ncut_graph *g, const double *x, double *out);

__attribute__((target("avx512f"))) static void adj_matvec_avx512(const useg_ncut_graph *g, const double *x,
                                                                 double *out) {
    const int64_t n = g->n, words = g->words;
    _Pragma("omp parallel for schedule(static) if (n * words >= USEG_PARALLEL_THRESHOLD)")
    for (int64_t i = 0; i < n; i++) {
        const uint64_t *row = g->adj + i * words;
        __m512d acc[8];
        for (int b = 0; b < 8; b++) acc[b] = _mm512_setzero_pd();
        for (int64_t k = 0; k < words; k++) {
            const uint64_t m = row[k];
            const double *xk = x + 64 * k;
            for (int b = 0; b < 8; b++)
                acc[b] = _mm512_mask_add_pd(acc[b], (__mmask8)(m >> (8 * b)), acc[b], _mm512_load_pd(xk + 8 * b));
        }
        __m512d sum = _mm512_add_pd(_mm512_add_pd(_mm512_add_pd(acc[0], acc[1]), _mm512_add_pd(acc[2], acc[3])),
                                    _mm512_add_pd(_mm512_add_pd(acc[4], acc[5]), _mm512_add_pd(acc[6], acc[7])));
        out[i] = _mm512_reduce_add_pd(sum);
    }
}

static void adj_matvec_generic(const useg_ncut_graph *g, const double *x, double *out) {
    const int64_t n = g->n, words = g->words;
    _Pragma("omp parallel for schedule(static) if (n * words >= USEG_PARALLEL_THRESHOLD)")
    for (int64_t i = 0; i < n; i++) {
        const uint64_t *row = g->adj + i * words;
        double acc[4] = {0, 0, 0, 0};
        for (int64_t k = 0; k < words; k++) {
            for (uint64_t m = row[k]; m; m &= m - 1) {
                const int b = __builtin_ctzll(m);
                acc[b & 3] += x[64 * k + b];
            }
        }
        out[i] = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    }
}


// --- Small dense helpers (n-vectors; dot and scale are in spectral_common.h) -------

static void axpy(double alpha, const double *x, double *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += alpha * x[i];
}

// The operator M = D^(-1/2) W D^(-1/2), with W = eps 11' + (1 - eps) A.
typedef struct operator_m {
    const useg_ncut_graph *g;
    const double *isd;   // (n,) d_i^(-1/2)
    double *x;           // (words * 64,) padded input of A x, tail zero
    double *ax;          // (n,)
    adj_matvec_fn adj_matvec;
} operator_m;

static void apply_m(const operator_m *op, const double *v, double *out) {
    const int64_t n = op->g->n;
    const double eps = op->g->eps;
    for (int64_t i = 0; i < n; i++) op->x[i] = op->isd[i] * v[i];
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += op->x[i];
    op->adj_matvec(op->g, op->x, op->ax);
    for (int64_t i = 0; i < n; i++) out[i] = op->isd[i] * (eps * sum + (1.0 - eps) * op->ax[i]);
}

// w -= sum_j (q_j . w) q_j over the k vectors of q (row stride n) and z0, twice.
static void reorthogonalise(const double *q, int64_t k, const double *z0, double *w, double *h, int64_t n) {
    for (int pass = 0; pass < 2; pass++) {
        for (int64_t j = 0; j < k; j++) h[j] = useg_spectral_dot(q + j * n, w, n);
        h[k] = useg_spectral_dot(z0, w, n);
        for (int64_t j = 0; j < k; j++) axpy(-h[j], q + j * n, w, n);
        axpy(-h[k], z0, w, n);
    }
}

// --- Twins -----------------------------------------------------------------------------

typedef struct row_key {
    uint64_t hash;
    int64_t index;
} row_key;

static int cmp_row_key(const void *pa, const void *pb) {
    const row_key *a = pa, *b = pb;
    if (a->hash != b->hash) return a->hash < b->hash ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

static bool same_row(const useg_ncut_graph *g, int64_t i, int64_t j) {
    return memcmp(g->adj + i * g->words, g->adj + j * g->words, (size_t)g->words * sizeof(uint64_t)) == 0;
}

// Twins, nodes i, j with identical rows of A (masked patches, repeated
// features), have equal rows of W and equal degrees, so
// (1 - lambda) d_i y_i = (W y)_i gives y_i = y_j whenever lambda != 1.
// Lanczos makes them equal only to its tolerance, which would leave MaskCut's
// argmax and seed choices among them to rounding. Each twin class gets its
// mean (summed in index order), so ties are exact and the first index wins.
// (When lambda = 1 the differences across a twin class are themselves
// eigenvectors; the caller skips this then.) keys: n entries; grouped: n bytes.
static void equalise_twins(const useg_ncut_graph *g, double *y, row_key *keys, uint8_t *grouped) {
    const int64_t n = g->n;
    USEG_ASSERT(n >= 2, "equalise_twins: %lld nodes", (long long)n);
    for (int64_t i = 0; i < n; i++) keys[i] = (row_key){useg_spectral_row_hash(g->adj + i * g->words, g->words), i};
    qsort(keys, (size_t)n, sizeof *keys, cmp_row_key);
    memset(grouped, 0, (size_t)n * sizeof *grouped);
    for (int64_t start = 0, end; start < n; start = end) {
        for (end = start + 1; end < n && keys[end].hash == keys[start].hash;) end++;
        for (int64_t a = start; a < end && end - start > 1; a++) { // a run of equal hashes, by index
            if (grouped[a]) continue;
            const int64_t rep = keys[a].index;
            double sum = 0;
            int64_t count = 0;
            for (int64_t b = a; b < end; b++)
                if (!grouped[b] && same_row(g, rep, keys[b].index)) {
                    sum += y[keys[b].index];
                    count++;
                    grouped[b] = 1;
                }
            const double mean = sum / (double)count;
            for (int64_t b = a; b < end; b++)
                if (same_row(g, rep, keys[b].index)) y[keys[b].index] = mean;
        }
    }
}

// --- Lanczos ----------------------------------------------------------------------

useg_status useg_ncut_fiedler_cpu(useg_ctx *ctx, const useg_ncut_graph *g, const useg_ncut_eig_options *opt,
                                  double *y, useg_ncut_eig_info *info) {
    const int64_t n = g->n, npad = g->words * 64;
    USEG_ASSERT(n >= 2, "ncut_fiedler: %lld nodes", (long long)n);
    const int max_iter = opt && opt->max_iter > 0 ? opt->max_iter : DEFAULT_MAX_ITER;
    const double tol = opt && opt->tol > 0 ? opt->tol : DEFAULT_TOL;
    // z0's complement has dimension n - 1: the Krylov space cannot grow further.
    const int64_t kmax = max_iter < n - 1 ? max_iter : n - 1;

    useg_arena_mark mark = useg_arena_get_mark(&ctx->scratch);
    double *q, *isd, *z0, *w, *x, *ax, *alpha, *beta, *s, *h, *lu;
    uint8_t *swapped, *grouped;
    row_key *keys;
    useg_status st = useg_alloc(ctx, &ctx->scratch, (size_t)(kmax * n) * sizeof(double), (void **)&q);
    if (st == USEG_OK) st = useg_alloc(ctx, &ctx->scratch, (size_t)(npad + 4 * n) * sizeof(double), (void **)&x);
    if (st == USEG_OK) st = useg_alloc(ctx, &ctx->scratch, (size_t)(8 * kmax + 1) * sizeof(double), (void **)&alpha);
    if (st == USEG_OK) st = useg_alloc(ctx, &ctx->scratch, (size_t)n * sizeof(row_key), (void **)&keys);
    if (st == USEG_OK) st = useg_alloc(ctx, &ctx->scratch, (size_t)(kmax + n), (void **)&swapped);
    if (st != USEG_OK) {
        useg_arena_rewind(&ctx->scratch, mark);
        return st;
    }
    isd = x + npad; // x first: arena blocks are 64-byte aligned, as the AVX-512 loads want
    z0 = isd + n;
    w = z0 + n;
    ax = w + n;
    beta = alpha + kmax;
    s = beta + kmax;
    h = s + kmax;          // kmax + 1 entries
    lu = h + kmax + 1;     // 4 * kmax
    grouped = swapped + kmax;
    const useg_tridiag_work wk = {.d = lu, .du = lu + kmax, .du2 = lu + 2 * kmax, .dl = lu + 3 * kmax, .swapped = swapped};
    const operator_m op = {.g = g, .isd = isd, .x = x, .ax = ax,
                           .adj_matvec = use_avx512() ? adj_matvec_avx512 : adj_matvec_generic};

    double dsum = 0;
    for (int64_t i = 0; i < n; i++) dsum += g->degree[i];
    for (int64_t i = 0; i < n; i++) {
        isd[i] = 1.0 / sqrt(g->degree[i]);
        z0[i] = sqrt(g->degree[i] / dsum);
    }
    for (int64_t i = n; i < npad; i++) x[i] = 0;

    // Start: a fixed PCG32 normal vector, projected off z0 (twice, for accuracy).
    useg_rng rng;
    useg_rng_seed(&rng, USEG_NCUT_START_SEED, 0);
    for (int64_t i = 0; i < n; i++) q[i] = useg_rng_normal(&rng);
    reorthogonalise(q, 0, z0, q, h, n);
    useg_spectral_scale(1.0 / sqrt(useg_spectral_dot(q, q, n)), q, n);

    int64_t m = 0; // Lanczos steps taken = order of T
    double estimate = INFINITY;
    for (;;) {
        double *qk = q + m * n;
        apply_m(&op, qk, w);
        alpha[m] = useg_spectral_dot(qk, w, n);
        axpy(-alpha[m], qk, w, n);
        if (m > 0) axpy(-beta[m - 1], qk - n, w, n);
        reorthogonalise(q, m + 1, z0, w, h, n);
        beta[m] = sqrt(useg_spectral_dot(w, w, n));
        m++;
        useg_tridiag_top(alpha, beta, m, &wk, s);
        estimate = beta[m - 1] * fabs(s[m - 1]);
        if (estimate <= tol || beta[m - 1] <= BREAKDOWN || m == kmax) break;
        memcpy(q + m * n, w, (size_t)n * sizeof(double));
        useg_spectral_scale(1.0 / beta[m - 1], q + m * n, n);
    }

    // z = Q s, then its true residual and Rayleigh quotient from one more product.
    double *z = y;
    memset(z, 0, (size_t)n * sizeof(double));
    for (int64_t j = 0; j < m; j++) axpy(s[j], q + j * n, z, n);
    useg_spectral_scale(1.0 / sqrt(useg_spectral_dot(z, z, n)), z, n);
    apply_m(&op, z, w);
    const double mu = useg_spectral_dot(z, w, n);
    axpy(-mu, z, w, n);
    info->eigenvalue = 1.0 - mu;
    info->residual = sqrt(useg_spectral_dot(w, w, n));
    info->iterations = (int)m;
    info->converged = estimate <= tol || beta[m - 1] <= BREAKDOWN || m == n - 1;

    // y = D^(-1/2) z, twins equalised, largest |y_i| (first on ties) positive.
    for (int64_t i = 0; i < n; i++) y[i] = isd[i] * z[i];
    if (fabs(mu) > TWIN_MIN_MU) {
        equalise_twins(g, y, keys, grouped);
        double ydy = 0;
        for (int64_t i = 0; i < n; i++) ydy += g->degree[i] * y[i] * y[i];
        useg_spectral_scale(1.0 / sqrt(ydy), y, n);
    }
    int64_t peak = 0;
    for (int64_t i = 1; i < n; i++)
        if (fabs(y[i]) > fabs(y[peak])) peak = i;
    if (y[peak] < 0) useg_spectral_scale(-1.0, y, n);
    useg_arena_rewind(&ctx->scratch, mark);
    return USEG_OK;
}
