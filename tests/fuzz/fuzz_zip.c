// libFuzzer target: the ZIP reader. Opens the archive and extracts every
// entry (the CRC check is compiled out in fuzzing builds).
#include <stdlib.h>

#include "zip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    useg_ctx ctx;
    useg_ctx_init(&ctx, NULL);
    useg_arena meta;
    useg_arena_init(&meta, "fuzz", 1 << 16, 1 << 26);
    useg_zip zip;
    if (useg_zip_open(&ctx, "fuzz", data, size, &meta, &zip) == USEG_OK)
        for (int64_t i = 0; i < zip.count; i++) {
            const uint8_t *bytes;
            void *owned;
            useg_clear_error(&ctx);
            if (useg_zip_read(&ctx, &zip, &zip.entries[i], &bytes, &owned) == USEG_OK) free(owned);
        }
    useg_arena_free(&meta);
    useg_ctx_free(&ctx);
    return 0;
}
