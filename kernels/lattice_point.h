// Where a point sits in the permutohedral lattice (kernels/permutohedral.h),
// shared by the CPU build and its CUDA twin (host_device.h) so both find the
// same simplex with the same weights: the feature scaling, and the enclosing
// simplex of one point in densecrf's float arithmetic. The CUDA files that
// include this are compiled with -fmad=false, so no multiply-add is fused
// where the CPU rounds twice.
#pragma once

#include <math.h>
#include <stdint.h>

#include "host_device.h"
#include "permutohedral.h"

enum { USEG_LATTICE_D1_MAX = USEG_LATTICE_MAX_D + 1 };

// Per-axis scale of the elevation, densecrf's: double arithmetic, stored as float.
USEG_HD void useg_lattice_scale(int d, float *scale) {
    const float inv_std_dev = (float)(sqrt(2.0 / 3.0) * (d + 1));
    for (int i = 0; i < d; i++) scale[i] = (float)(1.0 / sqrt((double)((i + 2) * (i + 1))) * inv_std_dev);
}

// The enclosing simplex of one feature vector f (d): corner keys (d+1, d)
// and barycentric weights (d+1), in densecrf's float arithmetic.
USEG_HD void useg_lattice_locate(const float *f, int d, const float *scale, int32_t *keys, float *weight) {
    float elevated[USEG_LATTICE_D1_MAX], rem0[USEG_LATTICE_D1_MAX], bary[USEG_LATTICE_D1_MAX + 1];
    int rank[USEG_LATTICE_D1_MAX];
    const float down = 1.0f / (float)(d + 1), up = (float)(d + 1);
    // Elevate: elevated_j = sum_{i >= j} c_i - j c_{j-1}, c_i = f_i scale_i.
    float sm = 0;
    for (int j = d; j > 0; j--) {
        float cf = f[j - 1] * scale[j - 1];
        elevated[j] = sm - (float)j * cf;
        sm += cf;
    }
    elevated[0] = sm;
    // Nearest point of the 0-coloured sublattice (multiples of d+1).
    int sum = 0;
    for (int i = 0; i <= d; i++) {
        float v = rintf(down * elevated[i]);
        rem0[i] = v * up;
        sum += (int)v;
    }
    // Rank of each coordinate's remainder (ties: the later coordinate ranks higher).
    for (int i = 0; i <= d; i++) rank[i] = 0;
    for (int i = 0; i < d; i++) {
        float di = elevated[i] - rem0[i];
        for (int j = i + 1; j <= d; j++) {
            if (di < elevated[j] - rem0[j])
                rank[i]++;
            else
                rank[j]++;
        }
    }
    // Bring the rounded point back onto the plane (coordinate sum 0).
    for (int i = 0; i <= d; i++) {
        rank[i] += sum;
        if (rank[i] < 0) {
            rank[i] += d + 1;
            rem0[i] += up;
        } else if (rank[i] > d) {
            rank[i] -= d + 1;
            rem0[i] -= up;
        }
    }
    for (int i = 0; i <= d + 1; i++) bary[i] = 0;
    for (int i = 0; i <= d; i++) {
        float v = (elevated[i] - rem0[i]) * down;
        bary[d - rank[i]] += v;
        bary[d - rank[i] + 1] -= v;
    }
    bary[0] += 1.0f + bary[d + 1];
    // Corner r: coordinate i moves by r, or by r - (d+1) when its rank is past d - r.
    for (int r = 0; r <= d; r++) {
        for (int i = 0; i < d; i++) keys[r * d + i] = (int32_t)rem0[i] + (rank[i] <= d - r ? r : r - (d + 1));
        weight[r] = bary[r];
    }
}
