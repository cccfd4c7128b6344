// Normalized-cut kernels (MaskCut, TokenCut): the thresholded-cosine affinity
// graph, stored as a bit matrix, and the second eigenpair of its generalised
// Laplacian problem, solved by Lanczos.
//
// The graph. Patches i, j with unit-normalised features f_i, f_j are linked
// when S_ij = f_i . f_j > tau; W_ij = 1 for a link and eps otherwise. W takes
// two values only, so it is stored as the 0/1 link matrix A, one bit per pair
// (3600 patches: 1.6 MB instead of 52 MB of f32 or 104 MB of f64), and
//     W x = eps * sum(x) 1 + (1 - eps) * A x,
// exact in f64. Measured at n = 3600 on one core of this machine's Xeon
// (best of 30): A x in f64 by AVX-512 masked adds 1.07 ms; a dense f32 W
// by OpenBLAS sgemv 1.8 ms (and only because this VM's 480 MB L3 holds the
// 52 MB; a desktop streams it from DRAM) and f32 rounding; a dense f64 W by
// dgemv 5-10 ms.
//
// The eigenproblem. (D - W) y = lambda D y, D = diag(W 1). With z = D^(1/2) y
// it is the symmetric problem for M = D^(-1/2) W D^(-1/2), whose eigenvalues
// mu = 1 - lambda lie in [-1, 1]. The top pair is known: mu = 1,
// z0 = D^(1/2) 1 / |D^(1/2) 1|. The second-smallest lambda is the largest mu
// on the complement of z0, found by Lanczos on M with every Lanczos vector
// kept orthogonal to z0 and to the earlier vectors (full
// reorthogonalisation). No dense factorisation is formed; memory is
// max_iter vectors of n doubles. The result is y = D^(-1/2) z with z a unit
// vector, so y' D y = 1, the normalisation of LAPACK's dsygv and of
// scipy.linalg.eigh(D - W, D).
//
// Conventions fixed here (the reference leaves them to LAPACK):
//   start vector  components drawn from PCG32 (core/rng.h) with a fixed seed
//                 (USEG_NCUT_START_SEED), projected off z0: the same on every
//                 run, thread count and device.
//   sign          y is returned with its first largest-magnitude component
//                 positive (y[argmax |y|] > 0, first index on ties).
//   twins         nodes with identical rows of A (masked patches, repeated
//                 features) have equal entries in the exact eigenvector; y
//                 holds each such class at its mean, so they tie exactly
//                 instead of differing by the solver's rounding (unless
//                 lambda_2 = 1, where they need not be equal).
//   repeated      when lambda_2 is repeated (every patch linked to every
//   eigenvalue    other, or every patch masked: W constant) the eigenvector is
//                 not unique; the one returned is the start vector's
//                 component in the eigenspace (deterministic, exact residual).
//
// CUDA twins (_cuda suffix, below) build and restrict the graph on the GPU
// and solve a batch of graphs in one launch: the graph's `device` says where
// its arrays live. They follow the CPU algorithm step for step (shared code
// in spectral_common.h); only summation orders differ, so vectors agree with
// the CPU's to the solver's tolerance, not bit for bit.
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "context.h"
#include "tensor.h"

// Seed of the start vector's PCG32 stream.
#define USEG_NCUT_START_SEED 0x6e637574u // "ncut"

typedef struct useg_ncut_graph {
    int64_t n;        // nodes (patches), >= 2
    int64_t words;    // 64-bit words per row of adj: ceil(n / 64)
    double eps;       // weight of a non-link, 0 < eps <= 1
    uint64_t *adj;    // (n, words): bit (j % 64) of adj[i * words + j / 64] is A_ij; bits j >= n are 0
    double *degree;   // (n,) d_i = sum_j W_ij = |A_i| + (n - |A_i|) * eps
    useg_device device; // where adj and degree live (USEG_DEVICE_CPU for the _cpu functions)
} useg_ncut_graph;

typedef struct useg_ncut_eig_options {
    int max_iter;     // most Lanczos steps (products with M); 0: 300
    double tol;       // converged when |M z - mu z| <= tol for the unit Ritz vector z; 0: 1e-8
} useg_ncut_eig_options;

