// See panoptic.h.
#include "panoptic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heap.h"
#include "json_io.h"

void useg_panoptic_free(useg_panoptic *p) {
    for (size_t i = 0; i < p->n_images; i++) {
        free(p->images[i].file_name);
        free(p->images[i].segments);
    }
    free(p->images);
    useg_coco_free(&p->meta);
    *p = (useg_panoptic){0};
}

static useg_status load_segments(useg_ctx *ctx, const json_t *list, const char *where, const useg_coco *cats,
                                 useg_panoptic_image *im) {
    im->n_segments = (uint32_t)json_array_size(list);
    im->segments = useg_heap_zalloc(ctx, im->n_segments, sizeof *im->segments, "panoptic segments");
    if (!im->segments) return ctx->status;
    for (uint32_t j = 0; j < im->n_segments; j++) {
        const json_t *o = json_array_get(list, j);
        char w[160];
        snprintf(w, sizeof w, "%s.segments_info[%u]", where, j);
        if (!json_is_object(o)) return useg_fail(ctx, USEG_ERR_FORMAT, "%s is not an object", w);
        useg_panoptic_segment *s = &im->segments[j];
        int64_t id;
        bool found;
        USEG_TRY(useg_json_int(ctx, o, "id", w, &id));
        USEG_TRY(useg_json_int(ctx, o, "category_id", w, &s->category_id));
        USEG_TRY(useg_json_bool_opt(ctx, o, "iscrowd", w, &s->iscrowd));
        USEG_TRY(useg_json_number_opt(ctx, o, "area", w, &s->area, &found));
        if (id <= 0 || id >= (1 << 24))
            return useg_fail(ctx, USEG_ERR_FORMAT, "%s: id %lld is not in 1..2^24-1", w, (long long)id);
        s->id = (uint32_t)id;
        int64_t c = useg_coco_category_index(cats, s->category_id);
        if (c < 0)
            return useg_fail(ctx, USEG_ERR_FORMAT, "%s: category_id %lld is not a known category", w,
                             (long long)s->category_id);
        s->category = (uint32_t)c;
        for (uint32_t k = 0; k < j; k++)
            if (im->segments[k].id == s->id)
                return useg_fail(ctx, USEG_ERR_FORMAT, "%s: segment id %u appears twice", w, s->id);
    }
    return USEG_OK;
}

static useg_status load(useg_ctx *ctx, const char *path, const json_t *root, const useg_coco *cats,
                        useg_panoptic *out) {
    if (!json_is_object(root)) return useg_fail(ctx, USEG_ERR_FORMAT, "%s: top level is not an object", path);
    if (cats) {
        out->meta = (useg_coco){.cats = cats->cats, .n_cats = cats->n_cats, .cat_by_id = cats->cat_by_id,
                                .meta_borrowed = true};
    } else {
        USEG_TRY(useg_coco_load_categories(ctx, path, root, &out->meta));
    }
    json_t *anns;
    USEG_TRY(useg_json_array(ctx, root, "annotations", path, &anns));
    out->n_images = json_array_size(anns);
    out->images = useg_heap_zalloc(ctx, out->n_images, sizeof *out->images, "panoptic annotations");
    if (!out->images) return ctx->status;
    for (size_t i = 0; i < out->n_images; i++) {
        const json_t *o = json_array_get(anns, i);
        char where[128];
        snprintf(where, sizeof where, "%s: annotations[%zu]", path, i);
        if (!json_is_object(o)) return useg_fail(ctx, USEG_ERR_FORMAT, "%s is not an object", where);
        useg_panoptic_image *im = &out->images[i];
        USEG_TRY(useg_json_int(ctx, o, "image_id", where, &im->image_id));
        const json_t *fn = json_object_get(o, "file_name");
        if (!json_is_string(fn)) return useg_fail(ctx, USEG_ERR_FORMAT, "%s: missing string 'file_name'", where);
        if (!(im->file_name = strdup(json_string_value(fn))))
            return useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY, "out of memory reading %s", path);
        json_t *segs;
        USEG_TRY(useg_json_array(ctx, o, "segments_info", where, &segs));
        USEG_TRY(load_segments(ctx, segs, where, &out->meta, im));
    }
    return USEG_OK;
}

useg_status useg_panoptic_load(useg_ctx *ctx, const char *path, const useg_coco *cats, useg_panoptic *out) {
    *out = (useg_panoptic){0};
    json_t *root;
    USEG_TRY(useg_json_load(ctx, path, &root));
    useg_status st = load(ctx, path, root, cats, out);
    json_decref(root);
    if (st != USEG_OK) useg_panoptic_free(out);
    return st;
}
