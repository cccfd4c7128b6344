// Overlays of pseudo-masks and their HTML page (see overlay.h).
//
// Design decisions:
// * Fill blended with the photo, not with what is painted below: with
//   nested hierarchies (a level's masks inside the previous level's) layered
//   alpha would bury the photo under the depth of nesting; here every
//   painted pixel is half photo, half the colour of the smallest mask there.
// * Drawn at display size, after shrinking photo and masks, rather than
//   drawn at full size and then shrunk: a shrunk one-pixel contour would
//   blur into the fill and colours would mix at mask borders.
// * The page is streamed into its temporary file while the overlays are
//   drawn, one image's masks in memory at a time (the step arena, rewound
//   after each image); the COCO file's masks are held as RLEs.
// * Checked against NumPy's computation of the same formulas and colorsys'
//   colours (tests/data/test_overlay.c, tests/data/overlay_ref.py).
#include "overlay.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "atomic_file.h"
#include "coco.h"
#include "heap.h"
#include "image.h"
#include "json_io.h"
#include "resize.h"
#include "rle.h"

enum { DEFAULT_MAX_SIDE = 640, PATH_MAX_LEN = 4096 };

void useg_overlay_color(int64_t k, uint8_t rgb[3]) {
    // colorsys.hsv_to_rgb, operation for operation, so Python gives the same bytes.
    const double h = fmod((double)k * 0.618033988749895, 1.0), s = 0.75, v = 0.95;
    const int i = (int)(h * 6.0);
    const double f = h * 6.0 - i;
    const double p = v * (1.0 - s), q = v * (1.0 - s * f), t = v * (1.0 - s * (1.0 - f));
    const double table[6][3] = {{v, t, p}, {q, v, p}, {p, v, t}, {p, q, v}, {t, p, v}, {v, p, q}};
    for (int c = 0; c < 3; c++) rgb[c] = (uint8_t)floor(table[i % 6][c] * 255.0 + 0.5);
}

typedef struct mask_area {
    int64_t area, index;
} mask_area;

