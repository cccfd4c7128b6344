// See heap.h.
#include "heap.h"

#include <stdint.h>
#include <stdlib.h>

static size_t checked_bytes(size_t n, size_t size) {
    if (size && n > SIZE_MAX / size) return SIZE_MAX;
    return n * size != 0 ? n * size : 1;
}

void *useg_heap_alloc(useg_ctx *ctx, size_t n, size_t size, const char *what) {
    size_t bytes = checked_bytes(n, size);
    void *p = bytes == SIZE_MAX ? NULL : malloc(bytes);
    if (!p) useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY, "out of memory allocating %zu x %zu bytes for %s", n, size, what);
    return p;
}

void *useg_heap_zalloc(useg_ctx *ctx, size_t n, size_t size, const char *what) {
    size_t bytes = checked_bytes(n, size);
    void *p = bytes == SIZE_MAX ? NULL : calloc(1, bytes);
    if (!p) useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY, "out of memory allocating %zu x %zu bytes for %s", n, size, what);
    return p;
}

void *useg_heap_realloc(useg_ctx *ctx, void *p, size_t n, size_t size, const char *what) {
    size_t bytes = checked_bytes(n, size);
    void *q = bytes == SIZE_MAX ? NULL : realloc(p, bytes);
    if (!q) useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY, "out of memory growing %s to %zu x %zu bytes", what, n, size);
    return q;
}
