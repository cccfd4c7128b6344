// JPEG/PNG decoding to u8 tensors with PIL's conversions, and PNG writing.
//
// The target is pixel identity with what the reference pipelines feed their
// networks, Image.open(p).convert('RGB') under Debian's PIL 9.4 (measured on
// the shared photos: identical, tests/data/image_parity.py).
// * JPEG: libjpeg-turbo, the library PIL itself links, with PIL's settings
//   (the library defaults: islow IDCT, fancy upsampling). stb_image's JPEG
//   decoder was measured first and differs from PIL by up to 3 levels (a
//   different IDCT and colour conversion), so it is not used for JPEG.
//   Warnings about corrupt data are ignored as PIL ignores them, but running
//   out of data (libjpeg then pads with grey) is an error, as PIL reports
//   "image file is truncated". CMYK/YCCK files follow PIL: samples are taken
//   as Adobe-inverted ("CMYK;I") and converted with PIL's cmyk2rgb.
// * PNG: stb_image (lossless, so any correct decoder is exact). PIL's
//   conversions are reproduced where stb's differ: 16-bit grey, which PIL
//   opens as mode "I" and clips to 255 (stb would keep the high byte).
//   The IHDR is read here first, to apply the pixel limit before any
//   allocation and to tell palette from RGB (stb cannot), and the chunk
//   lengths are checked against the file (png_scan). Unlike PIL, a PNG
//   must end with its IEND chunk (stb needs it; PIL tolerates its absence).
// * EXIF orientation: the first APP1 "Exif" segment of a JPEG or the eXIf
//   chunk of a PNG; IFD0 tag 0x0112, applied like ImageOps.exif_transpose.
#include "image.h"

#include <errno.h>
#include <jpeglib.h>
#include <jerror.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

#include "atomic_file.h"

// Files above this size are refused before reading (a JPEG at the pixel
// limit is far smaller).
static const long MAX_FILE_BYTES = 1L << 30;

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

// --- EXIF orientation ------------------------------------------------------

// Orientation (1..8) from a TIFF structure (the body of an Exif segment), or
// 1 when it is absent, malformed or out of range. Every read is bounds-checked.
static int tiff_orientation(const uint8_t *t, size_t n) {
    if (n < 8) return 1;
    bool le = t[0] == 'I' && t[1] == 'I';
    if (!le && !(t[0] == 'M' && t[1] == 'M')) return 1;
#define RD16(p) (le ? (uint32_t)(p)[0] | (uint32_t)(p)[1] << 8 : (uint32_t)(p)[0] << 8 | (uint32_t)(p)[1])
#define RD32(p) (le ? RD16(p) | RD16((p) + 2) << 16 : RD16(p) << 16 | RD16((p) + 2))
    uint32_t ifd = RD32(t + 4);
    if (ifd > n - 2) return 1;
    uint32_t count = RD16(t + ifd);
    for (uint32_t i = 0; i < count; i++) {
        size_t e = (size_t)ifd + 2 + (size_t)i * 12;
        if (e + 12 > n) return 1;
        uint32_t tag = RD16(t + e), type = RD16(t + e + 2), cnt = RD32(t + e + 4);
        if (tag != 0x0112 || cnt != 1) continue;
        uint32_t v = type == 3 ? RD16(t + e + 8) : type == 4 ? RD32(t + e + 8) : 0;
        return v >= 1 && v <= 8 ? (int)v : 1;
    }
#undef RD32
#undef RD16
    return 1;
}

static int exif_orientation(const uint8_t *p, size_t n) {
    if (n >= 6 && !memcmp(p, "Exif\0\0", 6)) return tiff_orientation(p + 6, n - 6);
    return tiff_orientation(p, n);
}

