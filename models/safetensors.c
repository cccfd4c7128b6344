// safetensors reading (header validation) and writing.
//
// The JSON header goes through jansson. Validation follows the reference
// Rust implementation (safetensors::tensor::Metadata::validate): entries
// sorted by their begin offset must tile [0, data length) exactly, which
// rules out overlaps and holes as well as ranges past the end of the file.
#include "safetensors.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"

static const uint64_t MAX_HEADER = 100000000;  // the reference's limit

static const struct {
    const char *name;
    int dtype;  // -1: valid in the format, not loaded by useg
    size_t elem_size;
} dtypes[] = {
    {"F64", USEG_F64, 8},  {"F32", USEG_F32, 4}, {"F16", USEG_F16, 2},    {"BF16", USEG_BF16, 2},
    {"I64", USEG_I64, 8},  {"I32", USEG_I32, 4}, {"U8", USEG_U8, 1},      {"BOOL", USEG_U8, 1},
    {"I16", -1, 2},        {"U16", -1, 2},       {"I8", -1, 1},           {"U32", -1, 4},
    {"U64", -1, 8},        {"F8_E4M3", -1, 1},   {"F8_E5M2", -1, 1},
};

static useg_status parse_entry(useg_ctx *ctx, const char *file, const char *key, json_t *v, useg_arena *a,
                               useg_safetensors_entry *e) {
    json_t *dtype = json_object_get(v, "dtype"), *shape = json_object_get(v, "shape"),
           *offs = json_object_get(v, "data_offsets");
    if (!json_is_object(v) || !json_is_string(dtype) || !json_is_array(shape) || !json_is_array(offs) ||
        json_array_size(offs) != 2 || !json_is_integer(json_array_get(offs, 0)) ||
        !json_is_integer(json_array_get(offs, 1)))
        return useg_fail(ctx, USEG_ERR_FORMAT,
                         "%s: tensor '%s': header entry needs \"dtype\", \"shape\" and two \"data_offsets\"", file,
                         key);
    size_t elem = 0;
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (!strcmp(json_string_value(dtype), dtypes[i].name)) {
            e->dtype_name = dtypes[i].name;
            e->supported = dtypes[i].dtype >= 0;
            e->dtype = dtypes[i].dtype >= 0 ? (useg_dtype)dtypes[i].dtype : USEG_U8;
            elem = dtypes[i].elem_size;
        }
    if (!elem)
        return useg_fail(ctx, USEG_ERR_FORMAT, "%s: tensor '%s': unknown dtype '%s'", file, key,
                         json_string_value(dtype));
    if (json_array_size(shape) > USEG_MAX_DIMS)
        return useg_fail(ctx, USEG_ERR_FORMAT, "%s: tensor '%s' has %zu dimensions (useg handles %d)", file, key,
                         json_array_size(shape), USEG_MAX_DIMS);
    e->ndim = (int)json_array_size(shape);
    uint64_t bytes = elem;
    for (int d = 0; d < e->ndim; d++) {
        json_t *s = json_array_get(shape, (size_t)d);
        if (!json_is_integer(s) || json_integer_value(s) < 0)
            return useg_fail(ctx, USEG_ERR_FORMAT, "%s: tensor '%s': shape entries must be non-negative integers",
                             file, key);
        e->shape[d] = json_integer_value(s);
        if (__builtin_mul_overflow(bytes, (uint64_t)e->shape[d], &bytes))
            return useg_fail(ctx, USEG_ERR_FORMAT, "%s: tensor '%s': shape overflows", file, key);
    }
    json_int_t b = json_integer_value(json_array_get(offs, 0)), en = json_integer_value(json_array_get(offs, 1));
    if (b < 0 || en < b || (uint64_t)(en - b) != bytes)
        return useg_fail(ctx, USEG_ERR_FORMAT,
                         "%s: tensor '%s': data_offsets [%lld, %lld] do not hold the %llu bytes of its %s shape",
                         file, key, (long long)b, (long long)en, (unsigned long long)bytes, e->dtype_name);
    e->begin = (uint64_t)b;
    e->end = (uint64_t)en;
    char *name;
    size_t len = strlen(key);
    USEG_TRY(useg_alloc(ctx, a, len + 1, (void **)&name));
    memcpy(name, key, len + 1);
    e->name = name;
    return USEG_OK;
}

