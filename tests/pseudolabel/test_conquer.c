// The C side of tests/pseudolabel/merge_reference.py, and the bad-input checks.
//
//   test_conquer                         bad inputs and small hand-checked grids
//   test_conquer merge   IN OUT NAME...  useg_merge on NAME.features.npy with NAME.params.npy
//                                        ([min_size, order, thresholds...]); writes NAME.merges,
//                                        .weights, .labels (T, h, w), .clusters (K, 4: level, size,
//                                        node, up)
//   test_conquer conquer IN OUT NAME...  useg_merge + useg_conquer on NAME.divide.npy; the mask
//                                        resize is an oracle of PIL's results (NAME.resize_src ->
//                                        NAME.resize_dst); writes NAME.box, .masks, .meta (n, 4:
//                                        level, cluster, parent, area)
//   test_conquer nms     IN OUT NAME...  useg_mask_nms on NAME.masks.npy with [iou, step]; NAME.kept
// The Python script compares the outputs with its NumPy reference and runs
// every mode twice to check the bytes are identical.
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "conquer.h"
#include "merge.h"
#include "npy.h"

static useg_status load(useg_ctx *ctx, const char *dir, const char *name, const char *what, useg_tensor **t) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.%s.npy", dir, name, what);
    return useg_npy_read(ctx, path, NULL, t);
}

static useg_status save(useg_ctx *ctx, const char *dir, const char *name, const char *what, useg_dtype dt,
                        int ndim, const int64_t *shape, void *data) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.%s.npy", dir, name, what);
    useg_tensor *t;
    USEG_TRY(useg_wrap(ctx, dt, ndim, shape, data, &t));
    return useg_npy_write(ctx, path, t);
}

// NAME.params.npy: [min_size, order, thresholds...].
static useg_status merge_case(useg_ctx *ctx, const char *dir, const char *name, useg_merge_result *r) {
    useg_tensor *f, *p;
    USEG_TRY(load(ctx, dir, name, "features", &f));
    USEG_TRY(load(ctx, dir, name, "params", &p));
    int n_params = (int)useg_numel(p);
    const double *pv = p->data;
    useg_merge_options opt = {.thresholds = pv + 2, .n_thresholds = n_params - 2, .min_size = (int)pv[0],
                              .order = (useg_merge_order)(int)pv[1]};
    return useg_merge(ctx, f, &opt, NULL, r);
}

static useg_status run_merge(useg_ctx *ctx, const char *in, const char *out, const char *name) {
    useg_merge_result r;
    USEG_TRY(merge_case(ctx, in, name, &r));
    int64_t T = r.n_levels, K = 0;
    for (int t = 0; t < T; t++) K += r.levels[t].n_clusters;
    int32_t *labels, *clusters;
    USEG_TRY(useg_alloc(ctx, &ctx->step, (size_t)(T * r.h * r.w) * sizeof *labels, (void **)&labels));
    USEG_TRY(useg_alloc(ctx, &ctx->step, (size_t)(4 * K) * sizeof *clusters, (void **)&clusters));
    for (int t = 0, k = 0; t < T; t++) {
        const useg_merge_level *L = &r.levels[t];
        memcpy(labels + t * r.h * r.w, L->labels, (size_t)(r.h * r.w) * sizeof *labels);
        for (int c = 0; c < L->n_clusters; c++, k++) {
            int32_t row[4] = {t, L->size[c], L->node[c], L->up[c]};
            memcpy(clusters + 4 * k, row, sizeof row);
        }
    }
    USEG_TRY(save(ctx, out, name, "merges", USEG_I32, 2, (int64_t[]){r.n_merges, 2}, r.merges));
    USEG_TRY(save(ctx, out, name, "weights", USEG_F32, 1, (int64_t[]){r.n_merges}, r.merge_weight));
    USEG_TRY(save(ctx, out, name, "labels", USEG_I32, 3, (int64_t[]){T, r.h, r.w}, labels));
    return save(ctx, out, name, "clusters", USEG_I32, 2, (int64_t[]){K, 4}, clusters);
}

// The resize oracle: PIL's output for each level mask the reference emitted.
typedef struct oracle {
    const useg_tensor *src, *dst; // (K, h, w), (K, bh, bw)
} oracle;

