// Dataset listing (folder, COCO JSON, text list) and the skipping walk.
//
// Lists are built with malloc at setup, not on the per-image path. A folder
// listing is sorted by byte order of the relative path so that a run visits
// images in the same order everywhere (readdir order depends on the file
// system). COCO JSON is parsed with jansson; only images[].file_name and
// images[].id are read.
#include "dataset.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

enum { MAX_FOLDER_DEPTH = 16 };

// Growable item list, built before it becomes a dataset.
typedef struct item_list {
    useg_dataset_item *items;
    int64_t count, cap;
} item_list;

static char *join_path(const char *root, const char *name) {
    if (name[0] == '/' || !root || !root[0]) return strdup(name);
    size_t a = strlen(root), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, root, a);
    size_t n = a;
    if (a && root[a - 1] != '/') p[n++] = '/';
    memcpy(p + n, name, b + 1);
    return p;
}

static useg_status list_add(useg_ctx *ctx, item_list *l, const char *root, const char *name, int64_t id) {
    if (l->count == l->cap) {
        int64_t cap = l->cap ? 2 * l->cap : 256;
        useg_dataset_item *items = realloc(l->items, sizeof *items * (size_t)cap);
        if (!items) return useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY, "dataset: out of memory listing %lld images",
                                     (long long)cap);
        l->items = items;
        l->cap = cap;
    }
    useg_dataset_item *it = &l->items[l->count];
    it->name = strdup(name);
    it->path = join_path(root, name);
    it->id = id;
    if (!it->name || !it->path) {
        free(it->name);
        free(it->path);
        return useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY, "dataset: out of memory listing %s", name);
    }
    l->count++;
    return USEG_OK;
}

// On success the list becomes the dataset; on failure it is freed.
static useg_status list_finish(useg_status st, item_list *l, useg_dataset *ds) {
    ds->items = l->items;
    ds->count = l->count;
    if (st != USEG_OK) useg_dataset_free(ds);
    return st;
}

void useg_dataset_free(useg_dataset *ds) {
    for (int64_t i = 0; i < ds->count; i++) {
        free(ds->items[i].path);
        free(ds->items[i].name);
    }
    free(ds->items);
    *ds = (useg_dataset){0};
}

// --- Folder ------------------------------------------------------------------

static bool is_image_name(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".png"));
}

// Add the images under root/rel (rel "" for root itself).
static useg_status walk_folder(useg_ctx *ctx, item_list *l, const char *root, const char *rel, bool recursive,
                               int depth) {
    char *dir_path = rel[0] ? join_path(root, rel) : strdup(root);
    if (!dir_path) return useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY, "dataset: out of memory");
    DIR *dir = opendir(dir_path);
    if (!dir) {
        useg_status st = useg_fail(ctx, USEG_ERR_IO, "%s: cannot list folder: %s", dir_path, strerror(errno));
        free(dir_path);
        return st;
    }
    useg_status st = USEG_OK;
    struct dirent *e;
    while (st == USEG_OK && (e = readdir(dir))) {
        if (e->d_name[0] == '.') continue;
        char *child = rel[0] ? join_path(rel, e->d_name) : strdup(e->d_name);
        if (!child) {
            st = useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY, "dataset: out of memory");
            break;
        }
        char *full = join_path(root, child);
        struct stat sb;
        if (!full) {
            st = useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY, "dataset: out of memory");
        } else if (stat(full, &sb) != 0) {
            // A dangling link or a file that vanished: not an image we can list.
        } else if (S_ISDIR(sb.st_mode)) {
            if (recursive && depth < MAX_FOLDER_DEPTH) st = walk_folder(ctx, l, root, child, recursive, depth + 1);
        } else if (S_ISREG(sb.st_mode) && is_image_name(e->d_name)) {
            st = list_add(ctx, l, root, child, 0);
        }
        free(full);
        free(child);
    }
    closedir(dir);
    free(dir_path);
    return st;
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const useg_dataset_item *)a)->name, ((const useg_dataset_item *)b)->name);
}

useg_status useg_dataset_from_folder(useg_ctx *ctx, const char *root, bool recursive, useg_dataset *ds) {
    item_list l = {0};
    useg_status st = walk_folder(ctx, &l, root, "", recursive, 0);
    if (st == USEG_OK) {
        qsort(l.items, (size_t)l.count, sizeof *l.items, by_name);
        for (int64_t i = 0; i < l.count; i++) l.items[i].id = i;
    }
    return list_finish(st, &l, ds);
}

