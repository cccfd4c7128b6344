// DINO / DINOv2 backbone detection from tensor names and shapes.
//
// Everything is read from metadata (names and shapes), never from tensor
// data, so detection costs nothing even on a 1 GB training checkpoint. The
// expected tensors are listed once, with shapes written as strings of
// dimension codes, and checked with useg_checkpoint_check so a bad
// checkpoint fails with the same message a model load would give.
#include "dino_names.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

// Dimension codes of the shape strings below.
static int64_t dim_of(const useg_dino_arch *a, char code) {
    switch (code) {
    case '1': return 1;
    case 'c': return 3;  // RGB input channels
    case 'D': return a->embed_dim;
    case '3': return 3 * a->embed_dim;
    case 'H': return a->mlp_hidden;
    case 'T': return a->pos_tokens;
    case 'P': return a->patch_size;
    case 'R': return a->num_registers;
    }
    USEG_ASSERT(0, "bad dimension code '%c'", code);
    return 0;
}

static const struct {
    const char *name, *shape;
} global_tensors[] = {
    {"cls_token", "11D"}, {"pos_embed", "1TD"}, {"patch_embed.proj.weight", "DcPP"}, {"patch_embed.proj.bias", "D"},
    {"norm.weight", "D"}, {"norm.bias", "D"},
}, block_tensors[] = {
    {"norm1.weight", "D"},    {"norm1.bias", "D"},       {"attn.qkv.weight", "3D"}, {"attn.qkv.bias", "3"},
    {"attn.proj.weight", "DD"}, {"attn.proj.bias", "D"}, {"norm2.weight", "D"},     {"norm2.bias", "D"},
    {"mlp.fc1.weight", "HD"}, {"mlp.fc1.bias", "H"},     {"mlp.fc2.weight", "DH"},  {"mlp.fc2.bias", "D"},
}, layerscale_tensors[] = {{"ls1.gamma", "D"}, {"ls2.gamma", "D"}};

static const char *full_name(char *buf, size_t len, const useg_dino_arch *a, const char *name) {
    snprintf(buf, len, "%s%.200s", a->prefix, name);  // canonical names are short
    return buf;
}

static const useg_checkpoint_entry *find(const useg_checkpoint *ck, const useg_dino_arch *a, const char *name) {
    char buf[512];
    return useg_checkpoint_find(ck, full_name(buf, sizeof buf, a, name));
}

static useg_status check(useg_ctx *ctx, const useg_checkpoint *ck, const useg_dino_arch *a, const char *name,
                         const char *shape) {
    char buf[512];
    int64_t dims[USEG_MAX_DIMS];
    int n = (int)strlen(shape);
    for (int d = 0; d < n; d++) dims[d] = dim_of(a, shape[d]);
    return useg_checkpoint_check(ctx, ck, full_name(buf, sizeof buf, a, name), n, dims);
}

// A tensor the detection reads a size from: it must exist with `ndim` dims.
static useg_status need(useg_ctx *ctx, const useg_checkpoint *ck, const useg_dino_arch *a, const char *name, int ndim,
                        const useg_checkpoint_entry **e) {
    char buf[512];
    *e = find(ck, a, name);
    if (!*e) return useg_fail(ctx, USEG_ERR_FORMAT, "%s: DINO backbone without '%s'", ck->name, full_name(buf, sizeof buf, a, name));
    if ((*e)->ndim != ndim)
        return useg_fail(ctx, USEG_ERR_SHAPE, "%s: '%s' has %d dimensions, a DINO backbone's has %d", ck->name,
                         (*e)->name, (*e)->ndim, ndim);
    return USEG_OK;
}

// 0: under "teacher", 1: not under "student", 2: under "student".
static int prefix_rank(const char *prefix, size_t len) {
    int rank = 1;
    for (size_t i = 0; i < len; i = (size_t)(strchr(prefix + i, '.') - prefix) + 1) {
        if (!strncmp(prefix + i, "teacher.", 8)) return 0;
        if (!strncmp(prefix + i, "student.", 8)) rank = 2;
    }
    return rank;
}

static useg_status find_prefix(useg_ctx *ctx, const useg_checkpoint *ck, useg_dino_arch *a) {
    const char *best = NULL;
    size_t best_len = 0;
    int best_rank = 3;
    for (int64_t i = 0; i < ck->count; i++) {
        const char *n = ck->entries[i].name;
        size_t len = strlen(n);
        if (len < 9 || strcmp(n + len - 9, "cls_token") || (len > 9 && n[len - 10] != '.')) continue;
        int rank = prefix_rank(n, len - 9);
        if (rank < best_rank) {
            best = n;
            best_len = len - 9;
            best_rank = rank;
        }
    }
    if (!best)
        return useg_fail(ctx, USEG_ERR_FORMAT, "%s: no DINO backbone (no tensor named cls_token or *.cls_token)",
                         ck->name);
    if (best_len >= sizeof a->prefix)
        return useg_fail(ctx, USEG_ERR_FORMAT, "%s: backbone prefix of %zu bytes is too long", ck->name, best_len);
    memcpy(a->prefix, best, best_len);
    a->prefix[best_len] = '\0';
    return USEG_OK;
}

