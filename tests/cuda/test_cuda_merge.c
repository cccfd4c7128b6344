// UnSAM's conquer merge on the GPU (kernels/cuda/merge.cu through
// useg_merge / useg_merge_batch) against the CPU merge (pseudolabel/merge.c,
// itself checked against tests/pseudolabel/merge_reference.py). The
// contract is identity: the same merges, merge weights (bit for bit), node
// ids, levels, labels, sizes and up links, so every comparison is exact.
//  - grids: planted regions at ViT-B's C = 768, random features, exact ties
//    (a few repeated vectors: the tie rule decides), all-equal features,
//    1 x 1, 1 x N, N x 1, odd shapes, C not a multiple of 8 (the lanes'
//    tail), C < 8, f16 keys, a transposed (strided) view, other options;
//  - a batch of mixed sizes and channel counts in one launch;
//  - the launcher's host outputs guarded (canaries around every array) and
//    only the first n_merges rows written;
//  - run twice: the same bytes;
//  - bad input: a NaN feature, the pass order, grids on two devices.
// Exits 77 without a GPU.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cuda_check.h"
#include "half.h"
#include "merge.h"
#include "merge_kernel.h"

// Features (h, w, C) f32 on the host in ctx->step: `regions` vertical bands of
// centres plus uniform noise of size `noise` (regions 0: pure noise; noise 0
// and regions 1: all equal). `levels` > 0 quantises every value to that many
// steps (repeated vectors, exact ties).
static useg_tensor *make_grid(useg_ctx *ctx, int64_t h, int64_t w, int64_t C, int regions, double noise,
                              int levels) {
    useg_tensor *t;
    CHECK_OK(ctx, useg_empty(ctx, NULL, USEG_F32, 3, (const int64_t[]){h, w, C}, &t));
    float *f = t->data;
    const float *centre = host_random(ctx, USEG_F32, (regions > 0 ? regions : 1) * C, -1, 1, NULL);
    const float *jitter = host_random(ctx, USEG_F32, h * w * C, -noise, noise, NULL);
    for (int64_t y = 0; y < h; y++)
        for (int64_t x = 0; x < w; x++)
            for (int64_t c = 0; c < C; c++) {
                const int64_t i = (y * w + x) * C + c, r = regions > 0 ? x * regions / w : 0;
                double v = (regions > 0 ? centre[r * C + c] : 0) + jitter[i];
                if (levels > 0) v = round(v * levels) / levels;
                f[i] = (float)v;
            }
    return t;
}

// Every field of a against b, exactly.
static void check_same(const char *what, const useg_merge_result *a, const useg_merge_result *b) {
    CHECK(a->h == b->h && a->w == b->w && a->n_levels == b->n_levels, "%s: shape or level count", what);
    CHECK(a->n_merges == b->n_merges, "%s: %d merges, CPU %d", what, a->n_merges, b->n_merges);
    if (a->h != b->h || a->w != b->w || a->n_levels != b->n_levels || a->n_merges != b->n_merges) return;
    int first = -1;
    for (int k = 0; k < a->n_merges && first < 0; k++)
        if (a->merges[2 * k] != b->merges[2 * k] || a->merges[2 * k + 1] != b->merges[2 * k + 1] ||
            memcmp(&a->merge_weight[k], &b->merge_weight[k], sizeof(float)))
            first = k;
    CHECK(first < 0, "%s: merge %d is (%d, %d, %.9g), CPU (%d, %d, %.9g)", what, first,
          first >= 0 ? a->merges[2 * first] : 0, first >= 0 ? a->merges[2 * first + 1] : 0,
          first >= 0 ? a->merge_weight[first] : 0.0, first >= 0 ? b->merges[2 * first] : 0,
          first >= 0 ? b->merges[2 * first + 1] : 0, first >= 0 ? b->merge_weight[first] : 0.0);
    const int64_t n = a->h * a->w;
    for (int t = 0; t < a->n_levels; t++) {
        const useg_merge_level *x = &a->levels[t], *y = &b->levels[t];
        const int K = x->n_clusters;
        bool same = x->threshold == y->threshold && K == y->n_clusters &&
                    !memcmp(x->labels, y->labels, (size_t)n * sizeof(int32_t));
        if (same && K > 0)
            same = !memcmp(x->size, y->size, (size_t)K * sizeof(int32_t)) &&
                   !memcmp(x->node, y->node, (size_t)K * sizeof(int32_t)) &&
                   !memcmp(x->up, y->up, (size_t)K * sizeof(int32_t));
        CHECK(same, "%s: level %d (%d clusters, CPU %d) differs", what, t, K, y->n_clusters);
    }
}

