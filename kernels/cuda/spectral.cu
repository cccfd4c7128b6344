// CUDA kernels of the normalized cut (kernels/spectral.h): the bit-matrix
// affinity graph, its restriction to MaskCut's live patches, and a batched
// Lanczos solve for the second generalised eigenvector, one thread block per
// graph.
//
// Affinity. Rows are unit-normalised as the CPU does (sum of squares in
// double, norm rounded to f32, x / norm in f32), S = U U' is one cuBLAS f32
// GEMM (TF32 switched off for the call), and a threshold kernel packs bit j
// of row i from S[max(i, j), min(i, j)], the lower triangle the CPU uses, so
// A is exactly symmetric even where cuBLAS rounds S_ij and S_ji apart. The
// products differ from OpenBLAS's by rounding, so a similarity within ~1e-7
// of tau may link on one device and not on the other.
//
// Lanczos. The block of a graph runs spectral_cpu.c's loop unchanged:
// start = the same PCG32 normals (drawn on the host), z0 deflation, full
// classical Gram-Schmidt applied twice, the top eigenpair of T by the shared
// bisection + inverse iteration (spectral_common.h, on one thread), the test
// |beta_k s_k| <= tol, the cap min(max_iter, n - 1), the twin rule and the
// sign rule. Parallel pieces:
//   A x         one warp per row: lane l adds x[64k + l] and x[64k + l + 32]
//               where row word k has those bits, then a butterfly sum;
//   q_j . w     one warp per j (all j of the Gram-Schmidt pass at once);
//   w -= Q h    one thread per entry, j in increasing order;
//   twins       row hashes, then each node's first twin by a scan of the
//               earlier nodes (O(n^2) hash compares, ~10 us at n = 3600);
//               each class sums y in index order, as the CPU does.
// Every reduction is a fixed tree (cuda_common.cuh), never an atomic, so
// the result is the same bit for bit from run to run; it differs from the
// CPU's in summation order only.
//
// Batching. B graphs of any sizes are B blocks of one kernel; each stops at
// its own convergence. Workspace: per graph kmax n doubles of Krylov basis
// plus O(n + kmax), from the device scratch arena (64 graphs of 3600 nodes at
// the 300-step cap: 550 MB).
//
// Not yet run on a GPU: built for sm_80 / sm_90 and checked on the host
// (tests/cuda/test_cuda_host.cu replays the warp-per-row product's bit
// mapping and the threshold's triangle rule); tests/cuda/test_cuda_ncut.c
// holds the GPU comparison with the CPU solver.
#include <math.h>
#include <string.h>

#include "cuda_common.cuh"
extern "C" {
#include "rng.h"
#include "spectral.h"
}
#include "spectral_common.h"
#include "spectral_math.cuh"

enum { LANCZOS_THREADS = 512, LANCZOS_WARPS = LANCZOS_THREADS / WARP };
enum { DEFAULT_MAX_ITER = 300 };
static const double DEFAULT_TOL = 1e-8;
// As spectral_cpu.c: |M| <= 1, so a smaller off-diagonal means an invariant Krylov space.
static const double BREAKDOWN = 1e-14;
// As spectral_cpu.c: below this |mu_2| twins need not tie.
static const double TWIN_MIN_MU = 1e-12;

// --- Graph construction ---------------------------------------------------------------

// unit (n, c) = rows of feats scaled to unit length (F.normalize, the CPU's
// arithmetic); *bad = the first non-finite feature's flat index (min), left
// as is when all are finite.
static __global__ void normalize_rows_kernel(const float *feats, float *unit, int64_t n, int64_t c,
                                             unsigned long long *bad) {
    GRID_STRIDE(i, n) {
        const float *x = feats + i * c;
        double ss = 0;
        for (int64_t k = 0; k < c; k++) {
            if (!isfinite(x[k])) atomicMin(bad, (unsigned long long)(i * c + k)); // an integer minimum: deterministic
            ss = __dadd_rn(ss, __dmul_rn((double)x[k], (double)x[k])); // unfused, as the CPU rounds
        }
        const float norm = fmaxf((float)sqrt(ss), 1e-12f);
        for (int64_t k = 0; k < c; k++) unit[i * c + k] = x[k] / norm;
    }
}

