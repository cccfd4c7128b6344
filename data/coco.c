// See coco.h. Loading is two passes over the parsed JSON: a serial pass that
// reads and checks every scalar field, then a parallel pass that rasterises
// or decodes the masks (the expensive part for large result files). A
// failure in the parallel pass is reported for the lowest failing index, so
// the message does not depend on thread timing.
#include "coco.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heap.h"
#include "json_io.h"

// Fill order[] with 0..n-1 sorted by ids[]; fail on a repeated id.
typedef struct id_index {
    int64_t id;
    uint32_t index;
} id_index;

static int cmp_id_index(const void *a, const void *b) {
    int64_t x = ((const id_index *)a)->id, y = ((const id_index *)b)->id;
    return (x > y) - (x < y);
}

static useg_status sort_ids(useg_ctx *ctx, const char *path, const char *kind, const int64_t *ids, size_t n,
                            uint32_t *order) {
    id_index *t = useg_heap_alloc(ctx, n, sizeof *t, "id index");
    if (!t) return ctx->status;
    for (size_t i = 0; i < n; i++) t[i] = (id_index){ids[i], (uint32_t)i};
    qsort(t, n, sizeof *t, cmp_id_index);
    for (size_t i = 0; i < n; i++) order[i] = t[i].index;
    for (size_t i = 1; i < n; i++)
        if (t[i].id == t[i - 1].id) {
            int64_t id = t[i].id;
            free(t);
            return useg_fail(ctx, USEG_ERR_FORMAT, "%s: %s id %lld appears twice", path, kind, (long long)id);
        }
    free(t);
    return USEG_OK;
}

static int64_t find_by_id(const uint32_t *order, size_t n, int64_t id, const useg_coco *c, bool image) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int64_t v = image ? c->images[order[mid]].id : c->cats[order[mid]].id;
        if (v < id) lo = mid + 1;
        else hi = mid;
    }
    if (lo < n && (image ? c->images[order[lo]].id : c->cats[order[lo]].id) == id) return order[lo];
    return -1;
}

int64_t useg_coco_image_index(const useg_coco *c, int64_t id) {
    return find_by_id(c->image_by_id, c->n_images, id, c, true);
}

int64_t useg_coco_category_index(const useg_coco *c, int64_t id) {
    return find_by_id(c->cat_by_id, c->n_cats, id, c, false);
}

void useg_coco_free(useg_coco *c) {
    if (!c->meta_borrowed) {
        for (size_t i = 0; i < c->n_images; i++) free(c->images[i].file_name);
        for (size_t i = 0; i < c->n_cats; i++) free(c->cats[i].name);
        free(c->images);
        free(c->cats);
        free(c->image_by_id);
        free(c->cat_by_id);
    }
    for (size_t i = 0; i < c->n_anns; i++) useg_rle_free(&c->anns[i].rle);
    free(c->anns);
    *c = (useg_coco){0};
}

static char *dup_string(const json_t *v) {
    return json_is_string(v) ? strdup(json_string_value(v)) : NULL;
}

