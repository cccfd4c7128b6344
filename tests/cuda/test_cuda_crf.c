// The permutohedral lattice and the dense CRF on the GPU
// (kernels/cuda/permutohedral.cu) against the CPU (kernels/permutohedral.c,
// pseudolabel/crf.c):
//  - lattices of random features (d = 1, 2, 5; n = 1, primes, thousands):
//    the same vertex count, and the filter of random values (groups of 1, 2
//    and 3, in == out) equal to the CPU's within 1e-6 normwise (the same
//    operations in the same order: expected bit for bit), outputs guarded;
//  - the CRF through useg_dense_crf_batch on CUDA tensors, MaskCut's and
//    STEGO's presets, G = 1 and 3 problems, 1 x 1, odd sizes and 480 x 480:
//    labels equal to the CPU's on >= 99.9% of the pixels, Q within 1e-4;
//  - a non-finite feature fails the GPU build as it fails the CPU's.
// Exits 77 without a GPU.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "crf.h"
#include "cuda_check.h"
#include "permutohedral.h"

static void test_lattice(useg_ctx *ctx, int64_t n, int d, double spread) {
    char what[64];
    snprintf(what, sizeof what, "lattice n %lld d %d", (long long)n, d);
    const float *f = host_random(ctx, USEG_F32, n * d, 0, spread, NULL);
    useg_lattice cpu, gpu;
    CHECK_OK(ctx, useg_lattice_build_cpu(ctx, &ctx->step, f, n, d, &cpu));
    CHECK_OK(ctx, useg_lattice_build_cuda(ctx, &ctx->step, to_device(ctx, f, (size_t)(n * d) * sizeof(float)), n, d,
                                          &gpu));
    CHECK(cpu.m == gpu.m, "%s: %lld vertices, CPU %lld", what, (long long)gpu.m, (long long)cpu.m);
    if (cpu.m != gpu.m) return;
    const int groups[3] = {1, 2, 3};
    for (int k = 0; k < 3; k++) {
        const int v = 2 * groups[k];
        const float *in = host_random(ctx, USEG_F32, n * v, -1, 1, NULL);
        float *out = host_random(ctx, USEG_F32, n * v, 0, 1, NULL), *ws;
        CHECK_OK(ctx, useg_alloc(ctx, &ctx->step, useg_lattice_workspace_size(&cpu, v), (void **)&ws));
        CHECK_OK(ctx, useg_lattice_filter_groups_cpu(ctx, &cpu, in, out, v, groups[k], ws));
        double *ref = host_doubles(ctx, n * v);
        for (int64_t i = 0; i < n * v; i++) ref[i] = out[i];
        guarded g;
        void *dev_out = guarded_alloc(ctx, (size_t)(n * v) * sizeof(float), &g);
        void *dev_ws = guarded_alloc(ctx, useg_lattice_workspace_size(&gpu, v), &(guarded){0});
        CHECK_OK(ctx, useg_cuda_memcpy(ctx, dev_out, USEG_DEVICE_CUDA, in, USEG_DEVICE_CPU,
                                       (size_t)(n * v) * sizeof(float)));
        CHECK_OK(ctx, useg_lattice_filter_groups_cuda(ctx, &gpu, dev_out, dev_out, v, groups[k], dev_ws)); // in == out
        char w2[96];
        snprintf(w2, sizeof w2, "%s filter v %d group %d", what, v, groups[k]);
        check_close(ctx, w2, USEG_F32, dev_out, ref, n * v, 1e-6);
        guarded_check(ctx, &g, w2);
    }
    useg_step_end(ctx);
}

