#include "arena.h"

#include <stdlib.h>

#include "status.h"

enum { ARENA_ALIGN = 64 };

struct useg_arena_chunk {
    useg_arena_chunk *next;
    size_t size;   // usable bytes after the header
    size_t offset; // bytes handed out from this chunk
    _Alignas(ARENA_ALIGN) unsigned char data[];
};

static size_t align_up(size_t n) { return (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1); }

void useg_arena_init(useg_arena *a, const char *name, size_t chunk_size, size_t limit) {
    *a = (useg_arena){.name = name, .chunk_size = chunk_size, .limit = limit};
}

void useg_arena_free(useg_arena *a) {
    for (useg_arena_chunk *c = a->first; c;) {
        useg_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    useg_arena_init(a, a->name, a->chunk_size, a->limit);
}

void *useg_arena_alloc(useg_arena *a, size_t bytes) {
    size_t need = align_up(bytes ? bytes : 1);
    if (need < bytes) return NULL; // overflow
    // Try the current chunk, then the kept chunks after it (after a reset).
    for (useg_arena_chunk *c = a->head; c; c = c->next) {
        if (c->size - c->offset >= need) {
            void *p = c->data + c->offset;
            c->offset += need;
            a->head = c;
            a->used += need;
            if (a->used > a->peak) a->peak = a->used;
            return p;
        }
        if (c->next) c->next->offset = 0;
    }
    size_t size = need > a->chunk_size ? need : a->chunk_size;
    if (size > a->limit || a->reserved > a->limit - size) return NULL;
    useg_arena_chunk *c = aligned_alloc(ARENA_ALIGN, align_up(sizeof(*c) + size));
    if (!c) return NULL;
    *c = (useg_arena_chunk){.size = size, .offset = need};
    a->reserved += size;
    // Append at the end of the list so allocation order is preserved.
    useg_arena_chunk **tail = &a->first;
    while (*tail) tail = &(*tail)->next;
    *tail = c;
    a->head = c;
    a->used += need;
    if (a->used > a->peak) a->peak = a->used;
    return c->data;
}

void useg_arena_reset(useg_arena *a) {
    if (a->first) a->first->offset = 0;
    a->head = a->first;
    a->used = 0;
}

useg_arena_mark useg_arena_get_mark(const useg_arena *a) {
    return (useg_arena_mark){.chunk = a->head, .offset = a->head ? a->head->offset : 0, .used = a->used};
}

void useg_arena_rewind(useg_arena *a, useg_arena_mark m) {
    if (!m.chunk) {
        useg_arena_reset(a);
        return;
    }
    USEG_ASSERT(m.used <= a->used, "rewinding arena '%s' forwards", a->name);
    m.chunk->offset = m.offset;
    a->head = m.chunk;
    a->used = m.used;
}
