// The op table: name and backward of every op, keyed by useg_op.
#include "op_internal.h"
#include "ops.h"

#define OP(id, name) [USEG_OP_##id] = {#name, useg_##name##_backward}

const useg_op_info useg_op_table[] = {
    OP(RESHAPE, reshape), OP(PERMUTE, permute), OP(SLICE, slice), OP(EXPAND, expand), OP(COPY, copy),
    OP(CAST, cast),
    OP(ADD, add), OP(SUB, sub), OP(MUL, mul), OP(DIV, div), OP(SCALE, scale), OP(EXP, exp), OP(LOG, log),
    OP(SQRT, sqrt), OP(RSQRT, rsqrt), OP(TANH, tanh), OP(SIGMOID, sigmoid), OP(RELU, relu), OP(GELU, gelu),
    OP(SUM, sum), OP(MEAN, mean), OP(MAX, max),
    OP(CONCAT, concat), OP(GATHER, gather), OP(INDEX_SELECT, index_select),
    OP(INTERPOLATE, interpolate),
    OP(SOFTMAX, softmax), OP(LOG_SOFTMAX, log_softmax), OP(LAYER_NORM, layer_norm),
    OP(CROSS_ENTROPY, cross_entropy), OP(BCE_WITH_LOGITS, bce_with_logits), OP(FOCAL_LOSS, focal_loss),
    OP(DICE_LOSS, dice_loss),
    OP(ATTENTION, attention),
    OP(MATMUL, matmul), OP(LINEAR, linear), OP(CONV2D, conv2d),
};
_Static_assert(sizeof useg_op_table / sizeof useg_op_table[0] == USEG_OP_COUNT, "every op has a table entry");