typedef struct useg_ncut_eig_info {
    double eigenvalue; // lambda_2 = 1 - mu_2
    double residual;   // |M z - mu z| of the returned z, recomputed with one more product
    int iterations;    // Lanczos steps taken
    bool converged;    // the residual estimate reached tol (or the Krylov space became invariant)
} useg_ncut_eig_info;

// The graph of features `feats` (n, c) f32, row-major, contiguous: rows are
// scaled to unit length (x / max(|x|, 1e-12), as torch's F.normalize; a zero
// row stays zero, so it links to nothing when tau >= 0 and to every patch when
// tau < 0), S = F F' by GEMM, A_ij = (S_ij > (float)tau), degrees from A.
// Only the lower triangle of S is computed; A is its mirror image, so it is
// exactly symmetric. adj and degree are allocated in arena `a`.
// Checks on arguments are the caller's (pseudolabel/ncut.c); fails only when
// memory or the BLAS library is missing.
useg_status useg_ncut_affinity_cpu(useg_ctx *ctx, useg_arena *a, const float *feats, int64_t n, int64_t c,
                                   double tau, double eps, useg_ncut_graph *g);

// The graph of the same features with the rows of the patches where live[i]
// is 0 set to zero (MaskCut's masking of found objects): their links become
// all 1 when tau < 0, all 0 otherwise (S = 0 with everything); links between
// live patches are kept. out's arrays are allocated in arena `a`.
useg_status useg_ncut_restrict_cpu(useg_ctx *ctx, useg_arena *a, const useg_ncut_graph *g, const uint8_t *live,
                                   double tau, useg_ncut_graph *out);

// y (n,): the generalised eigenvector of the second-smallest eigenvalue of
// (D - W) y = lambda D y, with the conventions above; *info gets the
// eigenvalue and the convergence record. Not converging within max_iter is
// not an error: y is then the best Ritz vector and info->converged is false.
// Workspace comes from ctx->scratch and is given back. Fails only when memory
// runs out.
useg_status useg_ncut_fiedler_cpu(useg_ctx *ctx, const useg_ncut_graph *g, const useg_ncut_eig_options *opt,
                                  double *y, useg_ncut_eig_info *info);

// --- CUDA (kernels/cuda/spectral.cu) ------------------------------------------------
// Device pointers throughout; the graph's arrays come from the device arena
// with the lifetime of host arena `a` (ctx->step, ->scratch or ->params). A
// build without CUDA has none of these (a CUDA tensor cannot exist there).

// useg_ncut_affinity_cpu on the GPU: S = F F' by cuBLAS in f32 (never TF32:
// its 1e-3 error would flip links), A_ij from the lower triangle
// (S_max(i,j),min(i,j) > tau), so A is exactly symmetric. Unlike the CPU
// twin it checks the features itself (reading 8 bytes back): a NaN or
// infinite value fails with USEG_ERR_INVALID_ARG naming the first one.
useg_status useg_ncut_affinity_cuda(useg_ctx *ctx, useg_arena *a, const float *feats, int64_t n, int64_t c,
                                    double tau, double eps, useg_ncut_graph *g);

// useg_ncut_restrict_cpu on the GPU; live (n) bytes on the device.
useg_status useg_ncut_restrict_cuda(useg_ctx *ctx, useg_arena *a, const useg_ncut_graph *g, const uint8_t *live,
                                    double tau, useg_ncut_graph *out);

// useg_ncut_fiedler_cpu for `batch` device graphs (each n >= 2, sizes may
// differ) in one launch, one thread block per graph: y[b] (graphs[b].n
// doubles, device) and info[b] (host). Each block runs the CPU's Lanczos
// (same start vector, z0 deflation, full reorthogonalisation twice,
// convergence test, iteration cap, twin rule and sign rule); every
// reduction is a fixed tree, so results are the same run to run. Waits for
// the GPU (info is read back). Fails with USEG_ERR_OUT_OF_MEMORY when the
// device scratch cannot hold the Krylov bases (max_iter x n doubles per
// graph), USEG_ERR_DEVICE for a CUDA error.
useg_status useg_ncut_fiedler_batch_cuda(useg_ctx *ctx, const useg_ncut_graph *graphs, int batch,
                                         const useg_ncut_eig_options *opt, double *const *y,
                                         useg_ncut_eig_info *info);
