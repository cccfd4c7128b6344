// .npy reader and writer. The header is a Python dict literal; we read the
// three keys NumPy always writes ('descr', 'fortran_order', 'shape') with a
// small strict parser and refuse anything else rather than guess.
#include "npy.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomic_file.h"

static const struct {
    const char *descr;
    useg_dtype dtype;
} npy_types[] = {
    {"<f2", USEG_F16}, {"<f4", USEG_F32}, {"<f8", USEG_F64}, {"<i4", USEG_I32},
    {"<i8", USEG_I64}, {"|u1", USEG_U8},  {"|b1", USEG_U8},
};

static const char *descr_of(useg_dtype dt) {
    for (size_t i = 0; i < sizeof npy_types / sizeof npy_types[0]; i++)
        if (npy_types[i].dtype == dt) return npy_types[i].descr;
    return NULL;
}

// Find `'key':` in the header and return a pointer after the colon and spaces.
static const char *find_key(const char *h, const char *key) {
    char pat[32];
    snprintf(pat, sizeof pat, "'%s':", key);
    const char *p = strstr(h, pat);
    if (!p) return NULL;
    p += strlen(pat);
    while (*p == ' ') p++;
    return p;
}

static useg_status parse_header(useg_ctx *ctx, const char *path, const char *h, useg_dtype *dt, int *ndim,
                                int64_t *shape) {
    const char *p = find_key(h, "descr");
    bool found = false;
    if (p && *p == '\'')
        for (size_t i = 0; i < sizeof npy_types / sizeof npy_types[0]; i++) {
            size_t n = strlen(npy_types[i].descr);
            if (!strncmp(p + 1, npy_types[i].descr, n) && p[1 + n] == '\'') {
                *dt = npy_types[i].dtype;
                found = true;
            }
        }
    if (!found) return useg_fail(ctx, USEG_ERR_FORMAT, "%s: unsupported or missing dtype in .npy header", path);
    p = find_key(h, "fortran_order");
    if (!p || strncmp(p, "False", 5))
        return useg_fail(ctx, USEG_ERR_FORMAT, "%s: only C-order .npy files are supported", path);
    p = find_key(h, "shape");
    if (!p || *p != '(') return useg_fail(ctx, USEG_ERR_FORMAT, "%s: missing shape in .npy header", path);
    p++;
    *ndim = 0;
    for (;;) {
        while (*p == ' ' || *p == ',') p++;
        if (*p == ')') break;
        if (!isdigit((unsigned char)*p) || *ndim == USEG_MAX_DIMS)
            return useg_fail(ctx, USEG_ERR_FORMAT, "%s: bad shape in .npy header (at most %d dims)", path,
                             USEG_MAX_DIMS);
        errno = 0;
        char *end;
        long long v = strtoll(p, &end, 10);
        if (errno || v < 0) return useg_fail(ctx, USEG_ERR_FORMAT, "%s: bad size in .npy shape", path);
        shape[(*ndim)++] = v;
        p = end;
    }
    return USEG_OK;
}

