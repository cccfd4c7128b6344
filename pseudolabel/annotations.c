// Pseudo-label COCO files: parts, assembly and merge (see annotations.h).
//
// Design decisions:
// * One part file per image, not an append-only log: a part is complete or
//   absent (atomic rename), so resume needs no recovery, and shards running
//   on different machines never share a file.
// * The final file is streamed, one entry per line, in two passes over the
//   parts (images, then annotations), so assembling ImageNet's 1.28M images
//   holds one part in memory at a time, not the whole JSON tree. Merge
//   loads its shard files whole (jansson), i.e. the whole data set's
//   annotations; that is the reference's merge_jsons.py footprint.
// * Every file goes through one emitter (compact entries, 17 significant
//   digits for reals, which jansson reads back exactly), so a merged file
//   and a single run's are the same bytes.
#include "annotations.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "json_io.h"
#include "rle.h"

enum { JSON_FLAGS = JSON_COMPACT | JSON_REAL_PRECISION(17) };

bool useg_shard_parse(const char *text, useg_shard *out) {
    char *end;
    if (*text < '0' || *text > '9') return false; // strtoll would take spaces and signs
    errno = 0;
    long long i = strtoll(text, &end, 10);
    if (end == text || *end != '/' || errno) return false;
    const char *n_text = end + 1;
    if (*n_text < '0' || *n_text > '9') return false;
    long long n = strtoll(n_text, &end, 10);
    if (end == n_text || *end || errno || n < 1 || n > 1000000 || i < 0 || i >= n) return false;
    *out = (useg_shard){.index = i, .count = n};
    return true;
}

// FNV-1a 64 over each item's name, a NUL, its id in decimal and a newline.
static uint64_t dataset_fingerprint(const useg_dataset *ds) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (int64_t i = 0; i < ds->count; i++) {
        char id[32];
        snprintf(id, sizeof id, "%lld\n", (long long)ds->items[i].id);
        const char *parts[2] = {ds->items[i].name, id};
        for (int p = 0; p < 2; p++) {
            for (const unsigned char *c = (const unsigned char *)parts[p]; *c; c++) h = (h ^ *c) * 0x100000001b3ull;
            if (p == 0) h = h * 0x100000001b3ull; // the NUL
        }
    }
    return h;
}

// The value of `key` in `v` as short compact JSON, for messages.
static void describe(const json_t *obj, const char *key, char *buf, size_t len) {
    json_t *v = obj ? json_object_get(obj, key) : NULL;
    char *s = v ? json_dumps(v, JSON_FLAGS | JSON_ENCODE_ANY) : NULL;
    snprintf(buf, len, "%s", s ? s : "absent");
    if (strlen(buf) > 40) strcpy(buf + 37, "...");
    free(s);
}

// First key (other than `skip`) whose value differs between a and b, or NULL.
static const char *first_difference(const json_t *a, const json_t *b, const char *skip) {
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)a, key, v) {
        if ((!skip || strcmp(key, skip)) && !json_equal(v, json_object_get(b, key))) return key;
    }
    json_object_foreach((json_t *)b, key, v) {
        if ((!skip || strcmp(key, skip)) && !json_object_get(a, key)) return key;
    }
    return NULL;
}

static json_t *categories(void) {
    return json_pack("[{s:i, s:s, s:s}]", "id", 1, "name", "fg", "supercategory", "fg");
}

static void part_path(const useg_annotation_run *run, int64_t index, char *buf, size_t len) {
    snprintf(buf, len, "%s/%lld.json", run->parts, (long long)index);
}

