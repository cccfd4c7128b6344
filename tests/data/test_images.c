// Image I/O without a reference library: PNG write/read round trips, every
// kind of bad input (empty, truncated, corrupt, zero-sized, over the pixel
// limit, unsupported format, missing file) failing with the expected status
// and a message naming the file, and the preprocessing functions' argument
// checks. JPEG inputs are made here with libjpeg's encoder.
#include <stdio.h>
#include <stdlib.h>
#include <jpeglib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "image.h"
#include "resize.h"

static char tmpdir[] = "/tmp/useg_test_images_XXXXXX";

static const char *tmp_path(const char *name) {
    static char buf[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static unsigned char *read_bytes(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    USEG_ASSERT(f, "cannot read %s", path);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*n);
    USEG_ASSERT(b && fread(b, 1, *n, f) == *n, "cannot read %s", path);
    fclose(f);
    return b;
}

// A w x h RGB JPEG of a gradient, in malloc'd memory.
static unsigned char *make_jpeg(int w, int h, unsigned long *size) {
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    unsigned char *out = NULL;
    jpeg_mem_dest(&c, &out, size);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_start_compress(&c, TRUE);
    unsigned char *row = malloc((size_t)w * 3);
    while (c.next_scanline < c.image_height) {
        for (int x = 0; x < w; x++) {
            row[3 * x] = (unsigned char)(x * 5);
            row[3 * x + 1] = (unsigned char)(c.next_scanline * 7);
            row[3 * x + 2] = (unsigned char)(x + c.next_scanline);
        }
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(row);
    return out;
}

// The decode must fail with `status`, and the message must name `name` and
// contain `what`.
static void expect_fail(useg_ctx *ctx, const char *name, const void *data, size_t n, const useg_image_options *opt,
                        useg_status status, const char *what) {
    useg_tensor *img;
    useg_status st = useg_image_decode(ctx, name, data, n, opt, NULL, &img);
    CHECK(st == status && strstr(ctx->message, name) && strstr(ctx->message, what),
          "%s: expected status '%s' and a message with \"%s\", got '%s': %s", name, useg_status_name(status), what,
          useg_status_name(st), ctx->message);
    useg_clear_error(ctx);
}

static void put_be32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void test_png_round_trip(useg_ctx *ctx) {
    for (int c = 0; c <= 4; c++) {
        int64_t shape[3] = {13, 29, c ? c : 1};
        useg_tensor *img, *back;
        CHECK_OK(ctx, useg_empty(ctx, NULL, USEG_U8, c ? 3 : 2, shape, &img));
        for (int64_t i = 0; i < useg_numel(img); i++) ((uint8_t *)img->data)[i] = (uint8_t)(i * 37 + c);
        const char *p = tmp_path("round.png");
        CHECK_OK(ctx, useg_image_write_png(ctx, p, img));
        // Read back what PIL's asarray would give: grey as labels, colour as RGB.
        useg_image_options opt = {.mode = c <= 1 ? USEG_IMAGE_LABELS : USEG_IMAGE_RGB};
        CHECK_OK(ctx, useg_image_read(ctx, p, &opt, NULL, &back));
        if (ctx->status || !back) continue;
        bool same = true;
        for (int64_t y = 0; y < 13; y++)
            for (int64_t x = 0; x < 29; x++)
                for (int64_t k = 0; k < (c == 3 ? 3 : 1); k++) {
                    // Grey+alpha and RGBA come back without alpha (RGB or grey replicated).
                    uint8_t want = ((uint8_t *)img->data)[(y * 29 + x) * shape[2] + (c == 2 ? 0 : k)];
                    uint8_t got = ((uint8_t *)back->data)[(y * 29 + x) * (c <= 1 ? 1 : 3) + k];
                    same = same && want == got;
                }
        CHECK(same, "PNG with %d channels does not read back", c);
    }
    // A non-contiguous view (every other column, channels reversed) writes its logical pixels.
    int64_t shape[3] = {5, 8, 3};
    useg_tensor *img, *back;
    CHECK_OK(ctx, useg_empty(ctx, NULL, USEG_U8, 3, shape, &img));
    for (int64_t i = 0; i < 120; i++) ((uint8_t *)img->data)[i] = (uint8_t)(i * 11);
    useg_tensor view = *img;
    view.shape[1] = 4;
    view.strides[1] = 6;
    view.strides[2] = -1;
    view.data = (uint8_t *)img->data + 2;
    CHECK_OK(ctx, useg_image_write_png(ctx, tmp_path("view.png"), &view));
    CHECK_OK(ctx, useg_image_read(ctx, tmp_path("view.png"), NULL, NULL, &back));
    bool same = back && back->shape[1] == 4;
    for (int64_t y = 0; same && y < 5; y++)
        for (int64_t x = 0; x < 4; x++)
            for (int64_t k = 0; k < 3; k++)
                same = same && ((uint8_t *)back->data)[(y * 4 + x) * 3 + k] ==
                                   ((uint8_t *)img->data)[y * 24 + x * 6 + 2 - k];
    CHECK(same, "strided PNG write");

    CHECK_FAILS(ctx, useg_image_write_png(ctx, "/nonexistent-dir/x.png", img), USEG_ERR_IO);
    useg_tensor *f32;
    CHECK_OK(ctx, useg_zeros(ctx, NULL, USEG_F32, 3, shape, &f32));
    CHECK_FAILS(ctx, useg_image_write_png(ctx, tmp_path("f.png"), f32), USEG_ERR_SHAPE);
    CHECK(access(tmp_path("f.png"), F_OK) != 0, "a refused write leaves no file");
}

static void test_bad_png(useg_ctx *ctx) {
    int64_t shape[3] = {40, 30, 3};
    useg_tensor *img;
    CHECK_OK(ctx, useg_full(ctx, NULL, USEG_U8, 3, shape, 77, &img));
    const char *p = tmp_path("good.png");
    CHECK_OK(ctx, useg_image_write_png(ctx, p, img));
    size_t n;
    unsigned char *png = read_bytes(p, &n);
    unsigned char *bad = malloc(n);

    expect_fail(ctx, "empty.png", png, 0, NULL, USEG_ERR_FORMAT, "empty");
    expect_fail(ctx, "truncated.png", png, n / 2, NULL, USEG_ERR_FORMAT, "corrupt PNG");
    expect_fail(ctx, "header-only.png", png, 20, NULL, USEG_ERR_FORMAT, "corrupt PNG");
    // The zlib stream header of the first IDAT (after signature 8 + IHDR 25 + IDAT length and type 8).
    memcpy(bad, png, n);
    bad[41] = 0xff;
    bad[42] = 0xff;
    expect_fail(ctx, "corrupt.png", bad, n, NULL, USEG_ERR_FORMAT, "corrupt PNG");
    memcpy(bad, png, n);
    put_be32(bad + 16, 0);
    expect_fail(ctx, "zero-width.png", bad, n, NULL, USEG_ERR_FORMAT, "zero-sized");
    memcpy(bad, png, n);
    put_be32(bad + 20, 0);
    expect_fail(ctx, "zero-height.png", bad, n, NULL, USEG_ERR_FORMAT, "zero-sized");
    // 100000 x 100000 would need 30 GB: refused from the header, before any allocation.
    memcpy(bad, png, n);
    put_be32(bad + 16, 100000);
    put_be32(bad + 20, 100000);
    expect_fail(ctx, "enormous.png", bad, n, NULL, USEG_ERR_FORMAT, "over the limit of 89478485 pixels");
    // Just over the limit refuses, the limit itself passes the check (and
    // then fails as corrupt: the data is for 30 x 40).
    put_be32(bad + 16, 9471);
    put_be32(bad + 20, 9447);  // 89,472,537 pixels
    expect_fail(ctx, "at-limit.png", bad, n, NULL, USEG_ERR_FORMAT, "corrupt PNG");
    put_be32(bad + 20, 9448);  // 89,482,008
    expect_fail(ctx, "over-limit.png", bad, n, NULL, USEG_ERR_FORMAT, "over the limit");
    // Chunk structure: a length past the end of the file (stb would allocate
    // it), no IEND, an empty first IDAT. The first IDAT starts at byte 33.
    memcpy(bad, png, n);
    put_be32(bad + 33, 0x7fff0000);
    expect_fail(ctx, "lying-length.png", bad, n, NULL, USEG_ERR_FORMAT, "claims 2147418112 bytes, past the end");
    expect_fail(ctx, "no-iend.png", png, n - 12, NULL, USEG_ERR_FORMAT, "no IEND");
    unsigned char *empty_idat = malloc(n + 12);
    memcpy(empty_idat, png, 33);
    memcpy(empty_idat + 33, "\0\0\0\0IDAT\x35\xaf\x06\x1e", 12);
    memcpy(empty_idat + 45, png + 33, n - 33);
    expect_fail(ctx, "empty-idat.png", empty_idat, n + 12, NULL, USEG_ERR_FORMAT, "empty first IDAT");
    free(empty_idat);
    useg_image_options small = {.max_pixels = 1199};
    expect_fail(ctx, "good.png", png, n, &small, USEG_ERR_FORMAT, "over the limit of 1199 pixels");
    small.max_pixels = 1200;
    CHECK_OK(ctx, useg_image_decode(ctx, "good.png", png, n, &small, NULL, &img));
    useg_image_options labels = {.mode = USEG_IMAGE_LABELS};
    expect_fail(ctx, "rgb-as-labels.png", png, n, &labels, USEG_ERR_FORMAT, "label map must be a grey PNG");
    // Colour type 3 (palette) with labels: refused, the indices are not available.
    memcpy(bad, png, n);
    bad[25] = 3;
    expect_fail(ctx, "palette-as-labels.png", bad, n, &labels, USEG_ERR_FORMAT, "colour type 3");
    free(bad);
    free(png);
}

static void test_bad_jpeg(useg_ctx *ctx) {
    unsigned long n;
    unsigned char *jpg = make_jpeg(48, 32, &n);
    useg_tensor *img;
    CHECK_OK(ctx, useg_image_decode(ctx, "good.jpg", jpg, n, NULL, NULL, &img));
    CHECK(img && img->ndim == 3 && img->shape[0] == 32 && img->shape[1] == 48 && img->shape[2] == 3,
          "JPEG decodes to (32, 48, 3)");
    expect_fail(ctx, "truncated.jpg", jpg, n / 2, NULL, USEG_ERR_FORMAT, "truncated");
    expect_fail(ctx, "no-eoi.jpg", jpg, n - 2, NULL, USEG_ERR_FORMAT, "truncated");
    expect_fail(ctx, "soi-only.jpg", jpg, 4, NULL, USEG_ERR_FORMAT, "corrupt JPEG");
    unsigned char *bad = malloc(n);
    memcpy(bad, jpg, n);
    for (size_t i = 3; i < 64; i++) bad[i] = (unsigned char)(i * 73);
    expect_fail(ctx, "garbage.jpg", bad, n, NULL, USEG_ERR_FORMAT, "corrupt JPEG");
    // Patch the frame size in the SOF0 marker (FF C0, length, precision, height, width).
    size_t sof = 0;
    for (size_t i = 2; i + 9 < n && !sof; i++)
        if (jpg[i] == 0xff && jpg[i + 1] == 0xc0) sof = i;
    CHECK(sof, "libjpeg wrote a baseline SOF0");
    memcpy(bad, jpg, n);
    bad[sof + 5] = bad[sof + 6] = 0;
    expect_fail(ctx, "zero-height.jpg", bad, n, NULL, USEG_ERR_FORMAT, "corrupt JPEG");
    memcpy(bad, jpg, n);
    bad[sof + 5] = bad[sof + 7] = 0xfd;  // 64 8xx x 64 8xx
    expect_fail(ctx, "enormous.jpg", bad, n, NULL, USEG_ERR_FORMAT, "over the limit");
    useg_image_options labels = {.mode = USEG_IMAGE_LABELS};
    expect_fail(ctx, "rgb-as-labels.jpg", jpg, n, &labels, USEG_ERR_FORMAT, "one-channel");
    free(bad);
    free(jpg);
}

static void test_other_formats(useg_ctx *ctx) {
    expect_fail(ctx, "image.gif", "GIF89a\1\0\1\0", 10, NULL, USEG_ERR_FORMAT, "unsupported image format (GIF");
    expect_fail(ctx, "image.bmp", "BM\0\0\0\0\0\0", 8, NULL, USEG_ERR_FORMAT, "unsupported image format (BMP");
    expect_fail(ctx, "image.webp", "RIFF\0\0\0\0WEBP", 12, NULL, USEG_ERR_FORMAT, "WebP");
    expect_fail(ctx, "notes.txt", "hello world", 11, NULL, USEG_ERR_FORMAT, "unknown");
    useg_tensor *img;
    const char *missing = tmp_path("missing.png");
    CHECK(useg_image_read(ctx, missing, NULL, NULL, &img) == USEG_ERR_IO && strstr(ctx->message, missing),
          "missing file: %s", ctx->message);
    useg_clear_error(ctx);
    CHECK(useg_image_read(ctx, tmpdir, NULL, NULL, &img) != USEG_OK && strstr(ctx->message, tmpdir),
          "a folder is not an image: %s", ctx->message);
    useg_clear_error(ctx);
}

static void test_preprocess_checks(useg_ctx *ctx) {
    int64_t rgb_shape[3] = {6, 9, 3}, rgba_shape[3] = {6, 9, 4}, grey_shape[2] = {6, 9};
    useg_tensor *rgb, *rgba, *grey, *f32, *out;
    CHECK_OK(ctx, useg_full(ctx, NULL, USEG_U8, 3, rgb_shape, 9, &rgb));
    CHECK_OK(ctx, useg_full(ctx, NULL, USEG_U8, 3, rgba_shape, 9, &rgba));
    CHECK_OK(ctx, useg_full(ctx, NULL, USEG_U8, 2, grey_shape, 9, &grey));
    CHECK_OK(ctx, useg_zeros(ctx, NULL, USEG_F32, 3, rgb_shape, &f32));
    CHECK_FAILS(ctx, useg_image_resize(ctx, f32, 3, 3, USEG_RESAMPLE_BILINEAR, NULL, &out), USEG_ERR_SHAPE);
    CHECK_FAILS(ctx, useg_image_resize(ctx, rgb, 0, 3, USEG_RESAMPLE_BILINEAR, NULL, &out), USEG_ERR_SHAPE);
    CHECK_FAILS(ctx, useg_image_resize(ctx, rgb, 3, 3, USEG_RESAMPLE_COUNT, NULL, &out), USEG_ERR_SHAPE);
    CHECK_FAILS(ctx, useg_image_resize(ctx, rgba, 3, 3, USEG_RESAMPLE_LANCZOS, NULL, &out), USEG_ERR_SHAPE);
    CHECK_OK(ctx, useg_image_resize(ctx, rgba, 3, 3, USEG_RESAMPLE_NEAREST, NULL, &out));
    CHECK_OK(ctx, useg_image_resize(ctx, grey, 12, 2, USEG_RESAMPLE_BICUBIC, NULL, &out));
    CHECK(out->ndim == 2 && out->shape[0] == 12 && out->shape[1] == 2, "grey resize keeps (H, W)");
    CHECK_FAILS(ctx, useg_image_crop(ctx, rgb, 1, 1, 6, 2, NULL, &out), USEG_ERR_SHAPE);
    CHECK_FAILS(ctx, useg_image_crop(ctx, rgb, -1, 0, 2, 2, NULL, &out), USEG_ERR_SHAPE);
    CHECK_FAILS(ctx, useg_image_crop(ctx, rgb, 0, 0, 0, 2, NULL, &out), USEG_ERR_SHAPE);
    CHECK_FAILS(ctx, useg_image_center_crop(ctx, rgb, 7, 7, NULL, &out), USEG_ERR_SHAPE);
    CHECK_FAILS(ctx, useg_image_normalize(ctx, grey, useg_imagenet_mean, useg_imagenet_std, NULL, &out),
                USEG_ERR_SHAPE);
    CHECK_FAILS(ctx, useg_image_normalize(ctx, rgba, useg_imagenet_mean, useg_imagenet_std, NULL, &out),
                USEG_ERR_SHAPE);
    // torchvision's center offsets use round-half-to-even: (9 - 2) / 2 = 3.5 -> 4, (6 - 1) / 2 = 2.5 -> 2.
    for (int64_t i = 0; i < 54; i++) ((uint8_t *)grey->data)[i] = (uint8_t)i;
    CHECK_OK(ctx, useg_image_center_crop(ctx, grey, 1, 2, NULL, &out));
    CHECK(((uint8_t *)out->data)[0] == 2 * 9 + 4, "center crop offset: got pixel %d", ((uint8_t *)out->data)[0]);
    int64_t h, w;
    useg_resize_shorter_side(480, 640, 320, &h, &w);
    CHECK(h == 320 && w == 426, "Resize(320) of 640 x 480: %lld x %lld", (long long)w, (long long)h);
    useg_resize_shorter_side(481, 321, 320, &h, &w);
    CHECK(h == 479 && w == 320, "Resize(320) of 321 x 481: %lld x %lld", (long long)w, (long long)h);
    CHECK(useg_resample_from_name("lanczos") == USEG_RESAMPLE_LANCZOS && useg_resample_from_name("box") == -1,
          "filter names");
}

int main(void) {
    USEG_ASSERT(mkdtemp(tmpdir), "mkdtemp");
    useg_ctx ctx;
    useg_ctx_init(&ctx, NULL);
    test_png_round_trip(&ctx);
    test_bad_png(&ctx);
    test_bad_jpeg(&ctx);
    test_other_formats(&ctx);
    test_preprocess_checks(&ctx);
    useg_ctx_free(&ctx);
    const char *names[] = {"round.png", "view.png", "good.png"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) unlink(tmp_path(names[i]));
    rmdir(tmpdir);
    return check_report("images");
}
