// The normalized cut on the GPU (kernels/cuda/spectral.cu) against the CPU
// kernels (kernels/spectral_cpu.c) and the CPU cut loop (pseudolabel/ncut.c):
//  - graphs from features: clustered features with a known cut, real-ish
//    low-rank features, a graph whose clusters link only through eps
//    (disconnected), all-equal features (every pair linked), n = 1 refused;
//    links agree on >= 99.99% of pairs, eigenvalues within 1e-6, the vector
//    |cos| >= 0.999 with the CPU's and the same side of the mean on >= 99%
//    of nodes (the accuracy);
//  - the batched solve on the very same graphs (copied from the CPU), mixed
//    sizes 2 .. 3600 in one launch, outputs guarded: the same bounds per graph;
//  - MaskCut's cut loop on CUDA features: the same masks on >= 99% of patches.
// Exits 77 without a GPU.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cuda_check.h"
#include "ncut.h"
#include "spectral.h"

// CHECK_OK, then leave the case when it failed.
#define OK_OR_RETURN(ctx, expr)                                                              \
    do {                                                                                     \
        const int failures_ = check_failures;                                                \
        CHECK_OK(ctx, expr);                                                                 \
        if (check_failures != failures_) return;                                             \
    } while (0)

// Features (n, c): `clusters` centres plus noise of size `noise` (clusters 0: all rows equal).
static float *make_features(useg_ctx *ctx, int64_t n, int64_t c, int clusters, double noise) {
    float *f = host_random(ctx, USEG_F32, n * c, -noise, noise, NULL);
    float *centre = host_random(ctx, USEG_F32, (clusters > 0 ? clusters : 1) * c, -1, 1, NULL);
    for (int64_t i = 0; i < n; i++) {
        const int64_t k = clusters > 0 ? (i * 7 / 3) % clusters : 0;
        for (int64_t j = 0; j < c; j++) f[i * c + j] = clusters > 0 ? f[i * c + j] + centre[k * c + j] : 1.0f;
    }
    return f;
}

// The bounds for y (device or host) against the CPU's y_ref.
static void check_vector(const char *what, const double *y, const double *y_ref, int64_t n, double lambda,
                         double lambda_ref) {
    double dot = 0, nn = 0, nr = 0, mean = 0, mean_ref = 0;
    for (int64_t i = 0; i < n; i++) {
        dot += y[i] * y_ref[i], nn += y[i] * y[i], nr += y_ref[i] * y_ref[i];
        mean += y[i] / (double)n, mean_ref += y_ref[i] / (double)n;
    }
    int64_t same = 0;
    for (int64_t i = 0; i < n; i++) same += (y[i] > mean) == (y_ref[i] > mean_ref);
    const double cosine = fabs(dot) / sqrt(nn * nr);
    CHECK(cosine >= 0.999, "%s: |cos| with the CPU vector %.6f", what, cosine);
    CHECK((double)same >= 0.99 * (double)n, "%s: %lld of %lld nodes on the CPU's side", what, (long long)same,
          (long long)n);
    CHECK(fabs(lambda - lambda_ref) <= 1e-6, "%s: eigenvalue %.12g, CPU %.12g", what, lambda, lambda_ref);
}

// Graph and Fiedler vector of features f on both devices through the public API.
static void test_features(useg_ctx *ctx, const char *what, const float *f, int64_t n, int64_t c, double tau,
                          bool vector_unique) {
    useg_tensor *cpu, *gpu, *y_cpu, *y_gpu;
    CHECK_OK(ctx, useg_wrap(ctx, USEG_F32, 2, (const int64_t[]){n, c}, (void *)f, &cpu));
    CHECK_OK(ctx, useg_to_device(ctx, cpu, USEG_DEVICE_CUDA, &gpu));
    useg_ncut_graph g_cpu, g_gpu;
    useg_ncut_eig_info i_cpu, i_gpu;
    OK_OR_RETURN(ctx, useg_ncut_affinity(ctx, NULL, cpu, tau, 1e-5, &g_cpu));
    OK_OR_RETURN(ctx, useg_ncut_affinity(ctx, NULL, gpu, tau, 1e-5, &g_gpu));
    CHECK(g_gpu.device == USEG_DEVICE_CUDA, "%s: the graph of CUDA features is on the GPU", what);
    const uint64_t *adj = to_host(ctx, g_gpu.adj, (size_t)(n * g_gpu.words) * sizeof(uint64_t));
    int64_t differ = 0;
    for (int64_t k = 0; k < n * g_gpu.words; k++) differ += __builtin_popcountll(adj[k] ^ g_cpu.adj[k]);
    CHECK((double)differ <= 1e-4 * (double)(n * n), "%s: %lld of %lld links differ", what, (long long)differ,
          (long long)(n * n));
    OK_OR_RETURN(ctx, useg_ncut_fiedler(ctx, &g_cpu, NULL, &y_cpu, &i_cpu));
    OK_OR_RETURN(ctx, useg_ncut_fiedler(ctx, &g_gpu, NULL, &y_gpu, &i_gpu));
    const double *y = to_host(ctx, y_gpu->data, (size_t)n * sizeof(double));
    if (vector_unique) check_vector(what, y, y_cpu->data, n, i_gpu.eigenvalue, i_cpu.eigenvalue);
    else CHECK(fabs(i_gpu.eigenvalue - i_cpu.eigenvalue) <= 1e-6, "%s: eigenvalue %.12g, CPU %.12g", what,
               i_gpu.eigenvalue, i_cpu.eigenvalue);
    CHECK(i_gpu.converged == i_cpu.converged, "%s: converged %d, CPU %d", what, i_gpu.converged, i_cpu.converged);
}

