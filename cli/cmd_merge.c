// `useg merge`: combine the shard files of a pseudo-labelling run (`useg
// maskcut --shard I/N`) into the file one run over the whole dataset writes
// (pseudolabel/annotations.h).
#include <getopt.h>
#include <stdio.h>

#include "annotations.h"
#include "commands.h"

static void help(FILE *f) {
    fprintf(f,
            "usage: useg merge SHARD.json... --out FILE.json\n"
            "\n"
            "Merge the N shard files of a pseudo-labelling run ('useg maskcut --shard I/N')\n"
            "into one COCO file, identical to what one run over the whole dataset writes:\n"
            "images in id order, annotation ids renumbered 1, 2, ... in that order. All N\n"
            "shards must be given, each once; they must come from the same dataset and\n"
            "settings (their info blocks are compared) and no image may be in two of them.\n"
            "\n"
            "  --out FILE.json   the merged file (written atomically)\n"
            "  -h, --help        this text\n"
            "\n"
            "Exit status: 0 merged, 1 the shards do not fit together or cannot be read\n"
            "(nothing written), 2 usage error.\n");
}

int useg_cmd_merge(int argc, char **argv) {
    static const struct option opts[] = {
        {"out", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *out = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'h': help(stdout); return USEG_EXIT_OK;
        default: help(stderr); return USEG_EXIT_USAGE;
        }
    }
    if (!out) {
        fprintf(stderr, "useg merge: --out FILE.json is required\n");
        return USEG_EXIT_USAGE;
    }
    if (optind >= argc) {
        fprintf(stderr, "useg merge: no shard files given\n");
        return USEG_EXIT_USAGE;
    }
    useg_ctx ctx;
    useg_ctx_init(&ctx, NULL);
    int64_t n_images, n_anns;
    int rc = USEG_EXIT_OK;
    if (useg_annotations_merge(&ctx, (const char *const *)argv + optind, argc - optind, out, &n_images, &n_anns) !=
        USEG_OK) {
        fprintf(stderr, "useg merge: %s\n", ctx.message);
        rc = USEG_EXIT_RUNTIME;
    } else {
        printf("%d shards merged: %lld images and %lld masks in %s\n", argc - optind, (long long)n_images,
               (long long)n_anns, out);
    }
    useg_ctx_free(&ctx);
    return rc;
}
