// See mat_io.h.
#include "mat_io.h"

#include <math.h>
#include <matio.h>
#include <stdio.h>
#include <stdlib.h>

#include "heap.h"

void useg_label_maps_free(useg_label_map *maps, uint32_t n) {
    for (uint32_t i = 0; maps && i < n; i++) free(maps[i].labels);
    free(maps);
}

// Element i (column-major) of a numeric matrix as a double; false for classes we do not read.
static bool element(const matvar_t *v, size_t i, double *out) {
    switch (v->class_type) {
    case MAT_C_DOUBLE: *out = ((const double *)v->data)[i]; return true;
    case MAT_C_SINGLE: *out = ((const float *)v->data)[i]; return true;
    case MAT_C_UINT8: *out = ((const uint8_t *)v->data)[i]; return true;
    case MAT_C_INT8: *out = ((const int8_t *)v->data)[i]; return true;
    case MAT_C_UINT16: *out = ((const uint16_t *)v->data)[i]; return true;
    case MAT_C_INT16: *out = ((const int16_t *)v->data)[i]; return true;
    case MAT_C_UINT32: *out = ((const uint32_t *)v->data)[i]; return true;
    case MAT_C_INT32: *out = ((const int32_t *)v->data)[i]; return true;
    default: return false;
    }
}

static useg_status check_matrix(useg_ctx *ctx, const char *path, const char *what, const matvar_t *v) {
    double d;
    if (!v || v->rank != 2 || v->isComplex || !v->data || v->dims[0] * v->dims[1] == 0 || !element(v, 0, &d))
        return useg_fail(ctx, USEG_ERR_FORMAT, "%s: %s is not a non-empty real 2-D numeric matrix", path, what);
    if (v->dims[0] > 100000 || v->dims[1] > 100000)
        return useg_fail(ctx, USEG_ERR_FORMAT, "%s: %s is too large", path, what);
    return USEG_OK;
}

static useg_status to_labels(useg_ctx *ctx, const char *path, const char *what, const matvar_t *v, useg_label_map *m) {
    USEG_TRY(check_matrix(ctx, path, what, v));
    uint32_t h = (uint32_t)v->dims[0], w = (uint32_t)v->dims[1];
    int32_t *l = useg_heap_alloc(ctx, (size_t)h * w, sizeof *l, "label map");
    if (!l) return ctx->status;
    for (uint32_t x = 0; x < w; x++)
        for (uint32_t y = 0; y < h; y++) {
            double d = 0;
            element(v, (size_t)x * h + y, &d);
            if (d != floor(d) || d < 0 || d > INT32_MAX) {
                free(l);
                return useg_fail(ctx, USEG_ERR_FORMAT, "%s: %s holds %g at (%u, %u), not a label", path, what, d, y, x);
            }
            l[(size_t)y * w + x] = (int32_t)d;
        }
    *m = (useg_label_map){h, w, l};
    return USEG_OK;
}

static useg_status open_var(useg_ctx *ctx, const char *path, const char *var, mat_t **mat, matvar_t **v) {
    *mat = Mat_Open(path, MAT_ACC_RDONLY);
    if (!*mat) return useg_fail(ctx, USEG_ERR_IO, "%s: cannot open as a MATLAB file", path);
    *v = Mat_VarRead(*mat, var);
    if (!*v) {
        Mat_Close(*mat);
        return useg_fail(ctx, USEG_ERR_FORMAT, "%s: no variable '%s'", path, var);
    }
    return USEG_OK;
}

useg_status useg_mat_read_label_cell(useg_ctx *ctx, const char *path, const char *var, const char *field,
                                     useg_label_map **maps, uint32_t *n) {
    mat_t *mat;
    matvar_t *v;
    USEG_TRY(open_var(ctx, path, var, &mat, &v));
    useg_status st = USEG_OK;
    size_t count = v->rank == 2 ? v->dims[0] * v->dims[1] : 0;
    if (v->class_type != MAT_C_CELL || count == 0)
        st = useg_fail(ctx, USEG_ERR_FORMAT, "%s: '%s' is not a non-empty cell array", path, var);
    *maps = st == USEG_OK ? useg_heap_zalloc(ctx, count, sizeof **maps, "label maps") : NULL;
    if (st == USEG_OK && !*maps) st = ctx->status;
    for (size_t i = 0; i < count && st == USEG_OK; i++) {
        matvar_t *cell = Mat_VarGetCell(v, (int)i);
        char what[96];
        snprintf(what, sizeof what, "%s{%zu}%s%s", var, i + 1, field ? "." : "", field ? field : "");
        matvar_t *m = cell && field ? Mat_VarGetStructFieldByName(cell, field, 0) : cell;
        st = to_labels(ctx, path, what, m, &(*maps)[i]);
    }
    Mat_VarFree(v);
    Mat_Close(mat);
    if (st != USEG_OK) {
        useg_label_maps_free(*maps, (uint32_t)count);
        *maps = NULL;
        return st;
    }
    *n = (uint32_t)count;
    return USEG_OK;
}

useg_status useg_mat_read_real(useg_ctx *ctx, const char *path, const char *var, double **data, uint32_t *h,
                               uint32_t *w) {
    mat_t *mat;
    matvar_t *v;
    USEG_TRY(open_var(ctx, path, var, &mat, &v));
    useg_status st = check_matrix(ctx, path, var, v);
    if (st == USEG_OK) {
        *h = (uint32_t)v->dims[0];
        *w = (uint32_t)v->dims[1];
        *data = useg_heap_alloc(ctx, (size_t)*h * *w, sizeof **data, var);
        if (!*data) st = ctx->status;
        for (uint32_t x = 0; st == USEG_OK && x < *w; x++)
            for (uint32_t y = 0; y < *h; y++) element(v, (size_t)x * *h + y, &(*data)[(size_t)y * *w + x]);
    }
    Mat_VarFree(v);
    Mat_Close(mat);
    return st;
}
