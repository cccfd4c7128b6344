// See json_io.h.
#include "json_io.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "atomic_file.h"

useg_status useg_json_load(useg_ctx *ctx, const char *path, json_t **out) {
    FILE *f = fopen(path, "rb");
    if (!f) return useg_fail(ctx, USEG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    json_error_t err;
    json_t *root = json_loadf(f, 0, &err);
    fclose(f);
    if (!root) return useg_fail(ctx, USEG_ERR_FORMAT, "%s:%d:%d: bad JSON: %s", path, err.line, err.column, err.text);
    *out = root;
    return USEG_OK;
}

useg_status useg_json_write_atomic(useg_ctx *ctx, const json_t *root, const char *path, int indent) {
    useg_atomic_file af;
    USEG_TRY(useg_atomic_open(ctx, &af, path));
    size_t flags = JSON_REAL_PRECISION(17) | (indent > 0 ? JSON_INDENT(indent) : JSON_COMPACT);
    return useg_atomic_close(ctx, &af, json_dumpf(root, af.f, flags) == 0);
}

static useg_status missing(useg_ctx *ctx, const char *key, const char *where) {
    return useg_fail(ctx, USEG_ERR_FORMAT, "%s: missing field '%s'", where, key);
}

useg_status useg_json_int(useg_ctx *ctx, const json_t *obj, const char *key, const char *where, int64_t *out) {
    json_t *v = json_object_get(obj, key);
    if (!v) return missing(ctx, key, where);
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return USEG_OK;
    }
    // Some writers emit ids as 12.0; accept a real only when it is an exact integer.
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d == floor(d) && fabs(d) < 9e15) {
            *out = (int64_t)d;
            return USEG_OK;
        }
    }
    return useg_fail(ctx, USEG_ERR_FORMAT, "%s: field '%s' is not an integer", where, key);
}

useg_status useg_json_number_opt(useg_ctx *ctx, const json_t *obj, const char *key, const char *where, double *out,
                                 bool *found) {
    json_t *v = json_object_get(obj, key);
    if (found) *found = v != NULL;
    if (!v) return USEG_OK;
    if (!json_is_number(v)) return useg_fail(ctx, USEG_ERR_FORMAT, "%s: field '%s' is not a number", where, key);
    *out = json_number_value(v);
    return USEG_OK;
}

useg_status useg_json_number(useg_ctx *ctx, const json_t *obj, const char *key, const char *where, double *out) {
    bool found;
    USEG_TRY(useg_json_number_opt(ctx, obj, key, where, out, &found));
    return found ? USEG_OK : missing(ctx, key, where);
}

useg_status useg_json_bool_opt(useg_ctx *ctx, const json_t *obj, const char *key, const char *where, bool *out) {
    json_t *v = json_object_get(obj, key);
    if (!v) return USEG_OK;
    if (json_is_boolean(v)) *out = json_is_true(v);
    else if (json_is_integer(v)) *out = json_integer_value(v) != 0;
    else return useg_fail(ctx, USEG_ERR_FORMAT, "%s: field '%s' is not a boolean or 0/1", where, key);
    return USEG_OK;
}

useg_status useg_json_array(useg_ctx *ctx, const json_t *obj, const char *key, const char *where, json_t **out) {
    json_t *v = json_object_get(obj, key);
    if (!v) return missing(ctx, key, where);
    if (!json_is_array(v)) return useg_fail(ctx, USEG_ERR_FORMAT, "%s: field '%s' is not an array", where, key);
    *out = v;
    return USEG_OK;
}

useg_status useg_json_numbers(useg_ctx *ctx, const json_t *arr, size_t n, const char *what, const char *where,
                              double *out) {
    if (!json_is_array(arr) || json_array_size(arr) != n)
        return useg_fail(ctx, USEG_ERR_FORMAT, "%s: '%s' is not an array of %zu numbers", where, what, n);
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(arr, i);
        if (!json_is_number(v))
            return useg_fail(ctx, USEG_ERR_FORMAT, "%s: '%s'[%zu] is not a number", where, what, i);
        out[i] = json_number_value(v);
    }
    return USEG_OK;
}