// dst = src (h, w, c) reoriented as PIL's exif_transpose does for
// `orientation`; dst is (w, h, c) for orientations 5..8. Source pixel of
// dst (y, x) is base + y * step_y + x * step_x (in pixels).
static void apply_orientation(const uint8_t *src, int64_t h, int64_t w, int64_t c, int orientation,
                              uint8_t *dst) {
    int64_t base, step_y, step_x;
    switch (orientation) {
    case 2: base = w - 1;               step_y = w;  step_x = -1; break; // FLIP_LEFT_RIGHT
    case 3: base = (h - 1) * w + w - 1; step_y = -w; step_x = -1; break; // ROTATE_180
    case 4: base = (h - 1) * w;         step_y = -w; step_x = 1;  break; // FLIP_TOP_BOTTOM
    case 5: base = 0;                   step_y = 1;  step_x = w;  break; // TRANSPOSE
    case 6: base = (h - 1) * w;         step_y = 1;  step_x = -w; break; // ROTATE_270
    case 7: base = (h - 1) * w + w - 1; step_y = -1; step_x = -w; break; // TRANSVERSE
    case 8: base = w - 1;               step_y = -1; step_x = w;  break; // ROTATE_90
    default: base = 0;                  step_y = w;  step_x = 1;  break;
    }
    int64_t oh = orientation >= 5 ? w : h, ow = orientation >= 5 ? h : w;
    for (int64_t y = 0; y < oh; y++)
        for (int64_t x = 0; x < ow; x++)
            memcpy(dst + (y * ow + x) * c, src + (base + y * step_y + x * step_x) * c, (size_t)c);
}

// --- Shared checks and output ----------------------------------------------

static useg_status check_size(useg_ctx *ctx, const char *name, int64_t h, int64_t w, const useg_image_options *opt) {
    int64_t limit = opt->max_pixels > 0 ? opt->max_pixels : USEG_IMAGE_MAX_PIXELS;
    if (h <= 0 || w <= 0)
        return useg_fail(ctx, USEG_ERR_FORMAT, "%s: zero-sized image (%lld x %lld)", name, (long long)w,
                         (long long)h);
    if (h > limit / w)
        return useg_fail(ctx, USEG_ERR_FORMAT,
                         "%s: image of %lld x %lld pixels is over the limit of %lld pixels "
                         "(useg_image_options.max_pixels)",
                         name, (long long)w, (long long)h, (long long)limit);
    return USEG_OK;
}

// The output tensor: (h, w, c), or (h, w) for label maps.
static useg_status new_image(useg_ctx *ctx, useg_arena *a, int64_t h, int64_t w, int64_t c, bool labels,
                             useg_tensor **out) {
    int64_t shape[3] = {h, w, c};
    return useg_empty(ctx, a, USEG_U8, labels ? 2 : 3, shape, out);
}

// Store decoded pixels (h, w, c) into a new tensor, reoriented.
static useg_status finish(useg_ctx *ctx, const uint8_t *px, int64_t h, int64_t w, int64_t c, bool labels,
                          int orientation, useg_arena *a, useg_tensor **out) {
    bool swap = orientation >= 5;
    USEG_TRY(new_image(ctx, a, swap ? w : h, swap ? h : w, c, labels, out));
    apply_orientation(px, h, w, c, orientation, (*out)->data);
    return USEG_OK;
}

// --- JPEG (libjpeg-turbo) ----------------------------------------------------

typedef struct jpeg_error {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
} jpeg_error;

static void jpeg_error_exit(j_common_ptr cinfo) {
    jpeg_error *e = (jpeg_error *)cinfo->err;
    cinfo->err->format_message(cinfo, e->message);
    longjmp(e->jump, 1);
}

// PIL ignores libjpeg's warnings except running out of data, which it
// reports as a truncated file; so do we.
static void jpeg_emit_message(j_common_ptr cinfo, int level) {
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) {
        jpeg_error *e = (jpeg_error *)cinfo->err;
        snprintf(e->message, sizeof e->message, "truncated JPEG (the data ends before the image does)");
        longjmp(e->jump, 1);
    }
}

// PIL's cmyk2rgb on Adobe-inverted samples ("CMYK;I"): v = 255 - stored.
static void cmyk_to_rgb(const uint8_t *in, int64_t w, uint8_t *out) {
    for (int64_t x = 0; x < w; x++, in += 4, out += 3) {
        int nk = in[3];  // 255 - (255 - k)
        for (int c = 0; c < 3; c++) {
            int tmp = (255 - in[c]) * nk + 128;
            int v = nk - (((tmp >> 8) + tmp) >> 8);
            out[c] = (uint8_t)(v < 0 ? 0 : v);
        }
    }
}