// Painting order: larger first, then lower index first.
static int cmp_paint_order(const void *pa, const void *pb) {
    const mask_area *a = pa, *b = pb;
    if (a->area != b->area) return a->area > b->area ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

useg_status useg_overlay_render(useg_ctx *ctx, const useg_tensor *img, const useg_tensor *masks, useg_arena *a,
                                useg_tensor **out) {
    char s1[96], s2[96];
    if (img->dtype != USEG_U8 || img->device != USEG_DEVICE_CPU || img->ndim != 3 || img->shape[2] != 3 ||
        !useg_is_contiguous(img) || masks->dtype != USEG_U8 || masks->device != USEG_DEVICE_CPU ||
        masks->ndim != 3 || masks->shape[1] != img->shape[0] || masks->shape[2] != img->shape[1] ||
        !useg_is_contiguous(masks))
        return useg_fail(ctx, USEG_ERR_SHAPE,
                         "overlay: wants a contiguous CPU image (H, W, 3) u8 and masks (K, H, W) u8; got %s and %s",
                         useg_shape_str(img, s1, sizeof s1), useg_shape_str(masks, s2, sizeof s2));
    const int64_t H = img->shape[0], W = img->shape[1], K = masks->shape[0];
    const uint8_t *photo = img->data, *m = masks->data;

    useg_tensor *o;
    USEG_TRY(useg_empty(ctx, a, USEG_U8, 3, img->shape, &o));
    useg_arena_mark mark = useg_arena_get_mark(&ctx->scratch);
    mask_area *order = NULL;
    uint8_t *colors = NULL;
    if (K > 0 && (useg_alloc(ctx, &ctx->scratch, (size_t)K * sizeof *order, (void **)&order) != USEG_OK ||
                  useg_alloc(ctx, &ctx->scratch, (size_t)K * 3, (void **)&colors) != USEG_OK)) {
        useg_arena_rewind(&ctx->scratch, mark);
        return ctx->status;
    }
#pragma omp parallel for schedule(static)
    for (int64_t k = 0; k < K; k++) {
        int64_t area = 0;
        for (int64_t p = 0; p < H * W; p++) area += m[k * H * W + p] != 0;
        order[k] = (mask_area){.area = area, .index = k};
        useg_overlay_color(k, colors + 3 * k);
    }
    if (K > 1) qsort(order, (size_t)K, sizeof *order, cmp_paint_order);

    uint8_t *dst = o->data;
    memcpy(dst, photo, (size_t)(H * W * 3));
    // Rows are independent; within a row masks are painted in order.
#pragma omp parallel for schedule(static)
    for (int64_t y = 0; y < H; y++) {
        for (int64_t j = 0; j < K; j++) {
            const int64_t k = order[j].index;
            const uint8_t *row = m + (k * H + y) * W;
            const uint8_t *up = y > 0 ? row - W : row, *down = y + 1 < H ? row + W : row;
            const uint8_t *c = colors + 3 * k;
            for (int64_t x = 0; x < W; x++) {
                if (!row[x]) continue;
                const bool contour =
                    !up[x] || !down[x] || (x > 0 && !row[x - 1]) || (x + 1 < W && !row[x + 1]);
                uint8_t *d = dst + (y * W + x) * 3;
                const uint8_t *p = photo + (y * W + x) * 3;
                for (int ch = 0; ch < 3; ch++) d[ch] = contour ? c[ch] : (uint8_t)((p[ch] + c[ch] + 1) >> 1);
            }
        }
    }
    useg_arena_rewind(&ctx->scratch, mark);
    *out = o;
    return USEG_OK;
}

// --- The page ----------------------------------------------------------------

// One mask to draw: image index, level (0 without levels), annotation index.
typedef struct entry {
    int64_t image, level, ann;
} entry;

static int cmp_entry(const void *pa, const void *pb) {
    const entry *a = pa, *b = pb;
    if (a->image != b->image) return a->image < b->image ? -1 : 1;
    if (a->level != b->level) return a->level < b->level ? -1 : 1;
    return (a->ann > b->ann) - (a->ann < b->ann);
}

static int cmp_int64(const void *pa, const void *pb) {
    const int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
    return (a > b) - (a < b);
}

// What the file says beyond useg_coco: each annotation's level, the conquer
// thresholds of the info block.
typedef struct hierarchy {
    bool has_levels;
    int64_t *levels;        // per annotation (all 0 without levels)
    double *thresholds;     // conquer_thresholds[t - 1] names level t
    size_t n_thresholds;
} hierarchy;

static void hierarchy_free(hierarchy *h) {
    free(h->levels);
    free(h->thresholds);
    *h = (hierarchy){0};
}

static useg_status read_hierarchy(useg_ctx *ctx, const char *path, const json_t *root, size_t n_anns,
                                  hierarchy *h) {
    *h = (hierarchy){0};
    const json_t *anns = json_object_get(root, "annotations");
    h->levels = useg_heap_zalloc(ctx, n_anns, sizeof *h->levels, "levels");
    if (!h->levels) return ctx->status;
    int64_t with = -1, without = -1;   // an annotation with and one without "level"
    for (size_t i = 0; i < n_anns; i++) {
        const json_t *v = json_object_get(json_array_get(anns, i), "level");
        if (!v) {
            if (without < 0) without = (int64_t)i;
            continue;
        }
        if (with < 0) with = (int64_t)i;
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 1000000)
            return useg_fail(ctx, USEG_ERR_FORMAT, "%s: annotations[%zu]: \"level\" is not an integer in 0..1000000",
                             path, i);
        h->levels[i] = json_integer_value(v);
    }
    if (with >= 0 && without >= 0)
        return useg_fail(ctx, USEG_ERR_FORMAT, "%s: annotations[%lld] has a \"level\" but annotations[%lld] has none",
                         path, (long long)with, (long long)without);
    h->has_levels = with >= 0;
    const json_t *th = json_object_get(json_object_get(root, "info"), "conquer_thresholds");
    if (!th) return USEG_OK;
    if (!json_is_array(th))
        return useg_fail(ctx, USEG_ERR_FORMAT, "%s: info.conquer_thresholds is not a list of numbers", path);
    h->n_thresholds = json_array_size(th);
    h->thresholds = useg_heap_alloc(ctx, h->n_thresholds, sizeof *h->thresholds, "thresholds");
    if (!h->thresholds) return ctx->status;
    return useg_json_numbers(ctx, th, h->n_thresholds, "info.conquer_thresholds", path, h->thresholds);
}

static void html_text(FILE *f, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
    }
}

static void column_name(const hierarchy *h, int64_t level, char *buf, size_t len) {
    if (!h->has_levels) snprintf(buf, len, "masks");
    else if (level == 0) snprintf(buf, len, "divide");
    else if ((size_t)level <= h->n_thresholds)
        snprintf(buf, len, "level %lld (\xce\xb8 = %g)", (long long)level, h->thresholds[level - 1]);
    else snprintf(buf, len, "level %lld", (long long)level);
}

