// Dense CRF and MaskCut post-processing: the C side of test_crf.py, plus
// bad-input, thread-invariance and batch checks.
//
//   test_crf check                              bad inputs, determinism across thread counts, batches
//   test_crf crf maskcut|stego IMAGE UNARY OUT Q  labels (H, W) u8 and marginals of useg_dense_crf
//   test_crf refine IMAGE MASK OUT              useg_maskcut_refine; OUT holds 0/1, or all 0 when dropped
//   test_crf unary MASK OUT                     useg_mask_unary
//   test_crf fill MASK OUT                      useg_fill_holes
//   test_crf threshold MASK OUT                 useg_mask_threshold_half_max
//   test_crf filter FEATURES VALUES OUT         lattice filter of VALUES (N, V) over FEATURES (N, d)
// Arguments other than the mode are .npy files.
#include <math.h>
#include <omp.h>
#include <string.h>

#include "check.h"
#include "crf.h"
#include "npy.h"
#include "permutohedral.h"

// Run one mode; all tensors in ctx->step.
static useg_status run_mode(useg_ctx *ctx, int argc, char **argv) {
    const char *mode = argv[1];
    useg_tensor *a, *b, *out;
    if (!strcmp(mode, "crf") && argc == 7) {
        const useg_crf_params *p = !strcmp(argv[2], "stego") ? &useg_crf_stego : &useg_crf_maskcut;
        useg_tensor *q;
        USEG_TRY(useg_npy_read(ctx, argv[3], NULL, &a));
        USEG_TRY(useg_npy_read(ctx, argv[4], NULL, &b));
        USEG_TRY(useg_dense_crf(ctx, a, b, p, &out, &q));
        USEG_TRY(useg_npy_write(ctx, argv[5], out));
        return useg_npy_write(ctx, argv[6], q);
    }
    if (!strcmp(mode, "refine") && argc == 5) {
        bool kept;
        USEG_TRY(useg_npy_read(ctx, argv[2], NULL, &a));
        USEG_TRY(useg_npy_read(ctx, argv[3], NULL, &b));
        USEG_TRY(useg_maskcut_refine(ctx, a, b, &out, &kept));
        return useg_npy_write(ctx, argv[4], out);
    }
    if (!strcmp(mode, "filter") && argc == 5) {
        USEG_TRY(useg_npy_read(ctx, argv[2], NULL, &a));
        USEG_TRY(useg_npy_read(ctx, argv[3], NULL, &b));
        useg_lattice lat;
        void *ws;
        USEG_TRY(useg_lattice_build_cpu(ctx, &ctx->step, a->data, a->shape[0], (int)a->shape[1], &lat));
        USEG_TRY(useg_alloc(ctx, &ctx->step, useg_lattice_workspace_size(&lat, (int)b->shape[1]), &ws));
        USEG_TRY(useg_empty(ctx, NULL, USEG_F32, 2, b->shape, &out));
        USEG_TRY(useg_lattice_filter_cpu(ctx, &lat, b->data, out->data, (int)b->shape[1], ws));
        printf("lattice vertices: %lld for %lld points\n", (long long)lat.m, (long long)lat.n);
        return useg_npy_write(ctx, argv[4], out);
    }
    if (argc == 4 && (!strcmp(mode, "unary") || !strcmp(mode, "fill") || !strcmp(mode, "threshold"))) {
        USEG_TRY(useg_npy_read(ctx, argv[2], NULL, &a));
        if (!strcmp(mode, "unary"))
            USEG_TRY(useg_mask_unary(ctx, a, &out));
        else if (!strcmp(mode, "fill"))
            USEG_TRY(useg_fill_holes(ctx, a, &out));
        else
            USEG_TRY(useg_mask_threshold_half_max(ctx, a, &out));
        return useg_npy_write(ctx, argv[3], out);
    }
    return useg_fail(ctx, USEG_ERR_INVALID_ARG, "usage: see the top of tests/pseudolabel/test_crf.c");
}

// A synthetic H x W scene (two rectangles on a gradient) and a noisy L-label unary.
static void make_scene(useg_ctx *ctx, int64_t H, int64_t W, int64_t L, useg_tensor **image, useg_tensor **unary) {
    CHECK_OK(ctx, useg_empty(ctx, NULL, USEG_U8, 3, (const int64_t[]){H, W, 3}, image));
    CHECK_OK(ctx, useg_rand_uniform(ctx, NULL, USEG_F32, 3, (const int64_t[]){L, H, W}, 0.1, 3.0, unary));
    uint8_t *im = (*image)->data;
    for (int64_t y = 0; y < H; y++) {
        for (int64_t x = 0; x < W; x++) {
            const bool box = (x > W / 4 && x < W / 2 && y > H / 5) || (x > 2 * W / 3 && y < H / 2);
            for (int c = 0; c < 3; c++) im[(y * W + x) * 3 + c] = (uint8_t)(box ? 200 - 40 * c : (x + y + 30 * c) % 120);
        }
    }
}

