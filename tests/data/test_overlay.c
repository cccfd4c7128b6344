// useg_overlay_render and useg_overlay_color on cases worked out by hand:
// contour and fill pixels of a square, no contour along the image border, a
// small mask painted over a large one whatever their indices, equal areas in
// index order, distinct colours, shapes refused.
//
// `test_overlay render IMG.npy MASKS.npy OUT.npy` draws IMG (H, W, 3) u8 with
// MASKS (K, H, W) u8 into OUT, for tests/data/overlay_ref.py, which checks it
// against NumPy's computation of the formula on random cases.
#include <string.h>

#include "check.h"
#include "npy.h"
#include "overlay.h"

static int render_files(const char *img_path, const char *masks_path, const char *out_path) {
    useg_ctx ctx;
    useg_ctx_init(&ctx, NULL);
    useg_tensor *img, *masks, *out;
    useg_status st = useg_npy_read(&ctx, img_path, NULL, &img);
    if (st == USEG_OK) st = useg_npy_read(&ctx, masks_path, NULL, &masks);
    if (st == USEG_OK) st = useg_overlay_render(&ctx, img, masks, NULL, &out);
    if (st == USEG_OK) st = useg_npy_write(&ctx, out_path, out);
    if (st != USEG_OK) fprintf(stderr, "test_overlay render: %s\n", ctx.message);
    useg_ctx_free(&ctx);
    return st == USEG_OK ? 0 : 1;
}

enum { H = 9, W = 11 };

// A photo of constant grey `v` and K empty masks.
static void setup(useg_ctx *ctx, int64_t K, uint8_t v, useg_tensor **img, useg_tensor **masks) {
    CHECK_OK(ctx, useg_full(ctx, NULL, USEG_U8, 3, (int64_t[]){H, W, 3}, v, img));
    CHECK_OK(ctx, useg_zeros(ctx, NULL, USEG_U8, 3, (int64_t[]){K, H, W}, masks));
}

static void fill_box(useg_tensor *masks, int64_t k, int y0, int y1, int x0, int x1) {
    uint8_t *m = (uint8_t *)masks->data + k * H * W;
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) m[y * W + x] = 1;
}

static const uint8_t *pixel(const useg_tensor *t, int y, int x) {
    return (const uint8_t *)t->data + (y * W + x) * 3;
}

static bool is_color(const uint8_t *p, const uint8_t c[3]) {
    return p[0] == c[0] && p[1] == c[1] && p[2] == c[2];
}

// The photo value v half blended with c, rounded half up.
static bool is_blend(const uint8_t *p, uint8_t v, const uint8_t c[3]) {
    for (int ch = 0; ch < 3; ch++)
        if (2 * p[ch] != v + c[ch] + ((v + c[ch]) & 1)) return false;
    return true;
}

static void test_square(useg_ctx *ctx) {
    useg_tensor *img, *masks, *out;
    setup(ctx, 1, 101, &img, &masks);
    fill_box(masks, 0, 2, 6, 3, 7);   // a 5 x 5 square inside the image
    CHECK_OK(ctx, useg_overlay_render(ctx, img, masks, NULL, &out));
    uint8_t c[3];
    useg_overlay_color(0, c);
    int ring = 0, inside = 0, untouched = 0;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            const bool in = y >= 2 && y <= 6 && x >= 3 && x <= 7;
            const bool edge = in && (y == 2 || y == 6 || x == 3 || x == 7);
            const uint8_t *p = pixel(out, y, x);
            if (edge) ring += is_color(p, c);
            else if (in) inside += is_blend(p, 101, c);
            else untouched += p[0] == 101 && p[1] == 101 && p[2] == 101;
        }
    CHECK(ring == 16, "%d of the 16 border pixels of the square have its colour", ring);
    CHECK(inside == 9, "%d of the 9 inner pixels are the half blend", inside);
    CHECK(untouched == H * W - 25, "%d of the %d pixels outside are the photo", untouched, H * W - 25);
}

static void test_image_border(useg_ctx *ctx) {
    useg_tensor *img, *masks, *out;
    setup(ctx, 1, 30, &img, &masks);
    fill_box(masks, 0, 0, 3, 0, W - 1);   // the top 4 rows: only row 3 borders the outside
    CHECK_OK(ctx, useg_overlay_render(ctx, img, masks, NULL, &out));
    uint8_t c[3];
    useg_overlay_color(0, c);
    int contour = 0, blend = 0;
    for (int x = 0; x < W; x++) {
        contour += is_color(pixel(out, 3, x), c);
        for (int y = 0; y < 3; y++) blend += is_blend(pixel(out, y, x), 30, c);
    }
    CHECK(contour == W, "%d of %d pixels of the inner edge are contour", contour, W);
    CHECK(blend == 3 * W, "%d of %d pixels along the image border are filled, not contour", blend, 3 * W);
}

