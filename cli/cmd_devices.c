// `useg devices`: what this machine can compute on. Lists the CPU and every
// GPU the CUDA driver reports (opening each briefly, with small arenas), or
// why there is none; with --device D it opens just D and fails (exit 1, one
// line) when D is not usable, which makes it the check a script runs before
// a GPU job.
#include <getopt.h>
#include <stdio.h>

#include "commands.h"
#include "device_arg.h"

static void help(FILE *f) {
    fprintf(f,
            "usage: useg devices [--device D]\n"
            "\n"
            "Lists the devices useg can compute on: the CPU and each CUDA GPU with its\n"
            "name, compute capability and memory. With --device, opens only that device\n"
            "and exits 1 with the reason when it is not usable.\n"
            "\n" USEG_DEVICE_HELP "  -h, --help   this text\n");
}

// Open cuda:index in a scratch context and print one line about it.
static int show_gpu(const char *prog, int index) {
    const size_t small = (size_t)1 << 20;
    useg_cuda_options opt = {.params_bytes = small, .step_bytes = small, .scratch_bytes = small};
    useg_ctx ctx;
    useg_ctx_init(&ctx, NULL);
    useg_device_choice choice = {USEG_DEVICE_CUDA, index};
    int rc = useg_open_device(&ctx, prog, &choice, &opt);
    if (rc == USEG_EXIT_OK)
        printf("cuda:%d  %s (compute capability %d.%d, %d SMs)\n", index, ctx.cuda->name, ctx.cuda->cc_major,
               ctx.cuda->cc_minor, ctx.cuda->sm_count);
    useg_ctx_free(&ctx);
    return rc;
}

int useg_cmd_devices(int argc, char **argv) {
    static const struct option opts[] = {
        {"device", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *prog = "useg devices";
    useg_device_choice choice;
    bool chosen = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            if (!useg_parse_device(optarg, &choice)) {
                fprintf(stderr, "%s: bad value '%s' for --device (cpu, cuda or cuda:N)\n", prog, optarg);
                return USEG_EXIT_USAGE;
            }
            chosen = true;
            break;
        case 'h': help(stdout); return USEG_EXIT_OK;
        default: help(stderr); return USEG_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", prog, argv[optind]);
        return USEG_EXIT_USAGE;
    }
    if (chosen) {
        if (choice.device == USEG_DEVICE_CPU) {
            printf("cpu\n");
            return USEG_EXIT_OK;
        }
        return show_gpu(prog, choice.index);
    }
    printf("cpu\n");
    useg_ctx ctx;
    useg_ctx_init(&ctx, NULL);
    int count = 0;
    if (useg_cuda_device_count(&ctx, &count) != USEG_OK) printf("cuda: none (%s)\n", ctx.message);
    else if (count == 0) printf("cuda: none (the driver reports no GPU)\n");
    useg_ctx_free(&ctx);
    int rc = USEG_EXIT_OK;
    for (int i = 0; i < count; i++)
        if (show_gpu(prog, i) != USEG_EXIT_OK) rc = USEG_EXIT_RUNTIME;
    return rc;
}
