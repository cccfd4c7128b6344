// The one translation unit holding the stb implementations (Debian's
// libstb-dev headers), built alone so its warnings stay out of ours.
// stb_image decodes PNG only (JPEG goes through libjpeg-turbo, see image.c):
// every other format is compiled out, which also keeps the fuzzed surface
// small. stb_image_write compresses with zlib instead of its own deflate:
// smaller files, faster, and the library the rest of useg already links.
#include <stdlib.h>
#include <zlib.h>

#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#include <stb/stb_image.h>

// stb_image_write's compressor hook: a malloc'd zlib stream (freed by stb
// with free), or NULL. `quality` (stb's level 8) is not used: zlib's default
// level 6 is near the same size at a fraction of the time.
static unsigned char *useg_stbiw_zlib_compress(unsigned char *data, int data_len, int *out_len, int quality) {
    (void)quality;
    uLongf n = compressBound((uLong)data_len);
    unsigned char *out = malloc(n);
    if (!out || compress2(out, &n, data, (uLong)data_len, Z_DEFAULT_COMPRESSION) != Z_OK) {
        free(out);
        return NULL;
    }
    *out_len = (int)n;
    return out;
}

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#define STBIW_ZLIB_COMPRESS useg_stbiw_zlib_compress
#include <stb/stb_image_write.h>
