// MaskCut's image-level chain: the C side of test_maskcut.py, plus bad-input,
// shard-parsing, annotation-writer and thread-invariance checks.
//
//   test_maskcut check                                    bad inputs, shards, writer, determinism
//   test_maskcut post CRF H W WORK PATCH OUT SOURCE       useg_maskcut_postprocess (CRF 0/1)
//   test_maskcut chain pos|neg H W WORK FEATS OUT SOURCE  useg_maskcut (defaults, that sign) + postprocess
//   test_maskcut rle MASKS JSON                           useg_annotation_append of each mask, as a JSON array
// WORK (S, S, 3) u8, PATCH (N, h, w) u8, FEATS (h, w, C) f32, MASKS (K, H, W)
// u8 and the outputs OUT (K, H, W) u8, SOURCE (K,) i32 are .npy files.
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "annotations.h"
#include "check.h"
#include "maskcut.h"
#include "npy.h"

static useg_status write_result(useg_ctx *ctx, const char *out_path, const char *source_path, useg_tensor *masks,
                                const int *source, int count) {
    useg_tensor *src;
    USEG_TRY(useg_empty(ctx, NULL, USEG_I32, 1, (const int64_t[]){count}, &src));
    for (int k = 0; k < count; k++) ((int32_t *)src->data)[k] = source[k];
    USEG_TRY(useg_npy_write(ctx, out_path, masks));
    return useg_npy_write(ctx, source_path, src);
}

static useg_status run_mode(useg_ctx *ctx, int argc, char **argv) {
    const char *mode = argv[1];
    useg_tensor *work, *in, *masks;
    if ((!strcmp(mode, "post") || !strcmp(mode, "chain")) && argc == 9) {
        const int64_t H = atoll(argv[3]), W = atoll(argv[4]);
        USEG_TRY(useg_npy_read(ctx, argv[5], NULL, &work));
        USEG_TRY(useg_npy_read(ctx, argv[6], NULL, &in));
        useg_tensor *patch_masks = in;
        bool crf = true;
        int n = (int)in->shape[0];
        if (!strcmp(mode, "chain")) {
            useg_maskcut_options opt = useg_maskcut_default_options();
            opt.sign = !strcmp(argv[2], "neg") ? USEG_MASKCUT_PEAK_NEGATIVE : USEG_MASKCUT_PEAK_POSITIVE;
            useg_maskcut_info info[3];
            USEG_TRY(useg_maskcut(ctx, in, &opt, &patch_masks, info, &n));
        } else {
            crf = atoi(argv[2]) != 0;
        }
        int count, *source = calloc((size_t)n + 1, sizeof *source);
        useg_status st = useg_maskcut_postprocess(ctx, work, patch_masks, H, W, crf, &masks, &count, source, NULL);
        if (st == USEG_OK) st = write_result(ctx, argv[7], argv[8], masks, source, count);
        free(source);
        return st;
    }
    if (!strcmp(mode, "rle") && argc == 4) {
        USEG_TRY(useg_npy_read(ctx, argv[2], NULL, &in));
        json_t *anns = json_array();
        const int64_t H = in->shape[1], W = in->shape[2];
        useg_status st = USEG_OK;
        for (int64_t k = 0; k < in->shape[0] && st == USEG_OK; k++)
            st = useg_annotation_append(ctx, anns, (const uint8_t *)in->data + k * H * W, H, W, 1.0, NULL, NULL);
        if (st == USEG_OK && json_dump_file(anns, argv[3], JSON_COMPACT | JSON_REAL_PRECISION(17)))
            st = useg_fail(ctx, USEG_ERR_IO, "%s: cannot write", argv[3]);
        json_decref(anns);
        return st;
    }
    return useg_fail(ctx, USEG_ERR_INVALID_ARG, "usage: see the top of tests/pseudolabel/test_maskcut.c");
}

