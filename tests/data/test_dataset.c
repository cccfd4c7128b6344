// Dataset listing and the skipping walk, on a folder made here: sorted
// deterministic folder listings (recursive or not, non-images and hidden
// files left out), COCO JSON and text lists, and a walk over good, corrupt
// and missing images that yields the good ones and reports the others by name.
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "dataset.h"
#include "image.h"

static char root[] = "/tmp/useg_test_dataset_XXXXXX";

static const char *in_root(const char *name) {
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", root, name);
    return buf[k];
}

static void write_text(const char *name, const char *text) {
    FILE *f = fopen(in_root(name), "wb");
    USEG_ASSERT(f && fputs(text, f) >= 0 && fclose(f) == 0, "cannot write %s", name);
}

static void write_png(useg_ctx *ctx, const char *name, int64_t h, int64_t w) {
    int64_t shape[3] = {h, w, 3};
    useg_tensor *img;
    CHECK_OK(ctx, useg_full(ctx, NULL, USEG_U8, 3, shape, 100, &img));
    CHECK_OK(ctx, useg_image_write_png(ctx, in_root(name), img));
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static bool names_are(const useg_dataset *ds, const char *const *want, int64_t n) {
    if (ds->count != n) return false;
    for (int64_t i = 0; i < n; i++)
        if (strcmp(ds->items[i].name, want[i])) return false;
    return true;
}

static void test_folder(useg_ctx *ctx) {
    useg_dataset ds;
    const char *flat[] = {"a.png", "b.JPG", "broken.jpeg", "c.png"};
    CHECK_OK(ctx, useg_dataset_from_folder(ctx, root, false, &ds));
    CHECK(names_are(&ds, flat, 4), "folder listing: %lld items, first %s", (long long)ds.count,
          ds.count ? ds.items[0].name : "-");
    CHECK(ds.count == 4 && !strcmp(ds.items[0].path, in_root("a.png")) && ds.items[3].id == 3, "paths and ids");
    useg_dataset_free(&ds);
    const char *deep[] = {"a.png", "b.JPG", "broken.jpeg", "c.png", "sub/d.png", "sub/deeper/e.png"};
    CHECK_OK(ctx, useg_dataset_from_folder(ctx, root, true, &ds));
    CHECK(names_are(&ds, deep, 6), "recursive listing: %lld items", (long long)ds.count);
    useg_dataset_free(&ds);
    CHECK_FAILS(ctx, useg_dataset_from_folder(ctx, in_root("nowhere"), false, &ds), USEG_ERR_IO);
}

static void test_walk(useg_ctx *ctx) {
    useg_dataset ds;
    CHECK_OK(ctx, useg_dataset_from_folder(ctx, root, true, &ds));
    // Add an item that does not exist, as a COCO list can name one.
    useg_dataset_item *items = realloc(ds.items, sizeof *items * (size_t)(ds.count + 1));
    USEG_ASSERT(items, "realloc");
    ds.items = items;
    ds.items[ds.count++] = (useg_dataset_item){strdup(in_root("gone.png")), strdup("gone.png"), 99};
    useg_dataset_iter it;
    useg_dataset_iter_init(&it, &ds, NULL);
    int64_t index, seen[8], n = 0;
    useg_tensor *img;
    for (;;) {
        CHECK_OK(ctx, useg_dataset_next(ctx, &it, NULL, &index, &img));
        if (index < 0 || n == 8) break;
        seen[n++] = index;
        CHECK(img->ndim == 3 && img->shape[2] == 3, "item %lld decodes to RGB", (long long)index);
        useg_step_end(ctx);
    }
    // a, b (a PNG despite its name: the content decides), c, sub/d, sub/deeper/e.
    CHECK(n == 5 && seen[0] == 0 && seen[1] == 1 && seen[2] == 3 && seen[3] == 4 && seen[4] == 5,
          "walk yields the readable items (%lld)", (long long)n);
    CHECK(it.skipped_count == 2, "two items skipped, got %lld", (long long)it.skipped_count);
    if (it.skipped_count == 2) {
        CHECK(it.skipped[0].index == 2 && it.skipped[0].status == USEG_ERR_FORMAT &&
                  strstr(it.skipped[0].message, "broken.jpeg"),
              "corrupt file reported: %s", it.skipped[0].message);
        CHECK(it.skipped[1].index == 6 && it.skipped[1].status == USEG_ERR_IO &&
                  strstr(it.skipped[1].message, "gone.png"),
              "missing file reported: %s", it.skipped[1].message);
    }
    CHECK(ctx->status == USEG_OK, "the walk leaves no error behind");
    useg_dataset_iter_free(&it);
    useg_dataset_free(&ds);
}

static void test_coco_and_list(useg_ctx *ctx) {
    write_text("coco.json", "{\"images\": [{\"id\": 42, \"file_name\": \"c.png\", \"height\": 5, \"width\": 7},"
                            " {\"id\": 7, \"file_name\": \"sub/d.png\"}], \"annotations\": []}");
    useg_dataset ds;
    CHECK_OK(ctx, useg_dataset_from_coco(ctx, in_root("coco.json"), root, &ds));
    CHECK(ds.count == 2 && ds.items[0].id == 42 && ds.items[1].id == 7 && !strcmp(ds.items[1].name, "sub/d.png") &&
              !strcmp(ds.items[1].path, in_root("sub/d.png")),
          "COCO images in file order with their ids");
    useg_dataset_free(&ds);
    write_text("bad.json", "{\"images\": [ {\"id\": 1, ");
    CHECK_FAILS(ctx, useg_dataset_from_coco(ctx, in_root("bad.json"), root, &ds), USEG_ERR_FORMAT);
    write_text("noimages.json", "{\"annotations\": []}");
    CHECK_FAILS(ctx, useg_dataset_from_coco(ctx, in_root("noimages.json"), root, &ds), USEG_ERR_FORMAT);
    write_text("noname.json", "{\"images\": [{\"id\": 1, \"file_name\": 3}]}");
    CHECK_FAILS(ctx, useg_dataset_from_coco(ctx, in_root("noname.json"), root, &ds), USEG_ERR_FORMAT);
    CHECK_FAILS(ctx, useg_dataset_from_coco(ctx, in_root("absent.json"), root, &ds), USEG_ERR_IO);

    write_text("list.txt", "# COCO20K-style list\n\n  c.png  \r\nsub/d.png\n/abs/x.png\n");
    CHECK_OK(ctx, useg_dataset_from_list(ctx, in_root("list.txt"), root, &ds));
    CHECK(ds.count == 3 && !strcmp(ds.items[0].name, "c.png") && !strcmp(ds.items[0].path, in_root("c.png")) &&
              !strcmp(ds.items[2].path, "/abs/x.png") && ds.items[1].id == 1,
          "list: trimmed, comments skipped, absolute paths kept");
    useg_dataset_free(&ds);
    CHECK_FAILS(ctx, useg_dataset_from_list(ctx, in_root("absent.txt"), root, &ds), USEG_ERR_IO);
}

int main(void) {
    USEG_ASSERT(mkdtemp(root), "mkdtemp");
    useg_ctx ctx;
    useg_ctx_init(&ctx, NULL);
    USEG_ASSERT(mkdir(in_root("sub"), 0700) == 0 && mkdir(in_root("sub/deeper"), 0700) == 0, "mkdir");
    write_png(&ctx, "c.png", 5, 7);
    write_png(&ctx, "a.png", 3, 4);
    write_png(&ctx, "b.JPG", 2, 2);
    write_png(&ctx, "sub/d.png", 4, 4);
    write_png(&ctx, "sub/deeper/e.png", 1, 1);
    write_png(&ctx, ".hidden.png", 1, 1);
    write_text("broken.jpeg", "\xff\xd8\xff\xe0 not really a JPEG");
    write_text("notes.txt", "not an image");
    test_folder(&ctx);
    test_walk(&ctx);
    test_coco_and_list(&ctx);
    useg_ctx_free(&ctx);
    nftw(root, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
    return check_report("dataset");
}
