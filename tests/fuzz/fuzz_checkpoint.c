// libFuzzer target: a whole checkpoint (.pth or safetensors) opened from
// memory and every tensor loaded, so the view-versus-storage bounds checks
// are exercised end to end. The parameter arena is capped at 64 MiB: a
// tensor claiming more fails cleanly with USEG_ERR_OUT_OF_MEMORY.
#include "checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    useg_ctx ctx;
    useg_ctx_init(&ctx, &(useg_ctx_options){.params_limit = 64 << 20, .step_limit = 64 << 20});
    useg_checkpoint ck;
    if (useg_checkpoint_open_memory(&ctx, "fuzz", data, size, NULL, &ck) == USEG_OK) {
        for (int64_t i = 0; i < ck.count; i++) {
            useg_tensor *t;
            useg_clear_error(&ctx);
            useg_checkpoint_get(&ctx, &ck, ck.entries[i].name, 0, NULL, &t);
            useg_arena_reset(&ctx.params);
        }
        useg_checkpoint_close(&ck);
    }
    useg_ctx_free(&ctx);
    return 0;
}
