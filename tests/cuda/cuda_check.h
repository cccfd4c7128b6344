// Harness of the CUDA suite: every kernel against a CPU reference over a
// sweep of shapes, with guard bytes around device outputs (checkasm's idea),
// and every op against the same op on the CPU (op_parity).
//
// A program calls cuda_check_init first; without a usable GPU (no driver, no
// device) it prints why and the program exits 77, which meson reports as
// skipped. Each case allocates in the step arenas (host and device) and ends
// with useg_step_end. Outputs live in guarded buffers: GUARD bytes of 0xA5
// on each side and the output itself filled with 0xFF (NaN in every float
// dtype, -1 in the integers) before the kernel runs, so a write out of bounds
// breaks a canary and an element the kernel never wrote fails the comparison.
//
// Inputs are drawn on the host in the tested dtype, so references (plain C
// in double) see exactly the stored values; outputs are compared normwise,
// ||got - ref|| / ||ref|| <= tol with tol scaled to the dtype (cuda_tol), and
// a NaN where the reference has none fails on its own.
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "../check.h"
#include "cuda/cuda_kernels.h"
#include "device.h"

enum { GUARD_BYTES = 256 };

// ctx on cuda:0 with modest arenas, or 77 after printing why the suite skips.
// Returns 0 when ready.
int cuda_check_init(useg_ctx *ctx, const char *program);
// The exit code of a program: check_report's, after freeing ctx.
int cuda_check_finish(useg_ctx *ctx, const char *program);

// False for a case of more than 2^18 elements (or multiply-adds / 64) when
// the environment sets USEG_CUDA_QUICK: the sanitizers (run_sanitizers.sh)
// run the small cases only, which hold every edge the large ones do.
bool cuda_case_fits(int64_t size);

// Normwise relative tolerance for results stored in dt: f32 1e-5, f16 2e-3, bf16 1e-2.
double cuda_tol(useg_dtype dt);

typedef struct guarded {
    unsigned char *base; // first canary
    void *data;          // the output
    size_t bytes;        // of the output
} guarded;

// A guarded device output of `bytes` bytes in the device step arena.
void *guarded_alloc(useg_ctx *ctx, size_t bytes, guarded *g);
// CHECK that both canaries of g are intact (synchronises).
void guarded_check(useg_ctx *ctx, const guarded *g, const char *what);

// n random values in [lo, hi) stored as dt in host memory (ctx->step); the
// stored values, rounded to dt, go to `values` (n doubles) when not NULL.
void *host_random(useg_ctx *ctx, useg_dtype dt, int64_t n, double lo, double hi, double *values);
// A step-lifetime host array of n doubles.
double *host_doubles(useg_ctx *ctx, int64_t n);
// Device copy (step arena) of `bytes` bytes of host memory.
void *to_device(useg_ctx *ctx, const void *host, size_t bytes);
// Host copy of `bytes` bytes of device memory (synchronises).
void *to_host(useg_ctx *ctx, const void *dev, size_t bytes);
// The i-th stored value of a host array of dtype dt.
double stored_value(useg_dtype dt, const void *host, int64_t i);
// Round v to what dt stores.
double round_to(useg_dtype dt, double v);

// CHECK that device output `dev` (n values of dt) matches ref within tol.
bool check_close(useg_ctx *ctx, const char *what, useg_dtype dt, const void *dev, const double *ref, int64_t n,
                 double tol);
// CHECK that a launcher returned USEG_OK; prints the context's message otherwise.
#define CHECK_LAUNCH(ctx, expr) CHECK_OK(ctx, expr)

// A device tensor (step arenas) holding `values` stored as dt.
useg_tensor *device_values(useg_ctx *ctx, useg_dtype dt, int ndim, const int64_t *shape, const double *values);
// A tensor struct (step arena) over device memory the caller owns.
useg_tensor *device_tensor(useg_ctx *ctx, useg_dtype dt, int ndim, const int64_t *shape, void *data);
// A device tensor of `shape` over a guarded output (guarded_alloc).
useg_tensor *guarded_tensor(useg_ctx *ctx, useg_dtype dt, int ndim, const int64_t *shape, guarded *g);
// CHECK that `got` (any dtype and device, any strides) matches `ref` (a CPU
// tensor of the same shape, any dtype and strides) within tol, as check_close.
bool check_tensor(useg_ctx *ctx, const char *what, const useg_tensor *got, const useg_tensor *ref, double tol);

// --- Op parity: a public op on CUDA tensors against the same op on the CPU ----------------------
// The expression under test, built from inputs on one device: in[0..n_in),
// and aux (an i64 tensor on the same device, or NULL); arg holds the case's
// parameters. It may take views of its inputs (transpose, slice, ...).
typedef useg_status (*parity_fn)(useg_ctx *ctx, useg_tensor *const *in, useg_tensor *aux, const void *arg,
                                 useg_tensor **out);

enum { PARITY_MAX_IN = 6 };

typedef struct parity_input {
    int ndim;
    int64_t shape[USEG_MAX_DIMS];
    double lo, hi; // values uniform in [lo, hi), stored in the tested dtype
    bool constant; // not a leaf that requires a gradient
} parity_input;

// What op_parity ran, so a test can call the CUDA twins (with guarded
// outputs) on the same values: valid until the next op_parity call or
// useg_step_end(ctx). gpu_w is the upstream gradient both backwards got.
typedef struct parity {
    int n_in;
    useg_tensor *gpu_in[PARITY_MAX_IN], *gpu_aux, *gpu_out, *gpu_w; // on the GPU, in the tested dtype
    useg_tensor *cpu_in[PARITY_MAX_IN], *cpu_out;                   // the CPU reference, in f64
} parity;

// Runs fn on the GPU with inputs of dtype dt, and on the CPU (a context of
// its own) with f64 inputs holding the same stored values (aux: a CPU i64
// tensor, copied to the GPU). CHECKs that both succeed, that the GPU's output
// lives on the GPU and matches the CPU's within tol, and -- when the output
// is a float and an input requires a gradient -- that the gradients of
// sum(out * w), w uniform in [-grad_scale, grad_scale) and the same on both,
// match within 2 tol. A mean over many elements takes a grad_scale about
// their count (loss scaling), so its f16 gradients do not sink into
// subnormals. Returns whether both runs succeeded (p is then filled).
bool op_parity(useg_ctx *ctx, const char *what, useg_dtype dt, parity_fn fn, const void *arg, int n_in,
               const parity_input *in, useg_tensor *aux, double tol, double grad_scale, parity *p);