// A 100 x 140 scene: a textured red disc on a noisy green background.
static void make_image(useg_ctx *ctx, useg_tensor **img) {
    const int64_t H = 100, W = 140;
    CHECK_OK(ctx, useg_empty(ctx, NULL, USEG_U8, 3, (const int64_t[]){H, W, 3}, img));
    uint8_t *p = (*img)->data;
    uint32_t s = 12345;
    for (int64_t y = 0; y < H; y++) {
        for (int64_t x = 0; x < W; x++) {
            const bool disc = (x - 80) * (x - 80) + (y - 45) * (y - 45) < 30 * 30;
            for (int c = 0; c < 3; c++) {
                s = s * 1664525u + 1013904223u;
                const int noise = (int)(s >> 28) - 8;
                const int base = disc ? (c == 0 ? 200 : 50) : (c == 1 ? 120 : 60);
                p[(y * W + x) * 3 + c] = (uint8_t)(base + noise);
            }
        }
    }
}

static void check_bad_inputs(useg_ctx *ctx) {
    useg_tensor *work, *pm, *big, *f32, *masks, *img;
    int count, source[4];
    CHECK_OK(ctx, useg_zeros(ctx, NULL, USEG_U8, 3, (const int64_t[]){32, 32, 3}, &work));
    CHECK_OK(ctx, useg_zeros(ctx, NULL, USEG_U8, 3, (const int64_t[]){2, 4, 4}, &pm));
    CHECK_OK(ctx, useg_zeros(ctx, NULL, USEG_U8, 3, (const int64_t[]){1, 40, 4}, &big));
    CHECK_OK(ctx, useg_zeros(ctx, NULL, USEG_F32, 3, (const int64_t[]){2, 4, 4}, &f32));
    CHECK_OK(ctx, useg_maskcut_postprocess(ctx, work, pm, 10, 12, true, &masks, &count, source, NULL));
    CHECK(count == 0 && masks->shape[0] == 0 && masks->shape[1] == 10 && masks->shape[2] == 12,
          "empty patch masks give no mask (count %d)", count);
    CHECK_FAILS(ctx, useg_maskcut_postprocess(ctx, work, big, 10, 12, true, &masks, &count, source, NULL),
                USEG_ERR_SHAPE);
    CHECK_FAILS(ctx, useg_maskcut_postprocess(ctx, work, f32, 10, 12, true, &masks, &count, source, NULL),
                USEG_ERR_SHAPE);
    CHECK_FAILS(ctx, useg_maskcut_postprocess(ctx, pm, pm, 10, 12, true, &masks, &count, source, NULL),
                USEG_ERR_SHAPE);
    CHECK_FAILS(ctx, useg_maskcut_postprocess(ctx, work, pm, 0, 12, true, &masks, &count, source, NULL),
                USEG_ERR_SHAPE);

    useg_backbone bb;
    useg_maskcut_result r;
    CHECK_OK(ctx, useg_backbone_open(ctx, NULL, 8, &bb));
    make_image(ctx, &img);
    useg_maskcut_image_options opt = useg_maskcut_image_default_options();
    CHECK_OK(ctx, useg_maskcut_image(ctx, &bb, work, &opt, &r)); // a constant image: no object, no failure
    CHECK_FAILS(ctx, useg_maskcut_image(ctx, &bb, pm, &opt, &r), USEG_ERR_SHAPE);
    CHECK_FAILS(ctx, useg_maskcut_image(ctx, &bb, f32, &opt, &r), USEG_ERR_SHAPE);
    opt.size = 15;
    CHECK_FAILS(ctx, useg_maskcut_image(ctx, &bb, img, &opt, &r), USEG_ERR_INVALID_ARG);
    opt = useg_maskcut_image_default_options();
    opt.filter = USEG_RESAMPLE_COUNT;
    CHECK_FAILS(ctx, useg_maskcut_image(ctx, &bb, img, &opt, &r), USEG_ERR_INVALID_ARG);
    opt = useg_maskcut_image_default_options();
    opt.cut.n_masks = 0;
    CHECK_FAILS(ctx, useg_maskcut_image(ctx, &bb, img, &opt, &r), USEG_ERR_INVALID_ARG);
    opt = useg_maskcut_image_default_options();
    opt.cut.tau = 1.5;
    CHECK_FAILS(ctx, useg_maskcut_image(ctx, &bb, img, &opt, &r), USEG_ERR_INVALID_ARG);
    useg_step_end(ctx);
}