// Word k of row i of A from S (n, n): bit b is S[max(i, j), min(i, j)] > tau, j = 64 k + b < n.
static __global__ void threshold_kernel(const float *s, int64_t n, int64_t words, float tau, uint64_t *adj) {
    GRID_STRIDE(e, n * words) {
        const int64_t i = e / words, k = e % words;
        uint64_t word = 0;
        for (int b = 0; b < 64 && 64 * k + b < n; b++) word |= (uint64_t)(s[lower_index(i, 64 * k + b, n)] > tau) << b;
        adj[e] = word;
    }
}

// d_i = |A_i| + (n - |A_i|) eps, rounded as the CPU rounds it (no fused multiply-add).
static __global__ void degree_kernel(const uint64_t *adj, int64_t n, int64_t words, double eps, double *degree) {
    GRID_STRIDE(i, n) {
        int64_t links = 0;
        for (int64_t k = 0; k < words; k++) links += __popcll(adj[i * words + k]);
        degree[i] = __dadd_rn((double)links, __dmul_rn((double)(n - links), eps));
    }
}

// Row i of the restricted graph (useg_ncut_restrict_cpu): links between live
// patches kept, a dead patch's links all 1 (zero_links) or all 0.
static __global__ void restrict_kernel(const uint64_t *src, const uint8_t *live, int64_t n, int64_t words,
                                       bool zero_links, uint64_t *dst) {
    GRID_STRIDE(e, n * words) {
        const int64_t i = e / words, k = e % words;
        uint64_t live_bits = 0, valid = 0;
        for (int b = 0; b < 64 && 64 * k + b < n; b++) {
            valid |= 1ull << b;
            live_bits |= (uint64_t)(live[64 * k + b] != 0) << b;
        }
        const uint64_t dead = valid & ~live_bits;
        if (live[i]) dst[e] = (src[e] & live_bits) | (zero_links ? dead : 0);
        else dst[e] = zero_links ? valid : 0;
    }
}

// The graph's arrays on the device, in the device arena of a's lifetime.
static useg_status graph_alloc(useg_ctx *ctx, useg_arena *a, int64_t n, double eps, useg_ncut_graph *g) {
    g->n = n;
    g->words = (n + 63) / 64;
    g->eps = eps;
    g->device = USEG_DEVICE_CUDA;
    USEG_TRY(useg_cuda_lifetime_alloc(ctx, a, (size_t)(n * g->words) * sizeof(uint64_t), (void **)&g->adj));
    return useg_cuda_lifetime_alloc(ctx, a, (size_t)n * sizeof(double), (void **)&g->degree);
}

static useg_status set_degrees(useg_ctx *ctx, useg_ncut_graph *g) {
    degree_kernel<<<grid_for(g->n, 256), 256, 0, useg_stream(ctx)>>>(g->adj, g->n, g->words, g->eps, g->degree);
    return useg_launch_check(ctx, "ncut degree_kernel");
}

extern "C" useg_status useg_ncut_affinity_cuda(useg_ctx *ctx, useg_arena *a, const float *feats, int64_t n,
                                               int64_t c, double tau, double eps, useg_ncut_graph *g) {
    USEG_TRY(graph_alloc(ctx, a, n, eps, g));
    useg_scratch_mark mark = useg_scratch_get_mark(ctx);
    float *unit, *s;
    unsigned long long *bad;
    useg_status st = useg_cuda_scratch(ctx, (size_t)(n * c) * sizeof(float), (void **)&unit);
    if (st == USEG_OK) st = useg_cuda_scratch(ctx, (size_t)(n * n) * sizeof(float), (void **)&s);
    if (st == USEG_OK) st = useg_cuda_scratch(ctx, sizeof *bad, (void **)&bad);
    if (st == USEG_OK) st = useg_cuda_memset(ctx, bad, 0xFF, sizeof *bad);
    if (st == USEG_OK) {
        normalize_rows_kernel<<<grid_for(n, 128), 128, 0, useg_stream(ctx)>>>(feats, unit, n, c, bad);
        st = useg_launch_check(ctx, "ncut normalize_rows_kernel");
    }
    unsigned long long first_bad = ~0ull;
    if (st == USEG_OK) st = useg_cuda_memcpy(ctx, &first_bad, USEG_DEVICE_CPU, bad, USEG_DEVICE_CUDA, sizeof first_bad);
    if (st == USEG_OK && first_bad != ~0ull)
        st = useg_fail(ctx, USEG_ERR_INVALID_ARG, "ncut_affinity: feature %lld of patch %lld is not finite",
                       (long long)(first_bad % (unsigned long long)c), (long long)(first_bad / (unsigned long long)c));
    if (st == USEG_OK) {
        // (n, n) = (n, c) x (n, c)' in true f32: TF32's 1e-3 error would flip links near tau.
        const bool tf32 = ctx->cuda->allow_tf32;
        ctx->cuda->allow_tf32 = false;
        st = useg_gemm_cuda(ctx, USEG_F32, false, true, n, n, c, 1.0f, unit, c, unit, c, 0.0f, s, n);
        ctx->cuda->allow_tf32 = tf32;
    }
    if (st == USEG_OK) {
        // The reference compares f32 similarities with tau rounded to f32.
        threshold_kernel<<<grid_for(n * g->words, 256), 256, 0, useg_stream(ctx)>>>(s, n, g->words, (float)tau,
                                                                                      g->adj);
        st = useg_launch_check(ctx, "ncut threshold_kernel");
    }
    if (st == USEG_OK) st = set_degrees(ctx, g);
    useg_scratch_rewind(ctx, mark);
    return st;
}

