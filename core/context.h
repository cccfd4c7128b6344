// The context: everything one thread of work carries around.
//
// It holds the sticky error (status.h), the arenas by lifetime (arena.h), the
// autograd tape, the grad mode and the one RNG. A context is not shared
// between threads: ops parallelise inside themselves (dispatch.h), and a
// parallel loop whose items can fail gives each thread its own context and
// keeps the first failure by item index (useg_first_error, below).
#pragma once

#include <stdbool.h>

#include "arena.h"
#include "autograd.h"
#include "rng.h"
#include "status.h"
#include "tensor.h"

enum { USEG_MESSAGE_MAX = 512 };

struct useg_ctx {
    useg_status status;               // first error since the last clear
    char message[USEG_MESSAGE_MAX];   // its one-line message
    useg_arena params;                // parameters, their grads and optimiser state
    useg_arena step;                  // op outputs and the tape's tensors; reset per step
    useg_arena scratch;               // op workspaces; each op rewinds what it took
    useg_tape tape;
    bool grad_enabled;
    useg_rng rng;
    struct useg_cuda *cuda;           // the GPU (device.h); NULL until useg_cuda_init
};

typedef struct useg_ctx_options {
    uint64_t seed;            // RNG seed
    size_t step_limit;        // most bytes the step arena may hold (0: 16 GiB)
    size_t params_limit;      // likewise for parameters (0: 16 GiB)
} useg_ctx_options;

// Set up a context. Takes no memory until used.
void useg_ctx_init(useg_ctx *ctx, const useg_ctx_options *opt);
void useg_ctx_free(useg_ctx *ctx);
// End a step: drop the tape and everything in the step arena.
void useg_step_end(useg_ctx *ctx);

// Record an error (only the first one sticks) and return `status`.
useg_status useg_fail(useg_ctx *ctx, useg_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
// Forget the recorded error (after reporting a skipped batch item, say).
void useg_clear_error(useg_ctx *ctx);

// The failure of the lowest-indexed item of a parallel loop, so that the
// message does not depend on thread count or timing. Each thread runs its
// items on its own context and hands a failure here; after the loop,
// useg_first_error_report puts it in the caller's context:
//
//   useg_first_error first = USEG_FIRST_ERROR_INIT;
//   #pragma omp parallel
//   {
//       useg_ctx local;
//       useg_ctx_init(&local, NULL);
//       #pragma omp for
//       for (int64_t i = 0; i < n; i++)
//           if (work(&local, i) != USEG_OK) useg_first_error_keep(&first, i, &local);
//       useg_ctx_free(&local);
//   }
//   USEG_TRY(useg_first_error_report(ctx, &first));
typedef struct useg_first_error {
    int64_t index;                  // the failed item, -1 while none has failed
    useg_status status;
    char message[USEG_MESSAGE_MAX];
} useg_first_error;

#define USEG_FIRST_ERROR_INIT {.index = -1}

// Keep `local`'s error as item `index`'s unless a lower index failed, then
// clear `local` for the thread's next item. Safe to call from several
// threads at once on the same `first`.
void useg_first_error_keep(useg_first_error *first, int64_t index, useg_ctx *local);
// After the loop: USEG_OK when no item failed; otherwise record the kept
// error in ctx (as useg_fail, so an earlier error there stays) and return
// its status.
useg_status useg_first_error_report(useg_ctx *ctx, const useg_first_error *first);

// Allocate from an arena, or fail with USEG_ERR_OUT_OF_MEMORY and a message
// naming the arena and the size.
useg_status useg_alloc(useg_ctx *ctx, useg_arena *a, size_t bytes, void **out);