useg_status useg_npy_read(useg_ctx *ctx, const char *path, useg_arena *a, useg_tensor **out) {
    FILE *f = fopen(path, "rb");
    if (!f) return useg_fail(ctx, USEG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    useg_status st = USEG_OK;
    unsigned char pre[12];
    char *header = NULL;
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6)) {
        st = useg_fail(ctx, USEG_ERR_FORMAT, "%s: not a .npy file (bad magic)", path);
        goto done;
    }
    size_t hlen;
    if (pre[6] == 1) {
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
    } else if (pre[6] == 2 || pre[6] == 3) {
        if (fread(pre + 10, 1, 2, f) != 2) {
            st = useg_fail(ctx, USEG_ERR_FORMAT, "%s: truncated .npy header", path);
            goto done;
        }
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
    } else {
        st = useg_fail(ctx, USEG_ERR_FORMAT, "%s: unsupported .npy version %d", path, pre[6]);
        goto done;
    }
    if (hlen > (1u << 20)) {
        st = useg_fail(ctx, USEG_ERR_FORMAT, "%s: .npy header of %zu bytes is implausible", path, hlen);
        goto done;
    }
    header = malloc(hlen + 1);
    if (!header) {
        st = useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY, "%s: out of memory for the .npy header", path);
        goto done;
    }
    if (fread(header, 1, hlen, f) != hlen) {
        st = useg_fail(ctx, USEG_ERR_FORMAT, "%s: truncated .npy header", path);
        goto done;
    }
    header[hlen] = '\0';
    useg_dtype dt = USEG_F32;
    int ndim = 0;
    int64_t shape[USEG_MAX_DIMS];
    if ((st = parse_header(ctx, path, header, &dt, &ndim, shape)) != USEG_OK) goto done;
    long data_start = ftell(f);
    if (fseek(f, 0, SEEK_END) != 0) {
        st = useg_fail(ctx, USEG_ERR_IO, "%s: cannot seek", path);
        goto done;
    }
    long file_size = ftell(f);
    if ((st = useg_empty(ctx, a, dt, ndim, shape, out)) != USEG_OK) goto done;
    size_t bytes = (size_t)useg_numel(*out) * useg_dtype_size(dt);
    if (file_size < 0 || data_start < 0 || (size_t)(file_size - data_start) != bytes) {
        st = useg_fail(ctx, USEG_ERR_FORMAT, "%s: .npy data is %ld bytes, the header promises %zu", path,
                       file_size - data_start, bytes);
        goto done;
    }
    if (fseek(f, data_start, SEEK_SET) != 0 || fread((*out)->data, 1, bytes, f) != bytes)
        st = useg_fail(ctx, USEG_ERR_IO, "%s: read failed", path);
done:
    free(header);
    fclose(f);
    return st;
}

useg_status useg_npy_write(useg_ctx *ctx, const char *path, const useg_tensor *t) {
    const char *descr = descr_of(t->dtype);
    if (!descr || t->device != USEG_DEVICE_CPU)
        return useg_fail(ctx, USEG_ERR_UNSUPPORTED, "%s: cannot write a %s tensor as .npy", path,
                         useg_dtype_name(t->dtype));
    char dict[256];
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    for (int d = 0; d < t->ndim; d++)
        n += snprintf(dict + n, sizeof dict - (size_t)n, t->ndim == 1 ? "%lld," : (d ? ", %lld" : "%lld"),
                      (long long)t->shape[d]);
    n += snprintf(dict + n, sizeof dict - (size_t)n, "), }");
    // Pad with spaces so magic + length + header is a multiple of 64, ending in '\n'.
    size_t total = (size_t)(10 + n + 1 + 63) / 64 * 64;
    size_t hlen = total - 10;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff),
                             (unsigned char)(hlen >> 8)};
    const useg_tensor *src = t;
    if (!useg_is_contiguous(t)) {
        useg_tensor *c;
        USEG_TRY(useg_empty(ctx, NULL, t->dtype, t->ndim, t->shape, &c));
        USEG_TRY(useg_copy_into(ctx, c, t));
        src = c;
    }
    useg_atomic_file af;
    USEG_TRY(useg_atomic_open(ctx, &af, path));
    bool ok = fwrite(pre, 1, 10, af.f) == 10 && fwrite(dict, 1, (size_t)n, af.f) == (size_t)n;
    for (size_t i = (size_t)n; ok && i < hlen - 1; i++) ok = fputc(' ', af.f) != EOF;
    ok = ok && fputc('\n', af.f) != EOF;
    size_t count = (size_t)useg_numel(src);
    ok = ok && fwrite(src->data, useg_dtype_size(src->dtype), count, af.f) == count;
    return useg_atomic_close(ctx, &af, ok);
}
