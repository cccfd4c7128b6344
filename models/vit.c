// DINO / DINOv2 ViT forward with the feature taps (see vit.h).
//
// Built from the core's ops, so the same code trains (gradients flow through
// every op) and infers. In a no-grad scope the tokens live in one buffer:
// each residual branch (attention, MLP) is added into it in place and the
// step arena is rewound to before the branch, so peak memory is the larger
// branch's temporaries (the MLP's: 10 (B, N, C) tensors' worth) plus the
// buffer. ViT-B/8 at 480, batch 1: 475 MB peak resident, 338 of them the
// weights (benchmarks/models/bench_vit.py).
#include "vit.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "checkpoint.h"
#include "dino_names.h"
#include "ops.h"

static const double LN_EPS = 1e-6;

bool useg_vit_config_named(const char *name, int patch, useg_vit_config *cfg) {
    useg_vit_config c = {.patch = patch, .depth = 12};
    if (!strcmp(name, "vit_small") || !strcmp(name, "dinov2_vits14")) c.dim = 384, c.heads = 6;
    else if (!strcmp(name, "vit_base") || !strcmp(name, "dinov2_vitb14")) c.dim = 768, c.heads = 12;
    else return false;
    if (!strncmp(name, "dinov2", 6)) {
        if (patch != 14) return false;
        c.pos_grid = 37; // the hub models' 518 x 518 training resolution
        c.layer_scale = true;
    } else {
        if (patch != 8 && patch != 16) return false;
        c.pos_grid = 224 / patch;
    }
    c.mlp_hidden = 4 * c.dim;
    *cfg = c;
    return true;
}

// A parameter of `shape` drawn from N(mean, std) in ctx->params.
static useg_status param(useg_ctx *ctx, int ndim, const int64_t *shape, double mean, double std, useg_tensor **out) {
    return useg_rand_normal(ctx, &ctx->params, USEG_F32, ndim, shape, mean, std, out);
}

useg_status useg_vit_init_random(useg_ctx *ctx, const useg_vit_config *cfg, useg_vit *vit) {
    if (cfg->depth < 1 || cfg->depth > USEG_VIT_MAX_DEPTH || cfg->dim % cfg->heads)
        return useg_fail(ctx, USEG_ERR_INVALID_ARG, "vit: bad configuration (depth %d, dim %d, heads %d)", cfg->depth,
                         cfg->dim, cfg->heads);
    memset(vit, 0, sizeof *vit);
    vit->cfg = *cfg;
    const int64_t C = cfg->dim, M = cfg->mlp_hidden, P = cfg->patch, G = cfg->pos_grid;
    USEG_TRY(param(ctx, 4, (int64_t[]){C, 3, P, P}, 0, 0.02, &vit->patch_w));
    USEG_TRY(param(ctx, 1, (int64_t[]){C}, 0, 0.02, &vit->patch_b));
    USEG_TRY(param(ctx, 3, (int64_t[]){1, 1, C}, 0, 0.02, &vit->cls_token));
    USEG_TRY(param(ctx, 3, (int64_t[]){1, 1 + G * G, C}, 0, 0.02, &vit->pos_embed));
    if (cfg->n_registers)
        USEG_TRY(param(ctx, 3, (int64_t[]){1, cfg->n_registers, C}, 0, 0.02, &vit->register_tokens));
    USEG_TRY(param(ctx, 1, (int64_t[]){C}, 1, 0.02, &vit->norm_w));
    USEG_TRY(param(ctx, 1, (int64_t[]){C}, 0, 0.02, &vit->norm_b));
    for (int l = 0; l < cfg->depth; l++) {
        useg_vit_block *b = &vit->blocks[l];
        USEG_TRY(param(ctx, 1, (int64_t[]){C}, 1, 0.02, &b->norm1_w));
        USEG_TRY(param(ctx, 1, (int64_t[]){C}, 0, 0.02, &b->norm1_b));
        USEG_TRY(param(ctx, 2, (int64_t[]){3 * C, C}, 0, 0.02, &b->qkv_w));
        USEG_TRY(param(ctx, 1, (int64_t[]){3 * C}, 0, 0.02, &b->qkv_b));
        USEG_TRY(param(ctx, 2, (int64_t[]){C, C}, 0, 0.02, &b->proj_w));
        USEG_TRY(param(ctx, 1, (int64_t[]){C}, 0, 0.02, &b->proj_b));
        USEG_TRY(param(ctx, 1, (int64_t[]){C}, 1, 0.02, &b->norm2_w));
        USEG_TRY(param(ctx, 1, (int64_t[]){C}, 0, 0.02, &b->norm2_b));
        USEG_TRY(param(ctx, 2, (int64_t[]){M, C}, 0, 0.02, &b->fc1_w));
        USEG_TRY(param(ctx, 1, (int64_t[]){M}, 0, 0.02, &b->fc1_b));
        USEG_TRY(param(ctx, 2, (int64_t[]){C, M}, 0, 0.02, &b->fc2_w));
        USEG_TRY(param(ctx, 1, (int64_t[]){C}, 0, 0.02, &b->fc2_b));
        if (cfg->layer_scale) {
            USEG_TRY(param(ctx, 1, (int64_t[]){C}, 0.1, 0.02, &b->ls1));
            USEG_TRY(param(ctx, 1, (int64_t[]){C}, 0.1, 0.02, &b->ls2));
        }
    }
    return USEG_OK;
}

