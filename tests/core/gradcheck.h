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
// Inputs must live in ctx->params (the check ends steps). Prints the worst
// error; returns true when within tolerance. `name` labels messages.
bool gradcheck(useg_ctx *ctx, const char *name, gradcheck_fn f, useg_tensor **in, int n_in);

// A table-driven check: random f64 inputs of the given shapes, all requiring
// a gradient, with values drawn from `domain`.
typedef enum { GRAD_ANY, GRAD_POSITIVE, GRAD_AWAY_FROM_ZERO } grad_domain;
enum { GRAD_MAX_INPUTS = 4 };

typedef struct grad_case {
    const char *name;
    gradcheck_fn fn;
    int n_in;
    int ndim[GRAD_MAX_INPUTS];
    int64_t shape[GRAD_MAX_INPUTS][USEG_MAX_DIMS];
    grad_domain domain;
} grad_case;

// Run every case; returns the program's exit code (0 all passed, 1 otherwise).
int gradcheck_run(const grad_case *cases, int n, const char *label);
