// `useg eval coco|semantic|panoptic|bsds`: run one evaluator over files on
// disk, print its summary as a table on stdout and, with --json FILE, write
// the same numbers (full double precision) as JSON, atomically.
//
// Each sub-subcommand parses its own options (getopt_long), builds the
// library call, and maps the library's status to the exit code: 0 ok,
// 1 runtime error (bad or unreadable input), 2 usage error.
#include <dirent.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bsds.h"
#include "coco_eval.h"
#include "commands.h"
#include "image_io.h"
#include "json_io.h"
#include "pq.h"
#include "progress.h"
#include "semantic.h"

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

// ---- semantic ---------------------------------------------------------------

static void semantic_help(FILE *f) {
    fprintf(f,
            "usage: useg eval semantic --gt DIR --pred DIR --n-classes K [--n-clusters N]\n"
            "                          [--matching hungarian|majority] [--json FILE]\n"
            "\n"
            "Unsupervised semantic segmentation scores over a data set: the confusion\n"
            "matrix of predicted clusters against classes over all images, a cluster to\n"
            "class mapping, then per-class IoU, mIoU and pixel accuracy.\n"
            "\n"
            "  --gt DIR         ground-truth label PNGs (1 channel, 8 or 16 bit); labels\n"
            "                   outside 0..K-1 (e.g. 255) are ignored\n"
            "  --pred DIR       predicted cluster PNGs with the same file names and sizes;\n"
            "                   clusters outside 0..N-1 are skipped and counted\n"
            "  --n-classes K    number of ground-truth classes\n"
            "  --n-clusters N   number of predicted clusters (default K)\n"
            "  --matching M     hungarian: one-to-one, maximising matched pixels (default);\n"
            "                   majority: many-to-one majority vote (U2Seg)\n"
            "  --json FILE      also write the numbers as JSON\n"
            "  -h, --help       this text\n");
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

// The names in dir ending in `ext`, sorted (malloc'd array of malloc'd strings).
static useg_status list_files(useg_ctx *ctx, const char *dir, const char *ext, char ***names, size_t *n) {
    DIR *d = opendir(dir);
    if (!d) return useg_fail(ctx, USEG_ERR_IO, "%s: cannot open directory", dir);
    size_t cap = 0;
    *names = NULL;
    *n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name), elen = strlen(ext);
        if (len <= elen || strcmp(e->d_name + len - elen, ext)) continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            char **grown = realloc(*names, cap * sizeof *grown);
            if (!grown) break;
            *names = grown;
        }
        if (!((*names)[*n] = strdup(e->d_name))) break;
        (*n)++;
    }
    bool complete = e == NULL;
    closedir(d);
    if (!complete) return useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY, "out of memory listing %s", dir);
    if (*n) qsort(*names, *n, sizeof **names, cmp_str);
    return USEG_OK;
}

static void free_names(char **names, size_t n) {
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
}

static useg_status semantic_accumulate(useg_ctx *ctx, const char *gt_dir, const char *pred_dir, char **names,
                                       size_t n, useg_confusion *conf) {
    char gp[4096], pp[4096];
    for (size_t i = 0; i < n; i++) {
        snprintf(gp, sizeof gp, "%s/%s", gt_dir, names[i]);
        snprintf(pp, sizeof pp, "%s/%s", pred_dir, names[i]);
        int32_t *g = NULL, *p = NULL;
        uint32_t gh, gw, ph, pw;
        useg_status st = useg_png_read_labels(ctx, gp, &g, &gh, &gw);
        if (st == USEG_OK) st = useg_png_read_labels(ctx, pp, &p, &ph, &pw);
        if (st == USEG_OK && (gh != ph || gw != pw))
            st = useg_fail(ctx, USEG_ERR_SHAPE, "%s is %ux%u but its ground truth is %ux%u", pp, pw, ph, gw, gh);
        if (st == USEG_OK) useg_confusion_add(conf, p, g, (int64_t)gh * gw);
        free(g);
        free(p);
        if (st != USEG_OK) return st;
    }
    return USEG_OK;
}

static json_t *json_number_or_null(double v) { return isnan(v) ? json_null() : json_real(v); }