static useg_status load_images(useg_ctx *ctx, const char *path, const json_t *root, useg_coco *c) {
    json_t *arr;
    USEG_TRY(useg_json_array(ctx, root, "images", path, &arr));
    c->n_images = json_array_size(arr);
    c->images = useg_heap_zalloc(ctx, c->n_images, sizeof *c->images, "images");
    c->image_by_id = useg_heap_alloc(ctx, c->n_images, sizeof *c->image_by_id, "image index");
    if (!c->images || !c->image_by_id) return ctx->status;
    for (size_t i = 0; i < c->n_images; i++) {
        json_t *o = json_array_get(arr, i);
        char where[64];
        snprintf(where, sizeof where, "%s: images[%zu]", path, i);
        if (!json_is_object(o)) return useg_fail(ctx, USEG_ERR_FORMAT, "%s is not an object", where);
        int64_t h, w;
        useg_coco_image *im = &c->images[i];
        USEG_TRY(useg_json_int(ctx, o, "id", where, &im->id));
        USEG_TRY(useg_json_int(ctx, o, "height", where, &h));
        USEG_TRY(useg_json_int(ctx, o, "width", where, &w));
        if (h < 1 || w < 1 || h * w >= (int64_t)UINT32_MAX)
            return useg_fail(ctx, USEG_ERR_FORMAT, "%s: size %lldx%lld is empty or too large", where, (long long)h,
                             (long long)w);
        im->height = (uint32_t)h;
        im->width = (uint32_t)w;
        im->file_name = dup_string(json_object_get(o, "file_name"));
    }
    int64_t *ids = useg_heap_alloc(ctx, c->n_images, sizeof *ids, "image ids");
    if (!ids) return ctx->status;
    for (size_t i = 0; i < c->n_images; i++) ids[i] = c->images[i].id;
    useg_status st = sort_ids(ctx, path, "image", ids, c->n_images, c->image_by_id);
    free(ids);
    return st;
}

useg_status useg_coco_load_categories(useg_ctx *ctx, const char *path, const json_t *root, useg_coco *c) {
    json_t *arr;
    USEG_TRY(useg_json_array(ctx, root, "categories", path, &arr));
    c->n_cats = json_array_size(arr);
    c->cats = useg_heap_zalloc(ctx, c->n_cats, sizeof *c->cats, "categories");
    c->cat_by_id = useg_heap_alloc(ctx, c->n_cats, sizeof *c->cat_by_id, "category index");
    if (!c->cats || !c->cat_by_id) return ctx->status;
    for (size_t i = 0; i < c->n_cats; i++) {
        json_t *o = json_array_get(arr, i);
        char where[64];
        snprintf(where, sizeof where, "%s: categories[%zu]", path, i);
        if (!json_is_object(o)) return useg_fail(ctx, USEG_ERR_FORMAT, "%s is not an object", where);
        USEG_TRY(useg_json_int(ctx, o, "id", where, &c->cats[i].id));
        c->cats[i].name = dup_string(json_object_get(o, "name"));
        c->cats[i].isthing = true;
        USEG_TRY(useg_json_bool_opt(ctx, o, "isthing", where, &c->cats[i].isthing));
    }
    int64_t *ids = useg_heap_alloc(ctx, c->n_cats, sizeof *ids, "category ids");
    if (!ids) return ctx->status;
    for (size_t i = 0; i < c->n_cats; i++) ids[i] = c->cats[i].id;
    useg_status st = sort_ids(ctx, path, "category", ids, c->n_cats, c->cat_by_id);
    free(ids);
    return st;
}

// The RLE layer's messages say what is wrong but not where: put `where` in front.
static void locate_message(useg_ctx *ctx, const char *where) {
    char located[USEG_MESSAGE_MAX];
    snprintf(located, sizeof located, "%s: %.*s", where, (int)(sizeof located / 2), ctx->message);
    memcpy(ctx->message, located, sizeof located);
}