static void test_order(useg_ctx *ctx) {
    useg_tensor *img, *masks, *out;
    // Mask 0 small, mask 1 the whole image: mask 0 is painted last.
    setup(ctx, 2, 200, &img, &masks);
    fill_box(masks, 0, 3, 5, 4, 6);
    fill_box(masks, 1, 0, H - 1, 0, W - 1);
    CHECK_OK(ctx, useg_overlay_render(ctx, img, masks, NULL, &out));
    uint8_t c0[3], c1[3];
    useg_overlay_color(0, c0);
    useg_overlay_color(1, c1);
    CHECK(is_blend(pixel(out, 4, 5), 200, c0), "the small mask's inside is drawn over the large one");
    CHECK(is_color(pixel(out, 3, 5), c0), "the small mask's contour is drawn over the large one");
    CHECK(is_blend(pixel(out, 1, 1), 200, c1), "the large mask elsewhere");
    // The same masks the other way round.
    setup(ctx, 2, 200, &img, &masks);
    fill_box(masks, 0, 0, H - 1, 0, W - 1);
    fill_box(masks, 1, 3, 5, 4, 6);
    CHECK_OK(ctx, useg_overlay_render(ctx, img, masks, NULL, &out));
    CHECK(is_blend(pixel(out, 4, 5), 200, c1), "small on top whatever the index order");
    // Equal areas: the higher index is painted last.
    setup(ctx, 2, 200, &img, &masks);
    fill_box(masks, 0, 2, 6, 2, 6);
    fill_box(masks, 1, 2, 6, 2, 6);
    CHECK_OK(ctx, useg_overlay_render(ctx, img, masks, NULL, &out));
    CHECK(is_blend(pixel(out, 4, 4), 200, c1), "equal areas: mask 1 over mask 0");
    // No masks: the photo.
    setup(ctx, 0, 77, &img, &masks);
    CHECK_OK(ctx, useg_overlay_render(ctx, img, masks, NULL, &out));
    CHECK(!memcmp(out->data, img->data, H * W * 3), "no masks leave the photo");
}

static void test_colors(void) {
    uint8_t c[32][3];
    for (int k = 0; k < 32; k++) useg_overlay_color(k, c[k]);
    int same = 0;
    for (int a = 0; a < 32; a++)
        for (int b = a + 1; b < 32; b++) same += !memcmp(c[a], c[b], 3);
    CHECK(same == 0, "%d pairs of the first 32 colours are equal", same);
    uint8_t again[3];
    useg_overlay_color(5, again);
    CHECK(!memcmp(again, c[5], 3), "colours are deterministic");
}

static void test_bad_shapes(useg_ctx *ctx) {
    useg_tensor *img, *masks, *out, *bad;
    setup(ctx, 2, 0, &img, &masks);
    CHECK_OK(ctx, useg_zeros(ctx, NULL, USEG_U8, 3, (int64_t[]){H, W, 4}, &bad));
    CHECK_FAILS(ctx, useg_overlay_render(ctx, bad, masks, NULL, &out), USEG_ERR_SHAPE);
    CHECK_OK(ctx, useg_zeros(ctx, NULL, USEG_U8, 3, (int64_t[]){2, H + 1, W}, &bad));
    CHECK_FAILS(ctx, useg_overlay_render(ctx, img, bad, NULL, &out), USEG_ERR_SHAPE);
    CHECK_OK(ctx, useg_zeros(ctx, NULL, USEG_F32, 3, (int64_t[]){2, H, W}, &bad));
    CHECK_FAILS(ctx, useg_overlay_render(ctx, img, bad, NULL, &out), USEG_ERR_SHAPE);
    CHECK_OK(ctx, useg_zeros(ctx, NULL, USEG_U8, 2, (int64_t[]){H, W}, &bad));
    CHECK_FAILS(ctx, useg_overlay_render(ctx, img, bad, NULL, &out), USEG_ERR_SHAPE);
    // A strided view of the right shape: the contract asks for contiguous.
    CHECK_OK(ctx, useg_zeros(ctx, NULL, USEG_U8, 3, (int64_t[]){2, H, 2 * W}, &bad));
    bad->shape[2] = W;
    bad->strides[2] = 2;
    CHECK_FAILS(ctx, useg_overlay_render(ctx, img, bad, NULL, &out), USEG_ERR_SHAPE);
}

int main(int argc, char **argv) {
    if (argc == 5 && !strcmp(argv[1], "render")) return render_files(argv[2], argv[3], argv[4]);
    useg_ctx ctx;
    useg_ctx_init(&ctx, NULL);
    test_square(&ctx);
    test_image_border(&ctx);
    test_order(&ctx);
    test_colors();
    test_bad_shapes(&ctx);
    useg_ctx_free(&ctx);
    return check_report("overlay");
}
