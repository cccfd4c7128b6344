// Pseudo-masks drawn over their photos: one overlay image, and a static HTML
// page of the overlays of a COCO instances file (`useg overlay`, `useg unsam
// --overlays`).
//
// Drawing (useg_overlay_render). Mask k gets the colour useg_overlay_color(k).
// Masks are painted from the largest to the smallest (ties: lower index
// first), so a part stays visible on top of the whole that contains it. A
// painted pixel is the mean of the photo and the colour, rounded half up,
// (photo + colour + 1) >> 1: always blended with the photo, never with the
// masks below, so the photo shows through at every depth of nesting. A
// pixel of mask k with a 4-neighbour outside k (pixels beyond the image
// border count as inside) is a contour pixel and takes the colour unblended.
//
// Pages (useg_overlay_pages). For a file written by `useg maskcut` or `useg
// unsam` (pseudolabel/annotations.h): per image, the photo and one overlay
// per hierarchy level present, or one overlay of all its masks when the
// annotations have no "level" field. Overlays are drawn at display size:
// when the longer side exceeds max_side, the photo is shrunk with PIL's
// antialiased bilinear filter and each mask with nearest-neighbour sampling
// (data/resize.h), then drawn, so contours stay one pixel wide and colours
// unmixed. File names come from image ids (img<ID>.png,
// img<ID>_level<T>.png, img<ID>_all.png), never from the file's names.
#pragma once

#include <stdint.h>
#include <stdio.h>

#include "context.h"
#include "tensor.h"

// The colour of mask index k: golden-ratio hues, HSV (frac(k * 0.618033988749895),
// 0.75, 0.95) converted as Python's colorsys.hsv_to_rgb does, each channel
// floor(255 * x + 0.5). Neighbouring indices get far-apart hues.
void useg_overlay_color(int64_t k, uint8_t rgb[3]);

// Draw masks (K, H, W) u8 (nonzero inside; any order; K may be 0) over img
// (H, W, 3) u8, both contiguous on the CPU, as described above, into a new
// (H, W, 3) u8 tensor in arena `a` (ctx->step when NULL). Fails with
// USEG_ERR_SHAPE for other shapes, dtypes or layouts.
useg_status useg_overlay_render(useg_ctx *ctx, const useg_tensor *img, const useg_tensor *masks, useg_arena *a,
                                useg_tensor **out);

typedef struct useg_overlay_options {
    int64_t max_side;   // longest side of the overlays in pixels (>= 1; 0: 640)
    FILE *log;          // each skipped image is named here with its reason (NULL: silent)
} useg_overlay_options;

typedef struct useg_overlay_report {
    int64_t images;       // images drawn
    int64_t skipped;      // images that could not be read or did not fit their entry
    int64_t overlays;     // overlay PNGs written
    char index[4096 + 16];   // the page: <out_dir>/index.html
} useg_overlay_report;

// Draw the overlays of the COCO instances file `annotations` (photos
// looked up as <image_root>/<file_name>) into the folder `out_dir`
// (created with any missing parents) and write
// <out_dir>/index.html: a static page, one row per image, the photo first,
// then a column per level ("divide" for level 0, "level T (θ = x)" where the
// file's info has "conquer_thresholds", else "level T"), each cell a
// thumbnail linking to its overlay and the mask count. Every file is written
// atomically. An image that cannot be read, or whose size differs from its
// entry, is skipped: named in opt->log, counted in report->skipped, and
// shown on the page with the reason; the call still succeeds. Fails, before
// writing anything, with USEG_ERR_IO (file or folder unreadable),
// USEG_ERR_FORMAT (not such a COCO file: bad JSON, a bad "level" or
// "conquer_thresholds") or USEG_ERR_INVALID_ARG (out_dir is not a folder,
// bad max_side); later only with USEG_ERR_IO (a file cannot be written) or
// USEG_ERR_OUT_OF_MEMORY. opt may be NULL (the defaults).
useg_status useg_overlay_pages(useg_ctx *ctx, const char *annotations, const char *image_root, const char *out_dir,
                               const useg_overlay_options *opt, useg_overlay_report *report);