extern "C" useg_status useg_ncut_restrict_cuda(useg_ctx *ctx, useg_arena *a, const useg_ncut_graph *g,
                                               const uint8_t *live, double tau, useg_ncut_graph *out) {
    USEG_TRY(graph_alloc(ctx, a, g->n, g->eps, out));
    const int64_t cells = g->n * g->words;
    // A zeroed row has S = 0 with every patch, itself included.
    restrict_kernel<<<grid_for(cells, 256), 256, 0, useg_stream(ctx)>>>(g->adj, live, g->n, g->words,
                                                                         0.0f > (float)tau, out->adj);
    USEG_TRY(useg_launch_check(ctx, "ncut restrict_kernel"));
    return set_degrees(ctx, out);
}

// --- Lanczos, one block per graph -------------------------------------------------------

// One graph of the batch: its arrays, its output and its slice of the workspace.
struct lanczos_job {
    const uint64_t *adj;
    const double *degree;
    int64_t n, words, kmax;
    double eps;
    double *y;        // (n) output
    double *q;        // (kmax, n) Lanczos basis
    double *x;        // (n) D^(-1/2) v, the input of A x
    double *isd;      // (n) d^(-1/2)
    double *z0;       // (n) the trivial eigenvector
    double *w;        // (n)
    double *ax;       // (n)
    double *t;        // (8 kmax + 1): alpha, beta, s, h (kmax + 1), LU of T (4 kmax)
    uint64_t *hash;   // (n) row hashes
    int64_t *twin;    // (n) first node with the same row
    uint8_t *flags;   // (kmax) pivoting record of T's LU, then (n) "class has twins"
};

// Per graph, read back by the host.
struct lanczos_result {
    double eigenvalue, residual;
    int iterations;
    int converged;
};

// Block-wide sum of v[0..n) * u[0..n) (u NULL: of v), every thread gets it.
static __device__ double block_dot(const double *v, const double *u, int64_t n, double *shared) {
    double acc = 0;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) acc += v[i] * (u ? u[i] : 1.0);
    return block_sum(acc, shared);
}

// out = M v = D^(-1/2) (eps 11' + (1 - eps) A) D^(-1/2) v.
static __device__ void apply_m(const lanczos_job &J, const double *v, double *out, double *shared) {
    const int64_t n = J.n;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) J.x[i] = J.isd[i] * v[i];
    __syncthreads();
    const double sum = block_dot(J.x, nullptr, n, shared);
    const int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP;
    for (int64_t i = warp; i < n; i += LANCZOS_WARPS) {
        const uint64_t *row = J.adj + i * J.words;
        double acc = 0;
        for (int64_t k = 0; k < J.words; k++) {
            const uint64_t m = row[k];
            for (int half = 0; half < 2; half++) {
                const int64_t j = adj_column(k, lane, half);
                if ((m >> (lane + 32 * half)) & 1) acc += J.x[j];
            }
        }
        acc = warp_sum(acc);
        if (lane == 0) J.ax[i] = acc;
    }
    __syncthreads();
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) out[i] = J.isd[i] * (J.eps * sum + (1.0 - J.eps) * J.ax[i]);
    __syncthreads();
}

