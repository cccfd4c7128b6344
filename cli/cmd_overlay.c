// `useg overlay`: draw the pseudo-masks of a COCO instances file over their
// photos and write a static HTML page of them (data/overlay.h).
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "overlay.h"

static void help(FILE *f) {
    fprintf(f,
            "usage: useg overlay --annotations FILE.json --images IMAGES --out OUT [--max-side N]\n"
            "\n"
            "Draw the masks of a COCO instances file (as 'useg maskcut' or 'useg unsam' write\n"
            "it) over their photos, IMAGES/<file_name>, and write OUT/index.html: a static\n"
            "page, one row per image, the photo first, then one overlay per hierarchy\n"
            "level present (annotations with a \"level\" field: \"divide\" for 0, then the\n"
            "conquer levels, with their thresholds when the info block has\n"
            "\"conquer_thresholds\"), or one overlay of all masks (no \"level\" field), each\n"
            "with its mask count. Each mask has its own colour, half blended with the photo,\n"
            "with a one-pixel contour; smaller masks are drawn over larger ones.\n"
            "Files are named from image ids (imgID.png, imgID_levelT.png, imgID_all.png),\n"
            "each written atomically; the folder is created if absent.\n"
            "\n"
            "  --annotations FILE.json  the COCO instances file\n"
            "  --images IMAGES          the folder its file_names are relative to\n"
            "  --out OUT                the output folder\n"
            "  --max-side N             longest side of the overlays in pixels (default 640):\n"
            "                           larger photos are shrunk (bilinear) and their masks\n"
            "                           sampled (nearest) before drawing\n"
            "  -h, --help               this text\n"
            "\n"
            "Prints the path of index.html.\n"
            "Exit status: 0 all drawn; 1 an image could not be read (skipped, named, marked\n"
            "on the page, the rest drawn), or the file or a folder cannot be used (found\n"
            "before anything is written) or a file cannot be written; 2 usage error.\n");
}

int useg_cmd_overlay(int argc, char **argv) {
    static const struct option opts[] = {
        {"annotations", required_argument, NULL, 'a'},
        {"images", required_argument, NULL, 'i'},
        {"out", required_argument, NULL, 'o'},
        {"max-side", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *annotations = NULL, *images = NULL, *out = NULL;
    useg_overlay_options opt = {.max_side = 640, .log = stderr};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'a': annotations = optarg; break;
        case 'i': images = optarg; break;
        case 'o': out = optarg; break;
        case 's': {
            char *end;
            errno = 0;
            long long v = strtoll(optarg, &end, 10);
            if (end == optarg || *end || errno || v < 1 || v > 65536) {
                fprintf(stderr, "useg overlay: --max-side must be an integer in 1..65536, not '%s'\n", optarg);
                return USEG_EXIT_USAGE;
            }
            opt.max_side = v;
            break;
        }
        case 'h': help(stdout); return USEG_EXIT_OK;
        default: help(stderr); return USEG_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "useg overlay: unexpected argument '%s'\n", argv[optind]);
        return USEG_EXIT_USAGE;
    }
    if (!annotations || !images || !out) {
        fprintf(stderr, "useg overlay: --annotations, --images and --out are required (see --help)\n");
        return USEG_EXIT_USAGE;
    }
    useg_ctx ctx;
    useg_ctx_init(&ctx, NULL);
    useg_overlay_report rep;
    int rc = USEG_EXIT_OK;
    if (useg_overlay_pages(&ctx, annotations, images, out, &opt, &rep) != USEG_OK) {
        fprintf(stderr, "useg overlay: %s\n", ctx.message);
        rc = USEG_EXIT_RUNTIME;
    } else {
        printf("%lld images drawn (%lld overlays), %lld skipped\n%s\n", (long long)rep.images,
               (long long)rep.overlays, (long long)rep.skipped, rep.index);
        if (rep.skipped) rc = USEG_EXIT_RUNTIME;
    }
    useg_ctx_free(&ctx);
    return rc;
}
