// NumPy .npy files (format version 1.0/2.0, C order, little-endian): the
// format useg writes features and test references in, readable with numpy.load.
#pragma once

#include "context.h"
#include "tensor.h"

// Read `path` into a new contiguous CPU tensor in arena `a` (ctx->step when
// NULL). Supports <f2 <f4 <f8 <i4 <i8 |u1 (and |b1 as u8). Fails with
// USEG_ERR_IO (cannot open/read) or USEG_ERR_FORMAT (bad magic, header,
// dtype, Fortran order, or a size that does not match the file), naming the file.
useg_status useg_npy_read(useg_ctx *ctx, const char *path, useg_arena *a, useg_tensor **out);

// Write t (any strides, CPU) to `path` atomically: a temporary file in the
// same folder is renamed over `path` only when complete.
useg_status useg_npy_write(useg_ctx *ctx, const char *path, const useg_tensor *t);
