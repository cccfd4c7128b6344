// The weights-free backbone (see handcrafted.h for the descriptor).
#include "handcrafted.h"

#include <math.h>
#include <string.h>

enum { N_ORIENT = 8, DIM = USEG_HANDCRAFTED_DIM };

static const float IMAGENET_MEAN[3] = {0.485f, 0.456f, 0.406f}, IMAGENET_STD[3] = {0.229f, 0.224f, 0.225f};

static double srgb_to_linear(double c) { return c <= 0.04045 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4); }
static double lab_f(double t) { return t > 216.0 / 24389.0 ? cbrt(t) : (24389.0 / 27.0 * t + 16.0) / 116.0; }

// sRGB in [0, 1] to L*a*b* (D65).
static void rgb_to_lab(double r, double g, double b, float *lab) {
    r = srgb_to_linear(r), g = srgb_to_linear(g), b = srgb_to_linear(b);
    double x = (0.4124564 * r + 0.3575761 * g + 0.1804375 * b) / 0.95047;
    double y = 0.2126729 * r + 0.7151522 * g + 0.0721750 * b;
    double z = (0.0193339 * r + 0.1191920 * g + 0.9503041 * b) / 1.08883;
    double fx = lab_f(x), fy = lab_f(y), fz = lab_f(z);
    lab[0] = (float)(116.0 * fy - 16.0);
    lab[1] = (float)(500.0 * (fx - fy));
    lab[2] = (float)(200.0 * (fy - fz));
}

static double clamp01(double v) { return v < 0 ? 0 : v > 1 ? 1 : v; }

// Descriptors of one image. lab: (3, H, W) scratch; desc: (h*w, DIM) raw.
static void describe(const float *img, int64_t H, int64_t W, int P, float *lab, float *desc) {
    const int64_t plane = H * W, h = H / P, w = W / P;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < plane; i++) {
        float px[3];
        for (int c = 0; c < 3; c++) px[c] = img[c * plane + i] * IMAGENET_STD[c] + IMAGENET_MEAN[c];
        float v[3];
        rgb_to_lab(clamp01(px[0]), clamp01(px[1]), clamp01(px[2]), v);
        for (int c = 0; c < 3; c++) lab[c * plane + i] = v[c];
    }
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < h * w; p++) {
        const int64_t py = p / w, px = p % w;
        float *d = desc + p * DIM;
        double sum[3] = {0}, sq[3] = {0}, hist[N_ORIENT] = {0};
        for (int64_t y = py * P; y < (py + 1) * P; y++)
            for (int64_t x = px * P; x < (px + 1) * P; x++) {
                for (int c = 0; c < 3; c++) {
                    double v = lab[c * plane + y * W + x];
                    sum[c] += v;
                    sq[c] += v * v;
                }
                // Central differences of L*, clamped at the image border.
                const float *L = lab;
                double gx = L[y * W + (x + 1 < W ? x + 1 : x)] - L[y * W + (x > 0 ? x - 1 : x)];
                double gy = L[(y + 1 < H ? y + 1 : y) * W + x] - L[(y > 0 ? y - 1 : y) * W + x];
                double mag = sqrt(gx * gx + gy * gy);
                if (mag == 0) continue;
                double angle = atan2(gy, gx);
                if (angle < 0) angle += M_PI; // unsigned orientation in [0, pi]
                double pos = angle / M_PI * N_ORIENT - 0.5;
                int b0 = (int)floor(pos);
                double frac = pos - b0;
                hist[(b0 + N_ORIENT) % N_ORIENT] += mag * (1 - frac);
                hist[(b0 + 1) % N_ORIENT] += mag * frac;
            }
        const double n = (double)P * P;
        double norm = 0;
        for (int k = 0; k < N_ORIENT; k++) norm += hist[k] * hist[k];
        norm = sqrt(norm) + 1e-6;
        for (int c = 0; c < 3; c++) {
            double mean = sum[c] / n;
            d[c] = (float)mean;
            d[3 + c] = (float)sqrt(fmax(0.0, sq[c] / n - mean * mean));
        }
        for (int k = 0; k < N_ORIENT; k++) d[6 + k] = (float)(hist[k] / norm);
        d[14] = (float)((py + 0.5) / h * 2 - 1);
        d[15] = (float)((px + 0.5) / w * 2 - 1);
    }
}

static double group_weight(int k) {
    if (k < 3) return 1.0;
    if (k < 6) return 0.5;
    if (k < 6 + N_ORIENT) return 0.5 / sqrt((double)N_ORIENT);
    return 0.5;
}