// useg_merge of host features f on the CPU and on the GPU (twice), compared.
static void test_grid(useg_ctx *ctx, const char *what, useg_tensor *f, const useg_merge_options *opt) {
    if (!cuda_case_fits(useg_numel(f))) return;
    useg_tensor *gpu;
    useg_merge_result ref, got, again;
    CHECK_OK(ctx, useg_to_device(ctx, f, USEG_DEVICE_CUDA, &gpu));
    CHECK_OK(ctx, useg_merge(ctx, f, opt, NULL, &ref));
    CHECK_OK(ctx, useg_merge(ctx, gpu, opt, NULL, &got));
    CHECK_OK(ctx, useg_merge(ctx, gpu, opt, NULL, &again));
    check_same(what, &got, &ref);
    char twice[96];
    snprintf(twice, sizeof twice, "%s, second GPU run", what);
    check_same(twice, &again, &got);
    useg_step_end(ctx);
}

static void test_grids(useg_ctx *ctx) {
    const useg_merge_options defaults = useg_merge_default_options();
    test_grid(ctx, "planted 32 x 32 x 768", make_grid(ctx, 32, 32, 768, 4, 0.6, 0), &defaults);
    test_grid(ctx, "random 32 x 32 x 64", make_grid(ctx, 32, 32, 64, 0, 1, 0), &defaults);
    test_grid(ctx, "ties 24 x 24 x 16", make_grid(ctx, 24, 24, 16, 3, 0.5, 1), &defaults);
    test_grid(ctx, "all equal 9 x 11 x 8", make_grid(ctx, 9, 11, 8, 1, 0, 0), &defaults);
    test_grid(ctx, "1 x 1", make_grid(ctx, 1, 1, 5, 1, 0.5, 0), &defaults);
    test_grid(ctx, "1 x 37", make_grid(ctx, 1, 37, 12, 3, 0.8, 0), &defaults);
    test_grid(ctx, "29 x 1", make_grid(ctx, 29, 1, 12, 3, 0.8, 0), &defaults);
    test_grid(ctx, "odd 13 x 7 x 61", make_grid(ctx, 13, 7, 61, 3, 0.7, 0), &defaults);
    test_grid(ctx, "C = 3", make_grid(ctx, 10, 10, 3, 2, 0.5, 0), &defaults);
    test_grid(ctx, "C = 1 (signs: ties at 1.0)", make_grid(ctx, 8, 9, 1, 0, 1, 0), &defaults);
    // f16 keys: the same stored halves on both devices.
    {
        useg_tensor *f32 = make_grid(ctx, 31, 33, 96, 5, 0.7, 0), *f16;
        CHECK_OK(ctx, useg_empty(ctx, NULL, USEG_F16, 3, f32->shape, &f16));
        for (int64_t i = 0; i < useg_numel(f32); i++)
            ((uint16_t *)f16->data)[i] = useg_f32_to_f16(((const float *)f32->data)[i]);
        test_grid(ctx, "f16 31 x 33 x 96", f16, &defaults);
    }
    // A strided view: (w, h, C) stored, (h, w, C) seen.
    {
        useg_tensor *f = make_grid(ctx, 20, 17, 40, 3, 0.6, 0), *view;
        CHECK_OK(ctx, useg_transpose(ctx, f, 0, 1, &view));
        test_grid(ctx, "transposed 17 x 20 x 40", view, &defaults);
    }
    // Other options: min_size 1, one threshold, thresholds that merge everything.
    const double one[] = {0.3}, all[] = {0.9, 0.0, -1.0};
    useg_merge_options o1 = {.thresholds = one, .n_thresholds = 1, .min_size = 1, .order = USEG_MERGE_GREEDY};
    useg_merge_options o2 = {.thresholds = all, .n_thresholds = 3, .min_size = 2, .order = USEG_MERGE_GREEDY};
    test_grid(ctx, "min_size 1, one threshold", make_grid(ctx, 16, 16, 32, 4, 0.9, 0), &o1);
    test_grid(ctx, "down to -1", make_grid(ctx, 15, 14, 24, 3, 1.0, 0), &o2);
    test_grid(ctx, "ties down to -1", make_grid(ctx, 12, 12, 8, 2, 1.0, 1), &o2);
}

// Mixed grids in one launch against the CPU one by one.
static void test_batch(useg_ctx *ctx) {
    const int64_t shapes[][3] = {{32, 32, 768}, {1, 1, 4}, {5, 9, 33}, {32, 32, 768}, {17, 3, 7}, {1, 40, 16},
                                 {28, 30, 100}, {2, 2, 2}};
    enum { G = sizeof shapes / sizeof shapes[0] };
    const useg_tensor *cpu[G], *gpu[G];
    useg_merge_result ref[G], got[G];
    for (int g = 0; g < G; g++) {
        useg_tensor *f = make_grid(ctx, shapes[g][0], shapes[g][1], shapes[g][2], 1 + g % 4, 0.4 + 0.1 * g, g == 4);
        cpu[g] = f;
        CHECK_OK(ctx, useg_to_device(ctx, f, USEG_DEVICE_CUDA, (useg_tensor **)&gpu[g]));
        CHECK_OK(ctx, useg_merge(ctx, f, NULL, NULL, &ref[g]));
    }
    const int failures = check_failures;
    CHECK_OK(ctx, useg_merge_batch(ctx, gpu, G, NULL, NULL, got));
    if (check_failures != failures) return;
    for (int g = 0; g < G; g++) {
        char what[64];
        snprintf(what, sizeof what, "batch grid %d (%lld x %lld x %lld)", g, (long long)shapes[g][0],
                 (long long)shapes[g][1], (long long)shapes[g][2]);
        check_same(what, &got[g], &ref[g]);
    }
    // The CPU batch is the CPU one by one.
    useg_merge_result cpu_batch[G];
    CHECK_OK(ctx, useg_merge_batch(ctx, cpu, G, NULL, NULL, cpu_batch));
    for (int g = 0; g < G; g++) check_same("CPU batch", &cpu_batch[g], &ref[g]);
    useg_step_end(ctx);
}

