// Output files that never exist half-written: write to a temporary file in
// the destination's folder, then rename it over the destination on success.
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "context.h"

typedef struct useg_atomic_file {
    FILE *f;
    char path[4096];
    char tmp_path[4096 + 16];
} useg_atomic_file;

// Open a temporary file next to `path` for writing.
useg_status useg_atomic_open(useg_ctx *ctx, useg_atomic_file *af, const char *path);
// Close it; if `ok` and the data reached the disk, rename it to the final path,
// else remove it. Returns USEG_ERR_IO naming the path on any failure.
useg_status useg_atomic_close(useg_ctx *ctx, useg_atomic_file *af, bool ok);

// Create folder `dir` and any missing folders above it (mkdir -p); an
// existing folder is fine. Fails with USEG_ERR_IO naming the folder that
// could not be made (or that exists as a file).
useg_status useg_make_dirs(useg_ctx *ctx, const char *dir);

// useg_make_dirs of the folder that holds the file `path` (nothing for a
// bare file name).
useg_status useg_make_parent_dirs(useg_ctx *ctx, const char *path);
