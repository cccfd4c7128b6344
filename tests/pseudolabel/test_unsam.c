// UnSAM's per-image pipeline (pseudolabel/unsam.h).
//
//   test_unsam check                hand-made refinement cases (kept, too large, wiped out
//                                   by the CRF, empty), re-linking, bad inputs, and on a
//                                   synthetic scene: determinism (1 vs 2 threads, bytes) and
//                                   the hierarchy invariants
//   test_unsam dump IMG.npy OUT     the pipeline (weights-free backbone, refine none, whole
//                                   image on) on IMG (H, W, 3) u8; writes OUT/masks (K, H, W),
//                                   OUT/meta (K, 3: level, parent, area), OUT/regions (R, 4:
//                                   the boxes), and per region r OUT/crop<r> (256, 256, 3) u8 and
//                                   OUT/keys<r> (32, 32, C) f32 as the pipeline computes them;
//                                   checks the divide masks against useg_maskcut_image itself
// test_unsam.py compares the dump with PIL's crop and the NumPy merge/conquer
// of tests/pseudolabel/merge_reference.py.
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "npy.h"
#include "unsam.h"

static useg_status save(useg_ctx *ctx, const char *dir, const char *what, useg_dtype dt, int ndim,
                        const int64_t *shape, const void *data) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.npy", dir, what);
    useg_tensor *t;
    USEG_TRY(useg_wrap(ctx, dt, ndim, shape, (void *)data, &t));
    return useg_npy_write(ctx, path, t);
}

// A grey image (H, W) with a red rectangle at rows r0..r1-1, cols c0..c1-1, mild noise.
static useg_status scene(useg_ctx *ctx, int64_t H, int64_t W, int64_t r0, int64_t r1, int64_t c0, int64_t c1,
                         useg_tensor **img) {
    USEG_TRY(useg_empty(ctx, NULL, USEG_U8, 3, (const int64_t[]){H, W, 3}, img));
    uint8_t *p = (*img)->data;
    uint32_t s = 12345;
    for (int64_t y = 0; y < H; y++)
        for (int64_t x = 0; x < W; x++) {
            const bool in = y >= r0 && y < r1 && x >= c0 && x < c1;
            for (int c = 0; c < 3; c++) {
                s = s * 1664525u + 1013904223u;
                const int noise = (int)(s >> 29) - 4;
                const int base = in ? (c == 0 ? 210 : 40) : 128;
                p[(y * W + x) * 3 + c] = (uint8_t)(base + noise);
            }
        }
    return USEG_OK;
}

static void fill_rect(uint8_t *m, int64_t W, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    for (int64_t y = r0; y < r1; y++)
        for (int64_t x = c0; x < c1; x++) m[y * W + x] = 1;
}

static void check_relink(void) {
    const int32_t parent[7] = {-1, 0, 1, 1, -1, 4, 5};
    const bool kept[7] = {true, false, true, false, false, true, true};
    int32_t out[7];
    useg_hierarchy_relink(7, parent, kept, out);
    const int32_t want[7] = {-1, 0, 0, 0, -1, -1, 5};
    for (int k = 0; k < 7; k++) CHECK(out[k] == want[k], "relink[%d] = %d, want %d", k, out[k], want[k]);
}