static void check_shards(void) {
    useg_shard s;
    CHECK(useg_shard_parse("0/1", &s) && s.index == 0 && s.count == 1, "0/1");
    CHECK(useg_shard_parse("3/4", &s) && s.index == 3 && s.count == 4, "3/4");
    const char *bad[] = {"", "1", "4/4", "-1/4", "1/0", "1/", "/4", "1/4x", "a/b", "1/2/3", "0/2000000", " 1/4"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) CHECK(!useg_shard_parse(bad[i], &s), "'%s' accepted", bad[i]);
}

// Same masks with 1 and 2 OpenMP threads, and a mask on the disc.
static void check_image(useg_ctx *ctx) {
    useg_backbone bb;
    useg_tensor *img;
    useg_maskcut_result r[2];
    CHECK_OK(ctx, useg_backbone_open(ctx, NULL, 8, &bb));
    make_image(ctx, &img);
    const useg_maskcut_image_options opt = useg_maskcut_image_default_options();
    const int threads = omp_get_max_threads();
    for (int k = 0; k < 2; k++) {
        omp_set_num_threads(k == 0 ? 1 : 2);
        CHECK_OK(ctx, useg_maskcut_image(ctx, &bb, img, &opt, &r[k]));
    }
    omp_set_num_threads(threads);
    CHECK(r[0].count >= 1 && r[0].count == r[1].count &&
              !memcmp(r[0].masks->data, r[1].masks->data, (size_t)useg_numel(r[0].masks)),
          "masks differ between 1 and 2 threads (%d vs %d masks)", r[0].count, r[1].count);
    if (r[0].count >= 1) {
        const uint8_t *m = r[0].masks->data;
        int64_t inter = 0, uni = 0;
        for (int64_t y = 0; y < 100; y++) {
            for (int64_t x = 0; x < 140; x++) {
                const bool disc = (x - 80) * (x - 80) + (y - 45) * (y - 45) < 30 * 30;
                inter += disc && m[y * 140 + x];
                uni += disc || m[y * 140 + x];
            }
        }
        CHECK(inter >= 0.9 * uni, "first mask vs the disc: IoU %.3f", (double)inter / (double)uni);
        CHECK(r[0].info[0].score == 1.0 && r[0].info[0].cut == 0 && r[0].info[0].patch_area > 0 &&
                  r[0].info[0].area > 0,
              "mask info");
    }
    useg_step_end(ctx);
}