static useg_status oracle_resize(useg_ctx *ctx, const useg_tensor *mask, int64_t out_h, int64_t out_w, void *user,
                                 useg_arena *a, useg_tensor **out) {
    const oracle *o = user;
    int64_t K = o->src->shape[0], hw = o->src->shape[1] * o->src->shape[2], bhw = out_h * out_w;
    if (!o->dst || o->dst->shape[1] != out_h || o->dst->shape[2] != out_w || mask->shape[0] * mask->shape[1] != hw)
        return useg_fail(ctx, USEG_ERR_INVALID_ARG, "oracle: no PIL result of this size");
    for (int64_t k = 0; k < K; k++) {
        if (memcmp((const uint8_t *)o->src->data + k * hw, mask->data, (size_t)hw)) continue;
        USEG_TRY(useg_empty(ctx, a, USEG_U8, 2, (int64_t[]){out_h, out_w}, out));
        memcpy((*out)->data, (const uint8_t *)o->dst->data + k * bhw, (size_t)bhw);
        return USEG_OK;
    }
    return useg_fail(ctx, USEG_ERR_INVALID_ARG, "oracle: level mask not among the reference's");
}

static useg_status run_conquer(useg_ctx *ctx, const char *in, const char *out, const char *name) {
    useg_merge_result r;
    USEG_TRY(merge_case(ctx, in, name, &r));
    useg_tensor *divide, *src = NULL, *dst = NULL;
    USEG_TRY(load(ctx, in, name, "divide", &divide));
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.resize_src.npy", in, name);
    if (access(path, F_OK) == 0) { // absent when the reference skips the mask
        USEG_TRY(load(ctx, in, name, "resize_src", &src));
        USEG_TRY(load(ctx, in, name, "resize_dst", &dst));
    }
    useg_tensor empty = {.dtype = USEG_U8, .ndim = 3};
    oracle o = {src ? src : &empty, dst};
    useg_conquer_result c;
    USEG_TRY(useg_conquer(ctx, divide, &r, NULL, oracle_resize, &o, NULL, &c));
    int64_t bh = c.box.y1 - c.box.y0, bw = c.box.x1 - c.box.x0;
    int32_t *meta;
    USEG_TRY(useg_alloc(ctx, &ctx->step, (size_t)(4 * c.n) * sizeof *meta, (void **)&meta));
    for (int k = 0; k < c.n; k++) {
        int32_t row[4] = {c.level[k], c.cluster[k], c.parent[k], (int32_t)c.area[k]};
        memcpy(meta + 4 * k, row, sizeof row);
    }
    int64_t box[4] = {c.box.y0, c.box.y1, c.box.x0, c.box.x1};
    USEG_TRY(save(ctx, out, name, "box", USEG_I64, 1, (int64_t[]){4}, box));
    USEG_TRY(save(ctx, out, name, "masks", USEG_U8, 3,
                  (int64_t[]){c.n, bh > 0 ? bh : 0, bw > 0 ? bw : 0}, c.masks));
    return save(ctx, out, name, "meta", USEG_I32, 2, (int64_t[]){c.n, 4}, meta);
}

static useg_status run_nms(useg_ctx *ctx, const char *in, const char *out, const char *name) {
    useg_tensor *masks, *p;
    USEG_TRY(load(ctx, in, name, "masks", &masks));
    USEG_TRY(load(ctx, in, name, "params", &p));
    const double *pv = p->data;
    int32_t *kept;
    int n_kept;
    USEG_TRY(useg_alloc(ctx, &ctx->step, (size_t)masks->shape[0] * sizeof *kept, (void **)&kept));
    USEG_TRY(useg_mask_nms(ctx, masks, pv[0], (int)pv[1], kept, &n_kept));
    return save(ctx, out, name, "kept", USEG_I32, 1, (int64_t[]){n_kept}, kept);
}

// --- Bad inputs and hand-checked grids. ---------------------------------------

static useg_status identity_resize(useg_ctx *ctx, const useg_tensor *mask, int64_t out_h, int64_t out_w,
                                   void *user, useg_arena *a, useg_tensor **out) {
    (void)user;
    if (mask->shape[0] != out_h || mask->shape[1] != out_w)
        return useg_fail(ctx, USEG_ERR_INVALID_ARG, "identity_resize: sizes differ");
    USEG_TRY(useg_empty(ctx, a, USEG_U8, 2, mask->shape, out));
    memcpy((*out)->data, mask->data, (size_t)(out_h * out_w));
    return USEG_OK;
}

static useg_status wrong_resize(useg_ctx *ctx, const useg_tensor *mask, int64_t out_h, int64_t out_w, void *user,
                                useg_arena *a, useg_tensor **out) {
    (void)mask, (void)user;
    return useg_empty(ctx, a, USEG_U8, 2, (int64_t[]){out_h + 1, out_w}, out);
}

