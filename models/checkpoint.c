// Checkpoint directory reading (.pth via zip + pickle, safetensors via its
// header) and tensor materialisation.
//
// A torch.save archive holds <archive>/data.pkl, the pickled object, and one
// entry <archive>/data/<key> per storage; a tensor is a strided view
// (sizes, strides, offset in elements) of a storage, and several tensors may
// share one (views, tied weights). Every view is checked at open time to lie
// within its storage, and every storage within its entry, so loading only
// reads validated bytes. Storages are little-endian (an archive whose
// "byteorder" entry says otherwise is refused). Stored entries are read in
// place from the mapped file; a storage not aligned to its element size (in
// a hand-made archive or safetensors file) is first copied to aligned
// scratch memory.
#include "checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pickle.h"
#include "safetensors.h"

// The directory of a checkpoint (names, pickle values) is far smaller than
// the file; this bounds what a hostile pickle can make us allocate.
static const size_t META_LIMIT = (size_t)1 << 30;

// torch.save's format before PyTorch 1.6: a pickled magic number first.
static const uint8_t LEGACY_MAGIC[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};

static const char *dims_str(char *buf, size_t len, int n, const int64_t *d) {
    size_t k = (size_t)snprintf(buf, len, "(");
    for (int i = 0; i < n && k < len; i++) k += (size_t)snprintf(buf + k, len - k, i ? ", %lld" : "%lld", (long long)d[i]);
    if (k < len) snprintf(buf + k, len - k, ")");
    return buf;
}

// --- .pth --------------------------------------------------------------------------

// The archive's pickle: the entry "<dir>/data.pkl" at depth one.
static const useg_zip_entry *find_pickle(const useg_zip *zip, size_t *dir_len) {
    for (int64_t i = 0; i < zip->count; i++) {
        const char *n = zip->entries[i].name, *slash = strchr(n, '/');
        if (slash && slash > n && !strcmp(slash, "/data.pkl")) {
            *dir_len = (size_t)(slash - n);
            return &zip->entries[i];
        }
    }
    return NULL;
}

// Check a tensor view against its storage and fill its entry.
static useg_status add_pth_entry(useg_ctx *ctx, useg_checkpoint *ck, const char *dir, size_t dir_len,
                                 const useg_pickle_named *t, useg_checkpoint_entry *e) {
    const useg_pickle_value *tv = t->tensor, *sv = tv->tensor.storage;
    char *entry_name, a[160], b[160];
    size_t key_len = strlen(sv->storage.key);
    USEG_TRY(useg_alloc(ctx, &ck->meta, dir_len + key_len + 7, (void **)&entry_name));
    snprintf(entry_name, dir_len + key_len + 7, "%.*s/data/%s", (int)dir_len, dir, sv->storage.key);
    const useg_zip_entry *ze = useg_zip_find(&ck->zip, entry_name);
    if (!ze)
        return useg_fail(ctx, USEG_ERR_FORMAT, "%s: tensor '%s': its storage '%s' is missing from the archive",
                         ck->name, t->name, entry_name);
    uint64_t need;
    if (__builtin_mul_overflow((uint64_t)sv->storage.numel, (uint64_t)sv->storage.elem_size, &need) ||
        need > ze->size)
        return useg_fail(ctx, USEG_ERR_FORMAT,
                         "%s: tensor '%s': storage '%s' of %lld %s elements needs more than its %llu bytes", ck->name,
                         t->name, entry_name, (long long)sv->storage.numel, sv->storage.type_name,
                         (unsigned long long)ze->size);
    // Last element reached: offset + sum((size - 1) * stride), for a non-empty view.
    int64_t last = tv->tensor.offset;
    bool empty = false, overflow = false;
    for (int d = 0; d < tv->tensor.ndim; d++) empty = empty || tv->tensor.shape[d] == 0;
    for (int d = 0; !empty && d < tv->tensor.ndim; d++) {
        int64_t reach;
        overflow = overflow || __builtin_mul_overflow(tv->tensor.shape[d] - 1, tv->tensor.strides[d], &reach) ||
                   __builtin_add_overflow(last, reach, &last);
    }
    if (!empty && (overflow || last >= sv->storage.numel))
        return useg_fail(ctx, USEG_ERR_FORMAT,
                         "%s: tensor '%s' of shape %s, strides %s and offset %lld reaches past the %lld elements "
                         "of its storage '%s'",
                         ck->name, t->name, dims_str(a, sizeof a, tv->tensor.ndim, tv->tensor.shape),
                         dims_str(b, sizeof b, tv->tensor.ndim, tv->tensor.strides), (long long)tv->tensor.offset,
                         (long long)sv->storage.numel, entry_name);
    *e = (useg_checkpoint_entry){.name = t->name, .stored_dtype = sv->storage.type_name,
                                 .supported = sv->storage.supported, .dtype = sv->storage.dtype,
                                 .ndim = tv->tensor.ndim, .offset = tv->tensor.offset,
                                 .elem_size = sv->storage.elem_size, .storage = ze};
    memcpy(e->shape, tv->tensor.shape, sizeof e->shape);
    memcpy(e->strides, tv->tensor.strides, sizeof e->strides);
    return USEG_OK;
}

