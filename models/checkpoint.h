// Checkpoints: named tensors from PyTorch .pth files and safetensors files.
//
// Opening a checkpoint maps the file and reads only its directory: names,
// dtypes, shapes and where each tensor's bytes are (for .pth, the zip
// directory and the pickle; for safetensors, the JSON header), validating
// every offset and size against the file. Tensors are materialised one by
// one by useg_checkpoint_get into ctx->params, so a 1 GB DINO training
// checkpoint costs only the backbone the model asks for.
//
// Names: the nested dicts of a .pth are flattened with '.', so DINO's
// {'teacher': {'backbone.cls_token': t}, 'student': ...} gives
// "teacher.backbone.cls_token" (models/dino_names.h picks the backbone's
// prefix); opaque objects in a checkpoint (argparse.Namespace args, numpy
// scalars) are skipped.
//
// Dtypes: by default floating tensors (f16, bf16, f32, f64) are converted to
// f32 on load, the dtype every op computes in; integer tensors keep theirs
// (i64, i32, u8; bool reads as u8). With keep_dtype every tensor keeps its
// stored dtype (for round trips and inspection).
//
// useg writes its own checkpoints as safetensors: useg_safetensors_write
// (models/safetensors.h).
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "context.h"
#include "tensor.h"
#include "zip.h"

typedef struct useg_checkpoint_entry {
    const char *name;
    const char *stored_dtype;   // "F32", "BF16" (safetensors) or "FloatStorage", ... (.pth)
    bool supported;             // false: a dtype useg does not load (I16, ShortStorage, ...)
    useg_dtype dtype;           // the stored dtype, when supported
    int ndim;
    int64_t shape[USEG_MAX_DIMS];
    int64_t strides[USEG_MAX_DIMS];  // in elements, into the storage
    int64_t offset;                  // in elements
    size_t elem_size;
    const useg_zip_entry *storage;   // .pth: the archive entry holding the storage
    uint64_t byte_offset;            // safetensors: where the storage starts in the file
} useg_checkpoint_entry;

typedef struct useg_checkpoint {
    char name[256];          // the path, for messages (truncated if longer)
    int64_t count;
    useg_checkpoint_entry *entries;  // in file (pickle or data) order
    bool keep_dtype;
    // Private: the directory's memory, the file's bytes and the archive.
    useg_arena meta;
    const uint8_t *data;
    size_t size;
    bool mapped;
    useg_zip zip;
} useg_checkpoint;

typedef struct useg_checkpoint_options {
    bool keep_dtype;  // see the file comment
} useg_checkpoint_options;

// Open the checkpoint at `path` (opt NULL: defaults): a torch.save archive
// (PyTorch >= 1.6 zip format) or a safetensors file, told apart by content.
// Fails with USEG_ERR_IO (cannot open or map) or USEG_ERR_FORMAT (neither
// format, the legacy pre-1.6 torch format, a truncated or corrupt archive, a
// pickle outside the supported subset, offsets or sizes that lie, a tensor
// that does not fit its storage), naming the file and the tensor, entry or
// byte offset. On failure nothing needs closing.
useg_status useg_checkpoint_open(useg_ctx *ctx, const char *path, const useg_checkpoint_options *opt,
                                 useg_checkpoint *ck);

// The same over a file's bytes in memory, which must outlive the checkpoint.
useg_status useg_checkpoint_open_memory(useg_ctx *ctx, const char *name, const uint8_t *data, size_t size,
                                        const useg_checkpoint_options *opt, useg_checkpoint *ck);

// Unmap the file and free the directory; tensors already loaded stay valid.
void useg_checkpoint_close(useg_checkpoint *ck);

// The entry of that exact name, or NULL.
const useg_checkpoint_entry *useg_checkpoint_find(const useg_checkpoint *ck, const char *name);

// Check that `name` exists with shape `shape` (ndim entries) without
// loading it: USEG_ERR_FORMAT naming the tensor when it is missing,
// USEG_ERR_SHAPE naming it and both shapes when the shape differs.
useg_status useg_checkpoint_check(useg_ctx *ctx, const useg_checkpoint *ck, const char *name, int ndim,
                                  const int64_t *shape);

// Load tensor `name` into a new contiguous tensor in ctx->params, after
// useg_checkpoint_check (skipped when shape is NULL). Each call loads a new
// copy. Also fails with USEG_ERR_UNSUPPORTED for a dtype useg does not
// load, and USEG_ERR_FORMAT when a deflated storage is corrupt.
useg_status useg_checkpoint_get(useg_ctx *ctx, const useg_checkpoint *ck, const char *name, int ndim,
                                const int64_t *shape, useg_tensor **out);