// w -= sum_j (q_j . w) q_j over the k rows of q and z0, classical Gram-Schmidt twice.
static __device__ void reorthogonalise(const lanczos_job &J, int64_t k, double *w, double *h) {
    const int64_t n = J.n;
    const int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP;
    for (int pass = 0; pass < 2; pass++) {
        for (int64_t j = warp; j <= k; j += LANCZOS_WARPS) { // row k stands for z0
            const double *qj = j < k ? J.q + j * n : J.z0;
            double acc = 0;
            for (int64_t i = lane; i < n; i += WARP) acc += qj[i] * w[i];
            acc = warp_sum(acc);
            if (lane == 0) h[j] = acc;
        }
        __syncthreads();
        for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
            double v = w[i];
            for (int64_t j = 0; j < k; j++) v -= h[j] * J.q[j * n + i];
            w[i] = v - h[k] * J.z0[i];
        }
        __syncthreads();
    }
}

// Scale v[0..n) by alpha (block-wide).
static __device__ void block_scale(double alpha, double *v, int64_t n) {
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) v[i] *= alpha;
    __syncthreads();
}

static __device__ bool same_row(const lanczos_job &J, int64_t i, int64_t j) {
    for (int64_t k = 0; k < J.words; k++)
        if (J.adj[i * J.words + k] != J.adj[j * J.words + k]) return false;
    return true;
}

// spectral_cpu.c's equalise_twins: each class of identical rows gets the
// mean of its y, summed in index order.
static __device__ void equalise_twins(const lanczos_job &J) {
    const int64_t n = J.n;
    uint8_t *has_twins = J.flags;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
        J.hash[i] = useg_spectral_row_hash(J.adj + i * J.words, J.words);
        has_twins[i] = 0;
    }
    __syncthreads();
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
        int64_t first = i;
        for (int64_t j = 0; j < i; j++)
            if (J.hash[j] == J.hash[i] && same_row(J, i, j)) {
                first = j;
                break;
            }
        J.twin[i] = first;
    }
    __syncthreads();
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
        if (J.twin[i] != i) has_twins[J.twin[i]] = 1; // every writer stores 1
    __syncthreads();
    // A class's first node sums it; w holds the means (the sums read y, which is not written yet).
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
        if (J.twin[i] != i || !has_twins[i]) continue;
        double sum = 0;
        int64_t count = 0;
        for (int64_t j = i; j < n; j++)
            if (J.twin[j] == i) sum += J.y[j], count++;
        J.w[i] = sum / (double)count;
    }
    __syncthreads();
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
        if (has_twins[J.twin[i]]) J.y[i] = J.w[J.twin[i]];
    __syncthreads();
}

// First index of the largest |v_i| (block-wide).
static __device__ int64_t block_argmax_abs(const double *v, int64_t n, double *shared_v, int64_t *shared_i) {
    double best = -1;
    int64_t at = 0;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
        if (fabs(v[i]) > best) best = fabs(v[i]), at = i; // i increases: the first index wins ties
    for (int o = WARP / 2; o > 0; o /= 2) {
        const double ov = __shfl_xor_sync(0xffffffffu, best, o);
        const int64_t oi = __shfl_xor_sync(0xffffffffu, at, o);
        if (argmax_prefers(ov, oi, best, at)) best = ov, at = oi;
    }
    const int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP;
    __syncthreads();
    if (lane == 0) shared_v[warp] = best, shared_i[warp] = at;
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int k = 1; k < LANCZOS_WARPS; k++)
            if (argmax_prefers(shared_v[k], shared_i[k], shared_v[0], shared_i[0]))
                shared_v[0] = shared_v[k], shared_i[0] = shared_i[k];
    }
    __syncthreads();
    return shared_i[0];
}