// One segmentation in any of COCO's three forms, as an RLE of the image's size.
static useg_status segm_to_rle(useg_ctx *ctx, const json_t *seg, uint32_t h, uint32_t w, const char *where,
                               useg_rle *out) {
    if (json_is_object(seg)) {
        double size[2];
        USEG_TRY(useg_json_numbers(ctx, json_object_get(seg, "size"), 2, "segmentation.size", where, size));
        if (size[0] != h || size[1] != w)
            return useg_fail(ctx, USEG_ERR_SHAPE, "%s: mask size %gx%g differs from its image's %ux%u", where, size[0],
                             size[1], h, w);
        json_t *counts = json_object_get(seg, "counts");
        useg_status st;
        if (json_is_string(counts)) {
            st = useg_rle_from_string(ctx, json_string_value(counts), h, w, out);
        } else if (json_is_array(counts)) {
            size_t m = json_array_size(counts);
            uint32_t *c = useg_heap_alloc(ctx, m, sizeof *c, "RLE counts");
            if (!c) return ctx->status;
            for (size_t i = 0; i < m; i++) {
                json_t *v = json_array_get(counts, i);
                if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > UINT32_MAX) {
                    free(c);
                    return useg_fail(ctx, USEG_ERR_FORMAT, "%s: segmentation.counts[%zu] is not a run length",
                                     where, i);
                }
                c[i] = (uint32_t)json_integer_value(v);
            }
            st = useg_rle_from_counts(ctx, c, (uint32_t)m, h, w, out);
            free(c);
        } else {
            return useg_fail(ctx, USEG_ERR_FORMAT, "%s: segmentation.counts is neither a string nor a list", where);
        }
        if (st != USEG_OK) locate_message(ctx, where);
        return st;
    }
    if (!json_is_array(seg)) return useg_fail(ctx, USEG_ERR_FORMAT, "%s: segmentation is not a list or an RLE", where);
    size_t n = json_array_size(seg);
    // pycocotools: a list whose first element has 4 numbers is a list of boxes;
    // more than 4, a list of polygons.
    size_t first = n ? json_array_size(json_array_get(seg, 0)) : 5;
    if (n && (!json_is_array(json_array_get(seg, 0)) || first < 4))
        return useg_fail(ctx, USEG_ERR_FORMAT, "%s: segmentation[0] is not a polygon of >= 3 points", where);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *p = json_array_get(seg, i);
        if (!json_is_array(p) || (first == 4 && json_array_size(p) != 4))
            return useg_fail(ctx, USEG_ERR_FORMAT, "%s: segmentation[%zu] is not a %s", where, i,
                             first == 4 ? "box of 4 numbers" : "polygon");
        total += json_array_size(p);
    }
    double *xy = useg_heap_alloc(ctx, total, sizeof *xy, "polygon");
    const double **polys = useg_heap_alloc(ctx, n, sizeof *polys, "polygon");
    uint32_t *len = useg_heap_alloc(ctx, n, sizeof *len, "polygon");
    useg_status st = ctx->status;
    if (xy && polys && len) {
        size_t off = 0;
        st = USEG_OK;
        for (size_t i = 0; i < n && st == USEG_OK; i++) {
            json_t *p = json_array_get(seg, i);
            polys[i] = xy + off;
            len[i] = (uint32_t)json_array_size(p);
            st = useg_json_numbers(ctx, p, len[i], "segmentation polygon", where, xy + off);
            off += len[i];
        }
        if (st == USEG_OK) {
            st = first == 4 ? useg_rle_from_boxes(ctx, xy, (uint32_t)n, h, w, out)
                            : useg_rle_from_polygons(ctx, polys, len, (uint32_t)n, h, w, out);
            if (st != USEG_OK) locate_message(ctx, where);
        }
    }
    free(xy);
    free(polys);
    free(len);
    return st;
}

// Decode segs[i] into anns[i].rle for every i with segs[i] != NULL, in
// parallel; on failure, ctx gets the message of the lowest failing index.
static useg_status decode_masks(useg_ctx *ctx, const char *path, const char *kind, const useg_coco *meta,
                                useg_coco_ann *anns, const json_t **segs, size_t n) {
    useg_first_error first = USEG_FIRST_ERROR_INIT;
#pragma omp parallel
    {
        useg_ctx local;
        useg_ctx_init(&local, NULL);
#pragma omp for schedule(dynamic, 64)
        for (int64_t i = 0; i < (int64_t)n; i++) {
            if (!segs[i]) continue;
            char where[96];
            snprintf(where, sizeof where, "%s: %s[%lld]", path, kind, (long long)i);
            const useg_coco_image *im = &meta->images[anns[i].image];
            if (segm_to_rle(&local, segs[i], im->height, im->width, where, &anns[i].rle) == USEG_OK)
                anns[i].has_mask = true;
            else
                useg_first_error_keep(&first, i, &local);
        }
        useg_ctx_free(&local);
    }
    return useg_first_error_report(ctx, &first);
}