// Tensor "blocks.<l>.<name>" (or "<name>" when l < 0) of `shape` from the checkpoint.
static useg_status load_tensor(useg_ctx *ctx, const useg_checkpoint *ck, const useg_dino_arch *arch, int l,
                               const char *name, int ndim, const int64_t *shape, useg_tensor **out) {
    char full[128];
    if (l >= 0) snprintf(full, sizeof full, "blocks.%d.%s", l, name);
    else snprintf(full, sizeof full, "%s", name);
    return useg_dino_get(ctx, ck, arch, full, ndim, shape, out);
}

static useg_status load_weights(useg_ctx *ctx, const useg_checkpoint *ck, const useg_dino_arch *arch, useg_vit *vit) {
    const int64_t C = arch->embed_dim, M = arch->mlp_hidden, P = arch->patch_size, T = arch->pos_tokens;
    if (arch->depth < 1 || arch->depth > USEG_VIT_MAX_DEPTH)
        return useg_fail(ctx, USEG_ERR_UNSUPPORTED, "%s: %lld blocks, useg supports 1..%d", ck->name,
                         (long long)arch->depth, USEG_VIT_MAX_DEPTH);
    memset(vit, 0, sizeof *vit);
    vit->cfg = (useg_vit_config){.patch = (int)P, .dim = (int)C, .depth = (int)arch->depth, .heads = (int)arch->heads,
                                 .mlp_hidden = (int)M, .pos_grid = (int)arch->pos_grid,
                                 .n_registers = (int)arch->num_registers, .layer_scale = arch->layerscale};
    USEG_TRY(load_tensor(ctx, ck, arch, -1, "patch_embed.proj.weight", 4, (int64_t[]){C, 3, P, P}, &vit->patch_w));
    USEG_TRY(load_tensor(ctx, ck, arch, -1, "patch_embed.proj.bias", 1, (int64_t[]){C}, &vit->patch_b));
    USEG_TRY(load_tensor(ctx, ck, arch, -1, "cls_token", 3, (int64_t[]){1, 1, C}, &vit->cls_token));
    USEG_TRY(load_tensor(ctx, ck, arch, -1, "pos_embed", 3, (int64_t[]){1, T, C}, &vit->pos_embed));
    if (arch->num_registers)
        USEG_TRY(load_tensor(ctx, ck, arch, -1, "register_tokens", 3, (int64_t[]){1, arch->num_registers, C},
                             &vit->register_tokens));
    USEG_TRY(load_tensor(ctx, ck, arch, -1, "norm.weight", 1, (int64_t[]){C}, &vit->norm_w));
    USEG_TRY(load_tensor(ctx, ck, arch, -1, "norm.bias", 1, (int64_t[]){C}, &vit->norm_b));
    for (int l = 0; l < arch->depth; l++) {
        useg_vit_block *b = &vit->blocks[l];
        const struct {
            const char *name;
            int ndim;
            int64_t shape[2];
            useg_tensor **dst;
        } t[] = {
            {"norm1.weight", 1, {C}, &b->norm1_w},      {"norm1.bias", 1, {C}, &b->norm1_b},
            {"attn.qkv.weight", 2, {3 * C, C}, &b->qkv_w}, {"attn.qkv.bias", 1, {3 * C}, &b->qkv_b},
            {"attn.proj.weight", 2, {C, C}, &b->proj_w}, {"attn.proj.bias", 1, {C}, &b->proj_b},
            {"norm2.weight", 1, {C}, &b->norm2_w},      {"norm2.bias", 1, {C}, &b->norm2_b},
            {"mlp.fc1.weight", 2, {M, C}, &b->fc1_w},   {"mlp.fc1.bias", 1, {M}, &b->fc1_b},
            {"mlp.fc2.weight", 2, {C, M}, &b->fc2_w},   {"mlp.fc2.bias", 1, {C}, &b->fc2_b},
            {"ls1.gamma", 1, {C}, &b->ls1},             {"ls2.gamma", 1, {C}, &b->ls2},
        };
        int n = (int)(sizeof t / sizeof t[0]) - (arch->layerscale ? 0 : 2);
        for (int i = 0; i < n; i++) USEG_TRY(load_tensor(ctx, ck, arch, l, t[i].name, t[i].ndim, t[i].shape, t[i].dst));
    }
    return USEG_OK;
}

