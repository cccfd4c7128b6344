// Heap allocation for data and evaluation structures whose size is known only
// from the input (annotation lists, masks, confusion matrices). These live
// outside the arenas because they are built once, sized by the data set, and
// freed by their owner's *_free function; none of this is on a training hot path.
#pragma once

#include <stddef.h>

#include "context.h"

// n * size bytes (overflow-checked), uninitialised; NULL with USEG_ERR_OUT_OF_MEMORY
// recorded in ctx (naming `what`) on failure. n == 0 returns a valid 1-byte block.
void *useg_heap_alloc(useg_ctx *ctx, size_t n, size_t size, const char *what);
// As useg_heap_alloc, zero-filled.
void *useg_heap_zalloc(useg_ctx *ctx, size_t n, size_t size, const char *what);
// Resize p (which may be NULL) to n * size bytes; on failure p is untouched and NULL returned.
void *useg_heap_realloc(useg_ctx *ctx, void *p, size_t n, size_t size, const char *what);