static void check_bad_inputs(useg_ctx *ctx) {
    useg_tensor *image, *unary, *labels, *out, *f32_mask, *mask, *other;
    make_scene(ctx, 9, 7, 3, &image, &unary);
    CHECK_OK(ctx, useg_zeros(ctx, NULL, USEG_U8, 2, (const int64_t[]){9, 7}, &mask));
    CHECK_OK(ctx, useg_zeros(ctx, NULL, USEG_U8, 2, (const int64_t[]){7, 9}, &other));
    CHECK_OK(ctx, useg_zeros(ctx, NULL, USEG_F32, 2, (const int64_t[]){9, 7}, &f32_mask));
    // Image and unary disagree on (H, W), or have the wrong dtype or rank.
    useg_tensor *small_image, *bad_unary, *many_labels;
    CHECK_OK(ctx, useg_zeros(ctx, NULL, USEG_U8, 3, (const int64_t[]){9, 6, 3}, &small_image));
    CHECK_FAILS(ctx, useg_dense_crf(ctx, small_image, unary, &useg_crf_maskcut, &labels, NULL), USEG_ERR_SHAPE);
    CHECK_FAILS(ctx, useg_dense_crf(ctx, unary, unary, &useg_crf_maskcut, &labels, NULL), USEG_ERR_SHAPE);
    useg_tensor on_gpu = *image; // only its device is looked at
    on_gpu.device = USEG_DEVICE_CUDA;
    CHECK_FAILS(ctx, useg_dense_crf(ctx, &on_gpu, unary, &useg_crf_maskcut, &labels, NULL), USEG_ERR_UNSUPPORTED);
    CHECK_OK(ctx, useg_zeros(ctx, NULL, USEG_F64, 3, (const int64_t[]){3, 9, 7}, &bad_unary));
    CHECK_FAILS(ctx, useg_dense_crf(ctx, image, bad_unary, &useg_crf_maskcut, &labels, NULL), USEG_ERR_SHAPE);
    CHECK_FAILS(ctx, useg_dense_crf(ctx, image, f32_mask, &useg_crf_maskcut, &labels, NULL), USEG_ERR_SHAPE);
    CHECK_OK(ctx, useg_zeros(ctx, NULL, USEG_F32, 3, (const int64_t[]){257, 9, 7}, &many_labels));
    CHECK_FAILS(ctx, useg_dense_crf(ctx, image, many_labels, &useg_crf_maskcut, &labels, NULL), USEG_ERR_SHAPE);
    // Parameters.
    useg_crf_params p = useg_crf_maskcut;
    p.srgb = 0;
    CHECK_FAILS(ctx, useg_dense_crf(ctx, image, unary, &p, &labels, NULL), USEG_ERR_INVALID_ARG);
    p = useg_crf_stego, p.sxy_gauss = NAN;
    CHECK_FAILS(ctx, useg_dense_crf(ctx, image, unary, &p, &labels, NULL), USEG_ERR_INVALID_ARG);
    p = useg_crf_stego, p.w_bilateral = INFINITY;
    CHECK_FAILS(ctx, useg_dense_crf(ctx, image, unary, &p, &labels, NULL), USEG_ERR_INVALID_ARG);
    p = useg_crf_stego, p.iterations = -1;
    CHECK_FAILS(ctx, useg_dense_crf(ctx, image, unary, &p, &labels, NULL), USEG_ERR_INVALID_ARG);
    // Masks.
    double iou;
    bool kept;
    CHECK_FAILS(ctx, useg_fill_holes(ctx, f32_mask, &out), USEG_ERR_SHAPE);
    CHECK_FAILS(ctx, useg_fill_holes(ctx, image, &out), USEG_ERR_SHAPE);
    CHECK_FAILS(ctx, useg_mask_unary(ctx, f32_mask, &out), USEG_ERR_SHAPE);
    CHECK_FAILS(ctx, useg_mask_iou(ctx, mask, other, &iou), USEG_ERR_SHAPE);
    CHECK_FAILS(ctx, useg_mask_threshold_half_max(ctx, image, &out), USEG_ERR_SHAPE);
    CHECK_FAILS(ctx, useg_maskcut_refine(ctx, image, other, &out, &kept), USEG_ERR_SHAPE);
    // Lattice arguments.
    useg_lattice lat;
    const float bad_features[4] = {0, 1, NAN, 2};
    CHECK_FAILS(ctx, useg_lattice_build_cpu(ctx, &ctx->step, bad_features, 2, 0, &lat), USEG_ERR_INVALID_ARG);
    CHECK_FAILS(ctx, useg_lattice_build_cpu(ctx, &ctx->step, bad_features, 2, 17, &lat), USEG_ERR_INVALID_ARG);
    CHECK_FAILS(ctx, useg_lattice_build_cpu(ctx, &ctx->step, bad_features, 0, 2, &lat), USEG_ERR_INVALID_ARG);
    CHECK_FAILS(ctx, useg_lattice_build_cpu(ctx, &ctx->step, bad_features, 2, 2, &lat), USEG_ERR_INVALID_ARG);
}

