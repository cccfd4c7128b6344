// Optimal linear assignment (the Hungarian problem), rectangular allowed.
//
// Shortest augmenting paths with row and column potentials (the
// Jonker-Volgenant / Kuhn-Munkres family, O(n^2 m) for n <= m): each row in
// turn is joined to the assignment along a cheapest path of reduced costs,
// found Dijkstra-style, then the potentials are updated so every reduced cost
// stays non-negative. Ties are broken by the lowest column index, so the
// result is deterministic. Costs are doubles; maximisation negates them.
//
// useg_sparse_assignment solves the same problem on a sparse graph (only the
// listed row-column arcs exist) with integer costs, for the BSDS boundary
// matching: the same shortest augmenting paths, but each path is found with a
// binary-heap Dijkstra over the arcs that stops at the first free column it
// settles, and only the columns it settled get their potential lowered
// (Jonker & Volgenant 1987, section 4). With integer costs the optimum is
// exact. Among columns at equal distance a free one is settled first, so a
// search over many equal costs ends early; then the lower column index.
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

// Give every row its own column (rows <= cols) at minimum total cost, using
// only the arcs listed: row r's arcs are arc_col[k], arc_cost[k] for k in
// [row_start[r], row_start[r + 1]); costs >= 0 and at most 2^61 / (rows + 1).
// col_of_row gets rows entries; *total (may be NULL) the optimal sum.
// USEG_ERR_INVALID_ARG when an arc is malformed or no assignment of every row
// exists, naming the row left over; USEG_ERR_OUT_OF_MEMORY.
useg_status useg_sparse_assignment(useg_ctx *ctx, int32_t rows, int32_t cols, const int64_t *row_start,
                                   const int32_t *arc_col, const int64_t *arc_cost, int32_t *col_of_row,
                                   int64_t *total);
