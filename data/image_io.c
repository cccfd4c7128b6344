// See image_io.h. Both readers decode into the step arena through
// data/image.h, copy into a heap array the caller owns, and give the step
// memory back.
#include "image_io.h"

#include <string.h>

#include "heap.h"
#include "image.h"

// Decode `path` in `mode`; on success *t lives in ctx->step above `mark`.
static useg_status read_png(useg_ctx *ctx, const char *path, useg_image_mode mode, useg_tensor **t) {
    size_t n = strlen(path);
    if (n < 4 || strcmp(path + n - 4, ".png"))
        return useg_fail(ctx, USEG_ERR_FORMAT, "%s: label and panoptic images must be PNG files", path);
    return useg_image_read(ctx, path, &(useg_image_options){.mode = mode}, NULL, t);
}

useg_status useg_png_read_labels(useg_ctx *ctx, const char *path, int32_t **labels, uint32_t *h, uint32_t *w) {
    useg_arena_mark mark = useg_arena_get_mark(&ctx->step);
    useg_tensor *t;
    useg_status st = read_png(ctx, path, USEG_IMAGE_LABELS, &t);
    int32_t *out = NULL;
    if (st == USEG_OK) {
        int64_t n = useg_numel(t);
        out = useg_heap_alloc(ctx, (size_t)n, sizeof *out, "label image");
        if (!out) st = ctx->status;
        for (int64_t i = 0; out && i < n; i++)
            out[i] = t->dtype == USEG_U8 ? ((const uint8_t *)t->data)[i] : ((const int32_t *)t->data)[i];
        if (out) *h = (uint32_t)t->shape[0], *w = (uint32_t)t->shape[1], *labels = out;
    }
    useg_arena_rewind(&ctx->step, mark);
    return st;
}

useg_status useg_png_read_rgb_ids(useg_ctx *ctx, const char *path, uint32_t **ids, uint32_t *h, uint32_t *w) {
    useg_arena_mark mark = useg_arena_get_mark(&ctx->step);
    useg_tensor *t;
    useg_status st = read_png(ctx, path, USEG_IMAGE_RGB, &t);
    if (st == USEG_OK) {
        int64_t n = t->shape[0] * t->shape[1];
        const uint8_t *px = t->data;
        uint32_t *out = useg_heap_alloc(ctx, (size_t)n, sizeof *out, "panoptic id image");
        if (!out) st = ctx->status;
        for (int64_t i = 0; out && i < n; i++) out[i] = px[3 * i] + 256u * px[3 * i + 1] + 65536u * px[3 * i + 2];
        if (out) *h = (uint32_t)t->shape[0], *w = (uint32_t)t->shape[1], *ids = out;
    }
    useg_arena_rewind(&ctx->step, mark);
    return st;
}