static int eval_semantic(int argc, char **argv) {
    static const struct option opts[] = {
        {"gt", required_argument, NULL, 'g'},
        {"pred", required_argument, NULL, 'p'},
        {"n-classes", required_argument, NULL, 'k'},
        {"n-clusters", required_argument, NULL, 'n'},
        {"matching", required_argument, NULL, 'm'},
        {"json", required_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *gt_dir = NULL, *pred_dir = NULL, *json_path = NULL;
    long n_classes = 0, n_clusters = 0;
    useg_matching matching = USEG_MATCH_HUNGARIAN;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'g': gt_dir = optarg; break;
        case 'p': pred_dir = optarg; break;
        case 'j': json_path = optarg; break;
        case 'k':
        case 'n': {
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 100000) {
                fprintf(stderr, "useg eval semantic: bad count '%s'\n", optarg);
                return USEG_EXIT_USAGE;
            }
            *(c == 'k' ? &n_classes : &n_clusters) = v;
            break;
        }
        case 'm':
            if (!strcmp(optarg, "hungarian")) matching = USEG_MATCH_HUNGARIAN;
            else if (!strcmp(optarg, "majority")) matching = USEG_MATCH_MAJORITY;
            else {
                fprintf(stderr, "useg eval semantic: --matching must be hungarian or majority\n");
                return USEG_EXIT_USAGE;
            }
            break;
        case 'h': semantic_help(stdout); return USEG_EXIT_OK;
        default: semantic_help(stderr); return USEG_EXIT_USAGE;
        }
    }
    if (optind < argc || !gt_dir || !pred_dir || !n_classes) {
        fprintf(stderr, "useg eval semantic: --gt, --pred and --n-classes are required\n");
        semantic_help(stderr);
        return USEG_EXIT_USAGE;
    }
    if (!n_clusters) n_clusters = n_classes;
    useg_ctx ctx;
    useg_ctx_init(&ctx, &(useg_ctx_options){0});
    char **names = NULL;
    size_t n = 0;
    useg_confusion conf = {0};
    useg_semantic_result res = {0};
    useg_status st = list_files(&ctx, gt_dir, ".png", &names, &n);
    if (st == USEG_OK && n == 0) st = useg_fail(&ctx, USEG_ERR_INVALID_ARG, "%s: no .png files", gt_dir);
    if (st == USEG_OK) st = useg_confusion_init(&ctx, &conf, n_clusters, n_classes);
    if (st == USEG_OK) st = semantic_accumulate(&ctx, gt_dir, pred_dir, names, n, &conf);
    if (st == USEG_OK) st = useg_semantic_score(&ctx, &conf, matching, &res);
    free_names(names, n);
    if (st != USEG_OK) {
        fprintf(stderr, "useg eval semantic: %s\n", ctx.message);
        useg_confusion_free(&conf);
        useg_ctx_free(&ctx);
        return USEG_EXIT_RUNTIME;
    }
    const char *mname = matching == USEG_MATCH_HUNGARIAN ? "hungarian" : "majority";
    printf("semantic evaluation (%s matching): %zu images, %llu valid pixels, %llu ignored, %llu with an invalid "
           "prediction\n",
           mname, n, (unsigned long long)res.n_valid, (unsigned long long)conf.n_ignored,
           (unsigned long long)conf.n_pred_invalid);
    printf(" class   IoU\n");
    for (int64_t j = 0; j < n_classes; j++) printf(" %5lld   %.4f\n", (long long)j, res.iou[j]);
    printf(" mIoU     %.4f\n pixel accuracy %.4f\n", res.miou, res.accuracy);
    json_t *root = json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:o,s:o,s:[],s:[]}", "task", "semantic", "matching",
                             mname, "n_images", (json_int_t)n, "n_classes", (json_int_t)n_classes, "n_clusters",
                             (json_int_t)n_clusters, "n_valid", (json_int_t)res.n_valid, "n_ignored",
                             (json_int_t)conf.n_ignored, "n_pred_invalid", (json_int_t)conf.n_pred_invalid, "miou",
                             json_number_or_null(res.miou), "accuracy", json_number_or_null(res.accuracy), "iou",
                             "class_of_cluster");
    if (root) {
        for (int64_t j = 0; j < n_classes; j++)
            json_array_append_new(json_object_get(root, "iou"), json_number_or_null(res.iou[j]));
        for (int64_t k = 0; k < n_clusters; k++)
            json_array_append_new(json_object_get(root, "class_of_cluster"), json_integer(res.class_of_cluster[k]));
    }
    useg_semantic_result_free(&res);
    useg_confusion_free(&conf);
    int rc = finish_json(&ctx, "semantic", root, json_path);
    useg_ctx_free(&ctx);
    return rc;
}

// ---- panoptic ---------------------------------------------------------------

