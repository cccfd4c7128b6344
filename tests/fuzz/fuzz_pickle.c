// libFuzzer target: the pickle VM and the tensor-naming walk over what it builds.
#include "pickle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    useg_ctx ctx;
    useg_ctx_init(&ctx, NULL);
    useg_arena values;
    useg_arena_init(&values, "fuzz", 1 << 16, 1 << 28);
    const useg_pickle_value *root;
    useg_pickle_named *tensors;
    int64_t count;
    if (useg_pickle_load(&ctx, "fuzz", data, size, &values, &root) == USEG_OK)
        useg_pickle_tensors(&ctx, "fuzz", root, &values, &tensors, &count);
    useg_arena_free(&values);
    useg_ctx_free(&ctx);
    return 0;
}
