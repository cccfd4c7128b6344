// Finite-difference gradient checks in double precision.
//
// For a function f of f64 inputs, the check builds the scalar
// L = sum(f(inputs) * R) with a fixed random R, runs backward, and compares
// each input's gradient with central differences (step 1e-6) of L:
// |analytic - numeric| <= 1e-6 * (1 + |numeric|).
#pragma once

#include <stdbool.h>

#include "context.h"

typedef useg_status (*gradcheck_fn)(useg_ctx *ctx, useg_tensor **in, useg_tensor **out);

// Inputs that require a gradient are perturbed; others (indices) are not.
// Prints the worst error; returns true when within tolerance. `name` labels messages.
bool gradcheck(useg_ctx *ctx, const char *name, gradcheck_fn f, useg_tensor **in, int n_in);