static int by_begin(const void *a, const void *b) {
    const useg_safetensors_entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

useg_status useg_safetensors_parse(useg_ctx *ctx, const char *name, const uint8_t *data, size_t size,
                                   useg_arena *a, useg_safetensors_entry **entries, int64_t *count,
                                   uint64_t *data_start) {
    if (size < 8) return useg_fail(ctx, USEG_ERR_FORMAT, "%s: too short for a safetensors file", name);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | data[i];
    if (n > MAX_HEADER || n > size - 8)
        return useg_fail(ctx, USEG_ERR_FORMAT, "%s: header length %llu does not fit the %zu-byte file", name,
                         (unsigned long long)n, size);
    if (n < 2 || data[8] != '{')
        return useg_fail(ctx, USEG_ERR_FORMAT, "%s: the safetensors header is not a JSON object", name);
    json_error_t err;
    json_t *root = json_loadb((const char *)data + 8, (size_t)n, JSON_REJECT_DUPLICATES, &err);
    if (!json_is_object(root)) {
        json_decref(root);
        return useg_fail(ctx, USEG_ERR_FORMAT, "%s: bad JSON in the safetensors header at byte %d: %s", name,
                         8 + err.position, err.text);
    }
    size_t cap = json_object_size(root);
    useg_status st = useg_alloc(ctx, a, sizeof(useg_safetensors_entry) * (cap ? cap : 1), (void **)entries);
    int64_t k = 0;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (st != USEG_OK) break;
        if (!strcmp(key, "__metadata__")) {
            if (!json_is_object(v)) st = useg_fail(ctx, USEG_ERR_FORMAT, "%s: __metadata__ is not an object", name);
            continue;
        }
        memset(&(*entries)[k], 0, sizeof **entries);
        st = parse_entry(ctx, name, key, v, a, &(*entries)[k]);
        k++;
    }
    json_decref(root);
    USEG_TRY(st);
    qsort(*entries, (size_t)k, sizeof **entries, by_begin);
    uint64_t data_len = size - 8 - n, at = 0;
    for (int64_t i = 0; i < k; i++) {
        const useg_safetensors_entry *e = &(*entries)[i];
        if (e->begin != at || e->end > data_len)
            return useg_fail(ctx, USEG_ERR_FORMAT,
                             "%s: tensor '%s': data_offsets [%llu, %llu] %s (the data section holds %llu bytes)",
                             name, e->name, (unsigned long long)e->begin, (unsigned long long)e->end,
                             e->end > data_len ? "run past the end of the file"
                                               : e->begin < at ? "overlap another tensor" : "leave a gap before them",
                             (unsigned long long)data_len);
        at = e->end;
    }
    if (at != data_len)
        return useg_fail(ctx, USEG_ERR_FORMAT, "%s: %llu bytes after the last tensor are not described by the header",
                         name, (unsigned long long)(data_len - at));
    *count = k;
    *data_start = 8 + n;
    return USEG_OK;
}

// --- Writing -------------------------------------------------------------------

static const char *dtype_code(useg_dtype dt) {
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (dtypes[i].dtype == (int)dt) return dtypes[i].name;
    return NULL;
}

typedef struct write_order {
    const char *name;
    const useg_tensor *t;
} write_order;

static int by_size_then_name(const void *a, const void *b) {
    const write_order *x = a, *y = b;
    size_t sx = useg_dtype_size(x->t->dtype), sy = useg_dtype_size(y->t->dtype);
    if (sx != sy) return sx > sy ? -1 : 1;
    return strcmp(x->name, y->name);
}

