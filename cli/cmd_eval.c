// `useg eval coco|semantic|panoptic|bsds`: run one evaluator over files on
// disk, print its summary as a table on stdout and, with --json FILE, write
// the same numbers (full double precision) as JSON, atomically.
//
// Each sub-subcommand parses its own options (getopt_long), builds the
// library call, and maps the library's status to the exit code: 0 ok,
// 1 runtime error (bad or unreadable input), 2 usage error.
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coco_eval.h"
#include "commands.h"
#include "json_io.h"
#include "progress.h"

// Parse "1,10,100" into at most `cap` positive ints; returns the count or -1.
static int parse_int_list(const char *s, int *out, int cap) {
    int n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > 1000000000 || n == cap) return -1;
        out[n++] = (int)v;
        if (*end == ',') end++;
        else if (*end) return -1;
        p = end;
    }
    return n;
}

// Write `root` to `path` if given; reports failure on stderr. Steals root.
static int finish_json(useg_ctx *ctx, const char *cmd, json_t *root, const char *path) {
    int rc = USEG_EXIT_OK;
    if (!root) {
        fprintf(stderr, "useg eval %s: out of memory building the JSON summary\n", cmd);
        return USEG_EXIT_RUNTIME;
    }
    if (path && useg_json_write_atomic(ctx, root, path, 2) != USEG_OK) {
        fprintf(stderr, "useg eval %s: %s\n", cmd, ctx->message);
        rc = USEG_EXIT_RUNTIME;
    }
    json_decref(root);
    return rc;
}

// ---- coco -------------------------------------------------------------------

static void coco_help(FILE *f) {
    fprintf(f,
            "usage: useg eval coco --gt FILE --results FILE [--iou-type segm|bbox]\n"
            "                      [--class-agnostic] [--max-dets N,N,N[,N...]] [--json FILE]\n"
            "\n"
            "COCO-style AP and AR of detection results against a COCO instances file,\n"
            "with pycocotools' COCOeval rules (IoU .50:.05:.95, 101 recall points,\n"
            "area ranges small/medium/large, crowd regions ignored). Prints the 12-number\n"
            "summary, then AR at every maxDets value past the third.\n"
            "\n"
            "  --gt FILE            COCO instances JSON (images, annotations, categories)\n"
            "  --results FILE       COCO results JSON: [{image_id, category_id, score,\n"
            "                       bbox and/or segmentation}, ...]; may be empty ([])\n"
            "  --iou-type T         segm (masks, default) or bbox (boxes)\n"
            "  --class-agnostic     pool all categories (pycocotools useCats=0)\n"
            "  --max-dets LIST      detections kept per image, 3 to 8 values (default\n"
            "                       1,10,100,1000: the standard summary plus AR@1000)\n"
            "  --json FILE          also write the numbers as JSON\n"
            "  -h, --help           this text\n"
            "\n"
            "A result naming an image or category absent from --gt, a mask whose size\n"
            "differs from its image, or malformed JSON is an error (exit 1).\n");
}