// --- COCO JSON -----------------------------------------------------------------

useg_status useg_dataset_from_coco(useg_ctx *ctx, const char *json_path, const char *image_root, useg_dataset *ds) {
    json_error_t err;
    json_t *root = json_load_file(json_path, 0, &err);
    if (!root) {
        // jansson does not tell an unreadable file from a malformed one apart
        // by code; a failed open has no line.
        FILE *f = fopen(json_path, "rb");
        if (!f) return useg_fail(ctx, USEG_ERR_IO, "%s: cannot open: %s", json_path, strerror(errno));
        fclose(f);
        return useg_fail(ctx, USEG_ERR_FORMAT, "%s:%d:%d: not valid JSON: %s", json_path, err.line, err.column,
                         err.text);
    }
    item_list l = {0};
    useg_status st = USEG_OK;
    json_t *images = json_object_get(root, "images");
    if (!json_is_array(images)) {
        st = useg_fail(ctx, USEG_ERR_FORMAT, "%s: no \"images\" array (not a COCO-style file)", json_path);
    } else {
        for (size_t i = 0; st == USEG_OK && i < json_array_size(images); i++) {
            json_t *im = json_array_get(images, i);
            json_t *file = json_object_get(im, "file_name"), *id = json_object_get(im, "id");
            if (!json_is_string(file) || !json_is_integer(id))
                st = useg_fail(ctx, USEG_ERR_FORMAT, "%s: images[%zu] lacks a string file_name or an integer id",
                               json_path, i);
            else
                st = list_add(ctx, &l, image_root, json_string_value(file), json_integer_value(id));
        }
    }
    json_decref(root);
    return list_finish(st, &l, ds);
}

// --- Text list -----------------------------------------------------------------

useg_status useg_dataset_from_list(useg_ctx *ctx, const char *list_path, const char *image_root, useg_dataset *ds) {
    FILE *f = fopen(list_path, "r");
    if (!f) return useg_fail(ctx, USEG_ERR_IO, "%s: cannot open: %s", list_path, strerror(errno));
    item_list l = {0};
    useg_status st = USEG_OK;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while (st == USEG_OK && (n = getline(&line, &cap, f)) >= 0) {
        char *s = line, *end = line + n;
        while (s < end && isspace((unsigned char)*s)) s++;
        while (end > s && isspace((unsigned char)end[-1])) end--;
        *end = '\0';
        if (*s && *s != '#') st = list_add(ctx, &l, image_root, s, l.count);
    }
    if (st == USEG_OK && ferror(f)) st = useg_fail(ctx, USEG_ERR_IO, "%s: read failed", list_path);
    free(line);
    fclose(f);
    return list_finish(st, &l, ds);
}

// --- The walk ------------------------------------------------------------------

void useg_dataset_iter_init(useg_dataset_iter *it, const useg_dataset *ds, const useg_image_options *opt) {
    *it = (useg_dataset_iter){.ds = ds};
    if (opt) it->options = *opt;
}

void useg_dataset_iter_free(useg_dataset_iter *it) {
    free(it->skipped);
    it->skipped = NULL;
    it->skipped_count = it->skipped_cap = 0;
}

useg_status useg_dataset_next(useg_ctx *ctx, useg_dataset_iter *it, useg_arena *a, int64_t *index,
                              useg_tensor **image) {
    *index = -1;
    while (it->next < it->ds->count) {
        int64_t i = it->next++;
        useg_status st = useg_image_read(ctx, it->ds->items[i].path, &it->options, a, image);
        if (st == USEG_OK) {
            *index = i;
            return USEG_OK;
        }
        if (st != USEG_ERR_IO && st != USEG_ERR_FORMAT) return st;
        if (it->skipped_count == it->skipped_cap) {
            int64_t cap = it->skipped_cap ? 2 * it->skipped_cap : 16;
            useg_dataset_skip *s = realloc(it->skipped, sizeof *s * (size_t)cap);
            if (!s) {
                useg_clear_error(ctx);
                return useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY, "dataset: out of memory recording a skipped image");
            }
            it->skipped = s;
            it->skipped_cap = cap;
        }
        useg_dataset_skip *s = &it->skipped[it->skipped_count++];
        s->index = i;
        s->status = st;
        snprintf(s->message, sizeof s->message, "%s", ctx->message);
        useg_clear_error(ctx);
    }
    return USEG_OK;
}