useg_status useg_annotation_run_open(useg_ctx *ctx, useg_annotation_run *run, const char *out_path,
                                     const json_t *settings, const useg_dataset *ds, useg_shard shard) {
    *run = (useg_annotation_run){.ds = ds, .shard = shard};
    if (strlen(out_path) + 32 >= sizeof run->out)
        return useg_fail(ctx, USEG_ERR_INVALID_ARG, "%s: output path too long", out_path);
    struct stat info;
    if (stat(out_path, &info) == 0 && S_ISDIR(info.st_mode))
        return useg_fail(ctx, USEG_ERR_INVALID_ARG, "%s: is a folder; the output is a .json file", out_path);
    snprintf(run->out, sizeof run->out, "%s", out_path);
    snprintf(run->parts, sizeof run->parts, "%s.parts", out_path);
    char fingerprint[24];
    snprintf(fingerprint, sizeof fingerprint, "%016llx", (unsigned long long)dataset_fingerprint(ds));
    run->info = json_deep_copy(settings);
    if (!run->info ||
        json_object_set_new(run->info, "dataset",
                            json_pack("{s:I, s:s}", "images", (json_int_t)ds->count, "fingerprint", fingerprint)) ||
        json_object_set_new(run->info, "shard", json_pack("[I, I]", (json_int_t)shard.index, (json_int_t)shard.count)))
        return useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY, "%s: out of memory for the info block", out_path);

    char path[4096 + 32];
    snprintf(path, sizeof path, "%s/run.json", run->parts);
    USEG_TRY(useg_make_parent_dirs(ctx, out_path));
    if (mkdir(run->parts, 0777) != 0 && errno != EEXIST)
        return useg_fail(ctx, USEG_ERR_IO, "%s: cannot create: %s", run->parts, strerror(errno));
    if (access(path, F_OK) != 0) return useg_json_write_atomic(ctx, run->info, path, 2);
    json_t *before;
    USEG_TRY(useg_json_load(ctx, path, &before));
    const char *key = json_is_object(before) ? first_difference(before, run->info, NULL) : "info";
    useg_status st = USEG_OK;
    if (key) {
        char was[48], now[48];
        describe(before, key, was, sizeof was);
        describe(run->info, key, now, sizeof now);
        st = useg_fail(ctx, USEG_ERR_INVALID_ARG,
                       "%s: an interrupted run with other settings (%s: %s there, %s now); re-run it with its "
                       "settings, or remove the folder to start over",
                       run->parts, key, was, now);
    }
    json_decref(before);
    return st;
}

void useg_annotation_run_close(useg_annotation_run *run) {
    json_decref(run->info);
    run->info = NULL;
}

bool useg_annotation_run_wants(const useg_annotation_run *run, int64_t index) {
    return index % run->shard.count == run->shard.index;
}

bool useg_annotation_run_done(const useg_annotation_run *run, int64_t index) {
    char path[4096 + 32];
    part_path(run, index, path, sizeof path);
    return access(path, F_OK) == 0;
}

useg_status useg_annotation_append(useg_ctx *ctx, json_t *anns, const uint8_t *mask, int64_t h, int64_t w,
                                   double score, json_t *extra, int64_t *id) {
    if (id) *id = 0;
    useg_rle rle;
    useg_status st = useg_rle_from_mask(ctx, mask, (uint32_t)h, (uint32_t)w, &rle);
    if (st != USEG_OK) {
        json_decref(extra);
        return st;
    }
    const uint64_t area = useg_rle_area(&rle);
    if (area == 0) {
        useg_rle_free(&rle);
        json_decref(extra);
        return USEG_OK;
    }
    double box[4];
    useg_rle_bbox(&rle, box);
    char *counts = useg_rle_to_string(ctx, &rle);
    useg_rle_free(&rle);
    if (!counts) {
        json_decref(extra);
        return ctx->status;
    }
    const json_int_t local = (json_int_t)json_array_size(anns) + 1;
    json_t *a = json_pack("{s:I, s:i, s:{s:[I, I], s:s}, s:I, s:[f, f, f, f], s:i, s:f}", "id", local, "category_id", 1,
                          "segmentation", "size", (json_int_t)h, (json_int_t)w, "counts", counts, "area",
                          (json_int_t)area, "bbox", box[0], box[1], box[2], box[3], "iscrowd", 0, "score", score);
    free(counts);
    if (a && extra) json_object_update(a, extra);
    json_decref(extra);
    if (!a || json_array_append_new(anns, a))
        return useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY, "annotation: out of memory");
    if (id) *id = local;
    return USEG_OK;
}

