// See image_io.h.
#include "image_io.h"

#include <stdbool.h>

#include <stdio.h>
#include <stdlib.h>

#include <stb/stb_image.h>

#include "heap.h"

static useg_status probe(useg_ctx *ctx, const char *path, int *w, int *h, int *comp) {
    FILE *f = fopen(path, "rb");
    if (!f) return useg_fail(ctx, USEG_ERR_IO, "%s: cannot open", path);
    int ok = stbi_info_from_file(f, w, h, comp);
    fclose(f);
    if (!ok) return useg_fail(ctx, USEG_ERR_FORMAT, "%s: not a readable image: %s", path, stbi_failure_reason());
    return USEG_OK;
}

useg_status useg_png_read_labels(useg_ctx *ctx, const char *path, int32_t **labels, uint32_t *h, uint32_t *w) {
    int iw, ih, comp;
    USEG_TRY(probe(ctx, path, &iw, &ih, &comp));
    if (comp != 1)
        return useg_fail(ctx, USEG_ERR_FORMAT, "%s: a label image must have 1 channel, this one has %d", path, comp);
    bool wide = stbi_is_16_bit(path);
    void *px = wide ? (void *)stbi_load_16(path, &iw, &ih, &comp, 1) : (void *)stbi_load(path, &iw, &ih, &comp, 1);
    if (!px) return useg_fail(ctx, USEG_ERR_FORMAT, "%s: cannot decode: %s", path, stbi_failure_reason());
    size_t n = (size_t)iw * ih;
    int32_t *out = useg_heap_alloc(ctx, n, sizeof *out, "label image");
    if (out)
        for (size_t i = 0; i < n; i++) out[i] = wide ? ((uint16_t *)px)[i] : ((uint8_t *)px)[i];
    stbi_image_free(px);
    if (!out) return ctx->status;
    *labels = out;
    *h = (uint32_t)ih;
    *w = (uint32_t)iw;
    return USEG_OK;
}

useg_status useg_png_read_rgb_ids(useg_ctx *ctx, const char *path, uint32_t **ids, uint32_t *h, uint32_t *w) {
    int iw, ih, comp;
    USEG_TRY(probe(ctx, path, &iw, &ih, &comp));
    if (comp < 3 || stbi_is_16_bit(path))
        return useg_fail(ctx, USEG_ERR_FORMAT, "%s: a panoptic id image must be 8-bit RGB, this one has %d channel(s)",
                         path, comp);
    uint8_t *px = stbi_load(path, &iw, &ih, &comp, 3);
    if (!px) return useg_fail(ctx, USEG_ERR_FORMAT, "%s: cannot decode: %s", path, stbi_failure_reason());
    size_t n = (size_t)iw * ih;
    uint32_t *out = useg_heap_alloc(ctx, n, sizeof *out, "panoptic id image");
    if (out)
        for (size_t i = 0; i < n; i++)
            out[i] = px[3 * i] + 256u * px[3 * i + 1] + 65536u * px[3 * i + 2];
    stbi_image_free(px);
    if (!out) return ctx->status;
    *ids = out;
    *h = (uint32_t)ih;
    *w = (uint32_t)iw;
    return USEG_OK;
}