useg_status useg_vit_load(useg_ctx *ctx, const char *path, useg_vit *vit) {
    useg_checkpoint ck;
    USEG_TRY(useg_checkpoint_open(ctx, path, NULL, &ck));
    useg_dino_arch arch;
    useg_status st = useg_dino_detect(ctx, &ck, &arch);
    if (st == USEG_OK) st = load_weights(ctx, &ck, &arch, vit);
    useg_checkpoint_close(&ck);
    return st;
}

useg_status useg_vit_pos_embed(useg_ctx *ctx, const useg_vit *vit, int64_t h, int64_t w, useg_tensor **out) {
    const int64_t G = vit->cfg.pos_grid, C = vit->cfg.dim;
    if (h == G && w == G) {
        *out = vit->pos_embed;
        return USEG_OK;
    }
    useg_tensor *cls, *grid, *t, *pieces[2];
    USEG_TRY(useg_slice(ctx, vit->pos_embed, 1, 0, 1, 1, &cls));
    USEG_TRY(useg_slice(ctx, vit->pos_embed, 1, 1, 1 + G * G, 1, &t));
    USEG_TRY(useg_reshape(ctx, t, 4, (int64_t[]){1, G, G, C}, &grid));
    USEG_TRY(useg_permute(ctx, grid, (int[]){0, 3, 1, 2}, &t));
    // The reference passes scale factors (h + 0.1) / G, not sizes; the source
    // coordinates follow from the factors, so they are passed through as given.
    USEG_TRY(useg_interpolate_scaled(ctx, t, ((double)h + 0.1) / (double)G, ((double)w + 0.1) / (double)G,
                                     USEG_INTERP_BICUBIC, &grid));
    if (grid->shape[2] != h || grid->shape[3] != w)
        return useg_fail(ctx, USEG_ERR_SHAPE, "vit: position grid interpolated to %lldx%lld, want %lldx%lld",
                         (long long)grid->shape[2], (long long)grid->shape[3], (long long)h, (long long)w);
    USEG_TRY(useg_permute(ctx, grid, (int[]){0, 2, 3, 1}, &t));
    USEG_TRY(useg_reshape(ctx, t, 3, (int64_t[]){1, h * w, C}, &pieces[1]));
    pieces[0] = cls;
    return useg_concat(ctx, pieces, 2, 1, out);
}

// Patch embedding, CLS (+ registers) and position embeddings: (B, 1 + R + h*w, C).
static useg_status embed(useg_ctx *ctx, const useg_vit *vit, useg_tensor *images, int64_t h, int64_t w,
                         useg_tensor **out) {
    const int64_t B = images->shape[0], C = vit->cfg.dim, P = vit->cfg.patch;
    useg_tensor *x, *t, *pos, *pieces[3];
    USEG_TRY(useg_conv2d(ctx, images, vit->patch_w, vit->patch_b, (int)P, (int)P, 0, 0, &x)); // (B, C, h, w)
    USEG_TRY(useg_reshape(ctx, x, 3, (int64_t[]){B, C, h * w}, &t));
    USEG_TRY(useg_transpose(ctx, t, 1, 2, &x)); // (B, h*w, C)
    USEG_TRY(useg_expand(ctx, vit->cls_token, 3, (int64_t[]){B, 1, C}, &pieces[0]));
    pieces[1] = x;
    USEG_TRY(useg_concat(ctx, pieces, 2, 1, &t));
    USEG_TRY(useg_vit_pos_embed(ctx, vit, h, w, &pos));
    USEG_TRY(useg_add(ctx, t, pos, &x));
    if (!vit->register_tokens) {
        *out = x;
        return USEG_OK;
    }
    // DINOv2 registers go between CLS and the patches, after the position embedding.
    const int64_t R = vit->register_tokens->shape[1], N = x->shape[1];
    USEG_TRY(useg_slice(ctx, x, 1, 0, 1, 1, &pieces[0]));
    USEG_TRY(useg_expand(ctx, vit->register_tokens, 3, (int64_t[]){B, R, C}, &pieces[1]));
    USEG_TRY(useg_slice(ctx, x, 1, 1, N, 1, &pieces[2]));
    return useg_concat(ctx, pieces, 3, 1, out);
}