static void check_refine(useg_ctx *ctx) {
    const int64_t H = 60, W = 80, plane = H * W;
    useg_tensor *img, *masks, *out;
    CHECK_OK(ctx, scene(ctx, H, W, 15, 40, 20, 50, &img));
    CHECK_OK(ctx, useg_zeros(ctx, NULL, USEG_U8, 3, (const int64_t[]){5, H, W}, &masks));
    uint8_t *m = masks->data;
    fill_rect(m + 0 * plane, W, 16, 39, 21, 49);  // the object, a pixel short: kept, snapped to it
    fill_rect(m + 1 * plane, W, 0, H, 0, W);      // the whole image: > 90 % of it, dropped
    fill_rect(m + 2 * plane, W, 50, 53, 60, 63);  // 3 x 3 in flat background: the CRF wipes it out
    m[3 * plane + 5 * W + 5] = 1;                 // one pixel: gone at the working size or by the CRF
    // mask 4 empty: never kept
    bool kept[5];
    double ious[5];
    useg_unsam_refine_options opt = useg_unsam_default_options().refine;
    CHECK_OK(ctx, useg_unsam_refine(ctx, img, masks, &opt, &out, kept, ious));
    const bool want[5] = {true, false, false, false, false};
    for (int k = 0; k < 5; k++) CHECK(kept[k] == want[k], "refine: mask %d kept %d (IoU %.3f)", k, kept[k], ious[k]);
    CHECK(ious[0] > 0.85, "refine: the object's IoU %.3f", ious[0]);
    CHECK(ious[1] > 0.99, "refine: the whole image stays whole (IoU %.3f) and is dropped for its size", ious[1]);
    CHECK(ious[2] < 0.5, "refine: the 3 x 3 speck's IoU %.3f", ious[2]);
    int64_t inside = 0, area = 0;
    const uint8_t *r = out->data;
    for (int64_t p = 0; p < plane; p++) {
        area += r[p];
        inside += r[p] && p / W >= 15 && p / W < 40 && p % W >= 20 && p % W < 50;
    }
    CHECK(area == inside && area >= 25 * 30 * 9 / 10, "refine: the object's mask %lld px, %lld inside", (long long)area,
          (long long)inside);
    for (int k = 1; k < 5; k++) {
        bool zero = true;
        for (int64_t p = 0; p < plane; p++) zero &= r[k * plane + p] == 0;
        CHECK(zero, "refine: dropped mask %d is not zeroed", k);
    }
    // Nonzero is inside: the same masks as 0/255 refine the same way.
    useg_tensor *masks255, *out255;
    bool kept255[5];
    double ious255[5];
    CHECK_OK(ctx, useg_empty(ctx, NULL, USEG_U8, 3, (const int64_t[]){5, H, W}, &masks255));
    for (int64_t p = 0; p < 5 * plane; p++) ((uint8_t *)masks255->data)[p] = m[p] ? 255 : 0;
    CHECK_OK(ctx, useg_unsam_refine(ctx, img, masks255, &opt, &out255, kept255, ious255));
    CHECK(!memcmp(out255->data, out->data, (size_t)(5 * plane)) && !memcmp(kept255, kept, sizeof kept) &&
              !memcmp(ious255, ious, sizeof ious),
          "refine: masks in 0/255 refine differently from 0/1");
    // The working size: a small cap changes results but not the rules.
    opt.max_side = 16;
    CHECK_OK(ctx, useg_unsam_refine(ctx, img, masks, &opt, &out, kept, ious));
    CHECK(!kept[1] && !kept[4], "refine at 16 px: the whole image and the empty mask are dropped");
    // Mode none: every non-empty mask as it is.
    opt = (useg_unsam_refine_options){.mode = USEG_UNSAM_REFINE_NONE, .max_side = 192, .min_iou = 0.5,
                                      .max_fraction = 0.9};
    CHECK_OK(ctx, useg_unsam_refine(ctx, img, masks, &opt, &out, kept, ious));
    for (int k = 0; k < 5; k++) CHECK(kept[k] == (k < 4) && ious[k] == 1.0, "refine none: mask %d", k);
    CHECK(!memcmp(out->data, masks->data, (size_t)(5 * plane)), "refine none changed a mask");

    // Bad input.
    opt.max_side = 4;
    CHECK_FAILS(ctx, useg_unsam_refine(ctx, img, masks, &opt, &out, kept, ious), USEG_ERR_INVALID_ARG);
    opt.max_side = 192;
    useg_tensor *wrong;
    CHECK_OK(ctx, useg_zeros(ctx, NULL, USEG_U8, 3, (const int64_t[]){2, H, W + 1}, &wrong));
    CHECK_FAILS(ctx, useg_unsam_refine(ctx, img, wrong, &opt, &out, kept, ious), USEG_ERR_SHAPE);
    useg_tensor *crop;
    CHECK_FAILS(ctx, useg_unsam_crop(ctx, img, (useg_box){0, 0, 0, 10}, 32, true, NULL, &crop), USEG_ERR_SHAPE);
    CHECK_FAILS(ctx, useg_unsam_crop(ctx, img, (useg_box){50, 61, 0, 10}, 32, true, NULL, &crop), USEG_ERR_SHAPE);
    CHECK_FAILS(ctx, useg_unsam_crop(ctx, wrong, (useg_box){0, 1, 0, 1}, 32, true, NULL, &crop), USEG_ERR_SHAPE);
    useg_step_end(ctx);
}

// Level, parent and containment rules of a result.
static void check_hierarchy(const useg_unsam_result *r, int64_t plane, double min_inside, const char *what) {
    const uint8_t *m = r->masks->data;
    for (int k = 0; k < r->count; k++) {
        const int32_t p = r->parent[k];
        if (r->level[k] == 0) CHECK(p == -1, "%s: divide mask %d has parent %d", what, k, p);
        if (p < 0) continue;
        CHECK(p < r->count && (r->level[p] == 0 || r->level[p] > r->level[k]),
              "%s: mask %d (level %d) has parent %d (level %d)", what, k, r->level[k], p, r->level[p]);
        int64_t inside = 0;
        for (int64_t i = 0; i < plane; i++) inside += m[k * plane + i] && m[p * plane + i];
        CHECK((double)inside >= min_inside * (double)r->area[k], "%s: mask %d has %lld of %lld pixels in parent %d",
              what, k, (long long)inside, (long long)r->area[k], p);
    }
}