static useg_status decode_jpeg(useg_ctx *ctx, const char *name, const uint8_t *data, size_t size,
                               const useg_image_options *opt, useg_arena *a, useg_tensor **out) {
    struct jpeg_decompress_struct cinfo;
    jpeg_error err;
    bool labels = opt->mode == USEG_IMAGE_LABELS;
    useg_arena_mark mark = useg_arena_get_mark(&ctx->scratch);
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = jpeg_error_exit;
    err.pub.emit_message = jpeg_emit_message;
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&cinfo);
        useg_arena_rewind(&ctx->scratch, mark);
        return useg_fail(ctx, USEG_ERR_FORMAT, "%s: corrupt JPEG: %s", name, err.message);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    if (opt->exif_transpose) jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xffff);
    if (jpeg_read_header(&cinfo, TRUE) != JPEG_HEADER_OK) {
        jpeg_destroy_decompress(&cinfo);
        return useg_fail(ctx, USEG_ERR_FORMAT, "%s: JPEG without an image (tables only)", name);
    }
    useg_status st = check_size(ctx, name, cinfo.image_height, cinfo.image_width, opt);
    bool cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    if (st == USEG_OK && labels && cinfo.jpeg_color_space != JCS_GRAYSCALE)
        st = useg_fail(ctx, USEG_ERR_FORMAT, "%s: a label map must be a one-channel image, this JPEG has %d",
                       name, cinfo.num_components);
    if (st != USEG_OK) {
        jpeg_destroy_decompress(&cinfo);
        return st;
    }
    int orientation = 1;
    for (jpeg_saved_marker_ptr m = cinfo.marker_list; m; m = m->next)
        if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 && !memcmp(m->data, "Exif\0\0", 6)) {
            orientation = exif_orientation(m->data, m->data_length);
            break;
        }
    cinfo.out_color_space = labels ? JCS_GRAYSCALE : cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    int64_t h = cinfo.output_height, w = cinfo.output_width, c = labels ? 1 : 3;
    // Decode straight into the output unless it must be reoriented after.
    uint8_t *px = NULL, *row4 = NULL;
    if (orientation == 1) {
        if ((st = new_image(ctx, a, h, w, c, labels, out)) == USEG_OK) px = (*out)->data;
    } else {
        st = useg_alloc(ctx, &ctx->scratch, (size_t)(h * w * c), (void **)&px);
    }
    if (st == USEG_OK && cmyk) st = useg_alloc(ctx, &ctx->scratch, (size_t)w * 4, (void **)&row4);
    if (st != USEG_OK) {
        jpeg_destroy_decompress(&cinfo);
        useg_arena_rewind(&ctx->scratch, mark);
        return st;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        uint8_t *dst = px + (size_t)cinfo.output_scanline * (size_t)(w * c);
        JSAMPROW row = cmyk ? row4 : dst;
        jpeg_read_scanlines(&cinfo, &row, 1);
        if (cmyk) cmyk_to_rgb(row4, w, dst);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    if (orientation != 1) st = finish(ctx, px, h, w, c, labels, orientation, a, out);
    useg_arena_rewind(&ctx->scratch, mark);
    return st;
}

// --- PNG (stb_image) ---------------------------------------------------------

// Walk the PNG's chunks before stb_image sees them: every chunk must lie
// within the file up to IEND (stb would first allocate what a lying length
// claims, up to 4 GiB, and it needs IEND), and the first IDAT must not be
// empty (stb then does pointer arithmetic on NULL). Finds the eXIf chunk's
// orientation on the way (1 without one).
static useg_status png_scan(useg_ctx *ctx, const char *name, const uint8_t *d, size_t n, int *orientation) {
    bool seen_idat = false;
    *orientation = 1;
    for (size_t pos = 8;;) {
        if (n - pos < 12) return useg_fail(ctx, USEG_ERR_FORMAT, "%s: truncated PNG (no IEND chunk)", name);
        uint32_t len = be32(d + pos);
        const uint8_t *type = d + pos + 4;
        if (len > 0x7fffffffu || len > n - pos - 12)
            return useg_fail(ctx, USEG_ERR_FORMAT,
                             "%s: corrupt PNG: the chunk at byte %zu claims %u bytes, past the end of the file "
                             "(truncated?)",
                             name, pos, len);
        if (!memcmp(type, "IDAT", 4)) {
            if (!seen_idat && len == 0)
                return useg_fail(ctx, USEG_ERR_FORMAT, "%s: corrupt PNG: empty first IDAT chunk", name);
            seen_idat = true;
        }
        if (!memcmp(type, "eXIf", 4)) *orientation = exif_orientation(d + pos + 8, len);
        if (!memcmp(type, "IEND", 4)) return USEG_OK;
        pos += 12 + (size_t)len;
    }
}