static __global__ void __launch_bounds__(LANCZOS_THREADS)
    lanczos_kernel(const lanczos_job *jobs, const double *start, int max_iter, double tol, lanczos_result *results) {
    const lanczos_job J = jobs[blockIdx.x];
    const int64_t n = J.n, kmax = J.kmax;
    __shared__ double shared[WARP];
    __shared__ int64_t shared_i[WARP];
    __shared__ int stop;
    double *alpha = J.t, *beta = alpha + kmax, *s = beta + kmax, *h = s + kmax, *lu = h + kmax + 1;
    const useg_tridiag_work wk = {lu, lu + kmax, lu + 2 * kmax, lu + 3 * kmax, J.flags};

    const double dsum = block_dot(J.degree, nullptr, n, shared);
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
        J.isd[i] = 1.0 / sqrt(J.degree[i]);
        J.z0[i] = sqrt(J.degree[i] / dsum);
        J.q[i] = start[i];
    }
    __syncthreads();
    reorthogonalise(J, 0, J.q, h);
    block_scale(1.0 / sqrt(block_dot(J.q, J.q, n, shared)), J.q, n);

    int64_t m = 0;
    double estimate = INFINITY;
    for (;;) {
        const double *qk = J.q + m * n;
        apply_m(J, qk, J.w, shared);
        const double a = block_dot(qk, J.w, n, shared);
        for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
            J.w[i] = J.w[i] - a * qk[i] - (m > 0 ? beta[m - 1] * qk[i - n] : 0.0);
        __syncthreads();
        reorthogonalise(J, m + 1, J.w, h);
        const double b = sqrt(block_dot(J.w, J.w, n, shared));
        m++;
        if (threadIdx.x == 0) {
            alpha[m - 1] = a;
            beta[m - 1] = b;
            useg_tridiag_top(alpha, beta, m, &wk, s);
            estimate = b * fabs(s[m - 1]);
            stop = estimate <= tol || b <= BREAKDOWN || m == kmax;
        }
        __syncthreads();
        if (stop) break;
        for (int64_t i = threadIdx.x; i < n; i += blockDim.x) J.q[m * n + i] = J.w[i] / b;
        __syncthreads();
    }

    // z = Q s (in y), its residual and Rayleigh quotient from one more product.
    double *z = J.y;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
        double v = 0;
        for (int64_t j = 0; j < m; j++) v += s[j] * J.q[j * n + i];
        z[i] = v;
    }
    __syncthreads();
    block_scale(1.0 / sqrt(block_dot(z, z, n, shared)), z, n);
    apply_m(J, z, J.w, shared);
    const double mu = block_dot(z, J.w, n, shared);
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) J.w[i] -= mu * z[i];
    __syncthreads();
    const double residual = sqrt(block_dot(J.w, J.w, n, shared));

    // y = D^(-1/2) z, twins equalised, largest |y_i| (first on ties) positive.
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) J.y[i] = J.isd[i] * z[i];
    __syncthreads();
    if (fabs(mu) > TWIN_MIN_MU) {
        equalise_twins(J);
        double ydy = 0;
        for (int64_t i = threadIdx.x; i < n; i += blockDim.x) ydy += J.degree[i] * J.y[i] * J.y[i];
        block_scale(1.0 / sqrt(block_sum(ydy, shared)), J.y, n);
    }
    const int64_t peak = block_argmax_abs(J.y, n, shared, shared_i);
    if (J.y[peak] < 0) block_scale(-1.0, J.y, n);
    if (threadIdx.x == 0) {
        const double b = beta[m - 1];
        results[blockIdx.x] = {1.0 - mu, residual, (int)m, estimate <= tol || b <= BREAKDOWN || m == n - 1};
    }
}

// Bytes of one job's workspace: kmax n + 6 n + 8 kmax + 1 doubles, n hashes
// and indices, kmax + n flag bytes, each piece rounded to 256 bytes.
static size_t job_bytes(int64_t n, int64_t kmax) {
    return useg_device_align_up((size_t)(kmax * n) * 8) + 6 * useg_device_align_up((size_t)n * 8) +
           useg_device_align_up((size_t)(8 * kmax + 1) * 8) + 2 * useg_device_align_up((size_t)n * 8) +
           useg_device_align_up((size_t)(kmax + n));
}