// The launcher's host outputs with canaries on both sides; rows past n_merges untouched.
static void test_guards(useg_ctx *ctx) {
    enum { GUARD = 64 };
    const int64_t h = 11, w = 13, n = h * w;
    const useg_merge_options opt = useg_merge_default_options();
    useg_tensor *f = make_grid(ctx, h, w, 20, 3, 0.5, 0), *gpu;
    CHECK_OK(ctx, useg_to_device(ctx, f, USEG_DEVICE_CUDA, &gpu));
    const size_t sizes[3] = {(size_t)(n - 1) * 2 * sizeof(int32_t), (size_t)(n - 1) * sizeof(float),
                             (size_t)opt.n_thresholds * sizeof(int32_t)};
    unsigned char *buf[3];
    for (int k = 0; k < 3; k++) {
        CHECK_OK(ctx, useg_alloc(ctx, &ctx->step, sizes[k] + 2 * GUARD, (void **)&buf[k]));
        memset(buf[k], 0xA5, sizes[k] + 2 * GUARD);
    }
    useg_merge_grid grid = {.features = gpu->data, .dtype = USEG_F32, .h = h, .w = w, .C = 20,
                            .strides = {gpu->strides[0], gpu->strides[1], gpu->strides[2]},
                            .merges = (int32_t *)(buf[0] + GUARD), .merge_weight = (float *)(buf[1] + GUARD),
                            .level_end = (int32_t *)(buf[2] + GUARD)};
    CHECK_OK(ctx, useg_merge_greedy_batch_cuda(ctx, &grid, 1, opt.thresholds, opt.n_thresholds));
    useg_merge_result ref;
    CHECK_OK(ctx, useg_merge(ctx, f, &opt, NULL, &ref));
    CHECK(grid.first_bad == -1 && grid.n_merges == ref.n_merges, "guards: %d merges (first bad %lld), CPU %d",
          grid.n_merges, (long long)grid.first_bad, ref.n_merges);
    const size_t written[3] = {(size_t)grid.n_merges * 2 * sizeof(int32_t), (size_t)grid.n_merges * sizeof(float),
                               sizes[2]};
    for (int k = 0; k < 3; k++) {
        int broken = 0;
        for (size_t i = 0; i < sizes[k] + 2 * GUARD; i++)
            if ((i < GUARD || i >= GUARD + written[k]) && buf[k][i] != 0xA5) broken++;
        CHECK(broken == 0, "guards: output %d: %d bytes written outside its rows", k, broken);
    }
    CHECK(!memcmp(grid.merges, ref.merges, written[0]) && !memcmp(grid.merge_weight, ref.merge_weight, written[1]),
          "guards: the launcher's merges differ from the CPU's");
    useg_step_end(ctx);
}

static void test_bad_input(useg_ctx *ctx) {
    useg_tensor *f = make_grid(ctx, 6, 7, 9, 2, 0.5, 0), *gpu, *gpu2;
    ((float *)f->data)[(3 * 7 + 4) * 9 + 5] = NAN;
    useg_merge_result r;
    CHECK_OK(ctx, useg_to_device(ctx, f, USEG_DEVICE_CUDA, &gpu));
    CHECK_FAILS(ctx, useg_merge(ctx, gpu, NULL, NULL, &r), USEG_ERR_INVALID_ARG);
    CHECK(strstr(ctx->message, "(3, 4, 5)") != NULL, "NaN: the message names the feature: %s", ctx->message);
    useg_tensor *g = make_grid(ctx, 6, 7, 9, 2, 0.5, 0);
    CHECK_OK(ctx, useg_to_device(ctx, g, USEG_DEVICE_CUDA, &gpu2));
    useg_merge_options passes = useg_merge_default_options();
    passes.order = USEG_MERGE_PASSES;
    CHECK_FAILS(ctx, useg_merge(ctx, gpu2, &passes, NULL, &r), USEG_ERR_UNSUPPORTED);
    const useg_tensor *mixed[2] = {gpu2, g};
    useg_merge_result rs[2];
    CHECK_FAILS(ctx, useg_merge_batch(ctx, mixed, 2, NULL, NULL, rs), USEG_ERR_SHAPE);
    useg_step_end(ctx);
}

int main(void) {
    useg_ctx ctx;
    int skip = cuda_check_init(&ctx, "cuda_merge");
    if (skip) return skip;
    test_grids(&ctx);
    test_batch(&ctx);
    test_guards(&ctx);
    test_bad_input(&ctx);
    return cuda_check_finish(&ctx, "cuda_merge");
}