// The annotation writer on its own: three images written as parts (one
// without masks, annotations with UnSAM-style parent_id links), assembled;
// the same as two shards merged, byte for byte; parent_id rewritten to final ids.
static json_t *image_annotations(useg_ctx *ctx, int64_t index) {
    enum { H = 6, W = 5 };
    json_t *anns = json_array();
    uint8_t mask[H * W] = {0};
    int64_t parent = 0;
    for (int k = 0; k < (int)index % 3 * 2; k++) {
        mask[(k * 7 + (int)index) % (H * W)] = 1; // growing masks
        json_t *extra = json_pack("{s:i, s:o}", "level", k, "parent_id", parent ? json_integer(parent) : json_null());
        CHECK_OK(ctx, useg_annotation_append(ctx, anns, mask, H, W, 0.5 + k, extra, &parent));
    }
    CHECK_OK(ctx, useg_annotation_append(ctx, anns, (uint8_t[H * W]){0}, H, W, 1.0, NULL, &parent));
    CHECK(parent == 0, "an empty mask gets id 0");
    return anns;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = calloc(1 << 20, 1);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void check_annotations(useg_ctx *ctx) {
    char dir[] = "/tmp/useg_annotations_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    useg_dataset_item items[5] = {{"a", "a.png", 0}, {"b", "b.png", 1}, {"c", "c.png", 2}, {"d", "d.png", 3},
                                  {"e", "e.png", 4}};
    const useg_dataset ds = {.count = 5, .items = items};
    json_t *settings = json_pack("{s:s}", "description", "writer test");
    char paths[4][4200];
    const useg_shard shards[3] = {{0, 1}, {0, 2}, {1, 2}};
    for (int s = 0; s < 3; s++) {
        useg_annotation_run run;
        int64_t n_images, n_anns;
        snprintf(paths[s], sizeof paths[s], "%s/out%d.json", dir, s);
        CHECK_OK(ctx, useg_annotation_run_open(ctx, &run, paths[s], settings, &ds, shards[s]));
        for (int64_t i = 0; i < ds.count; i++) {
            if (!useg_annotation_run_wants(&run, i) || i == 3) continue; // item 3: "unreadable"
            json_t *anns = image_annotations(ctx, i);
            CHECK_OK(ctx, useg_annotation_run_write(ctx, &run, i, 6, 5, anns));
            json_decref(anns);
            CHECK(useg_annotation_run_done(&run, i), "part %lld written", (long long)i);
        }
        CHECK_OK(ctx, useg_annotation_run_finish(ctx, &run, &n_images, &n_anns));
        if (s == 0) CHECK(n_images == 4 && n_anns == 8, "%lld images, %lld annotations", (long long)n_images,
                          (long long)n_anns);
        useg_annotation_run_close(&run);
    }
    snprintf(paths[3], sizeof paths[3], "%s/merged.json", dir);
    int64_t n_images, n_anns;
    CHECK_OK(ctx, useg_annotations_merge(ctx, (const char *const[]){paths[2], paths[1]}, 2, paths[3], &n_images,
                                         &n_anns));
    char *single = slurp(paths[0]), *merged = slurp(paths[3]);
    CHECK(single && merged && !strcmp(single, merged), "2 shards merged differ from the single run");
    json_error_t err;
    json_t *doc = json_loads(single ? single : "", 0, &err);
    json_t *anns = json_object_get(doc, "annotations");
    bool links = json_array_size(anns) == 8;
    for (size_t k = 0; links && k < json_array_size(anns); k++) {
        json_t *a = json_array_get(anns, k), *p = json_object_get(a, "parent_id");
        const int64_t id = json_integer_value(json_object_get(a, "id"));
        const int64_t level = json_integer_value(json_object_get(a, "level"));
        // Each image's masks chain level 0 <- 1 <- ...: the parent is the previous id.
        links = id == (int64_t)k + 1 && (level == 0 ? json_is_null(p) : json_integer_value(p) == id - 1);
    }
    CHECK(links, "annotation ids 1..8 and parent_id links rewritten to final ids");
    json_decref(doc);
    free(single);
    free(merged);
    // A resumed run with other settings is refused.
    useg_annotation_run run;
    json_t *other = json_pack("{s:s}", "description", "another test");
    char path[4200];
    snprintf(path, sizeof path, "%s/out9.json", dir);
    CHECK_OK(ctx, useg_annotation_run_open(ctx, &run, path, settings, &ds, shards[0]));
    useg_annotation_run_close(&run);
    CHECK_FAILS(ctx, useg_annotation_run_open(ctx, &run, path, other, &ds, shards[0]), USEG_ERR_INVALID_ARG);
    useg_annotation_run_close(&run);
    CHECK_FAILS(ctx, useg_annotations_merge(ctx, (const char *const[]){paths[1]}, 1, paths[3], &n_images, &n_anns),
                USEG_ERR_INVALID_ARG);
    json_decref(settings);
    json_decref(other);
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0, "cleanup");
}

int main(int argc, char **argv) {
    useg_ctx ctx;
    useg_ctx_init(&ctx, NULL);
    int rc;
    if (argc == 2 && !strcmp(argv[1], "check")) {
        const bool prev = useg_no_grad_begin(&ctx);
        check_bad_inputs(&ctx);
        check_shards();
        check_annotations(&ctx);
        check_image(&ctx);
        useg_no_grad_end(&ctx, prev);
        rc = check_report("maskcut checks");
    } else if (argc >= 2) {
        const bool prev = useg_no_grad_begin(&ctx);
        rc = run_mode(&ctx, argc, argv) == USEG_OK ? 0 : 1;
        useg_no_grad_end(&ctx, prev);
        if (rc) fprintf(stderr, "test_maskcut %s: %s\n", argv[1], ctx.message);
    } else {
        fprintf(stderr, "usage: see the top of tests/pseudolabel/test_maskcut.c\n");
        rc = 2;
    }
    useg_ctx_free(&ctx);
    return rc;
}
