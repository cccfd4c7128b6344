// JSON through jansson: loading with a located error message, atomic writes,
// and typed field access that names the field and its owner when the value
// is missing or of the wrong type. Every reader of a JSON format in useg
// (COCO instances, results, panoptic) goes through these, so messages read
// the same everywhere.
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "context.h"

// Parse the file at `path` (*out: a new reference the caller json_decref's).
// USEG_ERR_IO when it cannot be read, USEG_ERR_FORMAT with line:column for bad JSON.
useg_status useg_json_load(useg_ctx *ctx, const char *path, json_t **out);
// Write `root` (indented when `indent` > 0) to `path` atomically: a temporary
// file beside it, then rename, so a reader never sees half a file.
useg_status useg_json_write_atomic(useg_ctx *ctx, const json_t *root, const char *path, int indent);

// Field `key` of object `obj`, as the type asked for. `where` names the owner
// for messages ("annotation 12"). A missing field fails unless the _opt form
// is used, which leaves *out untouched and sets *found (when not NULL).
useg_status useg_json_int(useg_ctx *ctx, const json_t *obj, const char *key, const char *where, int64_t *out);
useg_status useg_json_number(useg_ctx *ctx, const json_t *obj, const char *key, const char *where, double *out);
useg_status useg_json_number_opt(useg_ctx *ctx, const json_t *obj, const char *key, const char *where, double *out,
                                 bool *found);
useg_status useg_json_bool_opt(useg_ctx *ctx, const json_t *obj, const char *key, const char *where, bool *out);
// An array field (borrowed reference).
useg_status useg_json_array(useg_ctx *ctx, const json_t *obj, const char *key, const char *where, json_t **out);
// An array of exactly n numbers.
useg_status useg_json_numbers(useg_ctx *ctx, const json_t *arr, size_t n, const char *what, const char *where,
                              double *out);