static useg_status decode_png(useg_ctx *ctx, const char *name, const uint8_t *data, size_t size,
                              const useg_image_options *opt, useg_arena *a, useg_tensor **out) {
    // IHDR is the first chunk: length 13, "IHDR", width, height, depth, colour type.
    if (size < 8 + 8 + 13 || be32(data + 8) != 13 || memcmp(data + 12, "IHDR", 4))
        return useg_fail(ctx, USEG_ERR_FORMAT, "%s: corrupt PNG (no IHDR chunk)", name);
    int64_t w = be32(data + 16), h = be32(data + 20);
    int depth = data[24], colour = data[25];
    bool labels = opt->mode == USEG_IMAGE_LABELS;
    USEG_TRY(check_size(ctx, name, h, w, opt));
    if (size > INT32_MAX)
        return useg_fail(ctx, USEG_ERR_FORMAT, "%s: PNG file over 2 GiB", name);
    if (labels && colour != 0)
        return useg_fail(ctx, USEG_ERR_FORMAT,
                         "%s: a label map must be a grey PNG, this one has colour type %d", name, colour);
    int orientation;
    USEG_TRY(png_scan(ctx, name, data, size, &orientation));
    if (!opt->exif_transpose) orientation = 1;
    int iw, ih, comp;
    useg_status st = USEG_OK;
    if (colour == 0 && depth == 16 && !labels) {
        // PIL: mode "I", and convert('RGB') clips each value to 255.
        uint16_t *p16 = stbi_load_16_from_memory(data, (int)size, &iw, &ih, &comp, 1);
        if (!p16) return useg_fail(ctx, USEG_ERR_FORMAT, "%s: corrupt PNG: %s", name, stbi_failure_reason());
        useg_arena_mark mark = useg_arena_get_mark(&ctx->scratch);
        uint8_t *px;
        if ((st = useg_alloc(ctx, &ctx->scratch, (size_t)(h * w * 3), (void **)&px)) == USEG_OK) {
            for (int64_t i = 0; i < h * w; i++) px[3 * i] = px[3 * i + 1] = px[3 * i + 2] = p16[i] > 255 ? 255 : (uint8_t)p16[i];
            st = finish(ctx, px, h, w, 3, false, orientation, a, out);
        }
        useg_arena_rewind(&ctx->scratch, mark);
        stbi_image_free(p16);
        return st;
    }
    if (labels && depth == 16) {
        // Label maps with more than 256 labels (U2Seg's 800 clusters): i32 values as stored.
        uint16_t *p16 = stbi_load_16_from_memory(data, (int)size, &iw, &ih, &comp, 1);
        if (!p16) return useg_fail(ctx, USEG_ERR_FORMAT, "%s: corrupt PNG: %s", name, stbi_failure_reason());
        if ((st = useg_empty(ctx, a, USEG_I32, 2, (int64_t[]){h, w}, out)) == USEG_OK) {
            int32_t *d = (*out)->data;
            for (int64_t i = 0; i < h * w; i++) d[i] = p16[i];
        }
        stbi_image_free(p16);
        return st;
    }
    int c = labels ? 1 : 3;
    uint8_t *px = stbi_load_from_memory(data, (int)size, &iw, &ih, &comp, c);
    if (!px) return useg_fail(ctx, USEG_ERR_FORMAT, "%s: corrupt PNG: %s", name, stbi_failure_reason());
    USEG_ASSERT(iw == w && ih == h, "stb_image and the IHDR disagree on the size");
    st = finish(ctx, px, h, w, c, labels, orientation, a, out);
    stbi_image_free(px);
    return st;
}

// --- Entry points --------------------------------------------------------------