static int eval_coco(int argc, char **argv) {
    static const struct option opts[] = {
        {"gt", required_argument, NULL, 'g'},
        {"results", required_argument, NULL, 'r'},
        {"iou-type", required_argument, NULL, 't'},
        {"class-agnostic", no_argument, NULL, 'a'},
        {"max-dets", required_argument, NULL, 'm'},
        {"json", required_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *gt_path = NULL, *dt_path = NULL, *json_path = NULL;
    useg_coco_eval_params p = useg_coco_eval_defaults();
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'g': gt_path = optarg; break;
        case 'r': dt_path = optarg; break;
        case 'j': json_path = optarg; break;
        case 'a': p.class_agnostic = true; break;
        case 't':
            if (!strcmp(optarg, "segm")) p.iou_type = USEG_COCO_SEGM;
            else if (!strcmp(optarg, "bbox")) p.iou_type = USEG_COCO_BBOX;
            else {
                fprintf(stderr, "useg eval coco: --iou-type must be segm or bbox, not '%s'\n", optarg);
                return USEG_EXIT_USAGE;
            }
            break;
        case 'm':
            p.n_max_dets = parse_int_list(optarg, p.max_dets, USEG_COCO_MAX_MAXDETS);
            if (p.n_max_dets < 3) {
                fprintf(stderr, "useg eval coco: --max-dets wants 3 to %d positive integers, not '%s'\n",
                        USEG_COCO_MAX_MAXDETS, optarg);
                return USEG_EXIT_USAGE;
            }
            break;
        case 'h': coco_help(stdout); return USEG_EXIT_OK;
        default: coco_help(stderr); return USEG_EXIT_USAGE;
        }
    }
    if (optind < argc || !gt_path || !dt_path) {
        fprintf(stderr, "useg eval coco: %s\n", optind < argc ? "unexpected argument" : "--gt and --results are required");
        coco_help(stderr);
        return USEG_EXIT_USAGE;
    }
    useg_ctx ctx;
    useg_ctx_init(&ctx, &(useg_ctx_options){0});
    useg_coco gt = {0}, dt = {0};
    useg_coco_summary sum;
    bool masks = p.iou_type == USEG_COCO_SEGM;
    double t0 = useg_now_s();
    useg_status st = useg_coco_load(&ctx, gt_path, masks, &gt);
    if (st == USEG_OK) st = useg_coco_load_results(&ctx, dt_path, &gt, masks, &dt);
    double t1 = useg_now_s();
    if (st == USEG_OK) st = useg_coco_evaluate(&ctx, &gt, &dt, &p, &sum);
    double t2 = useg_now_s();
    useg_coco_free(&dt);
    useg_coco_free(&gt);
    if (st != USEG_OK) {
        fprintf(stderr, "useg eval coco: %s\n", ctx.message);
        useg_ctx_free(&ctx);
        return USEG_EXIT_RUNTIME;
    }
    printf("COCO %s evaluation (%s): %zu images, %zu ground-truth annotations, %zu detections\n",
           masks ? "segm" : "bbox", p.class_agnostic ? "class-agnostic" : "class-aware", sum.n_images, sum.n_gt,
           sum.n_dt);
    for (int i = 0; i < sum.n_stats; i++)
        printf(" %-6s %s = %0.3f\n", sum.stats[i].name, sum.stats[i].label, sum.stats[i].value);
    fprintf(stderr, "load %.2f s, evaluate %.2f s\n", t1 - t0, t2 - t1);
    json_t *root = json_pack("{s:s,s:s,s:b,s:[],s:I,s:I,s:I,s:{},s:[]}", "task", "coco", "iou_type",
                             masks ? "segm" : "bbox", "class_agnostic", p.class_agnostic, "max_dets", "n_images",
                             (json_int_t)sum.n_images, "n_gt", (json_int_t)sum.n_gt, "n_dt", (json_int_t)sum.n_dt,
                             "stats", "summary");
    if (root) {
        json_t *md = json_object_get(root, "max_dets"), *stats = json_object_get(root, "stats"),
               *list = json_object_get(root, "summary");
        for (int i = 0; i < p.n_max_dets; i++) json_array_append_new(md, json_integer(p.max_dets[i]));
        for (int i = 0; i < sum.n_stats; i++) {
            json_object_set_new(stats, sum.stats[i].name, json_real(sum.stats[i].value));
            json_array_append_new(list, json_pack("{s:s,s:s,s:f}", "name", sum.stats[i].name, "label",
                                                  sum.stats[i].label, "value", sum.stats[i].value));
        }
    }
    int rc = finish_json(&ctx, "coco", root, json_path);
    useg_ctx_free(&ctx);
    return rc;
}

// ---- dispatch ---------------------------------------------------------------

typedef struct eval_kind {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} eval_kind;

static const eval_kind kinds[] = {
    {"coco", "COCO AP/AR (segm or bbox, class-aware or class-agnostic) like pycocotools", eval_coco},
};
enum { N_KINDS = sizeof kinds / sizeof kinds[0] };

static void eval_help(FILE *f) {
    fprintf(f, "usage: useg eval KIND [OPTIONS]   (useg eval KIND --help for the options)\n\nkinds:\n");
    for (int i = 0; i < N_KINDS; i++) fprintf(f, "  %-10s %s\n", kinds[i].name, kinds[i].summary);
}

int useg_cmd_eval(int argc, char **argv) {
    if (argc < 2) {
        eval_help(stderr);
        return USEG_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        eval_help(stdout);
        return USEG_EXIT_OK;
    }
    for (int i = 0; i < N_KINDS; i++)
        if (!strcmp(argv[1], kinds[i].name)) return kinds[i].run(argc - 1, argv + 1);
    fprintf(stderr, "useg eval: unknown kind '%s'\n", argv[1]);
    eval_help(stderr);
    return USEG_EXIT_USAGE;
}