useg_status useg_annotation_run_write(useg_ctx *ctx, useg_annotation_run *run, int64_t index, int64_t height,
                                      int64_t width, const json_t *anns) {
    const useg_dataset_item *item = &run->ds->items[index];
    json_t *part = json_pack("{s:{s:I, s:s, s:I, s:I}, s:O}", "image", "id", (json_int_t)item->id, "file_name",
                             item->name, "height", (json_int_t)height, "width", (json_int_t)width, "annotations",
                             (json_t *)anns);
    if (!part) return useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY, "%s: out of memory", item->name);
    char path[4096 + 32];
    part_path(run, index, path, sizeof path);
    useg_status st = useg_json_write_atomic(ctx, part, path, 0);
    json_decref(part);
    return st;
}

// --- The emitter: one image or annotation per line. -------------------------

typedef struct emitter {
    useg_atomic_file af;
    bool ok, first;
} emitter;

static useg_status emit_open(useg_ctx *ctx, emitter *e, const char *path, const json_t *info) {
    USEG_TRY(useg_atomic_open(ctx, &e->af, path));
    e->ok = fputs("{\"info\": ", e->af.f) >= 0 && json_dumpf(info, e->af.f, JSON_FLAGS) == 0 &&
            fputs(",\n\"images\": [", e->af.f) >= 0;
    e->first = true;
    return USEG_OK;
}

static void emit_entry(emitter *e, const json_t *entry) {
    e->ok = e->ok && fputs(e->first ? "\n" : ",\n", e->af.f) >= 0 && json_dumpf(entry, e->af.f, JSON_FLAGS) == 0;
    e->first = false;
}

static void emit_annotations(emitter *e) {
    e->ok = e->ok && fputs("\n],\n\"annotations\": [", e->af.f) >= 0;
    e->first = true;
}

static useg_status emit_close(useg_ctx *ctx, emitter *e) {
    json_t *cats = categories();
    e->ok = e->ok && cats && fputs("\n],\n\"categories\": ", e->af.f) >= 0 && json_dumpf(cats, e->af.f, JSON_FLAGS) == 0 &&
            fputs("}\n", e->af.f) >= 0;
    json_decref(cats);
    return useg_atomic_close(ctx, &e->af, e->ok);
}

// --- Assembly. ---------------------------------------------------------------

static const useg_dataset *sort_ds; // qsort has no user pointer; assembly is single-threaded

static int by_image_id(const void *pa, const void *pb) {
    const int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
    const int64_t ia = sort_ds->items[a].id, ib = sort_ds->items[b].id;
    return ia != ib ? (ia > ib) - (ia < ib) : (a > b) - (a < b);
}

// A part: {"image": {...}, "annotations": [...]}, annotations with ids 1..k.
static useg_status load_part(useg_ctx *ctx, const char *path, json_t **part) {
    USEG_TRY(useg_json_load(ctx, path, part));
    json_t *image = json_object_get(*part, "image"), *anns = json_object_get(*part, "annotations");
    bool ok = json_is_object(image) && json_is_array(anns);
    for (size_t k = 0; ok && k < json_array_size(anns); k++) {
        json_t *id = json_object_get(json_array_get(anns, k), "id");
        ok = json_is_integer(id) && json_integer_value(id) == (json_int_t)k + 1;
    }
    if (ok) return USEG_OK;
    json_decref(*part);
    return useg_fail(ctx, USEG_ERR_FORMAT, "%s: damaged part (remove it to redo the image)", path);
}

