// PIL-exact resize, crops and normalisation of u8 images.
//
// The resize is a transcription of Pillow 9.4's arithmetic, because the
// pipelines' outputs depend on it (MaskCut's 480x480 Lanczos input, the
// bicubic mask upsampling thresholded at 127.5):
// * Filters (Resample.c, ImagingResample): for each output position the
//   weights filter((x - center + 0.5) / filterscale) over the input pixels
//   whose rounded positions fall within center +- support * filterscale,
//   normalised to sum 1 in double, then rounded to signed fixed point with
//   22 fractional bits (PRECISION_BITS = 32 - 8 - 2). Each pass accumulates
//   in int from 1 << 21 (rounding), then shifts and clips to 0..255. The
//   horizontal pass runs first, over only the rows the vertical pass reads.
// * NEAREST (_resize -> ImagingScaleAffine): source column COORD(xo) where
//   xo starts at 0.5 * scale and is advanced by repeated addition of the
//   double scale (the accumulated rounding is part of the result); a
//   position that lands outside the image gives a zero pixel, as PIL's fill.
// Checked against PIL on the shared photos: identical for every filter.
#include "resize.h"

#include <math.h>
#include <string.h>

enum { PRECISION_BITS = 32 - 8 - 2 };

const float useg_imagenet_mean[3] = {0.485f, 0.456f, 0.406f};
const float useg_imagenet_std[3] = {0.229f, 0.224f, 0.225f};

static const char *const resample_names[USEG_RESAMPLE_COUNT] = {"nearest", "bilinear", "bicubic", "lanczos"};

const char *useg_resample_name(useg_resample filter) { return resample_names[filter]; }

int useg_resample_from_name(const char *name) {
    for (int i = 0; i < USEG_RESAMPLE_COUNT; i++)
        if (!strcmp(name, resample_names[i])) return i;
    return -1;
}

// --- PIL's filters (Resample.c) ------------------------------------------------