// Names for the formats people most often hand over by mistake.
static const char *sniff_other(const uint8_t *d, size_t n) {
    static const struct {
        const char *magic;
        size_t len;
        const char *name;
    } known[] = {
        {"GIF8", 4, "GIF"}, {"BM", 2, "BMP"}, {"II*\0", 4, "TIFF"}, {"MM\0*", 4, "TIFF"},
        {"RIFF", 4, "RIFF (WebP?)"}, {"\0\0\0\x0cjP", 6, "JPEG 2000"}, {"%PDF", 4, "PDF"},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (n >= known[i].len && !memcmp(d, known[i].magic, known[i].len)) return known[i].name;
    return "unknown";
}

useg_status useg_image_decode(useg_ctx *ctx, const char *name, const void *data, size_t size,
                              const useg_image_options *opt, useg_arena *a, useg_tensor **out) {
    static const useg_image_options defaults;
    const uint8_t *d = data;
    if (!opt) opt = &defaults;
    if (size == 0) return useg_fail(ctx, USEG_ERR_FORMAT, "%s: empty file", name);
    if (size >= 3 && d[0] == 0xff && d[1] == 0xd8 && d[2] == 0xff)
        return decode_jpeg(ctx, name, d, size, opt, a, out);
    if (size >= 8 && !memcmp(d, "\x89PNG\r\n\x1a\n", 8)) return decode_png(ctx, name, d, size, opt, a, out);
    return useg_fail(ctx, USEG_ERR_FORMAT, "%s: unsupported image format (%s; only JPEG and PNG are read)", name,
                     sniff_other(d, size));
}

useg_status useg_image_read(useg_ctx *ctx, const char *path, const useg_image_options *opt, useg_arena *a,
                            useg_tensor **out) {
    FILE *f = fopen(path, "rb");
    if (!f) return useg_fail(ctx, USEG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    useg_status st = USEG_OK;
    uint8_t *buf = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
    if (n < 0 || fseek(f, 0, SEEK_SET) != 0) {
        st = useg_fail(ctx, USEG_ERR_IO, "%s: cannot seek (not a regular file?)", path);
    } else if (n > MAX_FILE_BYTES) {
        st = useg_fail(ctx, USEG_ERR_FORMAT, "%s: %ld bytes is too large for an image file", path, n);
    } else if (!(buf = malloc(n ? (size_t)n : 1))) {
        st = useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY, "%s: out of memory reading %ld bytes", path, n);
    } else if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
        st = useg_fail(ctx, USEG_ERR_IO, "%s: read failed", path);
    }
    fclose(f);
    if (st == USEG_OK) st = useg_image_decode(ctx, path, buf, (size_t)n, opt, a, out);
    free(buf);
    return st;
}

// --- PNG writing ---------------------------------------------------------------

// stb_image_write hands the whole PNG over in one or a few calls.
typedef struct png_sink {
    FILE *f;
    bool ok;
} png_sink;

static void write_to_file(void *context, void *data, int size) {
    png_sink *sink = context;
    sink->ok = sink->ok && fwrite(data, 1, (size_t)size, sink->f) == (size_t)size;
}

useg_status useg_image_write_png(useg_ctx *ctx, const char *path, const useg_tensor *img) {
    char buf[96];
    int64_t c = img->ndim == 3 ? img->shape[2] : 1;
    if (img->dtype != USEG_U8 || img->device != USEG_DEVICE_CPU || (img->ndim != 2 && img->ndim != 3) || c < 1 ||
        c > 4)
        return useg_fail(ctx, USEG_ERR_SHAPE, "%s: PNG needs a CPU u8 (H, W) or (H, W, 1..4) image, got %s", path,
                         useg_shape_str(img, buf, sizeof buf));
    int64_t h = img->shape[0], w = img->shape[1];
    if (h < 1 || w < 1 || h * w * c > INT32_MAX / 2)
        return useg_fail(ctx, USEG_ERR_SHAPE, "%s: cannot write a %s image as PNG (empty or over 1 GiB)", path,
                         useg_shape_str(img, buf, sizeof buf));
    useg_arena_mark mark = useg_arena_get_mark(&ctx->scratch);
    const useg_tensor *src = img;
    if (!useg_is_contiguous(img)) {
        useg_tensor *copy;
        useg_status st = useg_empty(ctx, &ctx->scratch, USEG_U8, img->ndim, img->shape, &copy);
        if (st == USEG_OK) st = useg_copy_into(ctx, copy, img);
        if (st != USEG_OK) {
            useg_arena_rewind(&ctx->scratch, mark);
            return st;
        }
        src = copy;
    }
    useg_atomic_file af;
    useg_status st = useg_atomic_open(ctx, &af, path);
    if (st == USEG_OK) {
        png_sink sink = {af.f, true};
        int ok = stbi_write_png_to_func(write_to_file, &sink, (int)w, (int)h, (int)c, src->data, (int)(w * c));
        st = useg_atomic_close(ctx, &af, ok && sink.ok);
    }
    useg_arena_rewind(&ctx->scratch, mark);
    return st;
}
