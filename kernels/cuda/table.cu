// The CUDA kernel table (core/device.h): the entries the core ops route CUDA
// tensors through. An op not listed answers "not supported on this device".
#include "cuda_common.cuh"

extern "C" const useg_cuda_kernels useg_cuda_table = {
    .copy = useg_copy_cuda,
    .add_into = useg_add_into_cuda,
    .fill = useg_fill_cuda,
    .binary = useg_binary_cuda,
    .unary = useg_unary_cuda,
    .unary_backward = useg_unary_backward_cuda,
    .sum = useg_sum_cuda,
    .max = useg_max_cuda,
    .max_backward = useg_max_backward_cuda,
};
