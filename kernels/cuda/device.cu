// CUDA device runtime: device query and selection, the context's stream and
// cuBLAS handles, the one device block behind the device arenas, copies and
// pinned host memory (the CUDA half of core/device.h).
//
// Selection fails with one line that says what is missing: no driver (the
// runtime cannot talk to one: cudaErrorInsufficientDriver / NoDevice / the
// stub library), no GPU, a bad ordinal, or a GPU older than compute
// capability 8.0 (the kernels are built for sm_80 and sm_90 only).
//
// Memory: one cudaMalloc of params + step + scratch + the cuBLAS workspace,
// sized from the options or from the free memory at init. cuBLAS and
// cuBLASLt are given that workspace, so they allocate nothing per call.
#include <cublasLt.h>
#include <cublas_v2.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_common.cuh"

enum : size_t { MIB = (size_t)1 << 20 };
static const size_t BLAS_WORKSPACE_BYTES = 64 * MIB; // cuBLAS asks 32 MiB on Hopper; Lt takes what it is given
static const size_t LIBRARY_RESERVE_BYTES = 512 * MIB;

useg_status useg_cuda_check(useg_ctx *ctx, cudaError_t err, const char *what) {
    if (err == cudaSuccess) return USEG_OK;
    return useg_fail(ctx, USEG_ERR_DEVICE, "%s: %s: %s", what, cudaGetErrorName(err), cudaGetErrorString(err));
}

extern "C" useg_status useg_cuda_device_count(useg_ctx *ctx, int *count) {
    *count = 0;
    cudaError_t err = cudaGetDeviceCount(count);
    if (err == cudaSuccess) return USEG_OK;
    (void)cudaGetLastError(); // clear it: the runtime keeps the error otherwise
    *count = 0;
    if (err == cudaErrorNoDevice) return USEG_OK;
    if (err == cudaErrorInsufficientDriver) // what the runtime says when it finds no driver at all, too
        return useg_fail(ctx, USEG_ERR_DEVICE, "no usable NVIDIA driver: none is installed, or it is older than CUDA %d.%d needs",
                         CUDART_VERSION / 1000, CUDART_VERSION % 1000 / 10);
    return useg_fail(ctx, USEG_ERR_DEVICE, "no usable CUDA driver (%s: %s)", cudaGetErrorName(err),
                     cudaGetErrorString(err));
}


// Undo whatever setup() got to; fields not yet set are NULL.
static void teardown(useg_cuda *c) {
    if (c->stream) cudaStreamSynchronize(c->stream);
    if (c->blaslt) cublasLtDestroy(c->blaslt);
    if (c->blas) cublasDestroy(c->blas);
    if (c->block) cudaFree(c->block);
    if (c->stream) cudaStreamDestroy(c->stream);
}

static useg_status blas_check(useg_ctx *ctx, cublasStatus_t st, const char *what) {
    if (st == CUBLAS_STATUS_SUCCESS) return USEG_OK;
    return useg_fail(ctx, USEG_ERR_DEVICE, "%s: %s", what, cublasGetStatusString(st));
}

static useg_status setup(useg_ctx *ctx, useg_cuda *c, const useg_cuda_options *opt) {
    CUDA_TRY(ctx, cudaSetDevice(c->index));
    cudaDeviceProp prop;
    CUDA_TRY(ctx, cudaGetDeviceProperties(&prop, c->index));
    snprintf(c->name, sizeof c->name, "%s", prop.name);
    c->cc_major = prop.major;
    c->cc_minor = prop.minor;
    c->sm_count = prop.multiProcessorCount;
    c->smem_optin = prop.sharedMemPerBlockOptin;
    if (prop.major < 8)
        return useg_fail(ctx, USEG_ERR_DEVICE, "cuda:%d (%s) has compute capability %d.%d; useg needs 8.0 or newer",
                         c->index, prop.name, prop.major, prop.minor);
    CUDA_TRY(ctx, cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));

    size_t free_bytes = 0, total_bytes = 0;
    CUDA_TRY(ctx, cudaMemGetInfo(&free_bytes, &total_bytes));
    useg_cuda_options o = opt ? *opt : useg_cuda_options{};
    // Defaults share what is free after the workspace and a reserve for the
    // libraries' own allocations (cuBLAS kernels, later cuDNN).
    size_t usable = free_bytes > BLAS_WORKSPACE_BYTES + LIBRARY_RESERVE_BYTES
                        ? free_bytes - BLAS_WORKSPACE_BYTES - LIBRARY_RESERVE_BYTES
                        : 0;
    size_t params = useg_device_align_up(o.params_bytes ? o.params_bytes : usable / 4);
    size_t step = useg_device_align_up(o.step_bytes ? o.step_bytes : usable / 2);
    size_t scratch = useg_device_align_up(o.scratch_bytes ? o.scratch_bytes : usable / 8);
    size_t total = params + step + scratch + BLAS_WORKSPACE_BYTES;
    cudaError_t err = cudaMalloc(&c->block, total);
    if (err != cudaSuccess) {
        (void)cudaGetLastError();
        c->block = NULL;
        return useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY,
                         "cuda:%d: cannot take %zu MiB of GPU memory (%zu MiB free): %s", c->index, total / MIB,
                         free_bytes / MIB, cudaGetErrorString(err));
    }
    char *p = (char *)c->block;
    useg_device_arena_init(&c->params, "cuda params", p, params);
    useg_device_arena_init(&c->step, "cuda step", p + params, step);
    useg_device_arena_init(&c->scratch, "cuda scratch", p + params + step, scratch);
    c->blas_workspace = p + params + step + scratch;
    c->blas_workspace_bytes = BLAS_WORKSPACE_BYTES;
    c->allow_tf32 = o.allow_tf32;

    USEG_TRY(blas_check(ctx, cublasCreate(&c->blas), "cublasCreate"));
    USEG_TRY(blas_check(ctx, cublasSetStream(c->blas, c->stream), "cublasSetStream"));
    USEG_TRY(blas_check(ctx, cublasSetWorkspace(c->blas, c->blas_workspace, c->blas_workspace_bytes),
                        "cublasSetWorkspace"));
    USEG_TRY(blas_check(ctx, cublasLtCreate(&c->blaslt), "cublasLtCreate"));
    return USEG_OK;
}