// A scene (H, W) of two colour regions with noisy G-problem unaries; the CRF on both devices.
static void test_crf(useg_ctx *ctx, int64_t H, int64_t W, int G, int L, const useg_crf_params *p, const char *name) {
    if (!cuda_case_fits(H * W * G * L * 64)) return;
    char what[96];
    snprintf(what, sizeof what, "crf %s %lldx%lld G %d L %d", name, (long long)H, (long long)W, G, L);
    useg_tensor *im, *un, *im_gpu, *un_gpu, *lab_cpu, *lab_gpu, *q_cpu, *q_gpu;
    CHECK_OK(ctx, useg_empty(ctx, NULL, USEG_U8, 3, (const int64_t[]){H, W, 3}, &im));
    CHECK_OK(ctx, useg_empty(ctx, NULL, USEG_F32, 4, (const int64_t[]){G, L, H, W}, &un));
    const float *noise = host_random(ctx, USEG_F32, H * W * 4, 0, 1, NULL);
    uint8_t *pix = im->data;
    for (int64_t i = 0; i < H * W; i++) {
        const bool inside = (i / W - H / 2) * (i / W - H / 2) + (i % W - W / 3) * (i % W - W / 3) < H * W / 6;
        for (int c = 0; c < 3; c++) pix[i * 3 + c] = (uint8_t)((inside ? 180 : 60) + 40 * noise[i * 4 + c]);
    }
    float *u = un->data;
    for (int g = 0; g < G; g++)
        for (int k = 0; k < L; k++)
            for (int64_t i = 0; i < H * W; i++)
                u[((int64_t)g * L + k) * H * W + i] = (float)(-log(0.05 + noise[(i * 4 + 3 + g + k) % (H * W * 4)]));
    CHECK_OK(ctx, useg_to_device(ctx, im, USEG_DEVICE_CUDA, &im_gpu));
    CHECK_OK(ctx, useg_to_device(ctx, un, USEG_DEVICE_CUDA, &un_gpu));
    CHECK_OK(ctx, useg_dense_crf_batch(ctx, im, un, p, &lab_cpu, &q_cpu));
    CHECK_OK(ctx, useg_dense_crf_batch(ctx, im_gpu, un_gpu, p, &lab_gpu, &q_gpu));
    if (ctx->status != USEG_OK || check_failures) return;
    CHECK(lab_gpu->device == USEG_DEVICE_CUDA && q_gpu->device == USEG_DEVICE_CUDA, "%s: outputs on the GPU", what);
    const int64_t n = G * H * W;
    const uint8_t *a = lab_cpu->data, *b = to_host(ctx, lab_gpu->data, (size_t)n);
    int64_t same = 0;
    for (int64_t i = 0; i < n; i++) same += a[i] == b[i];
    CHECK((double)same >= 0.999 * (double)n, "%s: %lld of %lld labels as on the CPU", what, (long long)same,
          (long long)n);
    check_tensor(ctx, what, q_gpu, q_cpu, 1e-4);
    useg_step_end(ctx);
}

static void test_bad_feature(useg_ctx *ctx) {
    float f[6] = {0, 1, 2, NAN, 4, 5};
    useg_lattice lat;
    CHECK_FAILS(ctx, useg_lattice_build_cuda(ctx, &ctx->step, to_device(ctx, f, sizeof f), 3, 2, &lat),
                USEG_ERR_INVALID_ARG);
    CHECK_FAILS(ctx, useg_lattice_build_cuda(ctx, &ctx->step, to_device(ctx, f, sizeof f), 3, 0, &lat),
                USEG_ERR_INVALID_ARG);
    useg_step_end(ctx);
}

int main(void) {
    useg_ctx ctx;
    int skip = cuda_check_init(&ctx, "cuda_crf");
    if (skip) return skip;
    test_lattice(&ctx, 1, 2, 1);
    test_lattice(&ctx, 97, 1, 20);
    test_lattice(&ctx, 1013, 2, 30);
    test_lattice(&ctx, 4999, 5, 12);
    test_bad_feature(&ctx);
    test_crf(&ctx, 1, 1, 1, 2, &useg_crf_maskcut, "maskcut");
    test_crf(&ctx, 37, 53, 3, 2, &useg_crf_maskcut, "maskcut");
    test_crf(&ctx, 41, 29, 1, 27, &useg_crf_stego, "stego");
    test_crf(&ctx, 480, 480, 3, 2, &useg_crf_maskcut, "maskcut");
    return cuda_check_finish(&ctx, "cuda_crf");
}
