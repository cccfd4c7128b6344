// Arenas: memory owned by lifetime.
//
// An arena hands out aligned blocks from large chunks and frees them all at
// once. useg keeps three per context (see context.h): parameters (whole
// program), the step arena (activations and the autograd tape, reset after
// every step) and scratch (workspaces, reset by the op that used them).
// Chunks are kept across resets, so once a step has run, the same step
// allocates nothing from the system again: the hot path never calls malloc.
//
// A limit caps the bytes an arena may hold; exceeding it fails with
// USEG_ERR_OUT_OF_MEMORY rather than growing without bound.
#pragma once

#include <stddef.h>
#include <stdint.h>

typedef struct useg_arena_chunk useg_arena_chunk;

typedef struct useg_arena {
    const char *name;          // for messages ("step", "params", ...)
    useg_arena_chunk *head;    // chunk being filled
    useg_arena_chunk *first;   // chunk list in allocation order
    size_t chunk_size;         // default size of a new chunk
    size_t limit;              // most bytes of chunks the arena may own
    size_t reserved;           // bytes of chunks owned now
    size_t used;               // bytes handed out since the last reset
    size_t peak;               // largest `used` seen
} useg_arena;

// A position to roll back to (useg_arena_rewind).
typedef struct useg_arena_mark {
    useg_arena_chunk *chunk;
    size_t offset;
    size_t used;
} useg_arena_mark;

// Set up an empty arena; no memory is taken until the first allocation.
void useg_arena_init(useg_arena *a, const char *name, size_t chunk_size, size_t limit);
// Give every chunk back to the system.
void useg_arena_free(useg_arena *a);
// `bytes` bytes aligned to 64, or NULL when the system or the limit says no.
// The memory is not zeroed.
void *useg_arena_alloc(useg_arena *a, size_t bytes);
// Forget every allocation; chunks are kept for reuse.
void useg_arena_reset(useg_arena *a);
useg_arena_mark useg_arena_get_mark(const useg_arena *a);
// Forget the allocations made after `m` was taken.
void useg_arena_rewind(useg_arena *a, useg_arena_mark m);