// Small facts with known answers: IoU, the half-max threshold, the unary's
// two values (-log of softmax([0, 1]) and its complement).
static void check_small_cases(useg_ctx *ctx) {
    useg_tensor *a, *b, *out;
    CHECK_OK(ctx, useg_zeros(ctx, NULL, USEG_U8, 2, (const int64_t[]){2, 3}, &a));
    CHECK_OK(ctx, useg_zeros(ctx, NULL, USEG_U8, 2, (const int64_t[]){2, 3}, &b));
    double iou = -1;
    CHECK_OK(ctx, useg_mask_iou(ctx, a, b, &iou));
    CHECK(iou == 0, "IoU of two empty masks %g", iou);
    uint8_t *pa = a->data, *pb = b->data;
    pa[0] = pa[1] = pa[2] = 1, pb[2] = pb[3] = 7;
    CHECK_OK(ctx, useg_mask_iou(ctx, a, b, &iou));
    CHECK(iou == 0.25, "IoU %g, expected 1/4", iou);
    pb[0] = 255, pb[1] = 128, pb[2] = 127, pb[3] = 0, pb[4] = 200, pb[5] = 128;
    CHECK_OK(ctx, useg_mask_threshold_half_max(ctx, b, &out));
    const uint8_t want[6] = {1, 1, 0, 0, 1, 1};
    CHECK(!memcmp(out->data, want, 6), "half-max threshold");
    CHECK_OK(ctx, useg_mask_unary(ctx, a, &out));
    const float *u = out->data; // (2, 2, 3): u[0..5] background energies, u[6..11] foreground
    const float lo = (float)log1p(exp(-1.0)), hi = (float)log1p(exp(1.0));
    CHECK(fabsf(u[0] - hi) < 1e-6f && fabsf(u[6] - lo) < 1e-6f, "unary of a foreground pixel (%.9g, %.9g)", u[0], u[6]);
    CHECK(fabsf(u[3] - lo) < 1e-6f && fabsf(u[9] - hi) < 1e-6f, "unary of a background pixel (%.9g, %.9g)", u[3], u[9]);
}

// The CRF's marginals do not depend on the thread count, bit for bit.
static void check_thread_invariance(useg_ctx *ctx) {
    useg_tensor *image, *unary, *labels, *q1, *q2;
    make_scene(ctx, 67, 91, 5, &image, &unary);
    const int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    CHECK_OK(ctx, useg_dense_crf(ctx, image, unary, &useg_crf_stego, &labels, &q1));
    omp_set_num_threads(threads > 1 ? threads : 2);
    CHECK_OK(ctx, useg_dense_crf(ctx, image, unary, &useg_crf_stego, &labels, &q2));
    omp_set_num_threads(threads);
    CHECK(!memcmp(q1->data, q2->data, (size_t)useg_numel(q1) * sizeof(float)), "Q differs between 1 and %d threads",
          threads > 1 ? threads : 2);
}

// Views are read through copies: a strided image and unary give the labels
// of their contiguous copies. Edge sizes: one label, a single row or column.
static void check_views_and_edges(useg_ctx *ctx) {
    useg_tensor *image, *unary, *big_image, *big_unary, *im_view, *u_view, *im_copy, *u_copy, *l1, *l2;
    make_scene(ctx, 40, 50, 3, &big_image, &big_unary);
    CHECK_OK(ctx, useg_slice(ctx, big_image, 1, 3, 47, 2, &im_view)); // (40, 22, 3), stride 2 along W
    CHECK_OK(ctx, useg_slice(ctx, big_unary, 2, 3, 47, 2, &u_view));
    CHECK_OK(ctx, useg_cast(ctx, im_view, USEG_U8, &im_copy));
    CHECK_OK(ctx, useg_cast(ctx, u_view, USEG_F32, &u_copy));
    CHECK_OK(ctx, useg_dense_crf(ctx, im_view, u_view, &useg_crf_maskcut, &l1, NULL));
    CHECK_OK(ctx, useg_dense_crf(ctx, im_copy, u_copy, &useg_crf_maskcut, &l2, NULL));
    CHECK(!memcmp(l1->data, l2->data, (size_t)useg_numel(l1)), "labels of a view differ from its copy's");
    const int64_t sizes[3][3] = {{1, 1, 17}, {1, 13, 1}, {4, 1, 1}}; // (L, H, W)
    for (int i = 0; i < 3; i++) {
        make_scene(ctx, sizes[i][1], sizes[i][2], sizes[i][0], &image, &unary);
        CHECK_OK(ctx, useg_dense_crf(ctx, image, unary, &useg_crf_stego, &l1, NULL));
    }
    make_scene(ctx, 5, 6, 1, &image, &unary);
    CHECK_OK(ctx, useg_dense_crf(ctx, image, unary, &useg_crf_stego, &l1, NULL));
    bool all_zero = true;
    for (int64_t i = 0; i < 30; i++) all_zero &= ((uint8_t *)l1->data)[i] == 0;
    CHECK(all_zero, "a one-label CRF must label every pixel 0");
}

