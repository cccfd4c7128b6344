// Optimal linear assignment (the Hungarian problem), rectangular allowed.
//
// Shortest augmenting paths with row and column potentials (the
// Jonker-Volgenant / Kuhn-Munkres family, O(n^2 m) for n <= m): each row in
// turn is joined to the assignment along a cheapest path of reduced costs,
// found Dijkstra-style, then the potentials are updated so every reduced cost
// stays non-negative. Ties are broken by the lowest column index, so the
// result is deterministic. Costs are doubles; maximisation negates them.
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "context.h"

// cost: (rows, cols) row-major. Assigns min(rows, cols) pairs minimising (or,
// with maximize, maximising) the summed cost. col_of_row[r] (rows entries) is
// the column of row r or -1; row_of_col (cols entries, may be NULL) likewise.
// *total (may be NULL) gets the optimal sum. Non-finite costs fail with
// USEG_ERR_INVALID_ARG; out of memory with USEG_ERR_OUT_OF_MEMORY.
useg_status useg_linear_assignment(useg_ctx *ctx, const double *cost, int64_t rows, int64_t cols, bool maximize,
                                   int64_t *col_of_row, int64_t *row_of_col, double *total);