// The JSON header for tensors in `order`, padded with spaces to a multiple
// of 8 bytes: malloc'd, or NULL with the error recorded.
static char *make_header(useg_ctx *ctx, const char *path, const write_order *order, int64_t n, size_t *len) {
    json_t *root = json_object();
    uint64_t at = 0;
    bool ok = root != NULL;
    for (int64_t i = 0; ok && i < n; i++) {
        const useg_tensor *t = order[i].t;
        json_t *shape = json_array(), *offs = json_array();
        for (int d = 0; d < t->ndim; d++) json_array_append_new(shape, json_integer(t->shape[d]));
        uint64_t bytes = (uint64_t)useg_numel(t) * useg_dtype_size(t->dtype);
        json_array_append_new(offs, json_integer((json_int_t)at));
        json_array_append_new(offs, json_integer((json_int_t)(at + bytes)));
        at += bytes;
        ok = json_object_set_new(root, order[i].name,
                                 json_pack("{s:s, s:o, s:o}", "dtype", dtype_code(t->dtype), "shape", shape,
                                           "data_offsets", offs)) == 0;
        if (!ok) {
            json_decref(root);
            useg_fail(ctx, USEG_ERR_INVALID_ARG, "%s: tensor name '%s' is not valid UTF-8", path, order[i].name);
            return NULL;
        }
    }
    char *text = ok ? json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(root);
    char *padded = NULL;
    if (text) {
        size_t n_text = strlen(text), n_pad = (n_text + 7) / 8 * 8;
        if ((padded = malloc(n_pad))) {
            memcpy(padded, text, n_text);
            memset(padded + n_text, ' ', n_pad - n_text);
            *len = n_pad;
        }
        free(text);
    }
    if (!padded) useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY, "%s: out of memory for the safetensors header", path);
    return padded;
}

static bool write_tensor(useg_ctx *ctx, FILE *f, const useg_tensor *t) {
    size_t count = (size_t)useg_numel(t), esize = useg_dtype_size(t->dtype);
    if (useg_is_contiguous(t)) return fwrite(t->data, esize, count, f) == count;
    useg_arena_mark mark = useg_arena_get_mark(&ctx->scratch);
    useg_tensor *c;
    bool ok = useg_empty(ctx, &ctx->scratch, t->dtype, t->ndim, t->shape, &c) == USEG_OK &&
              useg_copy_into(ctx, c, t) == USEG_OK && fwrite(c->data, esize, count, f) == count;
    useg_arena_rewind(&ctx->scratch, mark);
    return ok;
}

useg_status useg_safetensors_write(useg_ctx *ctx, const char *path, int64_t n, const char *const *names,
                                   const useg_tensor *const *tensors) {
    write_order *order = malloc(sizeof *order * (size_t)(n ? n : 1));
    if (!order) return useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    useg_status st = USEG_OK;
    for (int64_t i = 0; i < n && st == USEG_OK; i++) {
        order[i] = (write_order){names[i], tensors[i]};
        if (!names[i][0] || !strcmp(names[i], "__metadata__"))
            st = useg_fail(ctx, USEG_ERR_INVALID_ARG, "%s: '%s' cannot name a tensor", path, names[i]);
        else if (tensors[i]->device != USEG_DEVICE_CPU)
            st = useg_fail(ctx, USEG_ERR_UNSUPPORTED, "%s: tensor '%s' is on the GPU; copy it to the CPU first", path,
                           names[i]);
    }
    if (st == USEG_OK) {
        qsort(order, (size_t)n, sizeof *order, by_size_then_name);
        for (int64_t i = 1; i < n && st == USEG_OK; i++)
            if (!strcmp(order[i].name, order[i - 1].name))
                st = useg_fail(ctx, USEG_ERR_INVALID_ARG, "%s: two tensors are named '%s'", path, order[i].name);
    }
    size_t len = 0;
    char *header = st == USEG_OK ? make_header(ctx, path, order, n, &len) : NULL;
    if (st == USEG_OK && !header) st = ctx->status;
    useg_atomic_file af;
    if (st == USEG_OK && (st = useg_atomic_open(ctx, &af, path)) == USEG_OK) {
        uint8_t prefix[8];
        for (int i = 0; i < 8; i++) prefix[i] = (uint8_t)((uint64_t)len >> (8 * i));
        bool ok = fwrite(prefix, 1, 8, af.f) == 8 && fwrite(header, 1, len, af.f) == len;
        for (int64_t i = 0; ok && i < n; i++) ok = write_tensor(ctx, af.f, order[i].t);
        st = useg_atomic_close(ctx, &af, ok);
    }
    free(header);
    free(order);
    return st;
}
