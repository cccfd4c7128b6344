// See hungarian.h. Works on the orientation with rows <= cols (transposing
// when needed) in 1-based indices where column 0 is the virtual start of
// every augmenting path.
#include "hungarian.h"

#include <math.h>
#include <stdlib.h>

#include "heap.h"

useg_status useg_linear_assignment(useg_ctx *ctx, const double *cost, int64_t rows, int64_t cols, bool maximize,
                                   int64_t *col_of_row, int64_t *row_of_col, double *total) {
    if (rows < 0 || cols < 0) return useg_fail(ctx, USEG_ERR_INVALID_ARG, "assignment: negative size");
    for (int64_t i = 0; i < rows * cols; i++)
        if (!isfinite(cost[i]))
            return useg_fail(ctx, USEG_ERR_INVALID_ARG, "assignment: cost[%lld][%lld] is not finite",
                             (long long)(i / cols), (long long)(i % cols));
    bool tr = rows > cols;
    int64_t n = tr ? cols : rows, m = tr ? rows : cols;
    double sign = maximize ? -1 : 1;
    double *u = useg_heap_zalloc(ctx, n + 1, sizeof *u, "assignment");
    double *v = useg_heap_zalloc(ctx, m + 1, sizeof *v, "assignment");
    double *minv = useg_heap_alloc(ctx, m + 1, sizeof *minv, "assignment");
    int64_t *p = useg_heap_zalloc(ctx, m + 1, sizeof *p, "assignment");    // row (1-based) on column j, 0 = free
    int64_t *way = useg_heap_zalloc(ctx, m + 1, sizeof *way, "assignment"); // previous column on the path
    bool *used = useg_heap_alloc(ctx, m + 1, sizeof *used, "assignment");
    useg_status st = USEG_OK;
    if (!u || !v || !minv || !p || !way || !used) {
        st = USEG_ERR_OUT_OF_MEMORY;
        goto done;
    }
#define COST(i, j) (sign * (tr ? cost[(j) * cols + (i)] : cost[(i) * cols + (j)]))
    for (int64_t i = 1; i <= n; i++) {
        p[0] = i;
        int64_t j0 = 0;
        for (int64_t j = 0; j <= m; j++) {
            minv[j] = INFINITY;
            used[j] = false;
        }
        do {
            used[j0] = true;
            int64_t i0 = p[j0], j1 = 0;
            double delta = INFINITY;
            for (int64_t j = 1; j <= m; j++) {
                if (used[j]) continue;
                double cur = COST(i0 - 1, j - 1) - u[i0] - v[j];
                if (cur < minv[j]) {
                    minv[j] = cur;
                    way[j] = j0;
                }
                if (minv[j] < delta) {
                    delta = minv[j];
                    j1 = j;
                }
            }
            for (int64_t j = 0; j <= m; j++) {
                if (used[j]) {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
        } while (p[j0] != 0);
        do { // flip the path back to its start
            int64_t j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
        } while (j0);
    }
    for (int64_t r = 0; r < rows; r++) col_of_row[r] = -1;
    if (row_of_col)
        for (int64_t c = 0; c < cols; c++) row_of_col[c] = -1;
    double sum = 0;
    for (int64_t j = 1; j <= m; j++) {
        if (!p[j]) continue;
        int64_t r = tr ? j - 1 : p[j] - 1, c = tr ? p[j] - 1 : j - 1;
        col_of_row[r] = c;
        if (row_of_col) row_of_col[c] = r;
        sum += cost[r * cols + c];
    }
#undef COST
    if (total) *total = sum;
done:
    free(u);
    free(v);
    free(minv);
    free(p);
    free(way);
    free(used);
    return st;
}