extern "C" useg_status useg_ncut_fiedler_batch_cuda(useg_ctx *ctx, const useg_ncut_graph *graphs, int batch,
                                                    const useg_ncut_eig_options *opt, double *const *y,
                                                    useg_ncut_eig_info *info) {
    if (batch <= 0) return USEG_OK;
    const int max_iter = opt && opt->max_iter > 0 ? opt->max_iter : DEFAULT_MAX_ITER;
    const double tol = opt && opt->tol > 0 ? opt->tol : DEFAULT_TOL;
    int64_t n_max = 0;
    size_t bytes = 0;
    for (int b = 0; b < batch; b++) {
        const useg_ncut_graph *g = &graphs[b];
        USEG_ASSERT(g->n >= 2 && g->device == USEG_DEVICE_CUDA, "ncut_fiedler_batch_cuda: graph %d (%lld nodes)", b,
                    (long long)g->n);
        n_max = g->n > n_max ? g->n : n_max;
        bytes += job_bytes(g->n, max_iter < g->n - 1 ? max_iter : g->n - 1);
    }
    useg_scratch_mark mark = useg_scratch_get_mark(ctx);
    lanczos_job *jobs_host;
    lanczos_result *results_host;
    double *start_host;
    char *work;
    lanczos_job *jobs;
    lanczos_result *results;
    double *start;
    useg_status st = useg_alloc(ctx, &ctx->scratch, (size_t)batch * sizeof *jobs_host, (void **)&jobs_host);
    if (st == USEG_OK) st = useg_alloc(ctx, &ctx->scratch, (size_t)batch * sizeof *results_host, (void **)&results_host);
    if (st == USEG_OK) st = useg_alloc(ctx, &ctx->scratch, (size_t)n_max * sizeof *start_host, (void **)&start_host);
    if (st == USEG_OK) st = useg_cuda_scratch(ctx, bytes, (void **)&work);
    if (st == USEG_OK) st = useg_cuda_scratch(ctx, (size_t)batch * sizeof *jobs, (void **)&jobs);
    if (st == USEG_OK) st = useg_cuda_scratch(ctx, (size_t)batch * sizeof *results, (void **)&results);
    if (st == USEG_OK) st = useg_cuda_scratch(ctx, (size_t)n_max * sizeof *start, (void **)&start);
    if (st != USEG_OK) goto done;

    { // The CPU's start vector: the first n normals of the fixed PCG32 stream.
        useg_rng rng;
        useg_rng_seed(&rng, USEG_NCUT_START_SEED, 0);
        for (int64_t i = 0; i < n_max; i++) start_host[i] = useg_rng_normal(&rng);
    }
    for (int b = 0; b < batch; b++) {
        const useg_ncut_graph *g = &graphs[b];
        const int64_t n = g->n, kmax = max_iter < n - 1 ? max_iter : n - 1;
        auto take = [&work](size_t b_) {
            char *p = work;
            work += useg_device_align_up(b_);
            return p;
        };
        // A braced list is evaluated left to right: the pieces follow each other in `work`.
        jobs_host[b] = lanczos_job{.adj = g->adj, .degree = g->degree, .n = n, .words = g->words, .kmax = kmax,
                                   .eps = g->eps, .y = y[b],
                                   .q = (double *)take((size_t)(kmax * n) * 8),
                                   .x = (double *)take((size_t)n * 8),
                                   .isd = (double *)take((size_t)n * 8),
                                   .z0 = (double *)take((size_t)n * 8),
                                   .w = (double *)take((size_t)n * 8),
                                   .ax = (double *)take((size_t)n * 8),
                                   .t = (double *)take((size_t)(8 * kmax + 1) * 8),
                                   .hash = (uint64_t *)take((size_t)n * 8),
                                   .twin = (int64_t *)take((size_t)n * 8),
                                   .flags = (uint8_t *)take((size_t)(kmax + n))};
    }
    st = useg_cuda_memcpy(ctx, jobs, USEG_DEVICE_CUDA, jobs_host, USEG_DEVICE_CPU, (size_t)batch * sizeof *jobs);
    if (st == USEG_OK)
        st = useg_cuda_memcpy(ctx, start, USEG_DEVICE_CUDA, start_host, USEG_DEVICE_CPU, (size_t)n_max * sizeof *start);
    // The host copies are pageable, so they are done when the calls return; the kernel reads the device copies.
    if (st == USEG_OK) {
        lanczos_kernel<<<batch, LANCZOS_THREADS, 0, useg_stream(ctx)>>>(jobs, start, max_iter, tol, results);
        st = useg_launch_check(ctx, "ncut lanczos_kernel");
    }
    if (st == USEG_OK)
        st = useg_cuda_memcpy(ctx, results_host, USEG_DEVICE_CPU, results, USEG_DEVICE_CUDA,
                              (size_t)batch * sizeof *results);
    for (int b = 0; st == USEG_OK && b < batch; b++)
        info[b] = useg_ncut_eig_info{results_host[b].eigenvalue, results_host[b].residual, results_host[b].iterations,
                                     results_host[b].converged != 0};
done:
    useg_scratch_rewind(ctx, mark);
    return st;
}