static double bilinear_filter(double x) {
    if (x < 0.0) x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

static double bicubic_filter(double x) {
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

static double sinc_filter(double x) {
    if (x == 0.0) return 1.0;
    x = x * M_PI;
    return sin(x) / x;
}

static double lanczos_filter(double x) {
    if (-3.0 <= x && x < 3.0) return sinc_filter(x) * sinc_filter(x / 3);
    return 0.0;
}

static const struct {
    double (*fn)(double);
    double support;
} filters[USEG_RESAMPLE_COUNT] = {
    [USEG_RESAMPLE_BILINEAR] = {bilinear_filter, 1.0},
    [USEG_RESAMPLE_BICUBIC] = {bicubic_filter, 2.0},
    [USEG_RESAMPLE_LANCZOS] = {lanczos_filter, 3.0},
};

// Fixed-point weights of one axis: for output position i, the input range
// [bounds[2i], bounds[2i] + bounds[2i + 1]) and its weights kk[i * ksize ...].
typedef struct axis_coeffs {
    int ksize;
    int *bounds;   // (out, 2)
    int32_t *kk;   // (out, ksize)
} axis_coeffs;

// PIL's precompute_coeffs + normalize_coeffs_8bpc for in_size -> out_size.
static useg_status axis_coeffs_init(useg_ctx *ctx, int64_t in_size, int64_t out_size, useg_resample filter,
                                    axis_coeffs *c) {
    double filterscale, scale;
    filterscale = scale = (double)in_size / (double)out_size;
    if (filterscale < 1.0) filterscale = 1.0;
    double support = filters[filter].support * filterscale;
    c->ksize = (int)ceil(support) * 2 + 1;
    double *w;
    USEG_TRY(useg_alloc(ctx, &ctx->scratch, sizeof(int) * 2 * (size_t)out_size, (void **)&c->bounds));
    USEG_TRY(useg_alloc(ctx, &ctx->scratch, sizeof(int32_t) * (size_t)c->ksize * (size_t)out_size, (void **)&c->kk));
    USEG_TRY(useg_alloc(ctx, &ctx->scratch, sizeof(double) * (size_t)c->ksize, (void **)&w));
    for (int64_t xx = 0; xx < out_size; xx++) {
        double center = (xx + 0.5) * scale, ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
        if (xmin < 0) xmin = 0;
        if (xmax > in_size) xmax = (int)in_size;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            w[x] = filters[filter].fn((x + xmin - center + 0.5) * ss);
            ww += w[x];
        }
        int32_t *k = c->kk + xx * c->ksize;
        for (int x = 0; x < c->ksize; x++) {
            double v = x < xmax ? (ww != 0.0 ? w[x] / ww : w[x]) : 0.0;
            k[x] = (int32_t)(v < 0 ? -0.5 + v * (1 << PRECISION_BITS) : 0.5 + v * (1 << PRECISION_BITS));
        }
        c->bounds[2 * xx] = xmin;
        c->bounds[2 * xx + 1] = xmax;
    }
    return USEG_OK;
}

static inline uint8_t clip8(int32_t v) {
    if (v < 0) return 0;
    v >>= PRECISION_BITS;
    return v > 255 ? 255 : (uint8_t)v;
}

// One separable pass into out (out_h, out_w, c), c <= 3: output pixel i
// along the filtered axis is the weighted sum of bounds[2i + 1] input pixels
// from bounds[2i] on, all channels accumulated together. `horizontal`: the
// filter runs along x over input rows y + row_offset; else along y.
static void resample_pass(const uint8_t *in, int64_t in_w, uint8_t *out, int64_t out_h, int64_t out_w, int64_t c,
                          const axis_coeffs *k, int row_offset, bool horizontal) {
    _Pragma("omp parallel for schedule(static) if (out_h * out_w * c > 65536)")
    for (int64_t y = 0; y < out_h; y++) {
        for (int64_t x = 0; x < out_w; x++) {
            int64_t i = horizontal ? x : y;
            int first = k->bounds[2 * i], n = k->bounds[2 * i + 1];
            const int32_t *kk = k->kk + i * k->ksize;
            // Horizontal: pixels (y + row_offset, first + j); vertical: (first + j, x).
            const uint8_t *p = horizontal ? in + ((y + row_offset) * in_w + first) * c : in + (first * in_w + x) * c;
            int64_t step = horizontal ? c : in_w * c;
            int32_t ss[3] = {1 << (PRECISION_BITS - 1), 1 << (PRECISION_BITS - 1), 1 << (PRECISION_BITS - 1)};
            for (int j = 0; j < n; j++)
                for (int64_t ch = 0; ch < c; ch++) ss[ch] += p[j * step + ch] * kk[j];
            for (int64_t ch = 0; ch < c; ch++) out[(y * out_w + x) * c + ch] = clip8(ss[ch]);
        }
    }
}

// PIL's ImagingScaleAffine with fill: see the file comment.
static useg_status resize_nearest(useg_ctx *ctx, const uint8_t *in, int64_t h, int64_t w, int64_t c, uint8_t *out,
                                  int64_t out_h, int64_t out_w) {
    int64_t *xin;
    USEG_TRY(useg_alloc(ctx, &ctx->scratch, sizeof(int64_t) * (size_t)out_w, (void **)&xin));
    double ax = (double)w / (double)out_w, ay = (double)h / (double)out_h;
    double xo = ax * 0.5, yo = ay * 0.5;
    for (int64_t x = 0; x < out_w; x++, xo += ax) xin[x] = xo < 0.0 ? -1 : (int64_t)xo;
    for (int64_t y = 0; y < out_h; y++, yo += ay) {
        int64_t yi = yo < 0.0 ? -1 : (int64_t)yo;
        uint8_t *o = out + y * out_w * c;
        for (int64_t x = 0; x < out_w; x++) {
            if (yi >= 0 && yi < h && xin[x] >= 0 && xin[x] < w)
                memcpy(o + x * c, in + (yi * w + xin[x]) * c, (size_t)c);
            else
                memset(o + x * c, 0, (size_t)c);
        }
    }
    return USEG_OK;
}

// Shape checks shared by the entry points: a CPU u8 (H, W) or (H, W, C).
static useg_status check_image(useg_ctx *ctx, const char *op, const useg_tensor *img) {
    if (img->dtype == USEG_U8 && img->device == USEG_DEVICE_CPU && (img->ndim == 2 || img->ndim == 3) &&
        img->shape[0] > 0 && img->shape[1] > 0 && (img->ndim == 2 || img->shape[2] > 0))
        return USEG_OK;
    char buf[96];
    return useg_fail(ctx, USEG_ERR_SHAPE, "%s: expected a non-empty CPU u8 (H, W) or (H, W, C) image, got %s", op,
                     useg_shape_str(img, buf, sizeof buf));
}

// img itself if contiguous, else a contiguous copy in scratch.
static useg_status contiguous_in_scratch(useg_ctx *ctx, const useg_tensor *img, const useg_tensor **out) {
    *out = img;
    if (useg_is_contiguous(img)) return USEG_OK;
    useg_tensor *c;
    USEG_TRY(useg_empty(ctx, &ctx->scratch, img->dtype, img->ndim, img->shape, &c));
    USEG_TRY(useg_copy_into(ctx, c, img));
    *out = c;
    return USEG_OK;
}

static useg_status resize_into(useg_ctx *ctx, const useg_tensor *img, useg_resample filter, useg_tensor *dst) {
    int64_t h = img->shape[0], w = img->shape[1], c = img->ndim == 3 ? img->shape[2] : 1;
    int64_t out_h = dst->shape[0], out_w = dst->shape[1];
    const useg_tensor *src;
    USEG_TRY(contiguous_in_scratch(ctx, img, &src));
    const uint8_t *in = src->data;
    uint8_t *out = dst->data;
    if (out_h == h && out_w == w) {
        memcpy(out, in, (size_t)(h * w * c));
        return USEG_OK;
    }
    if (filter == USEG_RESAMPLE_NEAREST) return resize_nearest(ctx, in, h, w, c, out, out_h, out_w);
    axis_coeffs kx, ky;
    USEG_TRY(axis_coeffs_init(ctx, w, out_w, filter, &kx));
    USEG_TRY(axis_coeffs_init(ctx, h, out_h, filter, &ky));
    if (out_w == w) {
        resample_pass(in, w, out, out_h, out_w, c, &ky, 0, false);
        return USEG_OK;
    }
    // Horizontal pass over the rows the vertical pass reads: (rows, out_w, C).
    int first = ky.bounds[0], last = ky.bounds[2 * out_h - 2] + ky.bounds[2 * out_h - 1];
    if (out_h == h) {
        resample_pass(in, w, out, out_h, out_w, c, &kx, 0, true);
        return USEG_OK;
    }
    uint8_t *tmp;
    USEG_TRY(useg_alloc(ctx, &ctx->scratch, (size_t)((last - first) * out_w * c), (void **)&tmp));
    resample_pass(in, w, tmp, last - first, out_w, c, &kx, first, true);
    for (int64_t y = 0; y < out_h; y++) ky.bounds[2 * y] -= first;
    resample_pass(tmp, out_w, out, out_h, out_w, c, &ky, 0, false);
    return USEG_OK;
}

useg_status useg_image_resize(useg_ctx *ctx, const useg_tensor *img, int64_t out_h, int64_t out_w,
                              useg_resample filter, useg_arena *a, useg_tensor **out) {
    USEG_TRY(check_image(ctx, "resize", img));
    char buf[96];
    if (out_h < 1 || out_w < 1 || out_h > INT32_MAX || out_w > INT32_MAX || img->shape[0] > INT32_MAX ||
        img->shape[1] > INT32_MAX || (unsigned)filter >= USEG_RESAMPLE_COUNT)
        return useg_fail(ctx, USEG_ERR_SHAPE, "resize: cannot resize %s to %lld x %lld with filter %d",
                         useg_shape_str(img, buf, sizeof buf), (long long)out_w, (long long)out_h, (int)filter);
    if (img->ndim == 3 && img->shape[2] != 1 && img->shape[2] != 3 && filter != USEG_RESAMPLE_NEAREST)
        return useg_fail(ctx, USEG_ERR_SHAPE,
                         "resize: %s: filters resize grey or RGB images; others only with nearest (PIL "
                         "premultiplies the alpha of LA and RGBA)",
                         useg_shape_str(img, buf, sizeof buf));
    int64_t shape[3] = {out_h, out_w, img->ndim == 3 ? img->shape[2] : 1};
    USEG_TRY(useg_empty(ctx, a, USEG_U8, img->ndim, shape, out));
    useg_arena_mark mark = useg_arena_get_mark(&ctx->scratch);
    useg_status st = resize_into(ctx, img, filter, *out);
    useg_arena_rewind(&ctx->scratch, mark);
    return st;
}

void useg_resize_shorter_side(int64_t h, int64_t w, int64_t size, int64_t *out_h, int64_t *out_w) {
    int64_t shorter = w <= h ? w : h, longer = w <= h ? h : w;
    int64_t new_long = (int64_t)((double)(size * longer) / (double)shorter);
    *out_h = w <= h ? new_long : size;
    *out_w = w <= h ? size : new_long;
}

useg_status useg_image_crop(useg_ctx *ctx, const useg_tensor *img, int64_t top, int64_t left, int64_t h, int64_t w,
                            useg_arena *a, useg_tensor **out) {
    USEG_TRY(check_image(ctx, "crop", img));
    if (h < 1 || w < 1 || top < 0 || left < 0 || top > img->shape[0] - h || left > img->shape[1] - w) {
        char buf[96];
        return useg_fail(ctx, USEG_ERR_SHAPE, "crop: window (top %lld, left %lld, %lld x %lld) is empty or leaves %s",
                         (long long)top, (long long)left, (long long)w, (long long)h,
                         useg_shape_str(img, buf, sizeof buf));
    }
    int64_t shape[3] = {h, w, img->ndim == 3 ? img->shape[2] : 1};
    USEG_TRY(useg_empty(ctx, a, USEG_U8, img->ndim, shape, out));
    useg_tensor win = *img;
    win.shape[0] = h;
    win.shape[1] = w;
    win.data = (uint8_t *)img->data + top * img->strides[0] + left * img->strides[1];
    return useg_copy_into(ctx, *out, &win);
}

// Python's int(round(d / 2.0)) for d >= 0: halves go to the even neighbour.
static int64_t half_round_even(int64_t d) {
    int64_t k = d / 2;
    return d % 2 == 0 || k % 2 == 0 ? k : k + 1;
}

useg_status useg_image_center_crop(useg_ctx *ctx, const useg_tensor *img, int64_t h, int64_t w, useg_arena *a,
                                   useg_tensor **out) {
    USEG_TRY(check_image(ctx, "center_crop", img));
    int64_t top = img->shape[0] >= h ? half_round_even(img->shape[0] - h) : -1;
    int64_t left = img->shape[1] >= w ? half_round_even(img->shape[1] - w) : -1;
    return useg_image_crop(ctx, img, top, left, h, w, a, out);
}

useg_status useg_image_normalize(useg_ctx *ctx, const useg_tensor *img, const float mean[3], const float std[3],
                                 useg_arena *a, useg_tensor **out) {
    USEG_TRY(check_image(ctx, "normalize", img));
    if (img->ndim != 3 || img->shape[2] != 3) {
        char buf[96];
        return useg_fail(ctx, USEG_ERR_SHAPE, "normalize: expected an RGB (H, W, 3) image, got %s",
                         useg_shape_str(img, buf, sizeof buf));
    }
    int64_t h = img->shape[0], w = img->shape[1];
    int64_t shape[4] = {1, 3, h, w};
    USEG_TRY(useg_empty(ctx, a, USEG_F32, 4, shape, out));
    float *o = (*out)->data;
    const uint8_t *base = img->data;
    _Pragma("omp parallel for schedule(static) if (h * w > 65536)")
    for (int64_t y = 0; y < h; y++)
        for (int64_t x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                float v = (float)base[y * img->strides[0] + x * img->strides[1] + c * img->strides[2]] / 255.0f;
                o[(c * h + y) * w + x] = (v - mean[c]) / std[c];
            }
    return USEG_OK;
}
