// A small read-only ZIP reader over a buffer in memory (a mapped file).
//
// Enough for PyTorch's checkpoint archives (torch.save since 1.6): stored
// or deflated entries, ZIP64 sizes and offsets, no encryption, one disk.
// Every offset and size read from the archive is checked against the
// buffer before use; a bad archive fails with USEG_ERR_FORMAT naming the
// archive, the entry and the byte offset.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "context.h"

typedef struct useg_zip_entry {
    const char *name;       // NUL-terminated copy
    uint16_t method;        // 0 stored, 8 deflated
    uint32_t crc32;
    uint64_t comp_size;
    uint64_t size;          // uncompressed
    uint64_t data_offset;   // of the (compressed) data in the buffer, checked to fit
} useg_zip_entry;

typedef struct useg_zip {
    const char *name;            // archive name for messages
    const uint8_t *data;
    size_t size;
    int64_t count;
    useg_zip_entry *entries;     // in central-directory order, in the arena given to open
} useg_zip;

// Read the central directory of the archive in data[0, size). The entry
// table and names are allocated from arena `a`; `data` must outlive zip.
// Fails with USEG_ERR_FORMAT (no end record, bad signatures, offsets or
// sizes beyond the buffer, encrypted or multi-disk archives).
useg_status useg_zip_open(useg_ctx *ctx, const char *name, const uint8_t *data, size_t size, useg_arena *a,
                          useg_zip *zip);

// The entry named exactly `name`, or NULL.
const useg_zip_entry *useg_zip_find(const useg_zip *zip, const char *name);

// The uncompressed bytes of an entry, CRC-checked. A stored entry is
// returned in place (*owned = NULL); a deflated one is inflated into a
// malloc'd buffer returned in *owned as well, which the caller frees.
// Fails with USEG_ERR_FORMAT (unsupported method, bad deflate stream, size
// or CRC mismatch) or USEG_ERR_OUT_OF_MEMORY.
useg_status useg_zip_read(useg_ctx *ctx, const useg_zip *zip, const useg_zip_entry *e, const uint8_t **bytes,
                          void **owned);