static void test_graphs(useg_ctx *ctx) {
    test_features(ctx, "two clusters", make_features(ctx, 90, 16, 2, 0.3), 90, 16, 0.15, true);
    test_features(ctx, "real-ish 900", make_features(ctx, 900, 64, 5, 0.8), 900, 64, 0.15, true);
    test_features(ctx, "disconnected", make_features(ctx, 200, 8, 2, 0.05), 200, 8, 0.9, true);
    test_features(ctx, "all equal", make_features(ctx, 77, 5, 0, 0), 77, 5, 0.15, false);
    useg_tensor *one_cpu, *one;
    CHECK_OK(ctx, useg_wrap(ctx, USEG_F32, 2, (const int64_t[]){1, 4}, make_features(ctx, 1, 4, 1, 0.1), &one_cpu));
    CHECK_OK(ctx, useg_to_device(ctx, one_cpu, USEG_DEVICE_CUDA, &one));
    useg_ncut_graph g;
    CHECK_FAILS(ctx, useg_ncut_affinity(ctx, NULL, one, 0.15, 1e-5, &g), USEG_ERR_SHAPE);
    useg_step_end(ctx);
}

// The batched solve on graphs built on the CPU and copied to the GPU (so
// both solvers see the same graph), sizes mixed in one launch.
static void test_batch(useg_ctx *ctx) {
    const int64_t sizes[] = {2, 37, 64, 65, 300, 900, 3600};
    enum { B = sizeof sizes / sizeof sizes[0] };
    useg_ncut_graph cpu[B], gpu[B];
    double *y[B], *y_ref[B];
    guarded guard[B];
    useg_ncut_eig_info info[B], info_ref[B];
    int batch = 0;
    for (int b = 0; b < B; b++) {
        const int64_t n = sizes[b];
        if (!cuda_case_fits(n * n)) continue;
        useg_tensor *f;
        CHECK_OK(ctx, useg_wrap(ctx, USEG_F32, 2, (const int64_t[]){n, 24}, make_features(ctx, n, 24, 3, 0.7), &f));
        OK_OR_RETURN(ctx, useg_ncut_affinity(ctx, NULL, f, 0.15, 1e-5, &cpu[batch]));
        y_ref[batch] = host_doubles(ctx, n);
        OK_OR_RETURN(ctx, useg_ncut_fiedler_cpu(ctx, &cpu[batch], NULL, y_ref[batch], &info_ref[batch]));
        gpu[batch] = cpu[batch];
        gpu[batch].device = USEG_DEVICE_CUDA;
        gpu[batch].adj = to_device(ctx, cpu[batch].adj, (size_t)(n * cpu[batch].words) * sizeof(uint64_t));
        gpu[batch].degree = to_device(ctx, cpu[batch].degree, (size_t)n * sizeof(double));
        y[batch] = guarded_alloc(ctx, (size_t)n * sizeof(double), &guard[batch]);
        batch++;
    }
    OK_OR_RETURN(ctx, useg_ncut_fiedler_batch_cuda(ctx, gpu, batch, NULL, y, info));
    for (int b = 0; b < batch; b++) {
        char what[64];
        snprintf(what, sizeof what, "batch graph %d (n = %lld)", b, (long long)gpu[b].n);
        guarded_check(ctx, &guard[b], what);
        const double *yh = to_host(ctx, y[b], (size_t)gpu[b].n * sizeof(double));
        check_vector(what, yh, y_ref[b], gpu[b].n, info[b].eigenvalue, info_ref[b].eigenvalue);
        CHECK(info[b].iterations <= info_ref[b].iterations + 2 && info[b].converged == info_ref[b].converged,
              "%s: %d steps (converged %d), CPU %d (%d)", what, info[b].iterations, info[b].converged,
              info_ref[b].iterations, info_ref[b].converged);
        CHECK(info[b].residual <= 1e-6, "%s: residual %g", what, info[b].residual);
    }
    useg_step_end(ctx);
}

// MaskCut's cut loop on CUDA features against the CPU loop.
static void test_maskcut(useg_ctx *ctx) {
    const int64_t h = 30, w = 30, c = 32;
    useg_tensor *cpu, *gpu, *m_cpu, *m_gpu;
    CHECK_OK(ctx, useg_wrap(ctx, USEG_F32, 3, (const int64_t[]){h, w, c}, make_features(ctx, h * w, c, 4, 0.6), &cpu));
    CHECK_OK(ctx, useg_to_device(ctx, cpu, USEG_DEVICE_CUDA, &gpu));
    useg_maskcut_options opt = useg_maskcut_default_options();
    useg_maskcut_info info_cpu[3], info_gpu[3];
    int count_cpu, count_gpu;
    OK_OR_RETURN(ctx, useg_maskcut(ctx, cpu, &opt, &m_cpu, info_cpu, &count_cpu));
    OK_OR_RETURN(ctx, useg_maskcut(ctx, gpu, &opt, &m_gpu, info_gpu, &count_gpu));
    CHECK(count_cpu == count_gpu, "maskcut: %d masks, CPU %d", count_gpu, count_cpu);
    const uint8_t *a = m_cpu->data, *b = m_gpu->data;
    int64_t same = 0, n = (int64_t)count_cpu * h * w;
    for (int64_t i = 0; i < n; i++) same += a[i] == b[i];
    CHECK((double)same >= 0.99 * (double)n, "maskcut: %lld of %lld mask pixels as on the CPU", (long long)same,
          (long long)n);
    useg_step_end(ctx);
}

int main(void) {
    useg_ctx ctx;
    int skip = cuda_check_init(&ctx, "cuda_ncut");
    if (skip) return skip;
    test_graphs(&ctx);
    test_batch(&ctx);
    test_maskcut(&ctx);
    return cuda_check_finish(&ctx, "cuda_ncut");
}
