// Checkpoint loading against files PyTorch wrote (checkpoints.py makes them):
// every tensor bit-identical to PyTorch's own values, the safetensors round
// trip bit-identical, DINO / DINOv2 detection and name mapping, and every
// bad input (truncated archive, wrong magic, unsupported pickle opcode,
// missing or mis-shaped tensor, lying offsets and sizes, corrupt data)
// failing with the expected status and a message naming the tensor or offset.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "checkpoint.h"
#include "dino_names.h"
#include "half.h"
#include "npy.h"
#include "safetensors.h"

static const char *dir;

static const char *in_dir(const char *name) {
    static char buf[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static uint8_t *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    USEG_ASSERT(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*n);
    USEG_ASSERT(b && fread(b, 1, *n, f) == *n, "cannot read %s", path);
    fclose(f);
    return b;
}

// Bit-identical: same dtype, shape and bytes (both contiguous).
static bool identical(const useg_tensor *a, const useg_tensor *b) {
    return a->dtype == b->dtype && useg_same_shape(a, b) &&
           !memcmp(a->data, b->data, (size_t)useg_numel(a) * useg_dtype_size(a->dtype));
}

// Every tensor of `ck` (loaded with the default dtypes) equals refdir/<name>.npy.
static void check_all_against(useg_ctx *ctx, const useg_checkpoint *ck, const char *refdir) {
    for (int64_t i = 0; i < ck->count; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s/%s.npy", dir, refdir, ck->entries[i].name);
        useg_tensor *got, *ref;
        CHECK_OK(ctx, useg_checkpoint_get(ctx, ck, ck->entries[i].name, 0, NULL, &got));
        CHECK_OK(ctx, useg_npy_read(ctx, path, NULL, &ref));
        if (!ctx->status) CHECK(identical(got, ref), "%s: '%s' differs from PyTorch's", ck->name, ck->entries[i].name);
        useg_step_end(ctx);
    }
}

// The failure must have `status` and a message containing each of `what`.
static void expect(useg_ctx *ctx, useg_status st, useg_status status, const char *what1, const char *what2) {
    CHECK(st == status && strstr(ctx->message, what1) && (!what2 || strstr(ctx->message, what2)),
          "expected '%s' with \"%s\"%s%s, got '%s': %s", useg_status_name(status), what1, what2 ? " and " : "",
          what2 ? what2 : "", useg_status_name(st), ctx->message);
    useg_clear_error(ctx);
}

static void expect_open_fails(useg_ctx *ctx, const char *file, useg_status status, const char *what1,
                              const char *what2) {
    useg_checkpoint ck;
    expect(ctx, useg_checkpoint_open(ctx, in_dir(file), NULL, &ck), status, what1, what2);
}

static void test_pth(useg_ctx *ctx) {
    const char *files[] = {"plain.pth", "plain_p4.pth", "deflated.pth"};
    size_t n;
    char *names = (char *)read_file(in_dir("plain.names"), &n);
    for (size_t f = 0; f < 3; f++) {
        useg_checkpoint ck;
        CHECK_OK(ctx, useg_checkpoint_open(ctx, in_dir(files[f]), NULL, &ck));
        if (ctx->status) continue;
        // Names in state-dict order.
        char *list = malloc(n + 1), *save = NULL;
        memcpy(list, names, n);
        list[n] = '\0';
        int64_t k = 0;
        for (char *s = strtok_r(list, "\n", &save); s; s = strtok_r(NULL, "\n", &save), k++)
            CHECK(k < ck.count && !strcmp(ck.entries[k].name, s), "%s: entry %lld is '%s', expected '%s'", files[f],
                  (long long)k, k < ck.count ? ck.entries[k].name : "-", s);
        CHECK(k == ck.count, "%s: %lld tensors, expected %lld", files[f], (long long)ck.count, (long long)k);
        free(list);
        check_all_against(ctx, &ck, "plain");
        useg_checkpoint_close(&ck);
    }
    free(names);
}

static void test_hand_safetensors(useg_ctx *ctx) {
    useg_checkpoint ck;
    CHECK_OK(ctx, useg_checkpoint_open(ctx, in_dir("hand.safetensors"), NULL, &ck));
    if (ctx->status) return;
    CHECK(ck.count == 6, "hand.safetensors: %lld tensors", (long long)ck.count);
    check_all_against(ctx, &ck, "hand");
    useg_checkpoint_close(&ck);
}

// Load plain.pth keeping dtypes, write safetensors, read back: identical.
// checkpoints.py then reads roundtrip.safetensors with its own reader.
static void test_roundtrip(useg_ctx *ctx) {
    useg_checkpoint ck, back;
    useg_checkpoint_options keep = {.keep_dtype = true};
    CHECK_OK(ctx, useg_checkpoint_open(ctx, in_dir("plain.pth"), &keep, &ck));
    if (ctx->status) return;
    int64_t n = ck.count;
    const char **names = malloc(sizeof *names * (size_t)n);
    const useg_tensor **tensors = malloc(sizeof *tensors * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        useg_tensor *t;
        names[i] = ck.entries[i].name;
        CHECK_OK(ctx, useg_checkpoint_get(ctx, &ck, names[i], 0, NULL, &t));
        tensors[i] = t;
    }
    const useg_checkpoint_entry *half = useg_checkpoint_find(&ck, "half"), *bf = useg_checkpoint_find(&ck, "bfloat"),
                                *dbl = useg_checkpoint_find(&ck, "double"), *steps = useg_checkpoint_find(&ck, "steps");
    CHECK(half && half->dtype == USEG_F16 && bf && bf->dtype == USEG_BF16 && dbl && dbl->dtype == USEG_F64 && steps &&
              steps->dtype == USEG_I64,
          "stored dtypes");
    CHECK(tensors[1]->dtype == USEG_F16 && tensors[2]->dtype == USEG_BF16, "keep_dtype keeps f16 and bf16");
    CHECK(((int64_t *)tensors[4]->data)[2] == INT64_C(3) << 40, "int64 values survive exactly");
    CHECK_OK(ctx, useg_safetensors_write(ctx, in_dir("roundtrip.safetensors"), n, names, tensors));
    CHECK_OK(ctx, useg_checkpoint_open(ctx, in_dir("roundtrip.safetensors"), &keep, &back));
    if (!ctx->status) {
        CHECK(back.count == n, "round trip keeps %lld tensors, got %lld", (long long)n, (long long)back.count);
        for (int64_t i = 0; i < n; i++) {
            useg_tensor *t;
            CHECK_OK(ctx, useg_checkpoint_get(ctx, &back, names[i], tensors[i]->ndim, tensors[i]->shape, &t));
            if (!ctx->status) CHECK(identical(t, tensors[i]), "'%s' changed in the round trip", names[i]);
        }
        useg_checkpoint_close(&back);
    }
    // A non-contiguous tensor is written by its logical layout.
    int64_t shape[2] = {3, 5};
    useg_tensor *m, *mt, *got;
    CHECK_OK(ctx, useg_rand_normal(ctx, NULL, USEG_F32, 2, shape, 0, 1, &m));
    CHECK_OK(ctx, useg_transpose(ctx, m, 0, 1, &mt));
    const char *one[] = {"t"};
    const useg_tensor *ts[] = {mt};
    CHECK_OK(ctx, useg_safetensors_write(ctx, in_dir("strided.safetensors"), 1, one, ts));
    CHECK_OK(ctx, useg_checkpoint_open(ctx, in_dir("strided.safetensors"), NULL, &back));
    if (!ctx->status) {
        CHECK_OK(ctx, useg_checkpoint_get(ctx, &back, "t", 2, mt->shape, &got));
        bool same = !ctx->status;
        for (int64_t i = 0; same && i < 15; i++) same = useg_get_flat(got, i) == useg_get_flat(mt, i);
        CHECK(same, "strided write");
        useg_checkpoint_close(&back);
    }
    // Bad writes.
    const char *dup[] = {"a", "a"};
    const useg_tensor *two[] = {m, m};
    expect(ctx, useg_safetensors_write(ctx, in_dir("dup.safetensors"), 2, dup, two), USEG_ERR_INVALID_ARG, "'a'",
           NULL);
    const char *meta[] = {"__metadata__"};
    expect(ctx, useg_safetensors_write(ctx, in_dir("meta.safetensors"), 1, meta, two), USEG_ERR_INVALID_ARG,
           "__metadata__", NULL);
    const char *latin1[] = {"caf\xe9"};
    expect(ctx, useg_safetensors_write(ctx, in_dir("latin1.safetensors"), 1, latin1, two), USEG_ERR_INVALID_ARG,
           "UTF-8", NULL);
    expect(ctx, useg_safetensors_write(ctx, "/nonexistent-dir/x.safetensors", 1, one, two), USEG_ERR_IO,
           "/nonexistent-dir/x.safetensors", NULL);
    free(names);
    free(tensors);
    useg_checkpoint_close(&ck);
    useg_step_end(ctx);
}

// Every backbone tensor, loaded by canonical name through the detected
// prefix, equals the teacher's (dino_teacher/<canonical name>.npy).
static void check_backbone(useg_ctx *ctx, const useg_checkpoint *ck, const useg_dino_arch *a) {
    int64_t matched = 0;
    size_t plen = strlen(a->prefix);
    for (int64_t i = 0; i < ck->count; i++) {
        const char *canonical = ck->entries[i].name + plen;
        if (strncmp(ck->entries[i].name, a->prefix, plen)) continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/dino_teacher/%s.npy", dir, canonical);
        useg_tensor *ref, *got;
        CHECK_OK(ctx, useg_npy_read(ctx, path, NULL, &ref));
        if (ctx->status) continue;
        CHECK_OK(ctx, useg_dino_get(ctx, ck, a, canonical, ref->ndim, ref->shape, &got));
        if (!ctx->status) CHECK(identical(got, ref), "%s: backbone tensor '%s'", ck->name, canonical);
        matched++;
        useg_step_end(ctx);
    }
    CHECK(matched == 6 + 12 * a->depth, "%s: %lld backbone tensors", ck->name, (long long)matched);
}

static void test_dino(useg_ctx *ctx) {
    useg_checkpoint ck;
    useg_dino_arch a;
    CHECK_OK(ctx, useg_checkpoint_open(ctx, in_dir("dino_train.pth"), NULL, &ck));
    if (!ctx->status) {
        CHECK(useg_checkpoint_find(&ck, "student.module.backbone.cls_token") &&
                  useg_checkpoint_find(&ck, "optimizer.state.0.exp_avg") &&
                  useg_checkpoint_find(&ck, "dino_loss.center"),
              "nested dicts flatten to dotted names (int keys included)");
        CHECK_OK(ctx, useg_dino_detect(ctx, &ck, &a));
        CHECK(!strcmp(a.prefix, "teacher.backbone.") && a.version == 1 && a.embed_dim == 128 && a.depth == 3 &&
                  a.heads == 2 && a.patch_size == 8 && a.mlp_hidden == 512 && a.pos_tokens == 17 && a.pos_grid == 4 &&
                  a.num_registers == 0 && !a.layerscale,
              "DINO training checkpoint: prefix '%s' v%d D %lld depth %lld P %lld", a.prefix, a.version,
              (long long)a.embed_dim, (long long)a.depth, (long long)a.patch_size);
        check_backbone(ctx, &ck, &a);
        useg_checkpoint_close(&ck);
    }
    CHECK_OK(ctx, useg_checkpoint_open(ctx, in_dir("dino_module.pth"), NULL, &ck));
    if (!ctx->status) {
        CHECK_OK(ctx, useg_dino_detect(ctx, &ck, &a));
        CHECK(!strcmp(a.prefix, "module.") && a.version == 1 && a.depth == 3, "DDP prefix: '%s'", a.prefix);
        check_backbone(ctx, &ck, &a);
        useg_checkpoint_close(&ck);
    }
    CHECK_OK(ctx, useg_checkpoint_open(ctx, in_dir("dinov2.pth"), NULL, &ck));
    if (!ctx->status) {
        CHECK_OK(ctx, useg_dino_detect(ctx, &ck, &a));
        CHECK(a.prefix[0] == '\0' && a.version == 2 && a.layerscale && a.embed_dim == 192 && a.heads == 3 &&
                  a.depth == 2 && a.patch_size == 14 && a.pos_tokens == 1370 && a.pos_grid == 37 &&
                  a.num_registers == 4 && a.mlp_hidden == 768,
              "DINOv2: v%d D %lld R %lld grid %lld", a.version, (long long)a.embed_dim, (long long)a.num_registers,
              (long long)a.pos_grid);
        useg_checkpoint_close(&ck);
    }
    struct {
        const char *file;
        useg_status status;
        const char *what1, *what2;
    } bad[] = {
        {"dino_missing.pth", USEG_ERR_FORMAT, "no tensor 'blocks.1.mlp.fc2.bias'", NULL},
        {"dinov2_misshaped.pth", USEG_ERR_SHAPE, "'blocks.1.ls2.gamma' has shape (191), expected (192)", NULL},
        {"dinov2_chunked.pth", USEG_ERR_UNSUPPORTED, "FSDP-chunked", NULL},
        {"plain.pth", USEG_ERR_FORMAT, "no DINO backbone", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_OK(ctx, useg_checkpoint_open(ctx, in_dir(bad[i].file), NULL, &ck));
        if (ctx->status) continue;
        expect(ctx, useg_dino_detect(ctx, &ck, &a), bad[i].status, bad[i].what1, bad[i].what2);
        useg_checkpoint_close(&ck);
    }
    useg_step_end(ctx);
}

static void test_bad_files(useg_ctx *ctx) {
    expect_open_fails(ctx, "legacy.pth", USEG_ERR_FORMAT, "legacy torch.save format", NULL);
    expect_open_fails(ctx, "protocol0.pth", USEG_ERR_FORMAT, "unsupported pickle opcode 'p'", "at byte 2");
    expect_open_fails(ctx, "view_past_storage.pth", USEG_ERR_FORMAT, "tensor 'w' of shape (2, 2)", "reaches past");
    expect_open_fails(ctx, "storage_short.pth", USEG_ERR_FORMAT, "tensor 'w'", "needs more than its 20 bytes");
    expect_open_fails(ctx, "storage_missing.pth", USEG_ERR_FORMAT, "'archive/data/0' is missing", NULL);
    expect_open_fails(ctx, "seven_dims.pth", USEG_ERR_FORMAT, "at most 6", "at byte");
    expect_open_fails(ctx, "cyclic.pth", USEG_ERR_FORMAT, "cyclic", NULL);
    expect_open_fails(ctx, "laughs.pth", USEG_ERR_FORMAT, "more than 1048576 paths", NULL);
    expect_open_fails(ctx, "other_pid.pth", USEG_ERR_FORMAT, "persistent id", "at byte");
    expect_open_fails(ctx, "st_past_end.safetensors", USEG_ERR_FORMAT, "tensor 'scalar'", "past the end");
    expect_open_fails(ctx, "st_overlap.safetensors", USEG_ERR_FORMAT, "overlap", NULL);
    expect_open_fails(ctx, "st_size_lie.safetensors", USEG_ERR_FORMAT, "tensor 'layer.weight'", "do not hold");
    expect_open_fails(ctx, "st_tail.safetensors", USEG_ERR_FORMAT, "not described", NULL);
    expect_open_fails(ctx, "st_dtype.safetensors", USEG_ERR_FORMAT, "unknown dtype 'Q64'", NULL);
    expect_open_fails(ctx, "st_shape.safetensors", USEG_ERR_FORMAT, "tensor 'ids'", "non-negative");
    expect_open_fails(ctx, "st_header_len.safetensors", USEG_ERR_FORMAT, "header length", NULL);
    expect_open_fails(ctx, "st_bad_json.safetensors", USEG_ERR_FORMAT, "bad JSON", NULL);
    expect_open_fails(ctx, "absent.pth", USEG_ERR_IO, "absent.pth", NULL);
    FILE *f = fopen(in_dir("empty.pth"), "wb");
    fclose(f);
    expect_open_fails(ctx, "empty.pth", USEG_ERR_FORMAT, "empty file", NULL);

    // Dtypes useg does not load fail when asked for, not at open.
    useg_checkpoint ck;
    useg_tensor *t;
    const char *unsupported[][2] = {{"short_storage.pth", "w"}, {"st_i16.safetensors", "short"}};
    for (int i = 0; i < 2; i++) {
        CHECK_OK(ctx, useg_checkpoint_open(ctx, in_dir(unsupported[i][0]), NULL, &ck));
        if (ctx->status) continue;
        expect(ctx, useg_checkpoint_get(ctx, &ck, unsupported[i][1], 0, NULL, &t), USEG_ERR_UNSUPPORTED,
               unsupported[i][1], NULL);
        useg_checkpoint_close(&ck);
    }

    // Missing and mis-shaped tensors.
    CHECK_OK(ctx, useg_checkpoint_open(ctx, in_dir("plain.pth"), NULL, &ck));
    if (ctx->status) return;
    int64_t wrong[4] = {4, 3, 2, 3};
    expect(ctx, useg_checkpoint_get(ctx, &ck, "nope", 0, NULL, &t), USEG_ERR_FORMAT, "no tensor 'nope'", NULL);
    expect(ctx, useg_checkpoint_get(ctx, &ck, "conv.weight", 4, wrong, &t), USEG_ERR_SHAPE,
           "'conv.weight' has shape (4, 3, 2, 2), expected (4, 3, 2, 3)", NULL);
    expect(ctx, useg_checkpoint_get(ctx, &ck, "conv.weight", 2, wrong, &t), USEG_ERR_SHAPE, "expected (4, 3)", NULL);

    // Byte-level damage to plain.pth, in memory.
    size_t n;
    uint8_t *good = read_file(in_dir("plain.pth"), &n), *bad = malloc(n);
    const useg_zip_entry *pkl = NULL, *storage = NULL;
    for (int64_t i = 0; i < ck.zip.count; i++) {
        const char *name = ck.zip.entries[i].name;
        if (strstr(name, "/data.pkl")) pkl = &ck.zip.entries[i];
        if (strstr(name, "/data/0")) storage = &ck.zip.entries[i];
    }
    CHECK(pkl && storage, "plain.pth has data.pkl and data/0");
    useg_checkpoint_options opt = {0};
    expect(ctx, useg_checkpoint_open_memory(ctx, "half.pth", good, n / 2, &opt, &ck), USEG_ERR_FORMAT,
           "no end of central directory", NULL);
    expect(ctx, useg_checkpoint_open_memory(ctx, "cut.pth", good, n - 5, &opt, &ck), USEG_ERR_FORMAT, "cut.pth", NULL);
    expect(ctx, useg_checkpoint_open_memory(ctx, "gif.pth", (const uint8_t *)"GIF89a\0\0\0\0", 10, &opt, &ck),
           USEG_ERR_FORMAT, "neither a PyTorch checkpoint", NULL);
    // The end record sits at n - 22 (no comment): lie about the directory's offset.
    memcpy(bad, good, n);
    bad[n - 22 + 16] = 0xff;
    bad[n - 22 + 19] = 0x7f;
    expect(ctx, useg_checkpoint_open_memory(ctx, "cd.pth", bad, n, &opt, &ck), USEG_ERR_FORMAT, "central directory",
           "does not fit");
    // The first directory entry's local header offset and compressed size.
    memcpy(bad, good, n);
    size_t cd = (size_t)good[n - 6] | (size_t)good[n - 5] << 8 | (size_t)good[n - 4] << 16 | (size_t)good[n - 3] << 24;
    bad[cd + 42] ^= 0x10;
    expect(ctx, useg_checkpoint_open_memory(ctx, "local.pth", bad, n, &opt, &ck), USEG_ERR_FORMAT, "no local header",
           "data.pkl");
    memcpy(bad, good, n);
    bad[cd + 23] = 0x7f;
    expect(ctx, useg_checkpoint_open_memory(ctx, "size.pth", bad, n, &opt, &ck), USEG_ERR_FORMAT,
           "run past the end", NULL);
    // A flipped bit in the pickle or in a storage: the CRC says so (fuzzing
    // builds compile the check out).
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    if (pkl && storage) {
        memcpy(bad, good, n);
        bad[pkl->data_offset + 10] ^= 1;
        expect(ctx, useg_checkpoint_open_memory(ctx, "pkl.pth", bad, n, &opt, &ck), USEG_ERR_FORMAT, "CRC",
               "data.pkl");
        memcpy(bad, good, n);
        bad[storage->data_offset + 3] ^= 1;
        CHECK_OK(ctx, useg_checkpoint_open_memory(ctx, "storage.pth", bad, n, &opt, &ck));
        if (!ctx->status) {
            expect(ctx, useg_checkpoint_get(ctx, &ck, "conv.weight", 0, NULL, &t), USEG_ERR_FORMAT, "CRC", "data/0");
            useg_checkpoint_close(&ck);
        }
    }
#endif
    free(bad);
    free(good);
    useg_step_end(ctx);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR (run by checkpoints.py)\n", argv[0]);
        return 2;
    }
    dir = argv[1];
    useg_ctx ctx;
    useg_ctx_init(&ctx, NULL);
    test_pth(&ctx);
    test_hand_safetensors(&ctx);
    test_roundtrip(&ctx);
    test_dino(&ctx);
    test_bad_files(&ctx);
    useg_ctx_free(&ctx);
    return check_report("checkpoints");
}
