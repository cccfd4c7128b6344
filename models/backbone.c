#include "backbone.h"

#include <stdio.h>

#include "handcrafted.h"

useg_status useg_backbone_open(useg_ctx *ctx, const char *weights, int handcrafted_patch, useg_backbone *bb) {
    if (!weights) {
        if (handcrafted_patch < 2 || handcrafted_patch > 64)
            return useg_fail(ctx, USEG_ERR_INVALID_ARG, "handcrafted backbone: patch %d outside 2..64",
                             handcrafted_patch);
        *bb = (useg_backbone){.kind = USEG_BACKBONE_HANDCRAFTED, .patch = handcrafted_patch};
        snprintf(bb->name, sizeof bb->name, "handcrafted/%d", handcrafted_patch);
        return USEG_OK;
    }
    bb->kind = USEG_BACKBONE_VIT;
    USEG_TRY(useg_vit_load(ctx, weights, &bb->vit));
    const useg_vit_config *c = &bb->vit.cfg;
    bb->patch = c->patch;
    snprintf(bb->name, sizeof bb->name, "%s_d%d_h%d/%d%s", c->layer_scale ? "dinov2_vit" : "dino_vit", c->dim,
             c->heads, c->patch, c->n_registers ? "_reg" : "");
    return USEG_OK;
}

useg_status useg_backbone_prepare(useg_ctx *ctx, const useg_backbone *bb, const useg_tensor *img, int64_t size,
                                  useg_resample filter, useg_tensor **out) {
    int64_t side = size / bb->patch * bb->patch;
    if (side < bb->patch) side = bb->patch;
    useg_tensor *resized;
    USEG_TRY(useg_image_resize(ctx, img, side, side, filter, NULL, &resized));
    return useg_image_normalize(ctx, resized, useg_imagenet_mean, useg_imagenet_std, NULL, out);
}

useg_status useg_backbone_forward(useg_ctx *ctx, const useg_backbone *bb, useg_tensor *images, useg_vit_tap tap,
                                  useg_tensor **out) {
    if (bb->kind == USEG_BACKBONE_VIT) return useg_vit_forward(ctx, &bb->vit, images, tap, out);
    return useg_handcrafted_forward(ctx, bb->patch, images, tap, out);
}
