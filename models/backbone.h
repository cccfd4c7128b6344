// A backbone: the DINO / DINOv2 ViT when a checkpoint is given, the
// weights-free handcrafted descriptor otherwise, behind one interface, with
// the preprocessing every pipeline shares (PAPERS.md 1.1 and 2.2 steps 1-3:
// resize to a fixed square with a PIL filter, round the side down to a
// multiple of the patch, ImageNet normalisation).
#pragma once

#include "context.h"
#include "resize.h"
#include "vit.h"

typedef enum useg_backbone_kind { USEG_BACKBONE_HANDCRAFTED, USEG_BACKBONE_VIT } useg_backbone_kind;

typedef struct useg_backbone {
    useg_backbone_kind kind;
    int patch;
    useg_vit vit;        // USEG_BACKBONE_VIT only
    char name[64];       // "handcrafted/8", "vit_base/8", "dinov2_vits14", ... for outputs
} useg_backbone;

// The ViT of the checkpoint at `weights`, or the handcrafted backbone with
// patch `handcrafted_patch` when weights is NULL. Weights go to ctx->params.
useg_status useg_backbone_open(useg_ctx *ctx, const char *weights, int handcrafted_patch, useg_backbone *bb);

// img (H, W, 3) u8 -> (1, 3, S', S') normalised f32 in ctx->step, where S' is
// `size` rounded down to a multiple of the patch (at least one patch).
useg_status useg_backbone_prepare(useg_ctx *ctx, const useg_backbone *bb, const useg_tensor *img, int64_t size,
                                  useg_resample filter, useg_tensor **out);

// The tap on prepared images (B, 3, H, W); shapes as in vit.h.
useg_status useg_backbone_forward(useg_ctx *ctx, const useg_backbone *bb, useg_tensor *images, useg_vit_tap tap,
                                  useg_tensor **out);
