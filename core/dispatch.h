// Type dispatch for CPU kernels that exist in f32 and f64.
//
// USEG_FLOAT_DISPATCH(dtype, T, { ... T x = ...; }) expands the block once per
// float type with `T` bound by a typedef, so one kernel body serves both.
#pragma once

#include "tensor.h"

#define USEG_FLOAT_DISPATCH(dt, T, ...)                                             \
    do {                                                                            \
        if ((dt) == USEG_F32) {                                                     \
            typedef float T;                                                        \
            __VA_ARGS__                                                             \
        } else {                                                                    \
            typedef double T;                                                       \
            __VA_ARGS__                                                             \
        }                                                                           \
    } while (0)

// Inside the block, OpenMP pragmas must be written _Pragma("omp ...").

// OpenMP only where the loop is big enough to pay for waking the threads.
#define USEG_PARALLEL_THRESHOLD 32768
