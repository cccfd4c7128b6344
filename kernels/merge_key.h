// The merge's edge order (pseudolabel/merge.h), shared by the CPU merge
// (pseudolabel/merge.c) and its CUDA twin (kernels/cuda/merge.cu) so both
// pick the same edge: weight descending, then younger end ascending, then
// older end descending. Weights compare as floats (-0.0 == 0.0: the ids
// decide). Over live edges (distinct pairs) it is a total order, so any
// reduction tree finds the same best edge.
#pragma once

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct useg_merge_key {
    float w;
    int32_t young, old;
} useg_merge_key;

// Loses to every edge: no edge has weight -inf.
#define USEG_MERGE_KEY_NONE ((useg_merge_key){-INFINITY, INT32_MAX, -1})

#ifdef __CUDACC__
__host__ __device__
#endif
static inline bool useg_merge_key_before(useg_merge_key a, useg_merge_key b) {
    if (a.w != b.w) return a.w > b.w;
    if (a.young != b.young) return a.young < b.young;
    return a.old > b.old;
}