// The part's annotations with final ids: id = base + local id, the image's
// id after it, parent_id translated. Key order: id, image_id, then the part's.
static useg_status emit_part_annotations(useg_ctx *ctx, emitter *e, const char *path, json_t *part, int64_t base) {
    json_t *image_id = json_object_get(json_object_get(part, "image"), "id");
    json_t *anns = json_object_get(part, "annotations");
    const int64_t k = (int64_t)json_array_size(anns);
    for (int64_t j = 0; j < k; j++) {
        json_t *a = json_array_get(anns, (size_t)j), *out = json_object();
        const char *key;
        json_t *v;
        bool ok = out && !json_object_set_new(out, "id", json_integer(base + j + 1)) &&
                  !json_object_set(out, "image_id", image_id);
        json_object_foreach(a, key, v) {
            if (!strcmp(key, "id")) continue;
            if (!strcmp(key, "parent_id") && !json_is_null(v)) {
                const json_int_t p = json_is_integer(v) ? json_integer_value(v) : 0;
                if (p < 1 || p > k) {
                    json_decref(out);
                    return useg_fail(ctx, USEG_ERR_FORMAT, "%s: annotation %lld: parent_id is not an id of the image",
                                     path, (long long)j + 1);
                }
                ok = ok && !json_object_set_new(out, key, json_integer(base + p));
            } else {
                ok = ok && !json_object_set(out, key, v);
            }
        }
        if (!ok) {
            json_decref(out);
            return useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
        }
        emit_entry(e, out);
        json_decref(out);
    }
    return USEG_OK;
}

// Remove the parts folder: the shard's parts, stale temporaries, run.json.
static void remove_parts(const useg_annotation_run *run) {
    char path[4096 + 300];
    for (int64_t i = run->shard.index; i < run->ds->count; i += run->shard.count) {
        part_path(run, i, path, sizeof path);
        unlink(path);
    }
    DIR *d = opendir(run->parts);
    for (struct dirent *ent; d && (ent = readdir(d));) {
        if (strstr(ent->d_name, ".json.tmp")) {
            snprintf(path, sizeof path, "%s/%s", run->parts, ent->d_name);
            unlink(path);
        }
    }
    if (d) closedir(d);
    snprintf(path, sizeof path, "%s/run.json", run->parts);
    unlink(path);
    rmdir(run->parts);
}

useg_status useg_annotation_run_finish(useg_ctx *ctx, useg_annotation_run *run, int64_t *n_images,
                                       int64_t *n_anns) {
    const int64_t S = run->shard.count;
    const int64_t n = run->ds->count > run->shard.index ? (run->ds->count - run->shard.index + S - 1) / S : 0;
    int64_t *order = malloc((size_t)(n > 0 ? n : 1) * sizeof *order);
    if (!order) return useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY, "%s: out of memory", run->out);
    for (int64_t j = 0; j < n; j++) order[j] = run->shard.index + j * S;
    sort_ds = run->ds;
    qsort(order, (size_t)n, sizeof *order, by_image_id);

    emitter e = {0};
    useg_status st = emit_open(ctx, &e, run->out, run->info);
    *n_images = *n_anns = 0;
    for (int pass = 0; pass < 2 && st == USEG_OK; pass++) {
        if (pass == 1) emit_annotations(&e);
        for (int64_t j = 0; j < n && st == USEG_OK; j++) {
            char path[4096 + 32];
            part_path(run, order[j], path, sizeof path);
            if (access(path, F_OK) != 0) continue; // an image that could not be read
            json_t *part;
            st = load_part(ctx, path, &part);
            if (st != USEG_OK) break;
            if (pass == 0) {
                emit_entry(&e, json_object_get(part, "image"));
                ++*n_images;
            } else {
                st = emit_part_annotations(ctx, &e, path, part, *n_anns);
                *n_anns += (int64_t)json_array_size(json_object_get(part, "annotations"));
            }
            json_decref(part);
        }
    }
    free(order);
    if (st != USEG_OK) {
        if (e.af.f) useg_atomic_close(ctx, &e.af, false);
        return st;
    }
    USEG_TRY(emit_close(ctx, &e));
    remove_parts(run);
    return USEG_OK;
}

// --- Merge. ------------------------------------------------------------------

typedef struct merge_image {
    int64_t id;
    int shard;          // index into the files
    size_t entry;       // position in that file's images
} merge_image;