extern "C" useg_status useg_cuda_init(useg_ctx *ctx, int index, const useg_cuda_options *opt) {
    if (ctx->cuda)
        return useg_fail(ctx, USEG_ERR_INVALID_ARG, "this context already uses cuda:%d", ctx->cuda->index);
    int count;
    USEG_TRY(useg_cuda_device_count(ctx, &count));
    if (count == 0) return useg_fail(ctx, USEG_ERR_DEVICE, "no CUDA GPU found (the driver reports none)");
    if (index < 0 || index >= count)
        return useg_fail(ctx, USEG_ERR_DEVICE, "cuda:%d requested but the driver reports %d GPU%s (cuda:0..%d)", index,
                         count, count == 1 ? "" : "s", count - 1);
    useg_cuda *c = (useg_cuda *)calloc(1, sizeof *c);
    if (!c) return useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY, "out of memory for the CUDA state");
    c->index = index;
    useg_status st = setup(ctx, c, opt);
    if (st != USEG_OK) {
        teardown(c);
        free(c);
        (void)cudaGetLastError();
        return st;
    }
    ctx->cuda = c;
    return USEG_OK;
}

extern "C" void useg_cuda_release(useg_ctx *ctx) {
    if (!ctx->cuda) return;
    teardown(ctx->cuda);
    free(ctx->cuda);
    ctx->cuda = NULL;
}

static useg_status need_gpu(useg_ctx *ctx, const char *what) {
    return useg_fail(ctx, USEG_ERR_DEVICE, "%s: no GPU selected for this context (see useg_cuda_init)", what);
}

extern "C" useg_status useg_cuda_sync(useg_ctx *ctx) {
    if (!ctx->cuda) return need_gpu(ctx, "sync");
    return useg_cuda_check(ctx, cudaStreamSynchronize(ctx->cuda->stream), "cuda sync");
}

extern "C" useg_status useg_cuda_memcpy(useg_ctx *ctx, void *dst, useg_device dst_device, const void *src,
                                        useg_device src_device, size_t bytes) {
    if (!ctx->cuda) return need_gpu(ctx, "copy");
    USEG_ASSERT(dst_device == USEG_DEVICE_CUDA || src_device == USEG_DEVICE_CUDA, "host to host copy through CUDA");
    if (bytes == 0) return USEG_OK;
    cudaMemcpyKind kind = src_device == USEG_DEVICE_CPU   ? cudaMemcpyHostToDevice
                          : dst_device == USEG_DEVICE_CPU ? cudaMemcpyDeviceToHost
                                                          : cudaMemcpyDeviceToDevice;
    cudaStream_t s = ctx->cuda->stream;
    USEG_TRY(useg_cuda_check(ctx, cudaMemcpyAsync(dst, src, bytes, kind, s), "cudaMemcpyAsync"));
    if (dst_device == USEG_DEVICE_CPU) return useg_cuda_check(ctx, cudaStreamSynchronize(s), "copy to the host");
    return USEG_OK;
}

extern "C" useg_status useg_cuda_memset(useg_ctx *ctx, void *dst, int byte, size_t bytes) {
    if (!ctx->cuda) return need_gpu(ctx, "memset");
    if (bytes == 0) return USEG_OK;
    return useg_cuda_check(ctx, cudaMemsetAsync(dst, byte, bytes, ctx->cuda->stream), "cudaMemsetAsync");
}

extern "C" useg_status useg_pinned_alloc(useg_ctx *ctx, size_t bytes, void **out) {
    *out = NULL;
    cudaError_t err = cudaHostAlloc(out, bytes ? bytes : 1, cudaHostAllocDefault);
    if (err == cudaSuccess) return USEG_OK;
    (void)cudaGetLastError();
    *out = NULL;
    return useg_fail(ctx, err == cudaErrorMemoryAllocation ? USEG_ERR_OUT_OF_MEMORY : USEG_ERR_DEVICE,
                     "cannot get %zu bytes of pinned host memory: %s", bytes, cudaGetErrorString(err));
}

extern "C" void useg_pinned_free(void *p) {
    if (p) cudaFreeHost(p);
}
