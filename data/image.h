// Images in and out: decode JPEG and PNG into u8 tensors, write PNG.
//
// An image is a contiguous CPU u8 tensor (H, W, C) in the arena the caller
// names (any but ctx->scratch, which the decoder and the preprocessing use
// for workspaces): row-major, channels interleaved, exactly
// numpy.asarray(pil_image).
// Label maps and masks are (H, W). Everything the outside world can do wrong
// (missing, truncated, corrupt, empty or enormous file, another format)
// fails with one message that names the file; nothing here exits or aborts.
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "context.h"
#include "tensor.h"

// The largest image decoded by default: PIL's Image.MAX_IMAGE_PIXELS
// (1024 * 1024 * 1024 / 4 / 3). PIL only warns between this and twice it;
// useg refuses, since such a file is far outside what the pipelines use
// (ImageNet, COCO and BSDS photos are below 1 megapixel; a 16k x 16k aerial
// tile already needs a raised limit on purpose).
#define USEG_IMAGE_MAX_PIXELS INT64_C(89478485)

typedef enum useg_image_mode {
    // (H, W, 3): what PIL's Image.open(path).convert('RGB') gives, for every
    // JPEG (grey, YCbCr, RGB, CMYK, YCCK) and PNG (grey, grey+alpha, RGB,
    // RGBA, palette; 1/2/4/8/16-bit) kind. Alpha and transparency are
    // dropped, not composited; 16-bit samples keep their high byte, except
    // 16-bit grey, which PIL opens as mode "I" and clips to 255.
    USEG_IMAGE_RGB = 0,
    // (H, W): the stored values of a one-channel 8-bit (or 1/2/4-bit, scaled
    // to 0..255 like PIL's "L") image, as numpy.asarray(Image.open(path))
    // gives for a label map or mask: u8. A 16-bit grey PNG (label maps with
    // more than 256 labels) gives i32 values as stored, without EXIF
    // orientation. Anything else is refused, palette PNGs included (their
    // indices are not available; store label maps as grey).
    USEG_IMAGE_LABELS,
} useg_image_mode;

typedef struct useg_image_options {
    useg_image_mode mode;
    // Apply the EXIF orientation (JPEG APP1 Exif or PNG eXIf, IFD0 tag 0x0112)
    // as PIL's ImageOps.exif_transpose does. Off by default, because the
    // reference pipelines read pixels as stored: MaskCut/CutLER's
    // maskcut.py, UnSAM, STEGO and PriMaPs all call
    // Image.open(p).convert('RGB'), which ignores the tag. detectron2's
    // read_image (CutLER/UnSAM demos, their training loaders) applies it:
    // turn this on to match those.
    bool exif_transpose;
    // Refuse images with more pixels than this (0: USEG_IMAGE_MAX_PIXELS).
    int64_t max_pixels;
} useg_image_options;

// Decode a JPEG or PNG held in memory into a new u8 tensor in arena `a`
// (ctx->step when NULL); opt NULL means the defaults. `name` (the file name)
// starts every message. Fails with USEG_ERR_FORMAT for an unsupported format,
// a corrupt or truncated file, a zero-sized image or one over the pixel
// limit. JPEG goes through libjpeg-turbo with its default (islow) IDCT and
// fancy upsampling, the library and settings PIL uses, so pixels are
// identical to PIL's; PNG through stb_image, which is exact for a lossless format.
useg_status useg_image_decode(useg_ctx *ctx, const char *name, const void *data, size_t size,
                              const useg_image_options *opt, useg_arena *a, useg_tensor **out);

// useg_image_decode on the contents of the file at `path`. Also fails with
// USEG_ERR_IO when it cannot be read.
useg_status useg_image_read(useg_ctx *ctx, const char *path, const useg_image_options *opt, useg_arena *a,
                            useg_tensor **out);

// Write a CPU u8 image as PNG, atomically (a temporary file renamed over
// `path` when complete): (H, W) or (H, W, 1) as grey (masks, 8-bit label
// maps), (H, W, 2) grey+alpha, (H, W, 3) RGB (overlays), (H, W, 4) RGBA.
// Any strides. zlib compresses (level 6), so files are deterministic.
useg_status useg_image_write_png(useg_ctx *ctx, const char *path, const useg_tensor *img);
