// The permutohedral lattice: fast high-dimensional Gaussian filtering
// (Adams, Baek and Davis, Eurographics 2010), as Krähenbühl and Koltun's
// densecrf uses it for the dense CRF's message passing.
//
// Filtering N points with features f (N, d) and values v (N, V) computes,
// approximately,
//   out_i = sum_j k(f_i, f_j) v_j,   k(a, b) ~ exp(-|a - b|^2 / 2) up to a scale,
// the point itself included (densecrf's CRF relies on that: its normalisation
// divides it back out). The caller scales the features by 1/sigma.
//
// Build once per feature set (useg_lattice_build_cpu), then filter as many
// value sets as needed (useg_lattice_filter_cpu). The CUDA twins (`_cuda`
// suffix, below) take the same arguments with device pointers.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "context.h"

// Feature dimensions accepted (densecrf's kernels use 2 and 5).
#define USEG_LATTICE_MAX_D 16

// A built lattice. Vertex slots are numbered from 1; slot 0 stands for "no
// vertex there" and always holds zero, so the blur needs no branch.
typedef struct useg_lattice {
    int d;                 // feature dimensions
    int64_t n;             // points
    int64_t m;             // lattice vertices (slots 1..m)
    int32_t *corner;       // (N, d+1) slot of each corner of the point's enclosing simplex
    float *weight;         // (N, d+1) barycentric weight of that corner
    int32_t *blur;         // (d+1, M, 2) slots of the two neighbours along each lattice axis, 0 if absent
    int64_t *splat_start;  // (M+1) slot s gathers entries splat_start[s-1] .. splat_start[s]-1 of:
    int32_t *splat_point;  // (N*(d+1)) the points at its corners, in increasing order
    float *splat_weight;   // (N*(d+1)) and their weights
} useg_lattice;

// Build the lattice of n points with features `features` (N, d), row-major,
// already divided by the kernel's standard deviations. Everything the lattice
// holds (about 4(d+1)(d+4)N + 8(d+2)M bytes for M vertices) and the
// build's temporaries come from arena `a`: rewind it to free the lattice.
// Fails with USEG_ERR_INVALID_ARG for d outside 1..USEG_LATTICE_MAX_D, n < 1,
// too many points for 32-bit indices, or a non-finite or huge (|f| > 1e7)
// feature; USEG_ERR_OUT_OF_MEMORY when the arena says no.
useg_status useg_lattice_build_cpu(useg_ctx *ctx, useg_arena *a, const float *features, int64_t n, int d,
                                   useg_lattice *lat);

// USEG_ERR_INVALID_ARG unless 1 <= d <= USEG_LATTICE_MAX_D and 1 <= n with
// every corner index fitting an int32 (the builds' size checks).
useg_status useg_lattice_check_size(useg_ctx *ctx, int64_t n, int d);

// Bytes of workspace useg_lattice_filter_cpu needs for v values per point.
size_t useg_lattice_workspace_size(const useg_lattice *lat, int v);

// out (N, V) = lattice filter of in (N, V); in == out is allowed. The
// workspace (useg_lattice_workspace_size bytes, 64-byte aligned) is
// overwritten. Deterministic for any thread count: every sum runs in a fixed
// order, the order densecrf's sequential code uses, so results match it bit
// for bit given the same lattice. Cannot fail on the CPU; the status is there
// for the CUDA twin's launch errors.
useg_status useg_lattice_filter_cpu(useg_ctx *ctx, const useg_lattice *lat, const float *in, float *out, int v,
                                    void *workspace);

// The same filter over v values that are v / group independent sets of
// `group` values (several CRFs sharing one lattice): each set is filtered
// with the rounding densecrf uses for a filter of `group` values, so it gets
// exactly what useg_lattice_filter_cpu gives it alone. group divides v.
useg_status useg_lattice_filter_groups_cpu(useg_ctx *ctx, const useg_lattice *lat, const float *in, float *out, int v,
                                           int group, void *workspace);

// --- CUDA (kernels/cuda/permutohedral.cu) ----------------------------------------------
// useg_lattice_build_cpu on the GPU: the same vertices, neighbours, corner
// weights and per-vertex splat order (increasing point), so the filters
// agree bit for bit; slots are numbered in sorted key order instead of first
// appearance, which no filter result depends on. Device pointers; the
// lattice's arrays and the build's temporaries come from the device arena
// with the lifetime of host arena `a`. Waits for the GPU (reads the vertex
// count back). Fails as the CPU build (a bad feature is found on the device),
// or with USEG_ERR_DEVICE.
useg_status useg_lattice_build_cuda(useg_ctx *ctx, useg_arena *a, const float *features, int64_t n, int d,
                                    useg_lattice *lat);

// useg_lattice_filter_groups_cpu on the GPU (device in, out and workspace of
// useg_lattice_workspace_size bytes): gathers only, no atomics, the CPU's
// sums in the CPU's order.
useg_status useg_lattice_filter_groups_cuda(useg_ctx *ctx, const useg_lattice *lat, const float *in, float *out,
                                            int v, int group, void *workspace);