static void panoptic_help(FILE *f) {
    fprintf(f,
            "usage: useg eval panoptic --gt-json FILE --gt-dir DIR --pred-json FILE --pred-dir DIR\n"
            "                          [--json FILE]\n"
            "\n"
            "Panoptic quality PQ, SQ, RQ (all, things, stuff) of COCO panoptic predictions,\n"
            "with panopticapi's rules: same-category segments match at IoU > 0.5 (the\n"
            "union leaves out predicted pixels on void), crowd ground truth never matches,\n"
            "unmatched predictions mostly on void or on a same-category crowd region are\n"
            "not false positives. Averages run over categories with TP + FP + FN > 0.\n"
            "\n"
            "  --gt-json FILE    ground-truth panoptic JSON (with \"categories\", isthing)\n"
            "  --gt-dir DIR      its PNGs (id = R + 256 G + 256^2 B, 0 = void)\n"
            "  --pred-json FILE  predicted panoptic JSON (annotations; categories of the gt)\n"
            "  --pred-dir DIR    its PNGs\n"
            "  --json FILE       also write the numbers (and per-category ones) as JSON\n"
            "  -h, --help        this text\n");
}

static json_t *pq_group_json(const useg_pq_group *g) {
    return json_pack("{s:o,s:o,s:o,s:I}", "pq", json_number_or_null(g->pq), "sq", json_number_or_null(g->sq), "rq",
                     json_number_or_null(g->rq), "n", (json_int_t)g->n);
}

static int eval_panoptic(int argc, char **argv) {
    static const struct option opts[] = {
        {"gt-json", required_argument, NULL, 'g'},
        {"gt-dir", required_argument, NULL, 'G'},
        {"pred-json", required_argument, NULL, 'p'},
        {"pred-dir", required_argument, NULL, 'P'},
        {"json", required_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *gt_json = NULL, *gt_dir = NULL, *pred_json = NULL, *pred_dir = NULL, *json_path = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'g': gt_json = optarg; break;
        case 'G': gt_dir = optarg; break;
        case 'p': pred_json = optarg; break;
        case 'P': pred_dir = optarg; break;
        case 'j': json_path = optarg; break;
        case 'h': panoptic_help(stdout); return USEG_EXIT_OK;
        default: panoptic_help(stderr); return USEG_EXIT_USAGE;
        }
    }
    if (optind < argc || !gt_json || !gt_dir || !pred_json || !pred_dir) {
        fprintf(stderr, "useg eval panoptic: --gt-json, --gt-dir, --pred-json and --pred-dir are required\n");
        panoptic_help(stderr);
        return USEG_EXIT_USAGE;
    }
    useg_ctx ctx;
    useg_ctx_init(&ctx, &(useg_ctx_options){0});
    useg_panoptic gt = {0}, pred = {0};
    useg_pq_result res = {0};
    useg_status st = useg_panoptic_load(&ctx, gt_json, NULL, &gt);
    if (st == USEG_OK) st = useg_panoptic_load(&ctx, pred_json, &gt.meta, &pred);
    if (st == USEG_OK) st = useg_pq_evaluate(&ctx, &gt, gt_dir, &pred, pred_dir, &res);
    useg_panoptic_free(&pred);
    useg_panoptic_free(&gt);
    if (st != USEG_OK) {
        fprintf(stderr, "useg eval panoptic: %s\n", ctx.message);
        useg_ctx_free(&ctx);
        return USEG_EXIT_RUNTIME;
    }
    printf("panoptic evaluation: %zu images\n%-10s| %6s %6s %6s %5s\n", res.n_images, "", "PQ", "SQ", "RQ", "N");
    const char *names[3] = {"All", "Things", "Stuff"};
    const useg_pq_group *groups[3] = {&res.all, &res.things, &res.stuff};
    for (int i = 0; i < 3; i++)
        printf("%-10s| %6.1f %6.1f %6.1f %5lld\n", names[i], 100 * groups[i]->pq, 100 * groups[i]->sq,
               100 * groups[i]->rq, (long long)groups[i]->n);
    json_t *root = json_pack("{s:s,s:I,s:o,s:o,s:o,s:[]}", "task", "panoptic", "n_images", (json_int_t)res.n_images,
                             "all", pq_group_json(&res.all), "things", pq_group_json(&res.things), "stuff",
                             pq_group_json(&res.stuff), "per_category");
    for (size_t k = 0; root && k < res.n_classes; k++) {
        const useg_pq_class *q = &res.classes[k];
        json_array_append_new(json_object_get(root, "per_category"),
                              json_pack("{s:I,s:b,s:f,s:f,s:f,s:I,s:I,s:I,s:f}", "category_id",
                                        (json_int_t)q->category_id, "isthing", q->isthing, "pq", q->pq, "sq", q->sq,
                                        "rq", q->rq, "tp", (json_int_t)q->tp, "fp", (json_int_t)q->fp, "fn",
                                        (json_int_t)q->fn, "iou_sum", q->iou_sum));
    }
    useg_pq_result_free(&res);
    int rc = finish_json(&ctx, "panoptic", root, json_path);
    useg_ctx_free(&ctx);
    return rc;
}

