// The model options the subcommands share, parsed in one place: the
// backbone (--weights, --patch; `useg features`, `useg maskcut`, `useg
// unsam`) and MaskCut's (--n-masks, --tau, --size, --no-crf, --early-stop;
// `useg maskcut`, and `useg unsam` for its divide step). Used through
// getopt_long like dataset_args.h: the option table macros, a per-option
// parser, and the help lines.
#pragma once

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>

#include "backbone.h"
#include "maskcut.h"

typedef struct useg_backbone_args {
    const char *weights; // NULL: the weights-free backbone
    int patch;           // its patch (8)
    bool patch_given;
} useg_backbone_args;

enum { USEG_OPT_WEIGHTS = 1100, USEG_OPT_PATCH, USEG_OPT_N_MASKS, USEG_OPT_TAU, USEG_OPT_SIZE, USEG_OPT_NO_CRF,
       USEG_OPT_EARLY_STOP };

// What a per-option parser made of option c.
typedef enum useg_arg_result { USEG_ARG_OTHER, USEG_ARG_TAKEN, USEG_ARG_BAD } useg_arg_result;

// Parse an option's decimal integer in [lo, hi] into *out; false (out
// untouched) when text is anything else (empty, trailing characters, out of
// range). The one range check of the subcommands' integer options.
bool useg_parse_int_in(const char *text, long lo, long hi, int64_t *out);

#define USEG_BACKBONE_OPTIONS \
    {"weights", required_argument, NULL, USEG_OPT_WEIGHTS}, {"patch", required_argument, NULL, USEG_OPT_PATCH}

#define USEG_BACKBONE_HELP                                                                          \
    "  --weights FILE      DINO / DINOv2 checkpoint (default: the weights-free backbone)\n"         \
    "  --patch N           patch size of the weights-free backbone, 2..64 (default 8)\n"

// Without --size: `useg features` has its own (a resize, not MaskCut's working size).
#define USEG_MASKCUT_OPTIONS                                                                        \
    {"n-masks", required_argument, NULL, USEG_OPT_N_MASKS}, {"tau", required_argument, NULL, USEG_OPT_TAU}, \
        {"size", required_argument, NULL, USEG_OPT_SIZE}, {"no-crf", no_argument, NULL, USEG_OPT_NO_CRF}, \
        {"early-stop", no_argument, NULL, USEG_OPT_EARLY_STOP}

#define USEG_MASKCUT_HELP                                                                           \
    "  --n-masks N         MaskCut's cuts per image, at most N masks, 1..100 (default 3)\n"         \
    "  --tau T             affinity threshold on the keys' cosine similarity, in\n"                 \
    "                      [-1, 1) (default 0.15, the published labels'; maskcut.py's\n"            \
    "                      argparse default is 0.2)\n"                                              \
    "  --size S            MaskCut's working size: images are resized to S x S (default 480)\n"     \
    "  --no-crf            keep the cuts' masks as they are (nearest-upsampled patches)\n"          \
    "                      instead of MaskCut's dense-CRF refinement\n"                             \
    "  --early-stop        stop cutting an image when a cut finds nothing new (a\n"                 \
    "                      rejected or empty cut) instead of always cutting N times\n"

void useg_backbone_args_init(useg_backbone_args *a);
// Take option c (value v) if it is a backbone option.
useg_arg_result useg_backbone_arg(useg_backbone_args *a, int c, const char *v);
// --patch names the weights-free backbone's patch: refused with --weights.
// Prints one line "PROG: ..." and returns false then.
bool useg_backbone_args_check(const char *prog, const useg_backbone_args *a);
// Open the backbone the options name (useg_backbone_open).
useg_status useg_backbone_args_open(useg_ctx *ctx, const useg_backbone_args *a, useg_backbone *bb);

// Take option c (value v) if it is a MaskCut option, into o.
useg_arg_result useg_maskcut_arg(useg_maskcut_image_options *o, int c, const char *v);
// The settings record of a MaskCut-based labelling run (annotations.h):
// description, useg_version, backbone (bb's name), weights (the file name),
// tap "keys", then MaskCut's size, resize, tau, eps, n_masks, max_iou,
// min_area, sign, early_stop, crf. A new object, NULL when out of memory.
json_t *useg_maskcut_settings(const char *description, const useg_backbone *bb, const useg_backbone_args *a,
                              const useg_maskcut_image_options *o);