useg_status useg_dino_detect(useg_ctx *ctx, const useg_checkpoint *ck, useg_dino_arch *arch) {
    useg_dino_arch a = {0};
    const useg_checkpoint_entry *e;
    char buf[512];
    USEG_TRY(find_prefix(ctx, ck, &a));
    USEG_TRY(need(ctx, ck, &a, "cls_token", 3, &e));
    a.embed_dim = e->shape[2];
    if (a.embed_dim <= 0 || a.embed_dim % 64)
        return useg_fail(ctx, USEG_ERR_FORMAT, "%s: embed dim %lld of '%s' is not a multiple of the 64-wide heads",
                         ck->name, (long long)a.embed_dim, e->name);
    a.heads = a.embed_dim / 64;
    USEG_TRY(need(ctx, ck, &a, "pos_embed", 3, &e));
    a.pos_tokens = e->shape[1];
    a.pos_grid = (int64_t)sqrt((double)(a.pos_tokens > 1 ? a.pos_tokens - 1 : 0));
    while (a.pos_grid > 0 && a.pos_grid > (a.pos_tokens - 1) / a.pos_grid) a.pos_grid--;  // sqrt's rounding
    while ((a.pos_grid + 1) <= (a.pos_tokens - 1) / (a.pos_grid + 1)) a.pos_grid++;
    if (a.pos_tokens < 2 || a.pos_grid * a.pos_grid != a.pos_tokens - 1)
        return useg_fail(ctx, USEG_ERR_FORMAT, "%s: '%s' has %lld rows, not 1 + a square grid", ck->name, e->name,
                         (long long)a.pos_tokens);
    USEG_TRY(need(ctx, ck, &a, "patch_embed.proj.weight", 4, &e));
    a.patch_size = e->shape[2];
    if (find(ck, &a, "blocks.0.0.norm1.weight"))
        return useg_fail(ctx, USEG_ERR_UNSUPPORTED,
                         "%s: FSDP-chunked blocks (%sblocks.<chunk>.<n>.*) of a DINOv2 training checkpoint; export "
                         "the backbone's state_dict",
                         ck->name, a.prefix);
    if (find(ck, &a, "blocks.0.mlp.w12.weight"))
        return useg_fail(ctx, USEG_ERR_UNSUPPORTED, "%s: SwiGLU MLP blocks (DINOv2 ViT-g) are not supported", ck->name);
    for (;; a.depth++) {
        snprintf(buf, sizeof buf, "blocks.%lld.norm1.weight", (long long)a.depth);
        if (!find(ck, &a, buf)) break;
    }
    if (!a.depth) return useg_fail(ctx, USEG_ERR_FORMAT, "%s: DINO backbone without '%sblocks.0.*'", ck->name, a.prefix);
    USEG_TRY(need(ctx, ck, &a, "blocks.0.mlp.fc1.weight", 2, &e));
    a.mlp_hidden = e->shape[0];
    a.layerscale = find(ck, &a, "blocks.0.ls1.gamma") != NULL;
    a.version = a.layerscale || find(ck, &a, "mask_token") ? 2 : 1;
    if (find(ck, &a, "register_tokens")) {
        USEG_TRY(need(ctx, ck, &a, "register_tokens", 3, &e));
        a.num_registers = e->shape[1];
        USEG_TRY(check(ctx, ck, &a, "register_tokens", "1RD"));
    }
    if (find(ck, &a, "mask_token")) USEG_TRY(check(ctx, ck, &a, "mask_token", "1D"));
    for (size_t i = 0; i < sizeof global_tensors / sizeof global_tensors[0]; i++)
        USEG_TRY(check(ctx, ck, &a, global_tensors[i].name, global_tensors[i].shape));
    for (int64_t b = 0; b < a.depth; b++) {
        for (size_t i = 0; i < sizeof block_tensors / sizeof block_tensors[0]; i++) {
            snprintf(buf, sizeof buf, "blocks.%lld.%s", (long long)b, block_tensors[i].name);
            USEG_TRY(check(ctx, ck, &a, buf, block_tensors[i].shape));
        }
        for (size_t i = 0; a.layerscale && i < sizeof layerscale_tensors / sizeof layerscale_tensors[0]; i++) {
            snprintf(buf, sizeof buf, "blocks.%lld.%s", (long long)b, layerscale_tensors[i].name);
            USEG_TRY(check(ctx, ck, &a, buf, layerscale_tensors[i].shape));
        }
    }
    *arch = a;
    return USEG_OK;
}

useg_status useg_dino_get(useg_ctx *ctx, const useg_checkpoint *ck, const useg_dino_arch *arch, const char *name,
                          int ndim, const int64_t *shape, useg_tensor **out) {
    char buf[512];
    return useg_checkpoint_get(ctx, ck, full_name(buf, sizeof buf, arch, name), ndim, shape, out);
}
