// MaskCut (CutLER's pseudo-mask generator) up to the patch masks, before the
// CRF: N successive normalized cuts of a patch-feature graph, each giving the
// connected object around the cut's peak, with the patches of found objects
// masked out of later cuts (docs/PAPERS.md 2.2, steps 4-12).
//
// Per cut t = 0 .. N-1, with y the second generalised eigenvector of the
// graph of the live patches (kernels/spectral.h):
//   1. B = { i : y_i > mean(y) }.
//   2. s0 = argmax |y_i|; nc = number of the 4 grid corners in B (a corner is
//      counted once per corner name, so a 1-wide grid counts a patch twice,
//      as the reference indexes it). Reverse (B = complement) when nc >= 3,
//      else when s0 is not in B. Seed = argmin y if reversed, else argmax y
//      (first index on ties, as numpy's argmax).
//   3. M = the 4-connected component of B holding the seed.
//   4. t >= 1: M = {} when IoU(M, M_prev) > max_iou (IoU in f32 as the
//      reference's torch metric; 0/0 is NaN, which never exceeds) or when
//      |M| / h / w <= min_area. M_prev = M.
//   5. The output mask is M minus every earlier M (the reference subtracts
//      earlier masks at image level; nearest upsampling by an integer factor
//      commutes with that). Painting += M: those patches' features are zero
//      in later cuts.
//
// Sign. Step 2 is not invariant under y -> -y: write A for the side of the
// mean that holds s0. If s0 is above the mean, the corner rule applies
// (foreground A, or its complement when A holds >= 3 corners); if s0 is below
// the mean both branches of the rule pick A and the corner rule never acts.
// The reference takes whatever sign LAPACK's dsygvx returns (PAPERS.md 2.2,
// 9.6), so it mixes the two behaviours. useg fixes the sign per cut with
// `sign`: USEG_MASKCUT_PEAK_POSITIVE (default) puts s0 above the mean, so the
// corner prior of the paper always applies; USEG_MASKCUT_PEAK_NEGATIVE
// reproduces the other behaviour (foreground = the peak's side, no corner
// prior). The tests check both against the reference algorithm fed the same
// sign.
//
// Early stop (off by default, the reference always makes N cuts). With
// early_stop the chain ends before emitting cut t >= 1 when
//   - the cut was rejected by step 4 (a rejected cut leaves the features as
//     they were, so the reference's next cut finds the same region again and
//     keeps it: the duplicate masks of CutLER #31/#45/#73), or
//   - its mask (after step 5) covers at most min_area of the grid: it adds
//     nothing new. Typically the cut separated the masked patches from the
//     rest and picked the masked side: masked patches have degree n eps, so
//     y = D^(-1/2) z peaks among them. This also ends a chain whose masks
//     already cover the grid.
// The cut that stops the chain is not reported; masks 0 .. count-1 are the
// ones the reference would produce first.
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "context.h"
#include "spectral.h"
#include "tensor.h"

typedef enum useg_maskcut_sign {
    USEG_MASKCUT_PEAK_POSITIVE, // y[argmax |y|] > 0: the corner prior applies (default)
    USEG_MASKCUT_PEAK_NEGATIVE, // y[argmax |y|] < 0: foreground is the peak's side
} useg_maskcut_sign;

typedef struct useg_maskcut_options {
    double tau;                 // link when cosine > tau; -1 <= tau < 1 (MaskCut 0.15, argparse 0.2)
    double eps;                 // weight of a non-link; 0 < eps <= 1 (1e-5)
    int n_masks;                // N, cuts per image, >= 1 (3)
    double max_iou;             // step 4 IoU bound (0.5)
    double min_area;            // step 4 area bound, fraction of the grid (0.01)
    bool early_stop;            // see above (false)
    useg_maskcut_sign sign;     // see above (USEG_MASKCUT_PEAK_POSITIVE)
    useg_ncut_eig_options eig;  // eigensolver (defaults: 300 steps, tol 1e-8)
} useg_maskcut_options;

// The reference's published settings: tau 0.15, eps 1e-5, N 3, IoU 0.5, area 0.01.
useg_maskcut_options useg_maskcut_default_options(void);

typedef struct useg_maskcut_info {
    double eigenvalue;   // lambda_2 of the cut's graph
    double residual;     // eigensolver residual (kernels/spectral.h)
    int iterations;      // Lanczos steps
    bool converged;
    bool reversed;       // foreground is the side at or below the mean
    bool rejected;       // step 4 emptied the mask
    int64_t seed;        // seed patch, row-major index in the grid
    int64_t area;        // patches in the seed's component before step 4
} useg_maskcut_info;

// Graph of features `feats` (n, C) f32 (rows: patches; zero rows allowed:
// masked patches), as in kernels/spectral.h; the arrays go to arena `a`
// (ctx->step when NULL), on the features' device (g->device: a CUDA tensor
// builds the graph on the GPU). Fails with USEG_ERR_SHAPE (not 2-D, n < 2,
// C < 1, not f32), USEG_ERR_INVALID_ARG (tau outside [-1, 1), eps outside
// (0, 1], a NaN or infinite feature), USEG_ERR_UNSUPPORTED (a CUDA tensor in
// a build without CUDA).
useg_status useg_ncut_affinity(useg_ctx *ctx, useg_arena *a, const useg_tensor *feats, double tau, double eps,
                               useg_ncut_graph *g);

// y (n,) f64 in ctx->step, on g's device: the second generalised
// eigenvector of g (kernels/spectral.h conventions: y' D y = 1,
// y[argmax |y|] > 0). opt may be NULL (defaults). info gets the eigenvalue and convergence record.
useg_status useg_ncut_fiedler(useg_ctx *ctx, const useg_ncut_graph *g, const useg_ncut_eig_options *opt,
                              useg_tensor **y, useg_ncut_eig_info *info);

// MaskCut on a grid of patch features `feats` (h, w, C) f32 (any strides),
// on the CPU or on the GPU (CUDA features: graph and eigensolves there, the
// per-cut logic on the host; masks and info on the host either way).
// *masks = (count, h, w) u8 0/1 in ctx->step; info[0 .. count-1] (caller's
// array of opt->n_masks entries) describe the cuts, the rest of the array is
// unspecified. count = n_masks unless early_stop ended the chain. Fails like useg_ncut_affinity, and with
// USEG_ERR_INVALID_ARG for n_masks < 1, max_iou or min_area outside [0, 1].
useg_status useg_maskcut(useg_ctx *ctx, const useg_tensor *feats, const useg_maskcut_options *opt,
                         useg_tensor **masks, useg_maskcut_info *info, int *count);