// The longer side scaled to max_side (rounded half up, >= 1) when it is longer.
static void display_size(int64_t h, int64_t w, int64_t max_side, int64_t *dh, int64_t *dw) {
    const int64_t longest = h > w ? h : w;
    *dh = h;
    *dw = w;
    if (longest <= max_side) return;
    *dh = (2 * h * max_side + longest) / (2 * longest);
    *dw = (2 * w * max_side + longest) / (2 * longest);
    if (*dh < 1) *dh = 1;
    if (*dw < 1) *dw = 1;
}

static void thumbnail(FILE *f, const char *file, const char *alt, int64_t h, int64_t w) {
    fprintf(f, "<a href=\"%s\"><img src=\"%s\" alt=\"%s\" width=\"%lld\" height=\"%lld\"></a>", file, file, alt,
            (long long)w, (long long)h);
}

typedef struct page {
    useg_ctx *ctx;
    const useg_coco *coco;
    const hierarchy *h;
    const char *image_root, *out_dir;
    int64_t max_side;
    FILE *html, *log;
    const int64_t *columns;   // the levels present anywhere, ascending
    int64_t n_columns;
    useg_overlay_report *report;
} page;

// The masks e[0..n-1] (one image, one level) at display size (n, dh, dw) in ctx->step.
static useg_status display_masks(page *pg, const entry *e, int64_t n, int64_t dh, int64_t dw, useg_tensor **out) {
    useg_ctx *ctx = pg->ctx;
    const useg_coco_image *im = &pg->coco->images[e[0].image];
    const int64_t H = im->height, W = im->width;
    USEG_TRY(useg_empty(ctx, NULL, USEG_U8, 3, (int64_t[]){n, dh, dw}, out));
    uint8_t *full;
    USEG_TRY(useg_alloc(ctx, &ctx->step, (size_t)(H * W), (void **)&full));
    useg_tensor *full_t;
    USEG_TRY(useg_wrap(ctx, USEG_U8, 2, (int64_t[]){H, W}, full, &full_t));
    for (int64_t k = 0; k < n; k++) {
        useg_rle_to_mask(&pg->coco->anns[e[k].ann].rle, full);
        uint8_t *slot = (uint8_t *)(*out)->data + k * dh * dw;
        if (dh == H && dw == W) {
            memcpy(slot, full, (size_t)(H * W));
            continue;
        }
        useg_arena_mark mark = useg_arena_get_mark(&ctx->step);
        useg_tensor *small;
        USEG_TRY(useg_image_resize(ctx, full_t, dh, dw, USEG_RESAMPLE_NEAREST, NULL, &small));
        memcpy(slot, small->data, (size_t)(dh * dw));
        useg_arena_rewind(&ctx->step, mark);
    }
    return USEG_OK;
}

// Read image `i`'s photo at display size; a photo that cannot be used gives
// *reason (and USEG_OK), anything else a failure.
static useg_status read_photo(page *pg, int64_t i, useg_tensor **out, char *reason, size_t len) {
    useg_ctx *ctx = pg->ctx;
    const useg_coco_image *im = &pg->coco->images[i];
    *reason = '\0';
    if (!im->file_name) {
        snprintf(reason, len, "its entry has no file_name");
        return USEG_OK;
    }
    char path[2 * PATH_MAX_LEN];
    snprintf(path, sizeof path, "%s/%s", pg->image_root, im->file_name);
    useg_tensor *img;
    useg_status st = useg_image_read(ctx, path, NULL, NULL, &img);
    if (st == USEG_ERR_IO || st == USEG_ERR_FORMAT) {
        snprintf(reason, len, "%s", ctx->message);
        useg_clear_error(ctx);
        return USEG_OK;
    }
    USEG_TRY(st);
    if (img->shape[0] != im->height || img->shape[1] != im->width) {
        snprintf(reason, len, "%.300s: the photo is %lldx%lld (height x width), its entry says %ux%u", path,
                 (long long)img->shape[0], (long long)img->shape[1], im->height, im->width);
        return USEG_OK;
    }
    int64_t dh, dw;
    display_size(im->height, im->width, pg->max_side, &dh, &dw);
    if (dh == im->height && dw == im->width) {
        *out = img;
        return USEG_OK;
    }
    return useg_image_resize(ctx, img, dh, dw, USEG_RESAMPLE_BILINEAR, NULL, out);
}