// q, k, v (B, H, N, D) from LN1(x) (B, N, C): views of the qkv product (rows
// 3C apart), which useg_attention reads in place without a tape.
static useg_status qkv_heads(useg_ctx *ctx, const useg_vit *vit, const useg_vit_block *b, useg_tensor *x,
                             useg_tensor **q, useg_tensor **k, useg_tensor **v) {
    const int64_t B = x->shape[0], N = x->shape[1], H = vit->cfg.heads, D = vit->cfg.dim / vit->cfg.heads;
    useg_tensor *y, *qkv, *t, *s;
    USEG_TRY(useg_layer_norm(ctx, x, b->norm1_w, b->norm1_b, LN_EPS, &y));
    USEG_TRY(useg_linear(ctx, y, b->qkv_w, b->qkv_b, &qkv));                         // (B, N, 3C)
    USEG_TRY(useg_reshape(ctx, qkv, 4, (int64_t[]){B, N, 3 * H, D}, &t));
    USEG_TRY(useg_permute(ctx, t, (int[]){0, 2, 1, 3}, &s));                         // (B, 3H, N, D)
    useg_tensor **parts[3] = {q, k, v};
    for (int i = 0; i < 3; i++) USEG_TRY(useg_slice(ctx, s, 1, i * H, (i + 1) * H, 1, parts[i]));
    return USEG_OK;
}

// x + ls * f, or x + f without LayerScale. In place (no tape): f is added
// into x, the forward's buffer, and the step arena is rewound to `mark`,
// releasing the branch's temporaries (f among them).
static useg_status residual(useg_ctx *ctx, useg_tensor *x, useg_tensor *f, useg_tensor *ls, bool in_place,
                            useg_arena_mark mark, useg_tensor **out) {
    if (ls) USEG_TRY(useg_mul(ctx, f, ls, &f));
    if (!in_place) return useg_add(ctx, x, f, out);
    USEG_TRY(useg_add_into(ctx, x, f));
    useg_arena_rewind(&ctx->step, mark);
    *out = x;
    return USEG_OK;
}

// One block on x (B, N, C); `in_place` (no tape): x is the forward's buffer and
// both residual sums are accumulated into it (see residual).
static useg_status block_forward(useg_ctx *ctx, const useg_vit *vit, const useg_vit_block *b, useg_tensor *x,
                                 bool in_place, useg_tensor **out) {
    const int64_t B = x->shape[0], N = x->shape[1], C = vit->cfg.dim;
    const double scale = 1.0 / sqrt((double)(C / vit->cfg.heads));
    useg_tensor *q, *k, *v, *a, *t, *y;
    useg_arena_mark mark = useg_arena_get_mark(&ctx->step);
    USEG_TRY(qkv_heads(ctx, vit, b, x, &q, &k, &v));
    USEG_TRY(useg_attention(ctx, q, k, v, scale, &a));                               // (B, H, N, D)
    USEG_TRY(useg_transpose(ctx, a, 1, 2, &t));                                      // (B, N, H, D)
    USEG_TRY(useg_reshape(ctx, t, 3, (int64_t[]){B, N, C}, &a));
    USEG_TRY(useg_linear(ctx, a, b->proj_w, b->proj_b, &t));
    USEG_TRY(residual(ctx, x, t, b->ls1, in_place, mark, &x));
    mark = useg_arena_get_mark(&ctx->step);
    USEG_TRY(useg_layer_norm(ctx, x, b->norm2_w, b->norm2_b, LN_EPS, &y));
    USEG_TRY(useg_linear(ctx, y, b->fc1_w, b->fc1_b, &t));
    USEG_TRY(useg_gelu(ctx, t, &y));
    USEG_TRY(useg_linear(ctx, y, b->fc2_w, b->fc2_b, &t));
    return residual(ctx, x, t, b->ls2, in_place, mark, out);
}