static bool same_result(const useg_unsam_result *a, const useg_unsam_result *b, int64_t plane) {
    const size_t K = (size_t)a->count;
    return a->count == b->count && !memcmp(a->masks->data, b->masks->data, K * (size_t)plane) &&
           !memcmp(a->level, b->level, K * sizeof *a->level) && !memcmp(a->parent, b->parent, K * sizeof *a->parent) &&
           !memcmp(a->score, b->score, K * sizeof *a->score) &&
           !memcmp(a->refine_iou, b->refine_iou, K * sizeof *a->refine_iou) &&
           !memcmp(a->area, b->area, K * sizeof *a->area);
}

static void check_pipeline(useg_ctx *ctx) {
    const int64_t H = 150, W = 190, plane = H * W;
    useg_tensor *img;
    CHECK_OK(ctx, scene(ctx, H, W, 30, 110, 40, 150, &img));
    // Stripes inside the object give the conquer step parts to find.
    uint8_t *p = img->data;
    for (int64_t y = 30; y < 110; y++)
        for (int64_t x = 40; x < 150; x++)
            if ((x - 40) / 37 == 1) p[(y * W + x) * 3 + 2] = 200;
    useg_backbone bb;
    CHECK_OK(ctx, useg_backbone_open(ctx, NULL, 8, &bb));
    useg_unsam_options opt = useg_unsam_default_options();
    opt.whole_image = true;
    useg_unsam_result r[3];
    const int threads[3] = {1, 2, 2};
    for (int i = 0; i < 3; i++) {
        omp_set_num_threads(threads[i]);
        CHECK_OK(ctx, useg_unsam_image(ctx, &bb, img, &opt, &r[i]));
    }
    printf("synthetic scene: %d divide masks, %d candidates, %d kept\n", r[0].n_divide, r[0].n_candidates, r[0].count);
    CHECK(r[0].n_divide >= 1 && r[0].count > r[0].n_divide, "the scene gives %d divide masks, %d masks in all",
          r[0].n_divide, r[0].count);
    CHECK(same_result(&r[0], &r[1], plane), "1 and 2 threads give different results");
    CHECK(same_result(&r[1], &r[2], plane), "two runs give different results");
    check_hierarchy(&r[0], plane, 0.5, "crf");
    const double T = opt.merge.n_thresholds;
    for (int k = 0; k < r[0].count; k++)
        CHECK(r[0].score[k] == (r[0].level[k] == 0 ? 1.0 : r[0].level[k] / (T + 1)), "score of mask %d", k);

    opt.refine.mode = USEG_UNSAM_REFINE_NONE;
    useg_unsam_result n;
    CHECK_OK(ctx, useg_unsam_image(ctx, &bb, img, &opt, &n));
    CHECK(n.count == n.n_candidates, "refine none dropped masks (%d of %d)", n.count, n.n_candidates);
    // Parents contain children on the patch grid; each is resized back on
    // its own, so a small part at its parent's edge can lose a quarter.
    check_hierarchy(&n, plane, 0.6, "none");

    opt.crop_size = 252; // not a multiple of 8
    CHECK_FAILS(ctx, useg_unsam_image(ctx, &bb, img, &opt, &n), USEG_ERR_INVALID_ARG);
    opt = useg_unsam_default_options();
    opt.batch = 0;
    CHECK_FAILS(ctx, useg_unsam_image(ctx, &bb, img, &opt, &n), USEG_ERR_INVALID_ARG);
    useg_tensor *grey;
    CHECK_OK(ctx, useg_zeros(ctx, NULL, USEG_U8, 3, (const int64_t[]){H, W, 1}, &grey));
    CHECK_FAILS(ctx, useg_unsam_image(ctx, &bb, grey, &opt, &n), USEG_ERR_SHAPE);
    useg_step_end(ctx);
}