static void bad_inputs(useg_ctx *ctx) {
    useg_tensor *f, *bad;
    useg_merge_result r;
    CHECK_OK(ctx, useg_rand_normal(ctx, NULL, USEG_F32, 3, (int64_t[]){4, 5, 3}, 0, 1, &f));
    for (int k = 0; k < 4; k++) {
        const int64_t shapes[4][3] = {{0, 5, 3}, {4, 0, 3}, {4, 5, 0}, {0, 0, 0}};
        CHECK_OK(ctx, useg_empty(ctx, NULL, USEG_F32, 3, shapes[k], &bad));
        CHECK_FAILS(ctx, useg_merge(ctx, bad, NULL, NULL, &r), USEG_ERR_SHAPE);
    }
    CHECK_OK(ctx, useg_empty(ctx, NULL, USEG_F64, 3, (int64_t[]){4, 5, 3}, &bad));
    CHECK_FAILS(ctx, useg_merge(ctx, bad, NULL, NULL, &r), USEG_ERR_SHAPE);
    CHECK_OK(ctx, useg_empty(ctx, NULL, USEG_F32, 2, (int64_t[]){4, 5}, &bad));
    CHECK_FAILS(ctx, useg_merge(ctx, bad, NULL, NULL, &r), USEG_ERR_SHAPE);
    CHECK_OK(ctx, useg_rand_normal(ctx, NULL, USEG_F32, 3, (int64_t[]){4, 5, 3}, 0, 1, &bad));
    ((float *)bad->data)[17] = NAN;
    CHECK_FAILS(ctx, useg_merge(ctx, bad, NULL, NULL, &r), USEG_ERR_INVALID_ARG);
    ((float *)bad->data)[17] = INFINITY;
    CHECK_FAILS(ctx, useg_merge(ctx, bad, NULL, NULL, &r), USEG_ERR_INVALID_ARG);

    useg_merge_options opt = useg_merge_default_options();
    const double ascending[] = {0.1, 0.5}, equal[] = {0.5, 0.5}, nan_th[] = {0.6, NAN};
    const double *bad_th[] = {ascending, equal, nan_th};
    for (int k = 0; k < 3; k++) {
        opt.thresholds = bad_th[k];
        opt.n_thresholds = 2;
        CHECK_FAILS(ctx, useg_merge(ctx, f, &opt, NULL, &r), USEG_ERR_INVALID_ARG);
    }
    opt = useg_merge_default_options();
    opt.n_thresholds = 0;
    CHECK_FAILS(ctx, useg_merge(ctx, f, &opt, NULL, &r), USEG_ERR_INVALID_ARG);
    opt = useg_merge_default_options();
    opt.min_size = 0;
    CHECK_FAILS(ctx, useg_merge(ctx, f, &opt, NULL, &r), USEG_ERR_INVALID_ARG);
    opt = useg_merge_default_options();
    opt.order = (useg_merge_order)7;
    CHECK_FAILS(ctx, useg_merge(ctx, f, &opt, NULL, &r), USEG_ERR_INVALID_ARG);

    // Conquer: a bad divide mask, bad options, a resize of the wrong size.
    CHECK_OK(ctx, useg_merge(ctx, f, NULL, NULL, &r));
    useg_conquer_result c;
    useg_box box;
    bool usable;
    CHECK_OK(ctx, useg_empty(ctx, NULL, USEG_F32, 2, (int64_t[]){8, 8}, &bad));
    CHECK_FAILS(ctx, useg_conquer_box(ctx, bad, &box, &usable), USEG_ERR_SHAPE);
    CHECK_FAILS(ctx, useg_conquer(ctx, bad, &r, NULL, identity_resize, NULL, NULL, &c), USEG_ERR_SHAPE);
    useg_tensor *m;
    CHECK_OK(ctx, useg_full(ctx, NULL, USEG_U8, 2, (int64_t[]){8, 9}, 1, &m));
    useg_conquer_options copt = useg_conquer_default_options();
    copt.nms_step = 0;
    CHECK_FAILS(ctx, useg_conquer(ctx, m, &r, &copt, identity_resize, NULL, NULL, &c), USEG_ERR_INVALID_ARG);
    copt = useg_conquer_default_options();
    copt.min_coverage = NAN;
    CHECK_FAILS(ctx, useg_conquer(ctx, m, &r, &copt, identity_resize, NULL, NULL, &c), USEG_ERR_INVALID_ARG);
    CHECK_FAILS(ctx, useg_conquer(ctx, m, &r, NULL, wrong_resize, NULL, NULL, &c), USEG_ERR_SHAPE);
    int32_t kept[4];
    int n_kept;
    CHECK_FAILS(ctx, useg_mask_nms(ctx, m, 0.9, 5, kept, &n_kept), USEG_ERR_SHAPE);
    CHECK_OK(ctx, useg_full(ctx, NULL, USEG_U8, 3, (int64_t[]){2, 3, 3}, 1, &bad));
    CHECK_FAILS(ctx, useg_mask_nms(ctx, bad, 0.9, 0, kept, &n_kept), USEG_ERR_INVALID_ARG);
    CHECK(ctx->scratch.used == 0, "scratch not rewound after failures: %zu bytes", ctx->scratch.used);
}