static useg_status open_pth(useg_ctx *ctx, useg_checkpoint *ck) {
    USEG_TRY(useg_zip_open(ctx, ck->name, ck->data, ck->size, &ck->meta, &ck->zip));
    size_t dir_len = 0;
    const useg_zip_entry *pkl = find_pickle(&ck->zip, &dir_len);
    if (!pkl)
        return useg_fail(ctx, USEG_ERR_FORMAT, "%s: a ZIP archive without <name>/data.pkl, not written by torch.save",
                         ck->name);
    const char *dir = pkl->name;
    const uint8_t *bytes;
    void *owned;
    char order_name[300];
    snprintf(order_name, sizeof order_name, "%.*s/byteorder", (int)dir_len, dir);
    const useg_zip_entry *order = useg_zip_find(&ck->zip, order_name);
    if (order) {
        USEG_TRY(useg_zip_read(ctx, &ck->zip, order, &bytes, &owned));
        bool little = order->size == 6 && !memcmp(bytes, "little", 6);
        free(owned);
        if (!little)
            return useg_fail(ctx, USEG_ERR_FORMAT, "%s: a big-endian torch archive; re-save it on a little-endian machine",
                             ck->name);
    }
    char pkl_name[300];
    snprintf(pkl_name, sizeof pkl_name, "%s: %s", ck->name, pkl->name);
    const useg_pickle_value *root;
    USEG_TRY(useg_zip_read(ctx, &ck->zip, pkl, &bytes, &owned));
    useg_status st = useg_pickle_load(ctx, pkl_name, bytes, pkl->size, &ck->meta, &root);
    free(owned);
    USEG_TRY(st);
    useg_pickle_named *tensors;
    int64_t count;
    USEG_TRY(useg_pickle_tensors(ctx, ck->name, root, &ck->meta, &tensors, &count));
    USEG_TRY(useg_alloc(ctx, &ck->meta, sizeof(useg_checkpoint_entry) * (size_t)(count ? count : 1),
                        (void **)&ck->entries));
    for (int64_t i = 0; i < count; i++) USEG_TRY(add_pth_entry(ctx, ck, dir, dir_len, &tensors[i], &ck->entries[i]));
    ck->count = count;
    return USEG_OK;
}

// --- safetensors -------------------------------------------------------------------

static useg_status open_safetensors(useg_ctx *ctx, useg_checkpoint *ck) {
    useg_safetensors_entry *st_entries;
    int64_t count;
    uint64_t data_start;
    USEG_TRY(useg_safetensors_parse(ctx, ck->name, ck->data, ck->size, &ck->meta, &st_entries, &count, &data_start));
    USEG_TRY(useg_alloc(ctx, &ck->meta, sizeof(useg_checkpoint_entry) * (size_t)(count ? count : 1),
                        (void **)&ck->entries));
    for (int64_t i = 0; i < count; i++) {
        const useg_safetensors_entry *s = &st_entries[i];
        useg_checkpoint_entry *e = &ck->entries[i];
        *e = (useg_checkpoint_entry){.name = s->name, .stored_dtype = s->dtype_name, .supported = s->supported,
                                     .dtype = s->dtype, .ndim = s->ndim,
                                     .elem_size = s->supported ? useg_dtype_size(s->dtype) : 1,
                                     .byte_offset = data_start + s->begin};
        memcpy(e->shape, s->shape, sizeof e->shape);
        int64_t stride = 1;
        for (int d = s->ndim - 1; d >= 0; d--) {
            e->strides[d] = stride;
            stride *= s->shape[d];
        }
    }
    ck->count = count;
    return USEG_OK;
}

// --- Opening and closing -------------------------------------------------------------

useg_status useg_checkpoint_open_memory(useg_ctx *ctx, const char *name, const uint8_t *data, size_t size,
                                        const useg_checkpoint_options *opt, useg_checkpoint *ck) {
    *ck = (useg_checkpoint){.data = data, .size = size, .keep_dtype = opt && opt->keep_dtype};
    snprintf(ck->name, sizeof ck->name, "%s", name);
    useg_arena_init(&ck->meta, "checkpoint", (size_t)1 << 20, META_LIMIT);
    useg_status st;
    if (size >= 4 && !memcmp(data, "PK\x03\x04", 4))
        st = open_pth(ctx, ck);
    else if (size >= sizeof LEGACY_MAGIC && !memcmp(data, LEGACY_MAGIC, sizeof LEGACY_MAGIC))
        st = useg_fail(ctx, USEG_ERR_FORMAT,
                       "%s: the legacy torch.save format (PyTorch < 1.6) is not supported; load it in PyTorch and "
                       "save it again with torch.save",
                       ck->name);
    else if (size >= 9 && data[8] == '{')
        st = open_safetensors(ctx, ck);
    else
        st = useg_fail(ctx, USEG_ERR_FORMAT, "%s: neither a PyTorch checkpoint (zip archive) nor a safetensors file",
                       ck->name);
    if (st != USEG_OK) useg_arena_free(&ck->meta);
    return st;
}