// Draw image `i` (its masks e[0..n-1], sorted by level) and write its row.
static useg_status draw_image(page *pg, int64_t i, const entry *e, int64_t n) {
    useg_ctx *ctx = pg->ctx;
    const useg_coco_image *im = &pg->coco->images[i];
    FILE *f = pg->html;
    fputs("<tr><th>", f);
    html_text(f, im->file_name ? im->file_name : "(no file_name)");
    fprintf(f, "<br><small>id %lld, %ux%u</small></th>", (long long)im->id, im->width, im->height);

    useg_tensor *photo = NULL;
    char reason[USEG_MESSAGE_MAX + 128];
    USEG_TRY(read_photo(pg, i, &photo, reason, sizeof reason));
    if (*reason) {
        pg->report->skipped++;
        if (pg->log) fprintf(pg->log, "skipped image id %lld: %s\n", (long long)im->id, reason);
        fprintf(f, "<td class=\"skipped\" colspan=\"%lld\">skipped: ", (long long)pg->n_columns + 1);
        html_text(f, reason);
        fputs("</td></tr>\n", f);
        return USEG_OK;
    }
    const int64_t dh = photo->shape[0], dw = photo->shape[1];
    char file[64], path[PATH_MAX_LEN + 80];
    snprintf(file, sizeof file, "img%lld.png", (long long)im->id);
    snprintf(path, sizeof path, "%s/%s", pg->out_dir, file);
    USEG_TRY(useg_image_write_png(ctx, path, photo));
    fputs("<td>", f);
    thumbnail(f, file, "photo", dh, dw);
    fputs("</td>", f);

    int64_t j = 0;   // e[j]: the first mask of the column being drawn
    for (int64_t c = 0; c < pg->n_columns; c++) {
        const int64_t level = pg->columns[c];
        int64_t end = j;
        while (end < n && e[end].level == level) end++;
        if (end == j) {
            fputs("<td class=\"none\">no masks</td>", f);
            continue;
        }
        useg_arena_mark mark = useg_arena_get_mark(&ctx->step);
        useg_tensor *masks, *overlay;
        USEG_TRY(display_masks(pg, e + j, end - j, dh, dw, &masks));
        USEG_TRY(useg_overlay_render(ctx, photo, masks, NULL, &overlay));
        if (pg->h->has_levels)
            snprintf(file, sizeof file, "img%lld_level%lld.png", (long long)im->id, (long long)level);
        else
            snprintf(file, sizeof file, "img%lld_all.png", (long long)im->id);
        snprintf(path, sizeof path, "%s/%s", pg->out_dir, file);
        USEG_TRY(useg_image_write_png(ctx, path, overlay));
        useg_arena_rewind(&ctx->step, mark);
        char name[96];
        column_name(pg->h, level, name, sizeof name);
        fputs("<td>", f);
        thumbnail(f, file, name, dh, dw);
        fprintf(f, "<br>%lld mask%s</td>", (long long)(end - j), end - j == 1 ? "" : "s");
        pg->report->overlays++;
        j = end;
    }
    fputs("</tr>\n", f);
    pg->report->images++;
    return USEG_OK;
}

static void page_head(page *pg, const char *annotations) {
    FILE *f = pg->html;
    const char *slash = strrchr(annotations, '/');
    const char *base = slash ? slash + 1 : annotations;
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Pseudo-masks of ", f);
    html_text(f, base);
    fputs("</title>\n<style>\n"
          "body { font-family: sans-serif; margin: 1em; }\n"
          "table { border-collapse: collapse; }\n"
          "th, td { border: 1px solid #bbb; padding: 4px; vertical-align: top; text-align: center; }\n"
          "td img { max-width: 240px; height: auto; display: block; margin: auto; }\n"
          "td.skipped { color: #a00; text-align: left; }\n"
          "td.none { color: #777; }\n"
          "</style>\n</head>\n<body>\n<h1>Pseudo-masks of ",
          f);
    html_text(f, base);
    fprintf(f,
            "</h1>\n<p>Each mask in its own colour over the photo, smaller masks on top of larger ones, "
            "a one-pixel contour around each; at most %lld pixels on the longer side. "
            "A thumbnail links to its full-size overlay.</p>\n<table>\n<tr><th>image</th><th>photo</th>",
            (long long)pg->max_side);
    for (int64_t c = 0; c < pg->n_columns; c++) {
        char name[96];
        column_name(pg->h, pg->columns[c], name, sizeof name);
        fputs("<th>", f);
        html_text(f, name);
        fputs("</th>", f);
    }
    fputs("</tr>\n", f);
}