typedef struct merge_ann {
    int64_t image;      // position in the merged images
    int shard;
    size_t entry;       // position in that file's annotations
} merge_ann;

typedef struct id_map {
    int64_t old_id, new_id;
} id_map;

static int cmp_image(const void *pa, const void *pb) {
    const merge_image *a = pa, *b = pb;
    if (a->id != b->id) return (a->id > b->id) - (a->id < b->id);
    return a->shard != b->shard ? a->shard - b->shard : (a->entry > b->entry) - (a->entry < b->entry);
}

static int cmp_ann(const void *pa, const void *pb) {
    const merge_ann *a = pa, *b = pb;
    if (a->image != b->image) return (a->image > b->image) - (a->image < b->image);
    return a->shard != b->shard ? a->shard - b->shard : (a->entry > b->entry) - (a->entry < b->entry);
}

static int cmp_id_map(const void *pa, const void *pb) {
    const id_map *a = pa, *b = pb;
    return (a->old_id > b->old_id) - (a->old_id < b->old_id);
}

// Check one shard file's layout; *index / *count from its info.shard.
static useg_status check_shard_file(useg_ctx *ctx, const char *path, const json_t *root, int64_t *index,
                                    int64_t *count) {
    json_t *info = json_object_get(root, "info"), *shard = json_object_get(info, "shard");
    if (!json_is_object(info) || !json_is_array(shard) || json_array_size(shard) != 2 ||
        !json_is_integer(json_array_get(shard, 0)) || !json_is_integer(json_array_get(shard, 1)) ||
        !json_is_array(json_object_get(root, "images")) || !json_is_array(json_object_get(root, "annotations")) ||
        !json_is_array(json_object_get(root, "categories")))
        return useg_fail(ctx, USEG_ERR_FORMAT,
                         "%s: not a useg pseudo-label file (needs info.shard, images, annotations, categories)", path);
    *index = json_integer_value(json_array_get(shard, 0));
    *count = json_integer_value(json_array_get(shard, 1));
    if (*count < 1 || *index < 0 || *index >= *count)
        return useg_fail(ctx, USEG_ERR_FORMAT, "%s: info.shard [%lld, %lld] is not a shard", path, (long long)*index,
                         (long long)*count);
    return USEG_OK;
}

typedef struct merge_state {
    json_t **roots;
    merge_image *images;
    merge_ann *anns;
    id_map **maps;      // per file, sorted by old id
    size_t *map_len;
} merge_state;

static useg_status merge_load(useg_ctx *ctx, const char *const *paths, int n, merge_state *m) {
    int64_t count = 0;
    int *seen = NULL; // seen[shard] = 1 + the file holding it
    useg_status st = USEG_OK;
    for (int i = 0; i < n && st == USEG_OK; i++) {
        int64_t index = 0, c = 0;
        st = useg_json_load(ctx, paths[i], &m->roots[i]);
        if (st == USEG_OK) st = check_shard_file(ctx, paths[i], m->roots[i], &index, &c);
        if (st != USEG_OK) break;
        json_t *info = json_object_get(m->roots[i], "info"), *info0 = json_object_get(m->roots[0], "info");
        const char *key = first_difference(info0, info, "shard");
        if (i == 0) {
            count = c;
            seen = calloc((size_t)c, sizeof *seen);
            if (!seen) st = useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY, "merge: out of memory");
        } else if (key) {
            char a[48], b[48];
            describe(info0, key, a, sizeof a);
            describe(info, key, b, sizeof b);
            st = useg_fail(ctx, USEG_ERR_INVALID_ARG, "%s and %s come from different runs (%s: %s vs %s)", paths[0],
                           paths[i], key, a, b);
        } else if (!json_equal(json_object_get(m->roots[i], "categories"), json_object_get(m->roots[0], "categories"))) {
            st = useg_fail(ctx, USEG_ERR_INVALID_ARG, "%s and %s have different categories", paths[0], paths[i]);
        } else if (c != count) {
            st = useg_fail(ctx, USEG_ERR_INVALID_ARG, "%s is shard %lld/%lld but %s is one of %lld shards", paths[i],
                           (long long)index, (long long)c, paths[0], (long long)count);
        } else if (seen[index]) {
            st = useg_fail(ctx, USEG_ERR_INVALID_ARG, "%s and %s are both shard %lld/%lld", paths[seen[index] - 1],
                           paths[i], (long long)index, (long long)count);
        }
        if (st == USEG_OK) seen[index] = i + 1;
    }
    if (st == USEG_OK && n != count) {
        int64_t missing = 0;
        while (seen[missing]) missing++;
        st = useg_fail(ctx, USEG_ERR_INVALID_ARG, "merge: %d of %lld shards given; shard %lld/%lld is missing", n,
                       (long long)count, (long long)missing, (long long)count);
    }
    free(seen);
    return st;
}

