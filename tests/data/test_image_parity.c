// Decoding and preprocessing against PIL: runs the cases image_parity.py
// lists in DIR/MANIFEST and compares with its .npy references. Everything
// is expected bit-identical (the decoder uses PIL's libjpeg settings, the
// resize PIL's fixed-point arithmetic, the normalisation torchvision's f32
// steps); the largest difference per kind of case is printed either way.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "image.h"
#include "npy.h"
#include "resize.h"

enum { KINDS = 8 };
static struct {
    char name[32];
    int cases;
    double max_diff;
} kinds[KINDS];

static void record(const char *kind, double diff) {
    int k = 0;
    while (k < KINDS - 1 && kinds[k].cases && strcmp(kinds[k].name, kind)) k++;
    snprintf(kinds[k].name, sizeof kinds[k].name, "%s", kind);
    kinds[k].cases++;
    if (diff > kinds[k].max_diff) kinds[k].max_diff = diff;
}

// Largest |got - ref| (infinite when the shapes differ).
static double max_diff(const useg_tensor *got, const useg_tensor *ref) {
    if (!useg_same_shape(got, ref)) return INFINITY;
    double d = 0;
    for (int64_t i = 0; i < useg_numel(ref); i++) d = fmax(d, fabs(useg_get_flat(got, i) - useg_get_flat(ref, i)));
    return d;
}

static void compare(useg_ctx *ctx, const char *kind, const char *name, const useg_tensor *got, const char *ref_path) {
    useg_tensor *ref;
    CHECK_OK(ctx, useg_npy_read(ctx, ref_path, NULL, &ref));
    if (!got || ctx->status) return;
    char a[96], b[96];
    double d = max_diff(got, ref);
    record(kind, d);
    CHECK(d == 0, "%s: %s vs PIL %s: max abs diff %g", name, useg_shape_str(got, a, sizeof a),
          useg_shape_str(ref, b, sizeof b), d);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR (run by image_parity.py)\n", argv[0]);
        return 2;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/MANIFEST", argv[1]);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return 2;
    }
    useg_ctx ctx;
    useg_ctx_init(&ctx, NULL);
    char line[16384], kind[32], name[256], file[4096], mode[16], filter[16], ref[4096];
    while (fgets(line, sizeof line, f)) {
        int exif, h, w;
        useg_tensor *img = NULL, *out = NULL;
        useg_image_options opt = {0};
        if (sscanf(line, "decode %255s %4095s %15s %d %4095s", name, file, mode, &exif, ref) == 5) {
            opt.mode = strcmp(mode, "labels") ? USEG_IMAGE_RGB : USEG_IMAGE_LABELS;
            opt.exif_transpose = exif;
            CHECK_OK(&ctx, useg_image_read(&ctx, file, &opt, NULL, &img));
            compare(&ctx, "decode", name, img, ref);
        } else if (sscanf(line, "resize %255s %4095s %15s %15s %d %d %4095s", name, file, mode, filter, &h, &w, ref) ==
                   7) {
            opt.mode = strcmp(mode, "labels") ? USEG_IMAGE_RGB : USEG_IMAGE_LABELS;
            CHECK_OK(&ctx, useg_image_read(&ctx, file, &opt, NULL, &img));
            if (img) CHECK_OK(&ctx, useg_image_resize(&ctx, img, h, w, useg_resample_from_name(filter), NULL, &out));
            snprintf(kind, sizeof kind, "resize %s", filter);
            compare(&ctx, kind, name, out, ref);
        } else if (sscanf(line, "preprocess %255s %4095s %d %d %4095s", name, file, &h, &w, ref) == 5) {
            // Resize(shorter side h, bilinear) + CenterCrop(w) + ToTensor + Normalize.
            int64_t rh, rw;
            useg_tensor *resized = NULL, *crop = NULL;
            CHECK_OK(&ctx, useg_image_read(&ctx, file, NULL, NULL, &img));
            if (img) {
                useg_resize_shorter_side(img->shape[0], img->shape[1], h, &rh, &rw);
                CHECK_OK(&ctx, useg_image_resize(&ctx, img, rh, rw, USEG_RESAMPLE_BILINEAR, NULL, &resized));
            }
            if (resized) CHECK_OK(&ctx, useg_image_center_crop(&ctx, resized, w, w, NULL, &crop));
            if (crop)
                CHECK_OK(&ctx, useg_image_normalize(&ctx, crop, useg_imagenet_mean, useg_imagenet_std, NULL, &out));
            compare(&ctx, "preprocess", name, out, ref);
        } else if (line[0] != '\n') {
            CHECK(0, "bad manifest line: %s", line);
        }
        useg_step_end(&ctx);
    }
    fclose(f);
    for (int k = 0; k < KINDS && kinds[k].cases; k++)
        printf("%-18s %4d cases, max abs diff vs PIL %g\n", kinds[k].name, kinds[k].cases, kinds[k].max_diff);
    useg_ctx_free(&ctx);
    return check_report("image_parity");
}