// A 4 x 3 grid: columns 0-1 along one axis, column 2 along an orthogonal
// one. Each part merges inside at level 1 (weights exactly 1, so the tie
// rule orders the merges) and never across (weight 0 < 0.1). Worked by
// hand: the column-2 cluster is node 20, the other node 21, so the level
// lists column 2 first.
static void two_halves(useg_ctx *ctx) {
    float data[4 * 3 * 2];
    for (int p = 0; p < 12; p++) {
        data[2 * p] = p % 3 == 2 ? 0.f : 1.f + (float)p;
        data[2 * p + 1] = p % 3 == 2 ? 2.f : 0.f;
    }
    useg_tensor *f;
    CHECK_OK(ctx, useg_wrap(ctx, USEG_F32, 3, (int64_t[]){4, 3, 2}, data, &f));
    useg_merge_result r;
    CHECK_OK(ctx, useg_merge(ctx, f, NULL, NULL, &r));
    CHECK(r.n_merges == 10, "merges %d", r.n_merges);
    for (int t = 0; t < r.n_levels; t++) {
        const useg_merge_level *L = &r.levels[t];
        CHECK(L->n_clusters == 2, "level %d: %d clusters", t, L->n_clusters);
        if (L->n_clusters != 2) continue;
        CHECK(L->size[0] == 4 && L->size[1] == 8 && L->node[0] == 20 && L->node[1] == 21,
              "level %d sizes %d %d nodes %d %d", t, L->size[0], L->size[1], L->node[0], L->node[1]);
        for (int p = 0; p < 12; p++) CHECK(L->labels[p] == (p % 3 != 2), "level %d patch %d", t, p);
        CHECK(L->up[0] == (t + 1 < r.n_levels ? 0 : -1), "level %d up %d", t, L->up[0]);
    }
    // Conquer with an identity "resize" over a full mask: 12 candidates (2
    // clusters x 6 levels), area order 8 x 6 then 4 x 6. The NMS window (the
    // next 4) drops copies 2-5 of each; copy 6 is 5 places away and survives.
    // Copies are not parents of each other: all four hang off the divide mask.
    useg_tensor *m;
    CHECK_OK(ctx, useg_full(ctx, NULL, USEG_U8, 2, (int64_t[]){5, 4}, 1, &m));
    useg_conquer_result c;
    CHECK_OK(ctx, useg_conquer(ctx, m, &r, NULL, identity_resize, NULL, NULL, &c));
    CHECK(c.box.y0 == 0 && c.box.y1 == 4 && c.box.x0 == 0 && c.box.x1 == 3, "box");
    CHECK(c.n == 4, "%d conquer masks", c.n);
    const int64_t area[4] = {8, 8, 4, 4};
    const int32_t level[4] = {1, 6, 1, 6};
    for (int k = 0; k < c.n && k < 4; k++)
        CHECK(c.area[k] == area[k] && c.level[k] == level[k] && c.parent[k] == -1, "mask %d: area %lld level %d parent %d",
              k, (long long)c.area[k], c.level[k], c.parent[k]);
}

int main(int argc, char **argv) {
    useg_ctx ctx;
    useg_ctx_init(&ctx, &(useg_ctx_options){.seed = 3});
    if (argc == 1) {
        bad_inputs(&ctx);
        two_halves(&ctx);
        useg_ctx_free(&ctx);
        return check_report("conquer_bad_input");
    }
    if (argc < 4) {
        fprintf(stderr, "usage: %s [merge|conquer|nms IN OUT NAME...]\n", argv[0]);
        return 2;
    }
    useg_status (*run)(useg_ctx *, const char *, const char *, const char *) =
        !strcmp(argv[1], "merge") ? run_merge : !strcmp(argv[1], "conquer") ? run_conquer
                                              : !strcmp(argv[1], "nms")     ? run_nms : NULL;
    if (!run) {
        fprintf(stderr, "unknown mode %s\n", argv[1]);
        return 2;
    }
    int failures = 0;
    for (int i = 4; i < argc; i++) {
        if (run(&ctx, argv[2], argv[3], argv[i]) != USEG_OK) {
            fprintf(stderr, "%s: %s\n", argv[i], ctx.message);
            useg_clear_error(&ctx);
            failures++;
        }
        useg_step_end(&ctx);
    }
    useg_ctx_free(&ctx);
    return failures ? 1 : 0;
}
