// The device half of UnSAM's conquer merge (pseudolabel/merge.h holds the
// algorithm, the tie rule and the public API): the greedy merge sequence of
// G patch grids in one launch, one thread block per grid
// (kernels/cuda/merge.cu). The kernel produces what the CPU merge loop
// produces, the merges, their weights and where each level ends; the host
// turns that sequence into levels with the same code for both devices
// (pseudolabel/merge.c), so a level can only differ where the sequence does.
#pragma once

#include <stdint.h>

#include "context.h"
#include "tensor.h"

// One grid of a batch. Inputs: features (h, w, C) f32 or f16 on the GPU,
// element strides `strides`. Outputs, in host memory the caller owns:
// merges (h*w - 1, 2) as (older, younger) node ids and merge_weight
// (h*w - 1), the first n_merges rows written; level_end (n_thresholds): the
// merges done when level t is emitted (level_end[last] = n_merges);
// first_bad: -1, or the row-major flat index (y, x, c) of the first NaN or
// infinite feature, in which case nothing else is written.
typedef struct useg_merge_grid {
    const void *features;
    useg_dtype dtype;
    int64_t h, w, C;
    int64_t strides[3];
    int32_t *merges;
    float *merge_weight;
    int32_t *level_end;
    int32_t n_merges;
    int64_t first_bad;
} useg_merge_grid;

// The greedy order of merge.h on `G` grids at once, thresholds (n_thresholds,
// strictly descending, checked by the caller). Bit for bit the CPU's
// sequence. Device workspace (from the device scratch, given back): about
// 12 h w C bytes per grid (sums in f64 and unit means in f32) plus O(h w).
// Waits for the GPU. A build without CUDA does not have it. Fails with USEG_ERR_OUT_OF_MEMORY when the device
// scratch is too small and USEG_ERR_DEVICE on a CUDA error.
useg_status useg_merge_greedy_batch_cuda(useg_ctx *ctx, useg_merge_grid *grids, int G, const double *thresholds,
                                         int n_thresholds);
