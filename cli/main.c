// useg: the command-line front of the engine. main() dispatches to the
// subcommand table; only this layer turns a status into an exit code.
#include <stdio.h>
#include <string.h>

#include "commands.h"

typedef struct command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} command;

static const command commands[] = {
    {"eval", "evaluate results: COCO AP/AR, semantic mIoU, panoptic PQ, BSDS region metrics", useg_cmd_eval},
    {"features", "dense backbone features (DINO/DINOv2 ViT or the weights-free default) as .npy", useg_cmd_features},
    {"maskcut", "MaskCut pseudo-masks of a set of images as COCO annotations (resumable, shardable)", useg_cmd_maskcut},
    {"merge", "merge the shard files of a pseudo-labelling run into one COCO file", useg_cmd_merge},
    {"unsam", "UnSAM divide-and-conquer pseudo-masks with their hierarchy as COCO annotations", useg_cmd_unsam},
    {"selfcheck", "train a small model end to end and check its gradients (the default job)", useg_cmd_selfcheck},
    {"devices", "list the CPU and CUDA GPUs useg can compute on, or check one (--device)", useg_cmd_devices},
};
enum { N_COMMANDS = sizeof commands / sizeof commands[0] };

static void usage(FILE *f) {
    fprintf(f,
            "usage: useg [--help] [--version] COMMAND [ARGS]\n"
            "\n"
            "useg is an engine for unsupervised image segmentation: a tensor and autograd\n"
            "core with CPU (and optional CUDA) kernels under MaskCut, UnSAM, PriMaPs and\n"
            "U2Seg pipelines and their evaluation.\n"
            "\n"
            "commands:\n");
    for (int i = 0; i < N_COMMANDS; i++) fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(f,
            "\n"
            "Run 'useg COMMAND --help' for a command's options.\n"
            "Exit status: 0 ok, 1 runtime error, 2 usage error.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return USEG_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return USEG_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        printf("useg %s\n", USEG_VERSION);
        return USEG_EXIT_OK;
    }
    for (int i = 0; i < N_COMMANDS; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "useg: unknown command '%s' (see 'useg --help')\n", argv[1]);
    return USEG_EXIT_USAGE;
}
