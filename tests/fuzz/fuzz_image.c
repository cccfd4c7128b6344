// libFuzzer target: the image decoder entry (JPEG through libjpeg-turbo,
// PNG through stb_image, EXIF parsing, orientation) in both modes. The
// first byte picks the options; a 4-megapixel limit keeps each run small.
#include "image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    useg_ctx ctx;
    useg_ctx_init(&ctx, NULL);
    useg_image_options opt = {.mode = data[0] & 1 ? USEG_IMAGE_LABELS : USEG_IMAGE_RGB,
                              .exif_transpose = (data[0] & 2) != 0, .max_pixels = 1 << 22};
    useg_tensor *img;
    useg_image_decode(&ctx, "fuzz", data + 1, size - 1, &opt, NULL, &img);
    useg_ctx_free(&ctx);
    return 0;
}