// The fields every annotation or result has: image and category references.
// With `clusters`, category_id is a cluster id >= 0, not a category of meta.
static useg_status read_refs(useg_ctx *ctx, const json_t *o, const char *where, const useg_coco *meta,
                             bool clusters, useg_coco_ann *a) {
    USEG_TRY(useg_json_int(ctx, o, "image_id", where, &a->image_id));
    USEG_TRY(useg_json_int(ctx, o, "category_id", where, &a->category_id));
    int64_t im = useg_coco_image_index(meta, a->image_id);
    int64_t cat = clusters ? 0 : useg_coco_category_index(meta, a->category_id);
    if (im < 0) return useg_fail(ctx, USEG_ERR_FORMAT, "%s: image_id %lld is not in the ground truth", where,
                                 (long long)a->image_id);
    if (cat < 0) return useg_fail(ctx, USEG_ERR_FORMAT, "%s: category_id %lld is not in the ground truth", where,
                                  (long long)a->category_id);
    if (clusters && (a->category_id < 0 || a->category_id > INT32_MAX))
        return useg_fail(ctx, USEG_ERR_FORMAT, "%s: cluster id %lld is not in 0..%d", where,
                         (long long)a->category_id, INT32_MAX);
    a->image = (uint32_t)im;
    a->category = (uint32_t)cat;
    return USEG_OK;
}

static useg_status load_annotations(useg_ctx *ctx, const char *path, const json_t *root, bool masks, useg_coco *c) {
    json_t *arr;
    USEG_TRY(useg_json_array(ctx, root, "annotations", path, &arr));
    c->n_anns = json_array_size(arr);
    c->anns = useg_heap_zalloc(ctx, c->n_anns, sizeof *c->anns, "annotations");
    const json_t **segs = useg_heap_zalloc(ctx, c->n_anns, sizeof *segs, "annotations");
    if (!c->anns || !segs) {
        free(segs);
        return ctx->status;
    }
    useg_status st = USEG_OK;
    for (size_t i = 0; i < c->n_anns && st == USEG_OK; i++) {
        json_t *o = json_array_get(arr, i);
        useg_coco_ann *a = &c->anns[i];
        char where[96];
        snprintf(where, sizeof where, "%s: annotations[%zu]", path, i);
        if (!json_is_object(o)) {
            st = useg_fail(ctx, USEG_ERR_FORMAT, "%s is not an object", where);
            break;
        }
        bool has_area = false, has_bbox = json_object_get(o, "bbox") != NULL;
        if ((st = useg_json_int(ctx, o, "id", where, &a->id)) != USEG_OK) break;
        if ((st = read_refs(ctx, o, where, c, false, a)) != USEG_OK) break;
        if ((st = useg_json_bool_opt(ctx, o, "iscrowd", where, &a->iscrowd)) != USEG_OK) break;
        if ((st = useg_json_number_opt(ctx, o, "area", where, &a->area, &has_area)) != USEG_OK) break;
        if (has_bbox && (st = useg_json_numbers(ctx, json_object_get(o, "bbox"), 4, "bbox", where, a->bbox)) != USEG_OK)
            break;
        const json_t *seg = json_object_get(o, "segmentation");
        if (!has_bbox && !seg) {
            st = useg_fail(ctx, USEG_ERR_FORMAT, "%s: has neither 'bbox' nor 'segmentation'", where);
            break;
        }
        // Without "bbox" or "area" the mask is needed to fill them in.
        if (seg && (masks || !has_bbox || !has_area)) segs[i] = seg;
    }
    if (st == USEG_OK) st = decode_masks(ctx, path, "annotations", c, c->anns, segs, c->n_anns);
    free(segs);
    if (st != USEG_OK) return st;
    for (size_t i = 0; i < c->n_anns; i++) {
        useg_coco_ann *a = &c->anns[i];
        json_t *o = json_array_get(arr, i);
        if (!json_object_get(o, "bbox")) useg_rle_bbox(&a->rle, a->bbox);
        if (!json_object_get(o, "area")) a->area = a->has_mask ? (double)useg_rle_area(&a->rle) : a->bbox[2] * a->bbox[3];
        if (!masks && a->has_mask) {
            useg_rle_free(&a->rle);
            a->has_mask = false;
        }
    }
    return USEG_OK;
}

