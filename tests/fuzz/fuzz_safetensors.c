// libFuzzer target: the safetensors header parser and validator.
#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    useg_ctx ctx;
    useg_ctx_init(&ctx, NULL);
    useg_arena meta;
    useg_arena_init(&meta, "fuzz", 1 << 16, 1 << 26);
    useg_safetensors_entry *entries;
    int64_t count;
    uint64_t data_start;
    useg_safetensors_parse(&ctx, "fuzz", data, size, &meta, &entries, &count, &data_start);
    useg_arena_free(&meta);
    useg_ctx_free(&ctx);
    return 0;
}
