#include "backbone_args.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool useg_parse_int_in(const char *text, long lo, long hi, int64_t *out) {
    char *end;
    long v = strtol(text, &end, 10);
    if (*end || end == text || v < lo || v > hi) return false;
    *out = v;
    return true;
}

void useg_backbone_args_init(useg_backbone_args *a) { *a = (useg_backbone_args){.patch = 8}; }

useg_arg_result useg_backbone_arg(useg_backbone_args *a, int c, const char *v) {
    int64_t p;
    switch (c) {
    case USEG_OPT_WEIGHTS: a->weights = v; return USEG_ARG_TAKEN;
    case USEG_OPT_PATCH:
        if (!useg_parse_int_in(v, 2, 64, &p)) return USEG_ARG_BAD;
        a->patch = (int)p;
        a->patch_given = true;
        return USEG_ARG_TAKEN;
    default: return USEG_ARG_OTHER;
    }
}

bool useg_backbone_args_check(const char *prog, const useg_backbone_args *a) {
    if (a->weights && a->patch_given) {
        fprintf(stderr, "%s: --patch is for the weights-free backbone; a checkpoint has its own patch\n", prog);
        return false;
    }
    return true;
}

useg_status useg_backbone_args_open(useg_ctx *ctx, const useg_backbone_args *a, useg_backbone *bb) {
    return useg_backbone_open(ctx, a->weights, a->patch, bb);
}

useg_arg_result useg_maskcut_arg(useg_maskcut_image_options *o, int c, const char *v) {
    int64_t n;
    switch (c) {
    case USEG_OPT_N_MASKS:
        if (!useg_parse_int_in(v, 1, 100, &n)) return USEG_ARG_BAD;
        o->cut.n_masks = (int)n;
        return USEG_ARG_TAKEN;
    case USEG_OPT_TAU: {
        char *end;
        double t = strtod(v, &end);
        if (*end || end == v || !(t >= -1 && t < 1)) return USEG_ARG_BAD;
        o->cut.tau = t;
        return USEG_ARG_TAKEN;
    }
    case USEG_OPT_SIZE: return useg_parse_int_in(v, 1, 8192, &o->size) ? USEG_ARG_TAKEN : USEG_ARG_BAD;
    case USEG_OPT_NO_CRF: o->crf = false; return USEG_ARG_TAKEN;
    case USEG_OPT_EARLY_STOP: o->cut.early_stop = true; return USEG_ARG_TAKEN;
    default: return USEG_ARG_OTHER;
    }
}

json_t *useg_maskcut_settings(const char *description, const useg_backbone *bb, const useg_backbone_args *a,
                              const useg_maskcut_image_options *o) {
    const char *base = a->weights ? strrchr(a->weights, '/') : NULL;
    json_t *s = json_pack("{s:s, s:s, s:s, s:s?, s:s}", "description", description, "useg_version", USEG_VERSION,
                          "backbone", bb->name, "weights", base ? base + 1 : a->weights, "tap", "keys");
    json_t *m = json_pack("{s:I, s:s, s:f, s:f, s:i, s:f, s:f, s:s, s:b, s:b}", "size", (json_int_t)o->size, "resize",
                          useg_resample_name(o->filter), "tau", o->cut.tau, "eps", o->cut.eps, "n_masks",
                          o->cut.n_masks, "max_iou", o->cut.max_iou, "min_area", o->cut.min_area, "sign",
                          o->cut.sign == USEG_MASKCUT_PEAK_POSITIVE ? "peak_positive" : "peak_negative",
                          "early_stop", o->cut.early_stop, "crf", o->crf);
    bool ok = s && m && json_object_update(s, m) == 0;
    json_decref(m);
    if (!ok) {
        json_decref(s);
        s = NULL;
    }
    return s;
}