useg_status useg_coco_from_json(useg_ctx *ctx, const char *path, const json_t *root, bool masks, useg_coco *out) {
    *out = (useg_coco){0};
    useg_status st = USEG_OK;
    if (!json_is_object(root)) st = useg_fail(ctx, USEG_ERR_FORMAT, "%s: top level is not an object", path);
    if (st == USEG_OK) st = load_images(ctx, path, root, out);
    if (st == USEG_OK) st = useg_coco_load_categories(ctx, path, root, out);
    if (st == USEG_OK) st = load_annotations(ctx, path, root, masks, out);
    if (st != USEG_OK) useg_coco_free(out);
    return st;
}

useg_status useg_coco_load(useg_ctx *ctx, const char *path, bool masks, useg_coco *out) {
    *out = (useg_coco){0};
    json_t *root;
    USEG_TRY(useg_json_load(ctx, path, &root));
    useg_status st = useg_coco_from_json(ctx, path, root, masks, out);
    json_decref(root);
    return st;
}

static useg_status load_results(useg_ctx *ctx, const char *path, const useg_coco *gt, bool masks, bool clusters,
                                useg_coco *out) {
    *out = (useg_coco){.images = gt->images, .n_images = gt->n_images, .cats = gt->cats, .n_cats = gt->n_cats,
                       .image_by_id = gt->image_by_id, .cat_by_id = gt->cat_by_id, .meta_borrowed = true};
    json_t *root;
    USEG_TRY(useg_json_load(ctx, path, &root));
    if (!json_is_array(root)) {
        json_decref(root);
        return useg_fail(ctx, USEG_ERR_FORMAT, "%s: a results file must be a JSON array of objects", path);
    }
    size_t n = json_array_size(root);
    out->n_anns = n;
    out->anns = useg_heap_zalloc(ctx, n, sizeof *out->anns, "results");
    const json_t **segs = useg_heap_zalloc(ctx, n, sizeof *segs, "results");
    useg_status st = out->anns && segs ? USEG_OK : ctx->status;
    // loadRes decides from the first result whether boxes or masks define the area.
    const json_t *bb0 = n ? json_object_get(json_array_get(root, 0), "bbox") : NULL;
    bool box_mode = bb0 && !(json_is_array(bb0) && json_array_size(bb0) == 0);
    json_t **box_polys = NULL; // the box polygon stands in for a missing mask in box mode
    if (st == USEG_OK && masks && box_mode) {
        box_polys = useg_heap_zalloc(ctx, n, sizeof *box_polys, "results");
        if (!box_polys) st = ctx->status;
    }
    for (size_t i = 0; i < n && st == USEG_OK; i++) {
        json_t *o = json_array_get(root, i);
        useg_coco_ann *a = &out->anns[i];
        char where[96];
        snprintf(where, sizeof where, "%s: results[%zu]", path, i);
        if (!json_is_object(o)) {
            st = useg_fail(ctx, USEG_ERR_FORMAT, "%s is not an object", where);
            break;
        }
        a->id = (int64_t)i + 1;
        if ((st = read_refs(ctx, o, where, gt, clusters, a)) != USEG_OK) break;
        if ((st = useg_json_number(ctx, o, "score", where, &a->score)) != USEG_OK) break;
        if (!isfinite(a->score)) {
            st = useg_fail(ctx, USEG_ERR_FORMAT, "%s: score is not finite", where);
            break;
        }
        json_t *bb = json_object_get(o, "bbox");
        const json_t *seg = json_object_get(o, "segmentation");
        if (bb && (st = useg_json_numbers(ctx, bb, 4, "bbox", where, a->bbox)) != USEG_OK) break;
        if (box_mode && !bb) {
            st = useg_fail(ctx, USEG_ERR_FORMAT, "%s: missing 'bbox' (the first result has one)", where);
            break;
        }
        if (!box_mode && !seg) {
            st = useg_fail(ctx, USEG_ERR_FORMAT, "%s: missing 'segmentation' (the first result has no 'bbox')", where);
            break;
        }
        if (box_mode && masks && !seg) {
            double x1 = a->bbox[0], y1 = a->bbox[1], x2 = x1 + a->bbox[2], y2 = y1 + a->bbox[3];
            box_polys[i] = json_pack("[[f,f,f,f,f,f,f,f]]", x1, y1, x1, y2, x2, y2, x2, y1);
            if (!box_polys[i]) st = useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY, "out of memory building box polygons");
            seg = box_polys[i];
        }
        if (masks || !box_mode) segs[i] = seg; // mask mode takes its areas from the masks
    }
    if (st == USEG_OK) st = decode_masks(ctx, path, "results", out, out->anns, segs, n);
    for (size_t i = 0; box_polys && i < n; i++) json_decref(box_polys[i]);
    free(box_polys);
    free(segs);
    for (size_t i = 0; i < n && st == USEG_OK; i++) {
        useg_coco_ann *a = &out->anns[i];
        bool has_bb = json_object_get(json_array_get(root, i), "bbox") != NULL;
        if (!has_bb) useg_rle_bbox(&a->rle, a->bbox);
        a->area = box_mode ? a->bbox[2] * a->bbox[3] : (double)useg_rle_area(&a->rle);
        if (!masks && a->has_mask) {
            useg_rle_free(&a->rle);
            a->has_mask = false;
        }
    }
    json_decref(root);
    if (st != USEG_OK) useg_coco_free(out);
    return st;
}

