// The dense CRF's parameters (pseudolabel/crf.h, where the presets and the
// tensor-level API live) and its mean-field inference on the GPU
// (kernels/cuda/permutohedral.cu), declared here so the CUDA kernels need
// nothing from pseudolabel/.
#pragma once

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "context.h"
#include "host_device.h"

typedef struct useg_crf_params {
    float w_gauss;        // Potts weight of the smoothness kernel
    float sxy_gauss;      // its position sigma, pixels
    float w_bilateral;    // Potts weight of the appearance kernel
    float sxy_bilateral;  // its position sigma, pixels
    float srgb;           // its colour sigma, 0..255 units
    int iterations;       // mean-field iterations
    bool bgr;             // read the image's channels in reverse order (see below)
} useg_crf_params;

// pseudolabel/crf.c's dense_crf on the GPU: G CRFs of L labels on one image
// (H, W, 3) u8, unary (G, L, H, W) f32 -> labels (G, H, W) u8 and, when
// q_out is not NULL, Q (G, L, H, W) f32; device pointers, contiguous, params
// checked by the caller. The same lattices (same vertices, neighbours and
// splat order) and the same float operations in the same order as the CPU;
// the lattice kernels are built with -fmad=false so nothing is fused. Only
// expf differs (CUDA's is within 2 ulp of glibc's), so Q agrees to float
// rounding and labels agree except where two labels tie to rounding.
// Workspaces come from the device scratch arena and are given back; waits
// for the GPU (the lattice sizes are read back). Fails with
// USEG_ERR_OUT_OF_MEMORY or USEG_ERR_DEVICE.
useg_status useg_dense_crf_cuda(useg_ctx *ctx, const uint8_t *image, const float *unary, int64_t H, int64_t W, int G,
                                int L, const useg_crf_params *p, uint8_t *labels, float *q_out);

// qp (L) = exp(xp - max) / sum, one point's labels (the mean field's
// normalisation, shared by the CPU and CUDA loops so both sum alike).
USEG_HD void useg_crf_softmax(const float *xp, float *qp, int L) {
    float mx = xp[0];
    for (int k = 1; k < L; k++) mx = xp[k] > mx ? xp[k] : mx;
    float sum = 0;
    for (int k = 0; k < L; k++) sum += qp[k] = expf(xp[k] - mx);
    for (int k = 0; k < L; k++) qp[k] /= sum;
}
