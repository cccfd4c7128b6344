#include "device_arg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

bool useg_parse_device(const char *text, useg_device_choice *out) {
    if (!strcmp(text, "cpu")) {
        *out = (useg_device_choice){USEG_DEVICE_CPU, 0};
        return true;
    }
    if (!strcmp(text, "cuda")) {
        *out = (useg_device_choice){USEG_DEVICE_CUDA, 0};
        return true;
    }
    if (strncmp(text, "cuda:", 5) != 0) return false;
    const char *digits = text + 5;
    size_t n = strspn(digits, "0123456789");
    if (n == 0 || n > 4 || digits[n] != '\0') return false;
    int index = atoi(digits);
    if (index >= 1024) return false;
    *out = (useg_device_choice){USEG_DEVICE_CUDA, index};
    return true;
}

int useg_open_device(useg_ctx *ctx, const char *prog, const useg_device_choice *choice,
                     const useg_cuda_options *opt) {
    if (choice->device == USEG_DEVICE_CPU) return USEG_EXIT_OK;
    if (useg_cuda_init(ctx, choice->index, opt) == USEG_OK) return USEG_EXIT_OK;
    fprintf(stderr, "%s: --device cuda:%d: %s\n", prog, choice->index, ctx->message);
    useg_clear_error(ctx);
    return USEG_EXIT_RUNTIME;
}

int useg_open_cpu_device(useg_ctx *ctx, const char *prog, const useg_device_choice *choice, const char *what) {
    int rc = useg_open_device(ctx, prog, choice, NULL);
    if (rc != USEG_EXIT_OK || choice->device == USEG_DEVICE_CPU) return rc;
    fprintf(stderr, "%s: --device cuda:%d: %s runs on the CPU in this version\n", prog, choice->index, what);
    return USEG_EXIT_RUNTIME;
}
