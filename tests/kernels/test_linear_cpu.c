// The AVX-512 linear kernel (kernels/linear_cpu.c) against a double-precision
// triple loop: token counts around its 16-token vectors and 48-token tiles
// (1 .. 300, primes; below 16 only its dot-product tail runs), feature counts around its 8-feature tiles, K below,
// at and above its 512-long chunks (so accumulators are parked between
// chunks) and not a multiple of its 16-wide transposes, padded row strides,
// with and without bias; a token count over one block of X^T (K = 1500:
// blocks of 144 tokens). Guard values around Y must stay untouched. Each
// product is recomputed under 1, 2, 3 and 8 threads and must match bit for
// bit (the small products run on one thread whatever the count; the last
// few are large enough to be split). With USEG_NO_AVX512 set (the second meson test) the kernel must
// report itself unavailable; the test then checks only that.
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "linear_cpu.h"

static const float GUARD = 12345.0f;

// Values in [-1, 1] from a hash of i (distinct per seed).
static float value(int64_t i, int64_t seed) {
    uint64_t h = (uint64_t)(i + 1) * 0x9E3779B97F4A7C15ull ^ (uint64_t)seed * 0xBF58476D1CE4E5B9ull;
    h ^= h >> 31;
    return (float)((double)(h % 2001) / 1000.0 - 1.0);
}

// Y (M rows of ldy, guards in the padding and after the end) for threads.
static float *run(int64_t M, int64_t N, int64_t K, const float *X, int64_t ldx, const float *W, int64_t ldw,
                  const float *bias, int64_t ldy, int threads) {
    omp_set_num_threads(threads);
    const size_t y_len = (size_t)(M * ldy + 16);
    float *Y = malloc(y_len * sizeof(float));
    for (size_t i = 0; i < y_len; i++) Y[i] = GUARD;
    void *ws = aligned_alloc(64, (useg_linear_f32_cpu_workspace_size(M, K) + 63) / 64 * 64 + 64);
    useg_linear_f32_cpu(M, N, K, X, ldx, W, ldw, bias, Y, ldy, ws);
    free(ws);
    return Y;
}

static void check_case(int64_t M, int64_t N, int64_t K, bool with_bias) {
    const int64_t ldx = K + 5, ldw = K + 3, ldy = N + 7;
    float *X = malloc((size_t)(M * ldx + 1) * sizeof(float)), *W = malloc((size_t)(N * ldw + 1) * sizeof(float));
    float *bias = malloc((size_t)(N + 1) * sizeof(float));
    for (int64_t i = 0; i < M * ldx; i++) X[i] = value(i, 1);
    for (int64_t i = 0; i < N * ldw; i++) W[i] = value(i, 2);
    for (int64_t i = 0; i < N; i++) bias[i] = value(i, 3);
    float *Y = run(M, N, K, X, ldx, W, ldw, with_bias ? bias : NULL, ldy, 1);
    double worst = 0;
    int64_t guards_hit = 0;
    for (int64_t i = 0; i < M; i++) {
        for (int64_t j = 0; j < N; j++) {
            double ref = with_bias ? bias[j] : 0, scale = 1 + fabs(ref);
            for (int64_t k = 0; k < K; k++) {
                const double p = (double)X[i * ldx + k] * (double)W[j * ldw + k];
                ref += p;
                scale += fabs(p);
            }
            const double err = fabs(Y[i * ldy + j] - ref) / scale;
            if (!(err <= worst)) worst = err; // NaN propagates
        }
        for (int64_t j = N; j < ldy && i * ldy + j < M * ldy; j++) guards_hit += Y[i * ldy + j] != GUARD;
    }
    for (int64_t i = M * ldy; i < M * ldy + 16; i++) guards_hit += Y[i] != GUARD;
    CHECK(worst <= 1e-6, "%lldx%lldx%lld bias=%d: error %.3g", (long long)M, (long long)K, (long long)N, with_bias,
          worst);
    CHECK(guards_hit == 0, "%lldx%lldx%lld: %lld guard values overwritten", (long long)M, (long long)K,
          (long long)N, (long long)guards_hit);
    const int threads[] = {2, 3, 8};
    for (int t = 0; t < 3; t++) {
        float *Yt = run(M, N, K, X, ldx, W, ldw, with_bias ? bias : NULL, ldy, threads[t]);
        CHECK(memcmp(Y, Yt, (size_t)(M * ldy + 16) * sizeof(float)) == 0,
              "%lldx%lldx%lld: %d threads differ from 1", (long long)M, (long long)K, (long long)N, threads[t]);
        free(Yt);
    }
    free(Y);
    free(X);
    free(W);
    free(bias);
}

int main(void) {
    if (getenv("USEG_NO_AVX512")) {
        CHECK(!useg_linear_f32_cpu_available(), "USEG_NO_AVX512 is set, yet the AVX-512 kernel is on");
        return check_report("linear_cpu (USEG_NO_AVX512: kernel off)");
    }
    if (!useg_linear_f32_cpu_available()) {
        printf("linear_cpu: no AVX-512 F/DQ/VL on this CPU; skipped\n");
        return 77;
    }
    const int64_t tokens[] = {1, 2, 15, 16, 17, 31, 47, 48, 49, 97, 197, 300};
    const int64_t features[] = {1, 3, 8, 13, 64, 67};
    const int64_t ks[] = {0, 1, 7, 16, 61, 512, 513, 1031};
    for (size_t m = 0; m < sizeof tokens / sizeof *tokens; m++)
        for (size_t n = 0; n < sizeof features / sizeof *features; n++)
            for (size_t k = 0; k < sizeof ks / sizeof *ks; k++)
                check_case(tokens[m], features[n], ks[k], (m + n + k) % 2 == 0);
    // Above the kernel's threading threshold (2^24 multiply-adds): the
    // thread counts really split the feature tiles (unevenly).
    check_case(197, 1152, 384, true); // ViT-S/16 qkv
    check_case(389, 29, 1500, true);  // three token blocks, the last partial
    check_case(97, 211, 1031, false);
    check_case(300, 13, 5003, true);
    check_case(49, 389, 1031, true);
    return check_report("linear_cpu");
}
