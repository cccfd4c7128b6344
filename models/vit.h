// Vision Transformers of DINO (v1) and DINOv2, inference and training-ready.
//
// Architecture (PAPERS.md 1.1): patch-embedding conv (kernel = stride = P),
// CLS token (+ DINOv2's optional register tokens), learned position embeddings
// interpolated bicubically to the input grid with DINO's "+0.1" offset, L
// pre-norm blocks (LN -> MHSA -> residual; LN -> MLP(GELU) -> residual; DINOv2
// adds LayerScale on both branches), final LayerNorm. LN eps 1e-6.
//
// Feature taps (do not mix them up):
//   USEG_TAP_KEYS    last block's keys: LN1(input of block L) -> qkv -> K, heads
//                    concatenated, CLS (and registers) dropped; no final LN.   (B, h*w, C)
//   USEG_TAP_TOKENS  final-LN patch tokens of the last block.                  (B, h*w, C)
//   USEG_TAP_CLS     final-LN CLS token.                                       (B, C)
//   USEG_TAP_ATTN    last block's CLS-query attention over the patches, per head. (B, H, h*w)
//
// Memory: in a no-grad scope each block's temporaries are released once the
// block is done (the step arena is rewound), so peak memory is one block's
// activations, not the whole network's.
#pragma once

#include <stdbool.h>

#include "context.h"

typedef enum useg_vit_tap {
    USEG_TAP_KEYS,
    USEG_TAP_TOKENS,
    USEG_TAP_CLS,
    USEG_TAP_ATTN,
    USEG_TAP_COUNT
} useg_vit_tap;

typedef struct useg_vit_config {
    int patch;          // 8, 14 or 16
    int dim;            // 384 (S) or 768 (B)
    int depth;          // 12
    int heads;          // 6 (S) or 12 (B)
    int mlp_hidden;     // 4 * dim
    int pos_grid;       // side of the grid the position embeddings were trained on (14, 37, ...)
    int n_registers;    // DINOv2 register tokens (0 for DINO v1 and plain DINOv2)
    bool layer_scale;   // DINOv2's ls1/ls2
} useg_vit_config;

typedef struct useg_vit_block {
    useg_tensor *norm1_w, *norm1_b;   // (C)
    useg_tensor *qkv_w, *qkv_b;       // (3C, C), (3C)
    useg_tensor *proj_w, *proj_b;     // (C, C), (C)
    useg_tensor *norm2_w, *norm2_b;   // (C)
    useg_tensor *fc1_w, *fc1_b;       // (M, C), (M)
    useg_tensor *fc2_w, *fc2_b;       // (C, M), (C)
    useg_tensor *ls1, *ls2;           // (C), DINOv2 only
} useg_vit_block;

enum { USEG_VIT_MAX_DEPTH = 40 };

typedef struct useg_vit {
    useg_vit_config cfg;
    useg_tensor *patch_w, *patch_b;   // (C, 3, P, P), (C)
    useg_tensor *cls_token;           // (1, 1, C)
    useg_tensor *register_tokens;     // (1, R, C) or NULL
    useg_tensor *pos_embed;           // (1, 1 + G*G, C)
    useg_tensor *norm_w, *norm_b;     // (C)
    useg_vit_block blocks[USEG_VIT_MAX_DEPTH];
} useg_vit;

// The standard configurations: "vit_small" / "vit_base" with patch 8 or 16
// (DINO v1, pos grid 224 / P), "dinov2_vits14" / "dinov2_vitb14" (pos grid 37,
// LayerScale). Returns false for an unknown name or patch.
bool useg_vit_config_named(const char *name, int patch, useg_vit_config *cfg);

// Load a DINO / DINOv2 backbone from a .pth or .safetensors checkpoint, with
// any prefix models/dino_names.h knows (released backbones, training
// checkpoints, DDP state dicts). The architecture is read from the tensor
// shapes; weights go to ctx->params as f32. Fails with the checkpoint's
// status and a message naming the file and the tensor.
useg_status useg_vit_load(useg_ctx *ctx, const char *path, useg_vit *vit);

// Allocate every weight in ctx->params with timm-style random values from
// ctx->rng (for tests and benchmarks; real use loads a checkpoint).
useg_status useg_vit_init_random(useg_ctx *ctx, const useg_vit_config *cfg, useg_vit *vit);

// Run the backbone on images (B, 3, H, W) (ImageNet-normalised, f32; H and W
// multiples of the patch) and return the requested tap (shapes above) in
// ctx->step. Fails with USEG_ERR_SHAPE for a bad image shape.
useg_status useg_vit_forward(useg_ctx *ctx, const useg_vit *vit, useg_tensor *images, useg_vit_tap tap,
                             useg_tensor **out);

// The position embeddings for an h x w patch grid, (1, 1 + h*w, C): unchanged
// when h == w == pos_grid, else bicubic interpolation of the patch part with
// the reference's scale factors (h + 0.1) / G and (w + 0.1) / G.
useg_status useg_vit_pos_embed(useg_ctx *ctx, const useg_vit *vit, int64_t h, int64_t w, useg_tensor **out);