static int dump(useg_ctx *ctx, const char *image, const char *out) {
    useg_tensor *img;
    useg_backbone bb;
    if (useg_npy_read(ctx, image, NULL, &img) != USEG_OK || useg_backbone_open(ctx, NULL, 8, &bb) != USEG_OK) {
        fprintf(stderr, "test_unsam: %s\n", ctx->message);
        return 1;
    }
    useg_unsam_options opt = useg_unsam_default_options();
    opt.refine.mode = USEG_UNSAM_REFINE_NONE;
    opt.whole_image = true;
    useg_unsam_result r;
    useg_maskcut_result mc;
    CHECK_OK(ctx, useg_unsam_image(ctx, &bb, img, &opt, &r));
    CHECK_OK(ctx, useg_maskcut_image(ctx, &bb, img, &opt.divide, &mc));
    if (check_failures) return check_report("test_unsam dump");
    const int64_t H = img->shape[0], W = img->shape[1], plane = H * W;
    CHECK(mc.count == r.n_divide && !memcmp(mc.masks->data, r.masks->data, (size_t)(mc.count * plane)),
          "the divide masks are not useg_maskcut_image's (%d vs %d)", r.n_divide, mc.count);
    int32_t *meta;
    int64_t *boxes;
    const int R = r.n_regions;
    CHECK_OK(ctx, useg_alloc(ctx, &ctx->step, (size_t)(3 * r.count + 1) * sizeof *meta, (void **)&meta));
    CHECK_OK(ctx, useg_alloc(ctx, &ctx->step, (size_t)(4 * R + 1) * sizeof *boxes, (void **)&boxes));
    for (int k = 0; k < r.count; k++)
        meta[3 * k] = r.level[k], meta[3 * k + 1] = r.parent[k], meta[3 * k + 2] = (int32_t)r.area[k];
    CHECK_OK(ctx, save(ctx, out, "masks", USEG_U8, 3, (const int64_t[]){r.count, H, W}, r.masks->data));
    CHECK_OK(ctx, save(ctx, out, "meta", USEG_I32, 2, (const int64_t[]){r.count, 3}, meta));
    for (int i = 0; i < R; i++) {
        useg_tensor *region, *crop, *x, *keys;
        useg_box box;
        bool usable;
        if (i < r.n_divide)
            CHECK_OK(ctx, useg_wrap(ctx, USEG_U8, 2, (const int64_t[]){H, W}, (uint8_t *)mc.masks->data + i * plane,
                                    &region));
        else
            CHECK_OK(ctx, useg_full(ctx, NULL, USEG_U8, 2, (const int64_t[]){H, W}, 1.0, &region));
        CHECK_OK(ctx, useg_conquer_box(ctx, region, &box, &usable));
        boxes[4 * i] = box.y0, boxes[4 * i + 1] = box.y1, boxes[4 * i + 2] = box.x0, boxes[4 * i + 3] = box.x1;
        if (!usable) continue;
        CHECK_OK(ctx, useg_unsam_crop(ctx, img, box, opt.crop_size, opt.crop_bgr, NULL, &crop));
        CHECK_OK(ctx, useg_backbone_prepare(ctx, &bb, crop, opt.crop_size, USEG_RESAMPLE_BICUBIC, &x));
        CHECK_OK(ctx, useg_backbone_forward(ctx, &bb, x, USEG_TAP_KEYS, &keys));
        const int64_t g = opt.crop_size / bb.patch;
        char path[1024];
        snprintf(path, sizeof path, "%s/crop%d.npy", out, i);
        CHECK_OK(ctx, useg_npy_write(ctx, path, crop));
        snprintf(path, sizeof path, "%s/keys%d.npy", out, i);
        CHECK_OK(ctx, useg_reshape(ctx, keys, 3, (const int64_t[]){g, g, keys->shape[2]}, &keys));
        CHECK_OK(ctx, useg_npy_write(ctx, path, keys));
    }
    CHECK_OK(ctx, save(ctx, out, "regions", USEG_I64, 2, (const int64_t[]){R, 4}, boxes));
    printf("%d divide masks, %d regions, %d masks\n", r.n_divide, R, r.count);
    return check_report("test_unsam dump");
}

int main(int argc, char **argv) {
    useg_ctx ctx;
    useg_ctx_init(&ctx, NULL);
    bool prev = useg_no_grad_begin(&ctx);
    int rc;
    if (argc == 4 && !strcmp(argv[1], "dump")) {
        rc = dump(&ctx, argv[2], argv[3]);
    } else if (argc == 2 && !strcmp(argv[1], "check")) {
        check_relink();
        check_refine(&ctx);
        check_pipeline(&ctx);
        rc = check_report("test_unsam");
    } else {
        fprintf(stderr, "usage: test_unsam check | test_unsam dump IMG.npy OUT\n");
        rc = 2;
    }
    useg_no_grad_end(&ctx, prev);
    useg_ctx_free(&ctx);
    return rc;
}
