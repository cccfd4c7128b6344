// USEG_HD marks a small function shared by a CPU kernel (C) and its CUDA twin
// (nvcc): __host__ __device__ under nvcc, nothing in C. Code written once this
// way keeps both paths on the same arithmetic in the same order.
#pragma once

#ifdef __CUDACC__
#define USEG_HD __host__ __device__ static inline
#else
#define USEG_HD static inline
#endif