// The last block's CLS-query attention over the patch tokens: (B, H, h*w).
static useg_status cls_attention(useg_ctx *ctx, const useg_vit *vit, const useg_vit_block *b, useg_tensor *x,
                                 int64_t first_patch, useg_tensor **out) {
    const double scale = 1.0 / sqrt((double)(vit->cfg.dim / vit->cfg.heads));
    const int64_t N = x->shape[1];
    useg_tensor *q, *k, *v, *q0, *s, *t, *p;
    USEG_TRY(qkv_heads(ctx, vit, b, x, &q, &k, &v));
    USEG_TRY(useg_slice(ctx, q, 2, 0, 1, 1, &q0));                                   // (B, H, 1, D)
    USEG_TRY(useg_matmul(ctx, q0, k, false, true, &s));                              // (B, H, 1, N)
    USEG_TRY(useg_scale(ctx, s, scale, 0.0, &t));
    USEG_TRY(useg_softmax(ctx, t, -1, &p));
    USEG_TRY(useg_slice(ctx, p, 3, first_patch, N, 1, &t));
    return useg_reshape(ctx, t, 3, (int64_t[]){p->shape[0], p->shape[1], N - first_patch}, out);
}

useg_status useg_vit_forward(useg_ctx *ctx, const useg_vit *vit, useg_tensor *images, useg_vit_tap tap,
                             useg_tensor **out) {
    const useg_vit_config *cfg = &vit->cfg;
    char s[96];
    if (images->ndim != 4 || images->shape[1] != 3 || images->dtype != USEG_F32 || images->shape[0] < 1 ||
        images->shape[2] < cfg->patch || images->shape[3] < cfg->patch || images->shape[2] % cfg->patch ||
        images->shape[3] % cfg->patch)
        return useg_fail(ctx, USEG_ERR_SHAPE, "vit: images must be (B, 3, H, W) f32 with H, W multiples of %d; got %s",
                         cfg->patch, useg_shape_str(images, s, sizeof s));
    if ((unsigned)tap >= USEG_TAP_COUNT) return useg_fail(ctx, USEG_ERR_INVALID_ARG, "vit: unknown tap %d", tap);
    const int64_t B = images->shape[0], h = images->shape[2] / cfg->patch, w = images->shape[3] / cfg->patch;
    const int64_t first_patch = 1 + cfg->n_registers, C = cfg->dim;
    const int64_t N = first_patch + h * w;
    // Without a tape the tokens live in one buffer that every residual sum
    // is accumulated into (block_forward); the embedding's temporaries go too.
    const bool in_place = !ctx->grad_enabled;
    useg_tensor *x, *acc = NULL;
    if (in_place) USEG_TRY(useg_empty(ctx, NULL, USEG_F32, 3, (int64_t[]){B, N, C}, &acc));
    useg_arena_mark mark = useg_arena_get_mark(&ctx->step);
    USEG_TRY(embed(ctx, vit, images, h, w, &x));
    USEG_ASSERT(x->shape[1] == N, "vit: embedding has %lld tokens, want %lld", (long long)x->shape[1], (long long)N);
    if (in_place) {
        USEG_TRY(useg_copy_into(ctx, acc, x));
        useg_arena_rewind(&ctx->step, mark);
        x = acc;
    }
    const int last = cfg->depth - 1;
    for (int l = 0; l < last; l++) USEG_TRY(block_forward(ctx, vit, &vit->blocks[l], x, in_place, &x));
    const useg_vit_block *lb = &vit->blocks[last];
    useg_tensor *t, *y;
    switch (tap) {
    case USEG_TAP_KEYS: {
        useg_tensor *q, *k, *v;
        USEG_TRY(qkv_heads(ctx, vit, lb, x, &q, &k, &v));                            // k (B, H, N, D)
        USEG_TRY(useg_slice(ctx, k, 2, first_patch, N, 1, &t));
        USEG_TRY(useg_transpose(ctx, t, 1, 2, &y));                                  // (B, h*w, H, D)
        USEG_TRY(useg_contiguous(ctx, y, &t));
        return useg_reshape(ctx, t, 3, (int64_t[]){B, N - first_patch, C}, out);
    }
    case USEG_TAP_ATTN: return cls_attention(ctx, vit, lb, x, first_patch, out);
    case USEG_TAP_TOKENS:
    case USEG_TAP_CLS:
        USEG_TRY(block_forward(ctx, vit, lb, x, in_place, &y));
        USEG_TRY(useg_layer_norm(ctx, y, vit->norm_w, vit->norm_b, LN_EPS, &t));
        if (tap == USEG_TAP_CLS) {
            USEG_TRY(useg_slice(ctx, t, 1, 0, 1, 1, &y));
            return useg_reshape(ctx, y, 2, (int64_t[]){B, C}, out);
        }
        USEG_TRY(useg_slice(ctx, t, 1, first_patch, N, 1, &y));
        return useg_contiguous(ctx, y, out);
    case USEG_TAP_COUNT: break;
    }
    return USEG_OK;
}
