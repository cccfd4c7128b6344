// Test driver for useg_linear_assignment: reads problems from stdin and
// prints each optimum, so test_hungarian.py can compare with SciPy.
//
// Input, repeated until EOF: "ROWS COLS MAXIMIZE" then ROWS*COLS costs.
// Output per problem: "TOTAL" (%.17g) then the column of each row (-1 if none).
#include <stdio.h>
#include <stdlib.h>

#include "hungarian.h"

int main(void) {
    long rows, cols;
    int maximize;
    useg_ctx ctx;
    useg_ctx_init(&ctx, &(useg_ctx_options){0});
    while (scanf("%ld %ld %d", &rows, &cols, &maximize) == 3) {
        double *cost = malloc(sizeof *cost * (size_t)(rows * cols + 1));
        int64_t *col = malloc(sizeof *col * (size_t)(rows + 1));
        if (!cost || !col) return 1;
        for (long i = 0; i < rows * cols; i++)
            if (scanf("%lf", &cost[i]) != 1) return 1;
        double total;
        if (useg_linear_assignment(&ctx, cost, rows, cols, maximize, col, NULL, &total) != USEG_OK) {
            printf("error %s\n", ctx.message);
            useg_clear_error(&ctx);
        } else {
            printf("%.17g", total);
            for (long r = 0; r < rows; r++) printf(" %lld", (long long)col[r]);
            printf("\n");
        }
        free(cost);
        free(col);
    }
    useg_ctx_free(&ctx);
    return 0;
}