// Checks on the folders, before anything is written.
static useg_status check_folders(useg_ctx *ctx, const char *image_root, const char *out_dir) {
    struct stat info;
    if (strlen(image_root) >= PATH_MAX_LEN || strlen(out_dir) >= PATH_MAX_LEN)
        return useg_fail(ctx, USEG_ERR_INVALID_ARG, "overlay: folder path too long");
    if (stat(image_root, &info) != 0)
        return useg_fail(ctx, USEG_ERR_IO, "%s: cannot read the image folder: %s", image_root, strerror(errno));
    if (!S_ISDIR(info.st_mode)) return useg_fail(ctx, USEG_ERR_IO, "%s: the image folder is not a folder", image_root);
    if (stat(out_dir, &info) == 0 && !S_ISDIR(info.st_mode))
        return useg_fail(ctx, USEG_ERR_INVALID_ARG, "%s: exists and is not a folder; the output is a folder",
                         out_dir);
    return USEG_OK;
}

// Everything after loading: the folder, the overlays, the page.
static useg_status write_pages(page *pg, const char *annotations) {
    useg_ctx *ctx = pg->ctx;
    const useg_coco *coco = pg->coco;
    // The masks to draw, grouped by image then level, in file order within.
    entry *e = useg_heap_alloc(ctx, coco->n_anns, sizeof *e, "overlay entries");
    int64_t *columns = useg_heap_alloc(ctx, coco->n_anns, sizeof *columns, "overlay levels");
    useg_status st = USEG_OK;
    if (!e || !columns) {
        st = ctx->status;
        goto done;
    }
    int64_t n = 0;
    for (size_t a = 0; a < coco->n_anns; a++)
        if (coco->anns[a].has_mask)
            e[n++] = (entry){.image = coco->anns[a].image, .level = pg->h->levels[a], .ann = (int64_t)a};
    qsort(e, (size_t)n, sizeof *e, cmp_entry);
    for (int64_t k = 0; k < n; k++) columns[k] = e[k].level;
    qsort(columns, (size_t)n, sizeof *columns, cmp_int64);
    pg->n_columns = 0;
    for (int64_t k = 0; k < n; k++)
        if (pg->n_columns == 0 || columns[pg->n_columns - 1] != columns[k]) columns[pg->n_columns++] = columns[k];
    pg->columns = columns;

    if ((st = useg_make_dirs(ctx, pg->out_dir)) != USEG_OK) goto done;
    snprintf(pg->report->index, sizeof pg->report->index, "%s/index.html", pg->out_dir);
    useg_atomic_file af;
    if ((st = useg_atomic_open(ctx, &af, pg->report->index)) != USEG_OK) goto done;
    pg->html = af.f;
    page_head(pg, annotations);
    int64_t j = 0;
    for (int64_t i = 0; i < (int64_t)coco->n_images && st == USEG_OK; i++) {
        int64_t end = j;
        while (end < n && e[end].image == i) end++;
        useg_arena_mark mark = useg_arena_get_mark(&ctx->step);
        st = draw_image(pg, i, e + j, end - j);
        useg_arena_rewind(&ctx->step, mark);
        j = end;
    }
    fprintf(pg->html, "</table>\n<p>%lld images drawn, %lld skipped; %lld overlays.</p>\n</body>\n</html>\n",
            (long long)pg->report->images, (long long)pg->report->skipped, (long long)pg->report->overlays);
    useg_status closed = useg_atomic_close(ctx, &af, st == USEG_OK);
    if (st == USEG_OK) st = closed;
done:
    free(e);
    free(columns);
    return st;
}

useg_status useg_overlay_pages(useg_ctx *ctx, const char *annotations, const char *image_root, const char *out_dir,
                               const useg_overlay_options *opt, useg_overlay_report *report) {
    *report = (useg_overlay_report){0};
    const useg_overlay_options defaults = {0};
    if (!opt) opt = &defaults;
    if (opt->max_side < 0)
        return useg_fail(ctx, USEG_ERR_INVALID_ARG, "overlay: max_side %lld is not >= 1", (long long)opt->max_side);
    USEG_TRY(check_folders(ctx, image_root, out_dir));
    json_t *root;
    USEG_TRY(useg_json_load(ctx, annotations, &root));
    useg_coco coco;
    hierarchy h = {0};
    useg_status st = useg_coco_from_json(ctx, annotations, root, true, &coco);
    if (st != USEG_OK) {
        json_decref(root);
        return st;
    }
    st = read_hierarchy(ctx, annotations, root, coco.n_anns, &h);
    json_decref(root);
    if (st == USEG_OK) {
        page pg = {.ctx = ctx, .coco = &coco, .h = &h, .image_root = image_root, .out_dir = out_dir,
                   .max_side = opt->max_side ? opt->max_side : DEFAULT_MAX_SIDE, .log = opt->log, .report = report};
        st = write_pages(&pg, annotations);
    }
    hierarchy_free(&h);
    useg_coco_free(&coco);
    return st;
}