// A batch of G problems gives each problem's own labels and Q, bit for bit:
// L = 2 (MaskCut's masks, densecrf's 2-value rounding) and L = 3 (its wider
// one), and MaskCut's batched refinement equals mask-by-mask refinement.
static void check_batch(useg_ctx *ctx) {
    for (int L = 2; L <= 3; L++) {
        enum { G = 3, H = 37, W = 45 };
        useg_tensor *image, *unary, *batch_labels, *batch_q, *one, *labels, *q;
        make_scene(ctx, H, W, G * L, &image, &unary);
        CHECK_OK(ctx, useg_reshape(ctx, unary, 4, (const int64_t[]){G, L, H, W}, &unary));
        CHECK_OK(ctx, useg_dense_crf_batch(ctx, image, unary, &useg_crf_maskcut, &batch_labels, &batch_q));
        for (int g = 0; g < G; g++) {
            CHECK_OK(ctx, useg_slice(ctx, unary, 0, g, g + 1, 1, &one));
            CHECK_OK(ctx, useg_reshape(ctx, one, 3, (const int64_t[]){L, H, W}, &one));
            CHECK_OK(ctx, useg_dense_crf(ctx, image, one, &useg_crf_maskcut, &labels, &q));
            CHECK(!memcmp(labels->data, (uint8_t *)batch_labels->data + g * H * W, H * W) &&
                      !memcmp(q->data, (float *)batch_q->data + g * L * H * W, sizeof(float) * L * H * W),
                  "L = %d, problem %d: the batch differs from the problem alone", L, g);
        }
        useg_tensor *masks, *refined, *mask, *single;
        bool kept[G], kept_one;
        CHECK_OK(ctx, useg_zeros(ctx, NULL, USEG_U8, 3, (const int64_t[]){G, H, W}, &masks));
        uint8_t *m = masks->data;
        for (int64_t i = 0; i < G * H * W; i++) m[i] = ((i % W) / (4 + i / (H * W)) + (i / W) % H / 9) % 2;
        CHECK_OK(ctx, useg_maskcut_refine_batch(ctx, image, masks, &refined, kept, NULL));
        for (int g = 0; g < G; g++) {
            CHECK_OK(ctx, useg_wrap(ctx, USEG_U8, 2, (const int64_t[]){H, W}, m + g * H * W, &mask));
            CHECK_OK(ctx, useg_maskcut_refine(ctx, image, mask, &single, &kept_one));
            CHECK(kept_one == kept[g] && !memcmp(single->data, (uint8_t *)refined->data + g * H * W, H * W),
                  "mask %d: batched refinement differs", g);
        }
    }
    useg_tensor *image, *unary, *labels;
    make_scene(ctx, 5, 6, 4, &image, &unary);
    CHECK_FAILS(ctx, useg_dense_crf_batch(ctx, image, unary, &useg_crf_maskcut, &labels, NULL), USEG_ERR_SHAPE);
}

int main(int argc, char **argv) {
    useg_ctx ctx;
    useg_ctx_init(&ctx, &(useg_ctx_options){.seed = 7});
    int rc;
    if (argc == 2 && !strcmp(argv[1], "check")) {
        check_bad_inputs(&ctx);
        check_small_cases(&ctx);
        check_thread_invariance(&ctx);
        check_views_and_edges(&ctx);
        check_batch(&ctx);
        rc = check_report("dense CRF checks");
    } else if (argc >= 2) {
        rc = run_mode(&ctx, argc, argv) == USEG_OK ? 0 : 1;
        if (rc) fprintf(stderr, "test_crf %s: %s\n", argv[1], ctx.message);
    } else {
        fprintf(stderr, "usage: see the top of tests/pseudolabel/test_crf.c\n");
        rc = 2;
    }
    useg_ctx_free(&ctx);
    return rc;
}
