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
