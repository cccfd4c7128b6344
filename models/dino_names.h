// DINO / DINOv2 ViT backbones in checkpoints: where the backbone's tensors
// are, which model it is, and loading its tensors by their canonical names.
//
// Canonical names (those of the released backbone state dicts,
// dino_vitbase8_pretrain.pth and the DINOv2 hub weights), with D the embed
// dim, T the position-embedding rows, P the patch size, Hd the MLP width:
//   cls_token (1, 1, D)           pos_embed (1, T, D)
//   patch_embed.proj.weight (D, 3, P, P)   patch_embed.proj.bias (D)
//   blocks.N.norm1.{weight,bias} (D)       blocks.N.norm2.{weight,bias} (D)
//   blocks.N.attn.qkv.weight (3D, D)       blocks.N.attn.qkv.bias (3D)
//   blocks.N.attn.proj.weight (D, D)       blocks.N.attn.proj.bias (D)
//   blocks.N.mlp.fc1.weight (Hd, D)        blocks.N.mlp.fc1.bias (Hd)
//   blocks.N.mlp.fc2.weight (D, Hd)        blocks.N.mlp.fc2.bias (D)
//   norm.{weight,bias} (D)
// DINOv2 adds blocks.N.ls1.gamma, blocks.N.ls2.gamma (D) (LayerScale),
// mask_token (1, D) and, for the "_reg" models, register_tokens (1, R, D).
//
// Checkpoints hold these under a prefix: none for the released backbones,
// "teacher." / "student.module." + "backbone." for DINO training
// checkpoints (main_dino.py saves {'teacher', 'student', 'optimizer',
// 'epoch', 'args', 'dino_loss'}), "module." for DDP-wrapped state dicts,
// "model.teacher.backbone." and the like for DINOv2 training checkpoints.
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "checkpoint.h"

typedef struct useg_dino_arch {
    int version;             // 1: DINO, 2: DINOv2 (LayerScale or mask_token present)
    bool layerscale;         // blocks.N.ls1.gamma / ls2.gamma scale the residual branches
    char prefix[256];        // prefix of the backbone's names in the checkpoint
    int64_t embed_dim;       // D
    int64_t depth;           // blocks
    int64_t heads;           // D / 64: every DINO/DINOv2 ViT uses 64-wide heads (S 6, B 12, L 16, g 24)
    int64_t patch_size;      // P
    int64_t mlp_hidden;      // Hd
    int64_t pos_tokens;      // T = 1 + pos_grid^2
    int64_t pos_grid;        // the position grid side (14 for 224 / 16, 37 for DINOv2's 518 / 14)
    int64_t num_registers;   // R, 0 without register tokens
} useg_dino_arch;

// Find the backbone in `ck` and describe it. The prefix is that of a
// "...cls_token" name; with several (a training checkpoint), one under
// "teacher" wins, then one not under "student" (DINO evaluates the
// teacher). The architecture is read from the tensor shapes, then every
// tensor the architecture needs is checked to exist with its shape, so a
// model that loads after this call finds everything. Fails with
// USEG_ERR_FORMAT (no cls_token, an inconsistent or missing tensor, naming
// it), USEG_ERR_SHAPE (a mis-shaped one, naming it and both shapes) or
// USEG_ERR_UNSUPPORTED (SwiGLU MLPs of ViT-g, FSDP-chunked blocks of DINOv2
// training checkpoints).
useg_status useg_dino_detect(useg_ctx *ctx, const useg_checkpoint *ck, useg_dino_arch *arch);

// Load the backbone tensor of canonical name `name` (e.g. "blocks.3.attn.qkv.weight")
// with useg_checkpoint_get: arch->prefix + name, checked against `shape`.
useg_status useg_dino_get(useg_ctx *ctx, const useg_checkpoint *ck, const useg_dino_arch *arch, const char *name,
                          int ndim, const int64_t *shape, useg_tensor **out);