// ---- bsds -------------------------------------------------------------------

static void bsds_help(FILE *f) {
    fprintf(f,
            "usage: useg eval bsds --gt-dir DIR --seg-dir DIR [--ucm] [--nthresh N] [--json FILE]\n"
            "\n"
            "BSDS500 region benchmark: segmentation covering (ODS, OIS, Best), probabilistic\n"
            "Rand index and variation of information (ODS, OIS) of machine segmentations\n"
            "against every human segmentation, as the benchmark's MATLAB code computes them.\n"
            "\n"
            "  --gt-dir DIR    ground-truth .mat files (variable groundTruth: cell of\n"
            "                  structs with a Segmentation field)\n"
            "  --seg-dir DIR   one .mat per image with the same name: variable segs (a cell\n"
            "                  of label maps, scored as thresholds 1..n), or with --ucm a\n"
            "                  variable ucm2 (double-size ultrametric contour map)\n"
            "  --ucm           read ucm2 and threshold it at N levels\n"
            "  --nthresh N     ucm thresholds linspace(1/(N+1), 1-1/(N+1), N) (default 99)\n"
            "  --json FILE     also write the numbers as JSON\n"
            "  -h, --help      this text\n"
            "\n"
            "The boundary benchmark (precision/recall/F with its pixel-matching tolerance) is\n"
            "not implemented yet.\n");
}

static useg_status bsds_image(useg_ctx *ctx, const char *gt_path, const char *seg_path, bool ucm, int nthresh,
                              useg_bsds_region_image *out) {
    useg_label_map *gts = NULL, *segs = NULL;
    uint32_t n_gt = 0, n_seg = 0;
    double *thresh = NULL, *ucm2 = NULL;
    useg_status st = useg_mat_read_label_cell(ctx, gt_path, "groundTruth", "Segmentation", &gts, &n_gt);
    if (st == USEG_OK && ucm) {
        uint32_t h2, w2;
        thresh = malloc((size_t)nthresh * sizeof *thresh);
        if (!thresh) st = useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY, "out of memory for thresholds");
        if (st == USEG_OK) st = useg_mat_read_real(ctx, seg_path, "ucm2", &ucm2, &h2, &w2);
        if (st == USEG_OK) {
            useg_bsds_ucm_thresholds(nthresh, thresh);
            st = useg_bsds_segs_from_ucm(ctx, ucm2, h2, w2, thresh, nthresh, &segs);
            n_seg = (uint32_t)nthresh;
        }
    } else if (st == USEG_OK) {
        st = useg_mat_read_label_cell(ctx, seg_path, "segs", NULL, &segs, &n_seg);
        thresh = st == USEG_OK ? malloc(n_seg * sizeof *thresh) : NULL;
        if (st == USEG_OK && !thresh) st = useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY, "out of memory for thresholds");
        for (uint32_t i = 0; st == USEG_OK && i < n_seg; i++) thresh[i] = i + 1;
    }
    if (st == USEG_OK) st = useg_bsds_region_image_eval(ctx, segs, (int)n_seg, thresh, gts, (int)n_gt, out);
    useg_label_maps_free(gts, n_gt);
    useg_label_maps_free(segs, n_seg);
    free(thresh);
    free(ucm2);
    return st;
}

