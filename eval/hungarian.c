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

// ---- sparse, integer costs ----------------------------------------------------

// Min-heap of columns by distance; among equal distances free columns come
// first (so a search ends as soon as a free column is as close as any: with
// many equal costs, whole plateaus of taken columns would be settled
// otherwise), then lower column index. Entries go stale when a column's
// distance drops; the pop loop skips them.
typedef struct heap_entry {
    int64_t key;
    int64_t rank; // column index, plus the column count when the column is taken
} heap_entry;

static bool entry_less(heap_entry a, heap_entry b) { return a.key < b.key || (a.key == b.key && a.rank < b.rank); }

static void heap_push(heap_entry *h, int64_t *n, heap_entry e) {
    int64_t i = (*n)++;
    while (i > 0 && entry_less(e, h[(i - 1) / 2])) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = e;
}

static heap_entry heap_pop(heap_entry *h, int64_t *n) {
    heap_entry top = h[0], last = h[--*n];
    int64_t i = 0;
    for (;;) {
        int64_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && entry_less(h[c + 1], h[c])) c++;
        if (!entry_less(h[c], last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n > 0) h[i] = last;
    return top;
}

// Working arrays of one solve; state: 0 unseen, 1 labelled, 2 settled.
typedef struct sparse_lap {
    const int64_t *row_start, *arc_cost;
    const int32_t *arc_col;
    int64_t *v, *d, *pred_cost, *match_cost;
    int32_t *row_of_col, *pred, *touched;
    uint8_t *state;
    heap_entry *heap;
    int64_t n_heap;
    int32_t n_touched, cols;
} sparse_lap;

// Offer the columns of row r at distance base + reduced arc cost.
static void relax_row(sparse_lap *s, int32_t r, int64_t base) {
    for (int64_t k = s->row_start[r]; k < s->row_start[r + 1]; k++) {
        int32_t j = s->arc_col[k];
        if (s->state[j] == 2) continue;
        int64_t nd = base + s->arc_cost[k] - s->v[j];
        if (nd >= s->d[j]) continue;
        if (s->state[j] == 0) {
            s->state[j] = 1;
            s->touched[s->n_touched++] = j;
        }
        s->d[j] = nd;
        s->pred[j] = r;
        s->pred_cost[j] = s->arc_cost[k];
        heap_push(s->heap, &s->n_heap, (heap_entry){nd, j + (s->row_of_col[j] >= 0 ? s->cols : 0)});
    }
}

useg_status useg_sparse_assignment(useg_ctx *ctx, int32_t rows, int32_t cols, const int64_t *row_start,
                                   const int32_t *arc_col, const int64_t *arc_cost, int32_t *col_of_row,
                                   int64_t *total) {
    if (rows < 0 || cols < rows)
        return useg_fail(ctx, USEG_ERR_INVALID_ARG, "sparse assignment: %d rows cannot all get one of %d columns",
                         rows, cols);
    int64_t m = row_start[rows];
    // Path lengths stay below (rows + 1) * max cost: keep that inside int64.
    int64_t max_cost = INT64_MAX / 4 / ((int64_t)rows + 1);
    for (int32_t r = 0; r < rows; r++)
        for (int64_t k = row_start[r]; k < row_start[r + 1]; k++)
            if (arc_col[k] < 0 || arc_col[k] >= cols || arc_cost[k] < 0 || arc_cost[k] > max_cost)
                return useg_fail(ctx, USEG_ERR_INVALID_ARG,
                                 "sparse assignment: arc %lld of row %d (column %d, cost %lld) is out of range",
                                 (long long)(k - row_start[r]), r, arc_col[k], (long long)arc_cost[k]);
    sparse_lap s = {.row_start = row_start, .arc_col = arc_col, .arc_cost = arc_cost, .cols = cols};
    s.v = useg_heap_zalloc(ctx, (size_t)cols, sizeof *s.v, "assignment prices");
    s.d = useg_heap_alloc(ctx, (size_t)cols, sizeof *s.d, "assignment distances");
    s.pred_cost = useg_heap_alloc(ctx, (size_t)cols, sizeof *s.pred_cost, "assignment paths");
    s.match_cost = useg_heap_alloc(ctx, (size_t)rows, sizeof *s.match_cost, "assignment costs");
    s.row_of_col = useg_heap_alloc(ctx, (size_t)cols, sizeof *s.row_of_col, "assignment");
    s.pred = useg_heap_alloc(ctx, (size_t)cols, sizeof *s.pred, "assignment paths");
    s.touched = useg_heap_alloc(ctx, (size_t)cols, sizeof *s.touched, "assignment paths");
    s.state = useg_heap_zalloc(ctx, (size_t)cols, 1, "assignment paths");
    s.heap = useg_heap_alloc(ctx, (size_t)m + 1, sizeof *s.heap, "assignment heap");
    useg_status st = s.v && s.d && s.pred_cost && s.match_cost && s.row_of_col && s.pred && s.touched && s.state &&
                             s.heap
                         ? USEG_OK
                         : USEG_ERR_OUT_OF_MEMORY;
    for (int32_t j = 0; st == USEG_OK && j < cols; j++) {
        s.d[j] = INT64_MAX;
        s.row_of_col[j] = -1;
    }
    for (int32_t r = 0; st == USEG_OK && r < rows; r++) col_of_row[r] = -1;
    int64_t sum = 0;
    for (int32_t f = 0; st == USEG_OK && f < rows; f++) {
        s.n_heap = 0;
        s.n_touched = 0;
        relax_row(&s, f, 0);
        int32_t last = -1;
        while (s.n_heap > 0) {
            heap_entry e = heap_pop(s.heap, &s.n_heap);
            int32_t j = (int32_t)(e.rank % s.cols);
            if (s.state[j] == 2 || e.key != s.d[j]) continue; // stale
            s.state[j] = 2;
            int32_t i = s.row_of_col[j];
            if (i < 0) {
                last = j;
                break;
            }
            // Row i reaches its other columns at d[j] plus reduced costs
            // relative to its current arc, all >= 0 by the potentials.
            relax_row(&s, i, s.d[j] - (s.match_cost[i] - s.v[j]));
        }
        if (last < 0) {
            st = useg_fail(ctx, USEG_ERR_INVALID_ARG, "sparse assignment: row %d cannot be given a column", f);
            break;
        }
        // Lower the settled columns' prices so every reduced cost stays >= 0
        // and the new path is tight, then forget this search.
        int64_t mu = s.d[last];
        for (int32_t t = 0; t < s.n_touched; t++) {
            int32_t j = s.touched[t];
            if (s.state[j] == 2) s.v[j] += s.d[j] - mu;
            s.d[j] = INT64_MAX;
            s.state[j] = 0;
        }
        for (int32_t j = last;;) { // flip the path back to row f
            int32_t i = s.pred[j], k = col_of_row[i];
            s.row_of_col[j] = i;
            col_of_row[i] = j;
            s.match_cost[i] = s.pred_cost[j];
            if (i == f) break;
            j = k;
        }
    }
    for (int32_t r = 0; st == USEG_OK && r < rows; r++) sum += s.match_cost[r];
    if (st == USEG_OK && total) *total = sum;
    free(s.v);
    free(s.d);
    free(s.pred_cost);
    free(s.match_cost);
    free(s.row_of_col);
    free(s.pred);
    free(s.touched);
    free(s.state);
    free(s.heap);
    return st;
}
