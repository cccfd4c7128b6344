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
    .softmax_forward = useg_softmax_forward_cuda,
    .softmax_backward = useg_softmax_backward_cuda,
    .layer_norm_forward = useg_layer_norm_forward_cuda,
    .layer_norm_backward = useg_layer_norm_backward_cuda,
    .cross_entropy_forward = useg_cross_entropy_forward_cuda,
    .cross_entropy_backward = useg_cross_entropy_backward_cuda,
    .focal_forward = useg_focal_forward_cuda,
    .focal_backward = useg_focal_backward_cuda,
    .dice_forward = useg_dice_forward_cuda,
    .dice_backward = useg_dice_backward_cuda,
    .find_bad_index = useg_find_bad_index_cuda,
    .gather = useg_gather_cuda,
    .scatter_add = useg_scatter_add_cuda,
    .interpolate = useg_interpolate_cuda,
    .attention_forward_workspace_size = useg_attention_forward_cuda_workspace_size,
    .attention_forward = useg_attention_forward_cuda,
    .attention_backward_workspace_size = useg_attention_backward_cuda_workspace_size,
    .attention_backward = useg_attention_backward_cuda,
};