static useg_status merge_order(useg_ctx *ctx, const char *const *paths, int n, merge_state *m, size_t *n_images,
                               size_t *n_anns) {
    size_t ni = 0, na = 0;
    for (int i = 0; i < n; i++) {
        ni += json_array_size(json_object_get(m->roots[i], "images"));
        na += json_array_size(json_object_get(m->roots[i], "annotations"));
    }
    m->images = malloc((ni ? ni : 1) * sizeof *m->images);
    m->anns = malloc((na ? na : 1) * sizeof *m->anns);
    if (!m->images || !m->anns) return useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY, "merge: out of memory");
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        json_t *images = json_object_get(m->roots[i], "images");
        for (size_t j = 0; j < json_array_size(images); j++) {
            char where[4200];
            snprintf(where, sizeof where, "%s: image %zu", paths[i], j);
            int64_t id;
            USEG_TRY(useg_json_int(ctx, json_array_get(images, j), "id", where, &id));
            m->images[k++] = (merge_image){.id = id, .shard = i, .entry = j};
        }
    }
    qsort(m->images, ni, sizeof *m->images, cmp_image);
    for (size_t j = 1; j < ni; j++)
        if (m->images[j].id == m->images[j - 1].id)
            return useg_fail(ctx, USEG_ERR_INVALID_ARG, "merge: image id %lld is in %s and in %s",
                             (long long)m->images[j].id, paths[m->images[j - 1].shard], paths[m->images[j].shard]);
    k = 0;
    for (int i = 0; i < n; i++) {
        json_t *anns = json_object_get(m->roots[i], "annotations");
        for (size_t j = 0; j < json_array_size(anns); j++) {
            char where[4200];
            snprintf(where, sizeof where, "%s: annotation %zu", paths[i], j);
            int64_t image_id, id;
            USEG_TRY(useg_json_int(ctx, json_array_get(anns, j), "image_id", where, &image_id));
            USEG_TRY(useg_json_int(ctx, json_array_get(anns, j), "id", where, &id));
            const merge_image key = {.id = image_id};
            size_t lo = 0, hi = ni; // first image with id >= image_id
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (m->images[mid].id < key.id) lo = mid + 1;
                else hi = mid;
            }
            if (lo == ni || m->images[lo].id != image_id || m->images[lo].shard != i)
                return useg_fail(ctx, USEG_ERR_FORMAT, "%s: image_id %lld is not an image of the file", where,
                                 (long long)image_id);
            m->anns[k++] = (merge_ann){.image = (int64_t)lo, .shard = i, .entry = j};
        }
    }
    qsort(m->anns, na, sizeof *m->anns, cmp_ann);
    // Old id -> new id per file.
    for (size_t j = 0; j < na; j++) {
        const merge_ann *a = &m->anns[j];
        int64_t id = json_integer_value(
            json_object_get(json_array_get(json_object_get(m->roots[a->shard], "annotations"), a->entry), "id"));
        m->maps[a->shard][m->map_len[a->shard]++] = (id_map){.old_id = id, .new_id = (int64_t)j + 1};
    }
    for (int i = 0; i < n; i++) {
        qsort(m->maps[i], m->map_len[i], sizeof(id_map), cmp_id_map);
        for (size_t j = 1; j < m->map_len[i]; j++)
            if (m->maps[i][j].old_id == m->maps[i][j - 1].old_id)
                return useg_fail(ctx, USEG_ERR_FORMAT, "%s: annotation id %lld is used twice", paths[i],
                                 (long long)m->maps[i][j].old_id);
    }
    *n_images = ni;
    *n_anns = na;
    return USEG_OK;
}