useg_status useg_checkpoint_open(useg_ctx *ctx, const char *path, const useg_checkpoint_options *opt,
                                 useg_checkpoint *ck) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return useg_fail(ctx, USEG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return useg_fail(ctx, USEG_ERR_IO, "%s: not a regular file", path);
    }
    if (sb.st_size == 0) {
        close(fd);
        return useg_fail(ctx, USEG_ERR_FORMAT, "%s: empty file", path);
    }
    void *map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return useg_fail(ctx, USEG_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
    useg_status st = useg_checkpoint_open_memory(ctx, path, map, (size_t)sb.st_size, opt, ck);
    if (st != USEG_OK) {
        munmap(map, (size_t)sb.st_size);
        return st;
    }
    ck->mapped = true;
    return USEG_OK;
}

void useg_checkpoint_close(useg_checkpoint *ck) {
    if (ck->mapped) munmap((void *)ck->data, ck->size);
    useg_arena_free(&ck->meta);
    *ck = (useg_checkpoint){0};
}

// --- Lookup and loading ----------------------------------------------------------------

const useg_checkpoint_entry *useg_checkpoint_find(const useg_checkpoint *ck, const char *name) {
    for (int64_t i = 0; i < ck->count; i++)
        if (!strcmp(ck->entries[i].name, name)) return &ck->entries[i];
    return NULL;
}

static useg_status find_or_fail(useg_ctx *ctx, const useg_checkpoint *ck, const char *name,
                                const useg_checkpoint_entry **e) {
    if ((*e = useg_checkpoint_find(ck, name))) return USEG_OK;
    return useg_fail(ctx, USEG_ERR_FORMAT, "%s: no tensor '%s' in the checkpoint (%lld tensors%s%s%s)", ck->name, name,
                     (long long)ck->count, ck->count ? ", the first is '" : "", ck->count ? ck->entries[0].name : "",
                     ck->count ? "'" : "");
}

useg_status useg_checkpoint_check(useg_ctx *ctx, const useg_checkpoint *ck, const char *name, int ndim,
                                  const int64_t *shape) {
    const useg_checkpoint_entry *e;
    USEG_TRY(find_or_fail(ctx, ck, name, &e));
    bool same = e->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) same = e->shape[d] == shape[d];
    if (same) return USEG_OK;
    char a[160], b[160];
    return useg_fail(ctx, USEG_ERR_SHAPE, "%s: tensor '%s' has shape %s, expected %s", ck->name, name,
                     dims_str(a, sizeof a, e->ndim, e->shape), dims_str(b, sizeof b, ndim, shape));
}

useg_status useg_checkpoint_get(useg_ctx *ctx, const useg_checkpoint *ck, const char *name, int ndim,
                                const int64_t *shape, useg_tensor **out) {
    const useg_checkpoint_entry *e;
    if (shape) USEG_TRY(useg_checkpoint_check(ctx, ck, name, ndim, shape));
    USEG_TRY(find_or_fail(ctx, ck, name, &e));
    if (!e->supported)
        return useg_fail(ctx, USEG_ERR_UNSUPPORTED, "%s: tensor '%s' is stored as %s, a dtype useg does not load",
                         ck->name, name, e->stored_dtype);
    bool is_float = e->dtype == USEG_F32 || e->dtype == USEG_F64 || e->dtype == USEG_F16 || e->dtype == USEG_BF16;
    USEG_TRY(useg_empty(ctx, &ctx->params, is_float && !ck->keep_dtype ? USEG_F32 : e->dtype, e->ndim, e->shape, out));
    if (useg_numel(*out) == 0) return USEG_OK;
    const uint8_t *bytes = ck->data + e->byte_offset;
    void *owned = NULL;
    if (e->storage) USEG_TRY(useg_zip_read(ctx, &ck->zip, e->storage, &bytes, &owned));
    useg_tensor src = {.dtype = e->dtype, .device = USEG_DEVICE_CPU, .ndim = e->ndim};
    memcpy(src.shape, e->shape, sizeof src.shape);
    memcpy(src.strides, e->strides, sizeof src.strides);
    src.data = (void *)(bytes + e->offset * (int64_t)e->elem_size);
    useg_arena_mark mark = useg_arena_get_mark(&ctx->scratch);
    useg_status st = USEG_OK;
    if ((uintptr_t)src.data % e->elem_size) {
        // The elements the view reads span [0, last] from its first one (checked at open).
        size_t span = 1;
        for (int d = 0; d < e->ndim; d++) span += (size_t)((e->shape[d] - 1) * e->strides[d]);
        void *aligned;
        if ((st = useg_alloc(ctx, &ctx->scratch, span * e->elem_size, &aligned)) == USEG_OK) {
            memcpy(aligned, src.data, span * e->elem_size);
            src.data = aligned;
        }
    }
    if (st == USEG_OK) st = useg_copy_into(ctx, *out, &src);
    useg_arena_rewind(&ctx->scratch, mark);
    free(owned);
    return st;
}
