// The --device option every compute subcommand takes: "cpu", "cuda" (the
// first GPU) or "cuda:N". Parsing is separate from opening the device, so a
// command rejects a malformed value as a usage error (exit 2) before any
// work, and reports a missing GPU or driver as a runtime error (exit 1) in
// one line naming the device.
#pragma once

#include <stdbool.h>

#include "device.h"

typedef struct useg_device_choice {
    useg_device device;
    int index; // CUDA ordinal; 0 for the CPU
} useg_device_choice;

// The help line for subcommands' usage texts.
#define USEG_DEVICE_HELP "  --device D   where to compute: cpu, cuda or cuda:N (default cpu)\n"

// Parse a --device value; false for anything but cpu, cuda, cuda:N (0 <= N < 1024).
bool useg_parse_device(const char *text, useg_device_choice *out);
// Put ctx on the chosen device: nothing to do for the CPU, useg_cuda_init for
// a GPU (opt NULL: default arenas). On failure prints one line
// "PROG: --device cuda:N: REASON" to stderr and returns USEG_EXIT_RUNTIME;
// USEG_EXIT_OK otherwise.
int useg_open_device(useg_ctx *ctx, const char *prog, const useg_device_choice *choice,
                     const useg_cuda_options *opt);
// useg_open_device for a command whose work runs on the CPU only in this
// version: a GPU that opens is still refused, with one line "PROG: --device
// cuda:N: WHAT runs on the CPU in this version" (exit 1), so the user learns
// that before any work rather than getting a silent CPU run.
int useg_open_cpu_device(useg_ctx *ctx, const char *prog, const useg_device_choice *choice, const char *what);
