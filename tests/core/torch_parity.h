// Forward and backward of ops against PyTorch, in f32.
//
// A test program per op family pairs a Python script (cases as PyTorch
// expressions, run through torch_parity.py) with a C table of the same case
// names building the same expressions. The script writes the references into
// a folder and runs the C program on it. Error measure: max |ours - torch|
// over a tensor divided by max |torch| over it (normwise relative), <= 1e-5.
#pragma once

#include "context.h"

typedef useg_status (*parity_fn)(useg_ctx *ctx, useg_tensor **in, useg_tensor **out);

typedef struct parity_case {
    const char *name;
    parity_fn fn;
    int n_in;
} parity_case;

// main() of a parity test: argv[1] is the reference folder. Returns the exit code.
int torch_parity_main(int argc, char **argv, const parity_case *cases, int n, const char *label);
