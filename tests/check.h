// A minimal check harness for the C test programs: checks count failures and
// report them with file:line; the program's exit code is 0 when all passed,
// 1 otherwise, 77 when a test cannot run here (meson reports it as skipped).
#pragma once

#include <stdio.h>

#include "context.h"

extern int check_failures; // defined in check.c, shared by every file of a test program
extern int check_count;

#define CHECK(cond, ...)                                                                    \
    do {                                                                                    \
        check_count++;                                                                      \
        if (!(cond)) {                                                                      \
            check_failures++;                                                               \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);        \
            fprintf(stderr, __VA_ARGS__);                                                   \
            fputc('\n', stderr);                                                            \
        }                                                                                   \
    } while (0)

// The call must succeed; on failure print the context's message and clear it.
#define CHECK_OK(ctx, expr)                                                                 \
    do {                                                                                    \
        check_count++;                                                                      \
        useg_status check_st_ = (expr);                                                     \
        if (check_st_ != USEG_OK) {                                                         \
            check_failures++;                                                               \
            fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #expr, (ctx)->message); \
            useg_clear_error(ctx);                                                          \
        }                                                                                   \
    } while (0)

// The call must fail with `status` and leave a message; the error is then cleared.
#define CHECK_FAILS(ctx, expr, status)                                                      \
    do {                                                                                    \
        check_count++;                                                                      \
        useg_status check_st_ = (expr);                                                     \
        if (check_st_ != (status) || (ctx)->message[0] == '\0') {                           \
            check_failures++;                                                               \
            fprintf(stderr, "%s:%d: %s: expected status '%s', got '%s' (%s)\n", __FILE__, __LINE__, \
                    #expr, useg_status_name(status), useg_status_name(check_st_), (ctx)->message); \
        }                                                                                   \
        useg_clear_error(ctx);                                                              \
    } while (0)

// Normwise relative error of `ours` against a reference of the same shape:
// max |ours - ref| / max |ref|, or max |ours - ref| when ref is all zeros.
double check_rel_error(const useg_tensor *ours, const useg_tensor *ref);

// Print "<name>: N checks, M failed"; returns the exit code (0 or 1).
int check_report(const char *name);