// Standardise each dimension over the n patches and weight it; mean (DIM) receives the raw means.
static void standardise(float *desc, int64_t n, float *mean_out) {
    for (int k = 0; k < DIM; k++) {
        double s = 0, sq = 0;
        for (int64_t p = 0; p < n; p++) s += desc[p * DIM + k];
        double mean = s / (double)n;
        for (int64_t p = 0; p < n; p++) {
            double v = desc[p * DIM + k] - mean;
            sq += v * v;
        }
        double scale = group_weight(k) / (sqrt(sq / (double)n) + 1e-6);
        if (mean_out) mean_out[k] = (float)mean;
        for (int64_t p = 0; p < n; p++) desc[p * DIM + k] = (float)((desc[p * DIM + k] - mean) * scale);
    }
}

// Saliency: distance to the mean border descriptor, normalised to sum 1.
static void saliency(const float *desc, int64_t h, int64_t w, float *out) {
    double border[DIM] = {0};
    int64_t nb = 0;
    for (int64_t p = 0; p < h * w; p++) {
        int64_t y = p / w, x = p % w;
        if (y == 0 || x == 0 || y == h - 1 || x == w - 1) {
            for (int k = 0; k < DIM; k++) border[k] += desc[p * DIM + k];
            nb++;
        }
    }
    double total = 0;
    for (int64_t p = 0; p < h * w; p++) {
        double d = 0;
        for (int k = 0; k < DIM; k++) {
            double v = desc[p * DIM + k] - border[k] / (double)nb;
            d += v * v;
        }
        out[p] = (float)sqrt(d);
        total += out[p];
    }
    for (int64_t p = 0; p < h * w; p++) out[p] = total > 0 ? (float)(out[p] / total) : (float)(1.0 / (double)(h * w));
}

useg_status useg_handcrafted_forward(useg_ctx *ctx, int patch, useg_tensor *images, useg_vit_tap tap,
                                     useg_tensor **out) {
    char s[96];
    if (patch < 2 || images->ndim != 4 || images->shape[1] != 3 || images->dtype != USEG_F32 ||
        images->device != USEG_DEVICE_CPU || images->shape[0] < 1 || images->shape[2] < patch ||
        images->shape[3] < patch || images->shape[2] % patch || images->shape[3] % patch)
        return useg_fail(ctx, USEG_ERR_SHAPE,
                         "handcrafted backbone: images must be (B, 3, H, W) f32 on the CPU with H, W multiples of %d; got %s",
                         patch, useg_shape_str(images, s, sizeof s));
    useg_tensor *x;
    USEG_TRY(useg_contiguous(ctx, images, &x));
    const int64_t B = x->shape[0], H = x->shape[2], W = x->shape[3], h = H / patch, w = W / patch, n = h * w;
    useg_tensor *res;
    switch (tap) {
    case USEG_TAP_KEYS:
    case USEG_TAP_TOKENS: USEG_TRY(useg_empty(ctx, NULL, USEG_F32, 3, (int64_t[]){B, n, DIM}, &res)); break;
    case USEG_TAP_CLS: USEG_TRY(useg_empty(ctx, NULL, USEG_F32, 2, (int64_t[]){B, DIM}, &res)); break;
    case USEG_TAP_ATTN: USEG_TRY(useg_empty(ctx, NULL, USEG_F32, 3, (int64_t[]){B, 1, n}, &res)); break;
    default: return useg_fail(ctx, USEG_ERR_INVALID_ARG, "handcrafted backbone: unknown tap %d", tap);
    }
    useg_arena_mark mark = useg_arena_get_mark(&ctx->scratch);
    float *lab, *desc;
    USEG_TRY(useg_alloc(ctx, &ctx->scratch, (size_t)(3 * H * W) * sizeof(float), (void **)&lab));
    USEG_TRY(useg_alloc(ctx, &ctx->scratch, (size_t)(n * DIM) * sizeof(float), (void **)&desc));
    float *r = res->data;
    for (int64_t b = 0; b < B; b++) {
        describe((const float *)x->data + b * 3 * H * W, H, W, patch, lab, desc);
        switch (tap) {
        case USEG_TAP_KEYS:
        case USEG_TAP_TOKENS:
            standardise(desc, n, NULL);
            memcpy(r + b * n * DIM, desc, (size_t)(n * DIM) * sizeof(float));
            break;
        case USEG_TAP_CLS: standardise(desc, n, r + b * DIM); break;
        case USEG_TAP_ATTN:
            standardise(desc, n, NULL);
            saliency(desc, h, w, r + b * n);
            break;
        default: break;
        }
    }
    useg_arena_rewind(&ctx->scratch, mark);
    *out = res;
    return USEG_OK;
}