static useg_status merge_write(useg_ctx *ctx, const char *const *paths, merge_state *m, size_t ni, size_t na,
                               const char *out_path) {
    json_t *info = json_deep_copy(json_object_get(m->roots[0], "info"));
    if (!info || json_object_set_new(info, "shard", json_pack("[i, i]", 0, 1))) {
        json_decref(info);
        return useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY, "merge: out of memory");
    }
    emitter e;
    useg_status st = emit_open(ctx, &e, out_path, info);
    json_decref(info);
    USEG_TRY(st);
    for (size_t j = 0; j < ni; j++)
        emit_entry(&e, json_array_get(json_object_get(m->roots[m->images[j].shard], "images"), m->images[j].entry));
    emit_annotations(&e);
    for (size_t j = 0; j < na && st == USEG_OK; j++) {
        const merge_ann *a = &m->anns[j];
        json_t *ann = json_array_get(json_object_get(m->roots[a->shard], "annotations"), a->entry);
        json_t *parent = json_object_get(ann, "parent_id");
        if (parent && !json_is_null(parent)) {
            const id_map key = {.old_id = json_is_integer(parent) ? json_integer_value(parent) : INT64_MIN};
            const id_map *hit = bsearch(&key, m->maps[a->shard], m->map_len[a->shard], sizeof key, cmp_id_map);
            if (!hit) {
                st = useg_fail(ctx, USEG_ERR_FORMAT, "%s: annotation %zu: parent_id is not an annotation id",
                               paths[a->shard], a->entry);
                break;
            }
            json_object_set_new(ann, "parent_id", json_integer(hit->new_id));
        }
        json_object_set_new(ann, "id", json_integer((json_int_t)j + 1));
        emit_entry(&e, ann);
    }
    if (st != USEG_OK) {
        useg_atomic_close(ctx, &e.af, false);
        return st;
    }
    return emit_close(ctx, &e);
}

useg_status useg_annotations_merge(useg_ctx *ctx, const char *const *paths, int n, const char *out_path,
                                   int64_t *n_images, int64_t *n_anns) {
    if (n < 1) return useg_fail(ctx, USEG_ERR_INVALID_ARG, "merge: no shard files");
    merge_state m = {0};
    m.roots = calloc((size_t)n, sizeof *m.roots);
    m.maps = calloc((size_t)n, sizeof *m.maps);
    m.map_len = calloc((size_t)n, sizeof *m.map_len);
    useg_status st = m.roots && m.maps && m.map_len ? USEG_OK
                                                    : useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY, "merge: out of memory");
    if (st == USEG_OK) st = merge_load(ctx, paths, n, &m);
    for (int i = 0; st == USEG_OK && i < n; i++) {
        size_t k = json_array_size(json_object_get(m.roots[i], "annotations"));
        m.maps[i] = malloc((k ? k : 1) * sizeof(id_map));
        if (!m.maps[i]) st = useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY, "merge: out of memory");
    }
    size_t ni = 0, na = 0;
    if (st == USEG_OK) st = merge_order(ctx, paths, n, &m, &ni, &na);
    if (st == USEG_OK) st = merge_write(ctx, paths, &m, ni, na, out_path);
    *n_images = (int64_t)ni;
    *n_anns = (int64_t)na;
    for (int i = 0; i < n; i++) {
        if (m.roots) json_decref(m.roots[i]);
        if (m.maps) free(m.maps[i]);
    }
    free(m.roots);
    free(m.maps);
    free(m.map_len);
    free(m.images);
    free(m.anns);
    return st;
}
