// The safetensors format (huggingface/safetensors): an 8-byte little-endian
// header length N, N bytes of JSON {"name": {"dtype", "shape",
// "data_offsets": [begin, end]}, "__metadata__": {...}}, then the raw
// little-endian data, offsets relative to its start. useg writes its own
// checkpoints in it.
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "context.h"
#include "tensor.h"

typedef struct useg_safetensors_entry {
    const char *name;
    const char *dtype_name;  // as in the header: "F32", "BF16", "I8", ...
    bool supported;          // a dtype useg loads (F64 F32 F16 BF16 I64 I32 U8 BOOL)
    useg_dtype dtype;        // when supported (BOOL reads as U8)
    int ndim;
    int64_t shape[USEG_MAX_DIMS];
    uint64_t begin, end;     // byte range within the data section
} useg_safetensors_entry;

// Parse and validate the header of the file in data[0, size) as the
// reference implementation does: header length within the file and at most
// 100 MB, a JSON object without duplicate keys, known dtypes, end - begin
// equal to the element count times the element size, and the tensors'
// ranges tiling the data section exactly (no gaps, no overlaps, nothing past
// the end). Entries are returned in data order, allocated from arena `a`
// (names included); *data_start is the byte offset of the data section.
// Fails with USEG_ERR_FORMAT naming the file and the tensor or byte offset.
// Tensors of more than USEG_MAX_DIMS dimensions are refused.
useg_status useg_safetensors_parse(useg_ctx *ctx, const char *name, const uint8_t *data, size_t size,
                                   useg_arena *a, useg_safetensors_entry **entries, int64_t *count,
                                   uint64_t *data_start);

// Write n named CPU tensors (f64 f32 f16 bf16 i64 i32 u8, any strides) to
// `path` atomically. Tensors are laid out by decreasing element size, then
// name (as the reference writer does), so each is aligned to its element
// size; the header is padded with spaces to a multiple of 8 bytes. Fails
// with USEG_ERR_INVALID_ARG for duplicate, empty or non-UTF-8 names or the
// reserved name "__metadata__", USEG_ERR_UNSUPPORTED for a device tensor,
// USEG_ERR_IO when the file cannot be written.
useg_status useg_safetensors_write(useg_ctx *ctx, const char *path, int64_t n, const char *const *names,
                                   const useg_tensor *const *tensors);