static int eval_bsds(int argc, char **argv) {
    static const struct option opts[] = {
        {"gt-dir", required_argument, NULL, 'g'},
        {"seg-dir", required_argument, NULL, 's'},
        {"ucm", no_argument, NULL, 'u'},
        {"nthresh", required_argument, NULL, 'n'},
        {"json", required_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *gt_dir = NULL, *seg_dir = NULL, *json_path = NULL;
    bool ucm = false;
    long nthresh = 99;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'g': gt_dir = optarg; break;
        case 's': seg_dir = optarg; break;
        case 'j': json_path = optarg; break;
        case 'u': ucm = true; break;
        case 'n':
            nthresh = strtol(optarg, &end, 10);
            if (*end || nthresh < 1 || nthresh > 1000) {
                fprintf(stderr, "useg eval bsds: --nthresh wants 1..1000, not '%s'\n", optarg);
                return USEG_EXIT_USAGE;
            }
            break;
        case 'h': bsds_help(stdout); return USEG_EXIT_OK;
        default: bsds_help(stderr); return USEG_EXIT_USAGE;
        }
    }
    if (optind < argc || !gt_dir || !seg_dir) {
        fprintf(stderr, "useg eval bsds: --gt-dir and --seg-dir are required\n");
        bsds_help(stderr);
        return USEG_EXIT_USAGE;
    }
    useg_ctx ctx;
    useg_ctx_init(&ctx, &(useg_ctx_options){0});
    char **names = NULL;
    size_t n = 0;
    useg_bsds_region_image *imgs = NULL;
    useg_bsds_region_summary sum = {0};
    useg_status st = list_files(&ctx, seg_dir, ".mat", &names, &n);
    if (st == USEG_OK && n == 0) st = useg_fail(&ctx, USEG_ERR_INVALID_ARG, "%s: no .mat files", seg_dir);
    if (st == USEG_OK && !(imgs = calloc(n, sizeof *imgs)))
        st = useg_fail(&ctx, USEG_ERR_OUT_OF_MEMORY, "out of memory for %zu images", n);
    for (size_t i = 0; st == USEG_OK && i < n; i++) {
        char gp[4096], sp[4096];
        snprintf(gp, sizeof gp, "%s/%s", gt_dir, names[i]);
        snprintf(sp, sizeof sp, "%s/%s", seg_dir, names[i]);
        st = bsds_image(&ctx, gp, sp, ucm, (int)nthresh, &imgs[i]);
    }
    if (st == USEG_OK) st = useg_bsds_region_collect(&ctx, imgs, (int)n, &sum);
    for (size_t i = 0; imgs && i < n; i++) useg_bsds_region_image_free(&imgs[i]);
    free(imgs);
    if (st != USEG_OK) {
        free_names(names, n);
        fprintf(stderr, "useg eval bsds: %s\n", ctx.message);
        useg_ctx_free(&ctx);
        return USEG_EXIT_RUNTIME;
    }
    printf("BSDS region benchmark: %zu images, %d %s\n", n, sum.n, ucm ? "ucm thresholds" : "segmentations");
    printf("  GT covering: ODS %.4f [th %g]  OIS %.4f  Best %.4f\n", sum.cover_ods, sum.cover_ods_t, sum.cover_ois,
           sum.cover_best);
    printf("  Rand index:  ODS %.4f [th %g]  OIS %.4f\n", sum.ri_ods, sum.ri_ods_t, sum.ri_ois);
    printf("  Var. info.:  ODS %.4f [th %g]  OIS %.4f\n", sum.voi_ods, sum.voi_ods_t, sum.voi_ois);
    json_t *root = json_pack("{s:s,s:I,s:{s:f,s:f,s:f,s:f},s:{s:f,s:f,s:f},s:{s:f,s:f,s:f},s:[],s:[]}", "task",
                             "bsds", "n_images", (json_int_t)n, "cover", "ods_t", sum.cover_ods_t, "ods", sum.cover_ods,
                             "ois", sum.cover_ois, "best", sum.cover_best, "ri", "ods_t", sum.ri_ods_t, "ods",
                             sum.ri_ods, "ois", sum.ri_ois, "voi", "ods_t", sum.voi_ods_t, "ods", sum.voi_ods, "ois",
                             sum.voi_ois, "per_threshold", "per_image");
    for (int t = 0; root && t < sum.n; t++)
        json_array_append_new(json_object_get(root, "per_threshold"),
                              json_pack("{s:f,s:f,s:f,s:f}", "t", sum.thresh[t], "cover", sum.cover_th[t], "ri",
                                        sum.ri_th[t], "voi", sum.voi_th[t]));
    for (size_t i = 0; root && i < n; i++)
        json_array_append_new(json_object_get(root, "per_image"),
                              json_pack("{s:s,s:f,s:f,s:f,s:f}", "name", names[i], "t", sum.img_t[i], "cover",
                                        sum.img_cover[i], "precision", sum.img_precision[i], "best",
                                        sum.img_best[i]));
    free_names(names, n);
    useg_bsds_region_summary_free(&sum);
    int rc = finish_json(&ctx, "bsds", root, json_path);
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
    {"semantic", "unsupervised semantic mIoU / pixel accuracy (Hungarian or majority vote)", eval_semantic},
    {"panoptic", "panoptic quality PQ/SQ/RQ (things, stuff) like panopticapi", eval_panoptic},
    {"bsds", "BSDS500 region benchmark: covering, PRI, VoI (ODS/OIS)", eval_bsds},
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