useg_status useg_coco_load_results(useg_ctx *ctx, const char *path, const useg_coco *gt, bool masks,
                                   useg_coco *out) {
    return load_results(ctx, path, gt, masks, false, out);
}

useg_status useg_coco_load_cluster_results(useg_ctx *ctx, const char *path, const useg_coco *gt, bool masks,
                                           useg_coco *out) {
    return load_results(ctx, path, gt, masks, true, out);
}

useg_status useg_coco_write_results(useg_ctx *ctx, const char *path, const useg_coco_ann *anns, size_t n) {
    json_t *root = json_array();
    useg_status st = root ? USEG_OK : useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY, "out of memory building %s", path);
    for (size_t i = 0; i < n && st == USEG_OK; i++) {
        const useg_coco_ann *a = &anns[i];
        json_t *o = json_pack("{s:I,s:I,s:f,s:[f,f,f,f]}", "image_id", (json_int_t)a->image_id, "category_id",
                              (json_int_t)a->category_id, "score", a->score, "bbox", a->bbox[0], a->bbox[1],
                              a->bbox[2], a->bbox[3]);
        if (o && a->has_mask) {
            char *s = useg_rle_to_string(ctx, &a->rle);
            json_t *seg = s ? json_pack("{s:[i,i],s:s}", "size", (int)a->rle.h, (int)a->rle.w, "counts", s) : NULL;
            free(s);
            if (!seg || json_object_set_new(o, "segmentation", seg) != 0) {
                json_decref(o);
                o = NULL;
            }
        }
        if (!o || json_array_append_new(root, o) != 0)
            st = useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY, "out of memory building %s", path);
    }
    if (st == USEG_OK) st = useg_json_write_atomic(ctx, root, path, 0);
    json_decref(root);
    return st;
}
