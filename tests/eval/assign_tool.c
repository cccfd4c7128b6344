// Test driver for useg_linear_assignment and useg_sparse_assignment: reads
// problems from stdin and prints each optimum, so test_hungarian.py can
// compare with SciPy.
//
// Dense (no argument), repeated until EOF: "ROWS COLS MAXIMIZE" then
// ROWS*COLS costs. Sparse (argument --sparse): "ROWS COLS M" then M arcs
// "ROW COL COST" (integers, any order).
// Output per problem: "TOTAL" (%.17g) then the column of each row (-1 if
// none), or "error MESSAGE".
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hungarian.h"

static void print_answer(useg_ctx *ctx, useg_status st, double total, const int64_t *col, long rows) {
    if (st != USEG_OK) {
        printf("error %s\n", ctx->message);
        useg_clear_error(ctx);
        return;
    }
    printf("%.17g", total);
    for (long r = 0; r < rows; r++) printf(" %lld", (long long)col[r]);
    printf("\n");
}

static int run_dense(useg_ctx *ctx) {
    long rows, cols;
    int maximize;
    while (scanf("%ld %ld %d", &rows, &cols, &maximize) == 3) {
        double *cost = malloc(sizeof *cost * (size_t)(rows * cols + 1));
        int64_t *col = malloc(sizeof *col * (size_t)(rows + 1));
        if (!cost || !col) return 1;
        for (long i = 0; i < rows * cols; i++)
            if (scanf("%lf", &cost[i]) != 1) return 1;
        double total = 0;
        useg_status st = useg_linear_assignment(ctx, cost, rows, cols, maximize, col, NULL, &total);
        print_answer(ctx, st, total, col, rows);
        free(cost);
        free(col);
    }
    return 0;
}

// Arcs are bucketed by row into the CSR arrays the solver takes.
static int run_sparse(useg_ctx *ctx) {
    int rows, cols;
    long m;
    while (scanf("%d %d %ld", &rows, &cols, &m) == 3) {
        int *ar = malloc(sizeof *ar * (size_t)(m + 1));
        int32_t *ac = malloc(sizeof *ac * (size_t)(m + 1)), *col_csr = malloc(sizeof *col_csr * (size_t)(m + 1));
        int64_t *aw = malloc(sizeof *aw * (size_t)(m + 1)), *cost_csr = malloc(sizeof *cost_csr * (size_t)(m + 1));
        int64_t *start = calloc((size_t)rows + 2, sizeof *start);
        int32_t *col = malloc(sizeof *col * (size_t)(rows + 1));
        int64_t *col64 = malloc(sizeof *col64 * (size_t)(rows + 1));
        if (!ar || !ac || !aw || !col_csr || !cost_csr || !start || !col || !col64) return 1;
        for (long k = 0; k < m; k++) {
            long long w;
            if (scanf("%d %d %lld", &ar[k], &ac[k], &w) != 3 || ar[k] < 0 || ar[k] >= rows) return 1;
            aw[k] = w;
            start[ar[k] + 2]++;
        }
        for (int r = 0; r < rows; r++) start[r + 2] += start[r + 1];
        for (long k = 0; k < m; k++) {
            int64_t at = start[ar[k] + 1]++;
            col_csr[at] = ac[k];
            cost_csr[at] = aw[k];
        }
        int64_t total = 0;
        useg_status st = useg_sparse_assignment(ctx, rows, cols, start, col_csr, cost_csr, col, &total);
        for (int r = 0; r < rows; r++) col64[r] = col[r];
        print_answer(ctx, st, (double)total, col64, rows);
        free(ar);
        free(ac);
        free(aw);
        free(col_csr);
        free(cost_csr);
        free(start);
        free(col);
        free(col64);
    }
    return 0;
}

int main(int argc, char **argv) {
    useg_ctx ctx;
    useg_ctx_init(&ctx, &(useg_ctx_options){0});
    int rc = argc > 1 && !strcmp(argv[1], "--sparse") ? run_sparse(&ctx) : run_dense(&ctx);
    useg_ctx_free(&ctx);
    return rc;
}
