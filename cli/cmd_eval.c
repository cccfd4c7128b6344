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
#include "vote.h"

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

// Parse a number in [0, 1) (a threshold); false when it is not one.
static bool parse_fraction(const char *s, double *out) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= 0 && v < 1)) return false;
    *out = v;
    return true;
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
            "                      [--class-agnostic] [--max-dets N,N,N[,N...]]\n"
            "                      [--vote [--vote-score F] [--vote-iou F]] [--json FILE]\n"
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
            "  --vote               results name clusters (category_id = cluster id >= 0):\n"
            "                       map them to categories by U2Seg's per-image voting: a\n"
            "                       detection with score >= --vote-score votes (its cluster,\n"
            "                       the category of g) for every ground-truth box g of its\n"
            "                       image with box IoU > --vote-iou; each cluster takes the\n"
            "                       category with most votes (ties: lowest id); detections\n"
            "                       of clusters without a vote are dropped\n"
            "  --vote-score F       default 0.6 (U2Seg's code; its paper's best is 0.4)\n"
            "  --vote-iou F         default 0.7 (U2Seg's code; its paper uses 0.6)\n"
            "  --json FILE          also write the numbers as JSON\n"
            "  -h, --help           this text\n"
            "\n"
            "A result naming an image or category absent from --gt, a mask whose size\n"
            "differs from its image, or malformed JSON is an error (exit 1).\n");
}

// U2Seg's thing voting (vote.h) and what it did.
typedef struct coco_vote {
    double score, iou;
    int64_t n_clusters, n_mapped;
    uint64_t n_votes;
    size_t n_dropped;
    int64_t *category_of_cluster; // n_clusters category ids, -1 when unmapped; malloc'd
} coco_vote;

// Map the cluster ids of dt to gt's categories by voting and relabel dt.
static useg_status coco_vote_relabel(useg_ctx *ctx, const useg_coco *gt, useg_coco *dt, coco_vote *cv) {
    cv->n_clusters = 1;
    for (size_t d = 0; d < dt->n_anns; d++)
        if (dt->anns[d].category_id + 1 > cv->n_clusters) cv->n_clusters = dt->anns[d].category_id + 1;
    useg_confusion t;
    USEG_TRY(useg_confusion_init(ctx, &t, cv->n_clusters, (int64_t)gt->n_cats));
    useg_status st = useg_vote_add_detections(ctx, &t, gt, dt, cv->score, cv->iou);
    cv->category_of_cluster = st == USEG_OK ? malloc((size_t)cv->n_clusters * sizeof *cv->category_of_cluster) : NULL;
    if (st == USEG_OK && !cv->category_of_cluster)
        st = useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY, "out of memory for the cluster mapping");
    if (st == USEG_OK) {
        useg_majority_mapping(&t, cv->category_of_cluster);
        size_t before = dt->n_anns;
        useg_vote_relabel_detections(dt, gt, cv->category_of_cluster, cv->n_clusters);
        cv->n_dropped = before - dt->n_anns;
        cv->n_votes = useg_vote_count(&t);
        for (int64_t k = 0; k < cv->n_clusters; k++) {
            int64_t r = cv->category_of_cluster[k];
            cv->n_mapped += r >= 0;
            cv->category_of_cluster[k] = r >= 0 ? gt->cats[gt->cat_by_id[r]].id : -1;
        }
    }
    useg_confusion_free(&t);
    return st;
}

static int eval_coco(int argc, char **argv) {
    static const struct option opts[] = {
        {"gt", required_argument, NULL, 'g'},
        {"results", required_argument, NULL, 'r'},
        {"iou-type", required_argument, NULL, 't'},
        {"class-agnostic", no_argument, NULL, 'a'},
        {"max-dets", required_argument, NULL, 'm'},
        {"vote", no_argument, NULL, 'v'},
        {"vote-score", required_argument, NULL, 's'},
        {"vote-iou", required_argument, NULL, 'i'},
        {"json", required_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *gt_path = NULL, *dt_path = NULL, *json_path = NULL;
    useg_coco_eval_params p = useg_coco_eval_defaults();
    bool vote = false, vote_opts = false;
    double vote_score = 0.6, vote_iou = 0.7;
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
        case 'v': vote = true; break;
        case 's':
        case 'i': {
            char *end;
            double v = strtod(optarg, &end);
            bool ok = end != optarg && !*end && (c == 's' ? isfinite(v) : parse_fraction(optarg, &v));
            if (!ok) {
                fprintf(stderr, "useg eval coco: --vote-%s wants %s, not '%s'\n", c == 's' ? "score" : "iou",
                        c == 's' ? "a number" : "a number in [0, 1)", optarg);
                return USEG_EXIT_USAGE;
            }
            *(c == 's' ? &vote_score : &vote_iou) = v;
            vote_opts = true;
            break;
        }
        case 'h': coco_help(stdout); return USEG_EXIT_OK;
        default: coco_help(stderr); return USEG_EXIT_USAGE;
        }
    }
    if (vote_opts && !vote) {
        fprintf(stderr, "useg eval coco: --vote-score and --vote-iou go with --vote\n");
        return USEG_EXIT_USAGE;
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
    coco_vote cv = {.score = vote_score, .iou = vote_iou};
    double t0 = useg_now_s();
    useg_status st = useg_coco_load(&ctx, gt_path, masks, &gt);
    if (st == USEG_OK && !vote) st = useg_coco_load_results(&ctx, dt_path, &gt, masks, &dt);
    if (st == USEG_OK && vote) st = useg_coco_load_cluster_results(&ctx, dt_path, &gt, masks, &dt);
    if (st == USEG_OK && vote) st = coco_vote_relabel(&ctx, &gt, &dt, &cv);
    double t1 = useg_now_s();
    if (st == USEG_OK) st = useg_coco_evaluate(&ctx, &gt, &dt, &p, &sum);
    double t2 = useg_now_s();
    if (st != USEG_OK) {
        fprintf(stderr, "useg eval coco: %s\n", ctx.message);
        useg_coco_free(&dt);
        useg_coco_free(&gt);
        free(cv.category_of_cluster);
        useg_ctx_free(&ctx);
        return USEG_EXIT_RUNTIME;
    }
    printf("COCO %s evaluation (%s): %zu images, %zu ground-truth annotations, %zu detections\n",
           masks ? "segm" : "bbox", p.class_agnostic ? "class-agnostic" : "class-aware", sum.n_images, sum.n_gt,
           sum.n_dt);
    for (int i = 0; i < sum.n_stats; i++)
        printf(" %-6s %s = %0.3f\n", sum.stats[i].name, sum.stats[i].label, sum.stats[i].value);
    if (vote)
        printf("U2Seg vote (score >= %g, box IoU > %g): %lld clusters, %llu votes, %lld mapped, %zu of %zu "
               "detections dropped\n",
               cv.score, cv.iou, (long long)cv.n_clusters, (unsigned long long)cv.n_votes, (long long)cv.n_mapped,
               cv.n_dropped, cv.n_dropped + sum.n_dt);
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
    if (root && vote) {
        json_t *v = json_pack("{s:f,s:f,s:I,s:I,s:I,s:[]}", "score", cv.score, "iou", cv.iou, "n_votes",
                              (json_int_t)cv.n_votes, "n_mapped", (json_int_t)cv.n_mapped, "n_dropped",
                              (json_int_t)cv.n_dropped, "category_of_cluster");
        for (int64_t k = 0; v && k < cv.n_clusters; k++)
            json_array_append_new(json_object_get(v, "category_of_cluster"), json_integer(cv.category_of_cluster[k]));
        json_object_set_new(root, "vote", v);
    }
    free(cv.category_of_cluster);
    useg_coco_free(&dt);
    useg_coco_free(&gt);
    int rc = finish_json(&ctx, "coco", root, json_path);
    useg_ctx_free(&ctx);
    return rc;
}

// ---- semantic ---------------------------------------------------------------

static void semantic_help(FILE *f) {
    fprintf(f,
            "usage: useg eval semantic --gt DIR --pred DIR --n-classes K [--n-clusters N]\n"
            "                          [--matching hungarian|majority|vote] [--vote-iou F]\n"
            "                          [--json FILE]\n"
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
            "                   majority: many-to-one, each cluster to the class holding\n"
            "                   most of its pixels;\n"
            "                   vote: U2Seg's per-image voting: in each image a cluster\n"
            "                   votes for every class it overlaps with mask IoU > F, each\n"
            "                   cluster goes to the class with most votes over the data set,\n"
            "                   and the pixels of clusters without a vote are ignored\n"
            "  --vote-iou F     the voting IoU threshold (default 0.15)\n"
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

// The confusion matrix over all images, and with `votes` each image's votes.
static useg_status semantic_accumulate(useg_ctx *ctx, const char *gt_dir, const char *pred_dir, char **names,
                                       size_t n, useg_confusion *conf, useg_confusion *votes, double vote_iou) {
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
        if (st == USEG_OK && votes) st = useg_vote_add_segmentation(ctx, votes, p, g, (int64_t)gh * gw, vote_iou);
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
        {"vote-iou", required_argument, NULL, 'v'},
        {"json", required_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *gt_dir = NULL, *pred_dir = NULL, *json_path = NULL;
    long n_classes = 0, n_clusters = 0;
    useg_matching matching = USEG_MATCH_HUNGARIAN;
    bool vote = false, vote_iou_set = false;
    double vote_iou = 0.15;
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
            vote = !strcmp(optarg, "vote");
            if (!strcmp(optarg, "hungarian")) matching = USEG_MATCH_HUNGARIAN;
            else if (!strcmp(optarg, "majority")) matching = USEG_MATCH_MAJORITY;
            else if (!vote) {
                fprintf(stderr, "useg eval semantic: --matching must be hungarian, majority or vote\n");
                return USEG_EXIT_USAGE;
            }
            break;
        case 'v':
            if (!parse_fraction(optarg, &vote_iou)) {
                fprintf(stderr, "useg eval semantic: --vote-iou wants a number in [0, 1), not '%s'\n", optarg);
                return USEG_EXIT_USAGE;
            }
            vote_iou_set = true;
            break;
        case 'h': semantic_help(stdout); return USEG_EXIT_OK;
        default: semantic_help(stderr); return USEG_EXIT_USAGE;
        }
    }
    if (vote_iou_set && !vote) {
        fprintf(stderr, "useg eval semantic: --vote-iou goes with --matching vote\n");
        return USEG_EXIT_USAGE;
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
    useg_confusion votes = {0};
    useg_semantic_result res = {0};
    int64_t *class_of = NULL;
    useg_status st = list_files(&ctx, gt_dir, ".png", &names, &n);
    if (st == USEG_OK && n == 0) st = useg_fail(&ctx, USEG_ERR_INVALID_ARG, "%s: no .png files", gt_dir);
    if (st == USEG_OK) st = useg_confusion_init(&ctx, &conf, n_clusters, n_classes);
    if (st == USEG_OK && vote) st = useg_confusion_init(&ctx, &votes, n_clusters, n_classes);
    if (st == USEG_OK) st = semantic_accumulate(&ctx, gt_dir, pred_dir, names, n, &conf, vote ? &votes : NULL, vote_iou);
    if (st == USEG_OK && vote && !(class_of = malloc((size_t)n_clusters * sizeof *class_of)))
        st = useg_fail(&ctx, USEG_ERR_OUT_OF_MEMORY, "out of memory for the cluster mapping");
    if (st == USEG_OK && vote) {
        useg_majority_mapping(&votes, class_of);
        st = useg_semantic_score_mapped(&ctx, &conf, class_of, true, &res);
    } else if (st == USEG_OK) {
        st = useg_semantic_score(&ctx, &conf, matching, &res);
    }
    free(class_of);
    free_names(names, n);
    if (st != USEG_OK) {
        fprintf(stderr, "useg eval semantic: %s\n", ctx.message);
        useg_confusion_free(&conf);
        useg_confusion_free(&votes);
        useg_ctx_free(&ctx);
        return USEG_EXIT_RUNTIME;
    }
    const char *mname = vote ? "vote" : matching == USEG_MATCH_HUNGARIAN ? "hungarian" : "majority";
    printf("semantic evaluation (%s matching): %zu images, %llu valid pixels, %llu ignored, %llu with an invalid "
           "prediction\n",
           mname, n, (unsigned long long)res.n_valid, (unsigned long long)conf.n_ignored,
           (unsigned long long)conf.n_pred_invalid);
    printf(" class   IoU\n");
    for (int64_t j = 0; j < n_classes; j++) printf(" %5lld   %.4f\n", (long long)j, res.iou[j]);
    printf(" mIoU     %.4f\n pixel accuracy %.4f\n", res.miou, res.accuracy);
    if (vote)
        printf(" U2Seg vote (mask IoU > %g): %llu votes; %llu pixels of clusters without a vote ignored\n", vote_iou,
               (unsigned long long)useg_vote_count(&votes), (unsigned long long)res.n_unmapped);
    json_t *root = json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:o,s:o,s:[],s:[]}", "task", "semantic", "matching",
                             mname, "n_images", (json_int_t)n, "n_classes", (json_int_t)n_classes, "n_clusters",
                             (json_int_t)n_clusters, "n_valid", (json_int_t)res.n_valid, "n_ignored",
                             (json_int_t)conf.n_ignored, "n_pred_invalid", (json_int_t)conf.n_pred_invalid, "miou",
                             json_number_or_null(res.miou), "accuracy", json_number_or_null(res.accuracy), "iou",
                             "class_of_cluster");
    if (root && vote)
        json_object_set_new(root, "vote", json_pack("{s:f,s:I,s:I}", "iou", vote_iou, "n_votes",
                                                    (json_int_t)useg_vote_count(&votes), "n_unmapped_pixels",
                                                    (json_int_t)res.n_unmapped));
    if (root) {
        for (int64_t j = 0; j < n_classes; j++)
            json_array_append_new(json_object_get(root, "iou"), json_number_or_null(res.iou[j]));
        for (int64_t k = 0; k < n_clusters; k++)
            json_array_append_new(json_object_get(root, "class_of_cluster"), json_integer(res.class_of_cluster[k]));
    }
    useg_semantic_result_free(&res);
    useg_confusion_free(&conf);
    useg_confusion_free(&votes);
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
            "usage: useg eval bsds --gt-dir DIR --seg-dir DIR [--ucm | --pb] [--nthresh N]\n"
            "                      [--bench all|region|boundary] [--match sparse|exact]\n"
            "                      [--seed N] [--max-dist F] [--no-thin] [--json FILE]\n"
            "\n"
            "BSDS500 benchmarks, as the benchmark's MATLAB code computes them:\n"
            "  region:   segmentation covering (ODS, OIS, Best), probabilistic Rand index\n"
            "            and variation of information (ODS, OIS) against every human\n"
            "            segmentation;\n"
            "  boundary: precision, recall and F (ODS, OIS) and AP of thinned machine\n"
            "            boundaries matched pixel to pixel with every human boundary map\n"
            "            within 0.0075 of the image diagonal.\n"
            "\n"
            "  --gt-dir DIR      ground-truth .mat files (variable groundTruth: cell of\n"
            "                    structs with Segmentation and Boundaries fields)\n"
            "  --seg-dir DIR     one file per image, named as its ground truth: a .mat with\n"
            "                    variable segs (a cell of label maps, scored as thresholds\n"
            "                    1..n), or with --ucm variable ucm2 (double-size ultrametric\n"
            "                    contour map), or with --pb a PNG soft boundary map\n"
            "  --ucm             read ucm2 and threshold it at N levels\n"
            "  --pb              read 8-bit PNG boundary maps (value / 255), thresholded at N\n"
            "                    levels; boundary benchmark only\n"
            "  --nthresh N       thresholds linspace(1/(N+1), 1-1/(N+1), N) (default 99)\n"
            "  --bench B         all (default), region or boundary\n"
            "  --match M         boundary pixel matching: sparse (default) builds the\n"
            "                    benchmark's assignment graph, where a pixel may stay\n"
            "                    unmatched only through 6 random outlier arcs (seeded), and\n"
            "                    solves it exactly; exact lets any pixel stay unmatched, the\n"
            "                    optimum the benchmark approximates (recall a few 1e-4 higher)\n"
            "  --seed N          seed of the sparse matching's outlier arcs; the i-th image\n"
            "                    (in name order, from 0) uses N + i (default 0)\n"
            "  --max-dist F      match tolerance as a fraction of the diagonal (0.0075)\n"
            "  --no-thin         do not thin machine boundaries before matching\n"
            "  --json FILE       also write the numbers as JSON\n"
            "  -h, --help        this text\n");
}

typedef enum bsds_input { BSDS_SEGS, BSDS_UCM, BSDS_PB } bsds_input;

typedef struct bsds_opts {
    bsds_input input;
    int nthresh;
    bool region, boundary;
    useg_bsds_boundary_params bp;
} bsds_opts;

// The machine boundary maps (n, H, W) of `segs`, which must share one size.
static useg_status segs_to_boundaries(useg_ctx *ctx, const char *path, const useg_label_map *segs, uint32_t n,
                                      uint8_t **maps, uint32_t *h, uint32_t *w) {
    *h = segs[0].h;
    *w = segs[0].w;
    for (uint32_t i = 1; i < n; i++)
        if (segs[i].h != *h || segs[i].w != *w)
            return useg_fail(ctx, USEG_ERR_SHAPE, "%s: segs{%u} is %ux%u but segs{1} is %ux%u", path, i + 1,
                             segs[i].w, segs[i].h, *w, *h);
    size_t npx = (size_t)*h * *w;
    *maps = malloc(n * npx + 1);
    if (!*maps) return useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY, "out of memory for %u boundary maps", n);
    for (uint32_t i = 0; i < n; i++) useg_bsds_seg_boundary(&segs[i], *maps + i * npx);
    return USEG_OK;
}

// Read one image's machine input and ground truth, and score the benches asked for.
static useg_status bsds_image(useg_ctx *ctx, const bsds_opts *o, const char *gt_path, const char *in_path,
                              uint64_t seed, useg_bsds_region_image *reg, useg_bsds_boundary_image *bdry) {
    useg_label_map *gts = NULL, *segs = NULL;
    uint32_t n_gt = 0, n_seg = 0, h = 0, w = 0, n = 0;
    double *thresh = NULL, *ucm2 = NULL, *pb = NULL;
    uint8_t *maps = NULL;
    int32_t *png = NULL;
    useg_status st = USEG_OK;
    if (o->input == BSDS_SEGS) {
        st = useg_mat_read_label_cell(ctx, in_path, "segs", NULL, &segs, &n_seg);
        n = n_seg;
        if (st == USEG_OK && o->boundary) st = segs_to_boundaries(ctx, in_path, segs, n_seg, &maps, &h, &w);
    } else {
        n = (uint32_t)o->nthresh;
        uint32_t h2, w2;
        if (o->input == BSDS_UCM) {
            st = useg_mat_read_real(ctx, in_path, "ucm2", &ucm2, &h2, &w2);
            if (st == USEG_OK && o->boundary) st = useg_bsds_pb_from_ucm(ctx, ucm2, h2, w2, &pb, &h, &w);
        } else {
            st = useg_png_read_labels(ctx, in_path, &png, &h, &w);
            if (st == USEG_OK && !(pb = malloc((size_t)h * w * sizeof *pb)))
                st = useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY, "out of memory for %s", in_path);
            for (size_t i = 0; st == USEG_OK && i < (size_t)h * w; i++) pb[i] = png[i] / 255.0;
        }
        if (st == USEG_OK && !(thresh = malloc(n * sizeof *thresh)))
            st = useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY, "out of memory for thresholds");
        if (st == USEG_OK) useg_bsds_ucm_thresholds((int)n, thresh);
        if (st == USEG_OK && o->region) {
            st = useg_bsds_segs_from_ucm(ctx, ucm2, h2, w2, thresh, (int)n, &segs);
            n_seg = n;
        }
        if (st == USEG_OK && o->boundary && !(maps = malloc((size_t)n * h * w + 1)))
            st = useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY, "out of memory for %u boundary maps", n);
        if (st == USEG_OK && o->boundary) useg_bsds_boundary_threshold(pb, h, w, thresh, (int)n, maps);
    }
    if (st == USEG_OK && !thresh) {
        if (!(thresh = malloc(n * sizeof *thresh)))
            st = useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY, "out of memory for thresholds");
        for (uint32_t i = 0; st == USEG_OK && i < n; i++) thresh[i] = i + 1;
    }
    if (st == USEG_OK && o->region) {
        st = useg_mat_read_label_cell(ctx, gt_path, "groundTruth", "Segmentation", &gts, &n_gt);
        if (st == USEG_OK) st = useg_bsds_region_image_eval(ctx, segs, (int)n_seg, thresh, gts, (int)n_gt, reg);
        useg_label_maps_free(gts, n_gt);
        gts = NULL;
    }
    if (st == USEG_OK && o->boundary) {
        st = useg_mat_read_label_cell(ctx, gt_path, "groundTruth", "Boundaries", &gts, &n_gt);
        if (st == USEG_OK && (gts[0].h != h || gts[0].w != w))
            st = useg_fail(ctx, USEG_ERR_SHAPE, "%s is %ux%u but its ground truth %s is %ux%u", in_path, w, h, gt_path,
                           gts[0].w, gts[0].h);
        useg_bsds_boundary_params p = o->bp;
        p.seed = seed;
        if (st == USEG_OK)
            st = useg_bsds_boundary_image_eval(ctx, maps, (int)n, thresh, h, w, gts, (int)n_gt, &p, bdry);
        useg_label_maps_free(gts, n_gt);
    }
    useg_label_maps_free(segs, n_seg);
    free(thresh);
    free(ucm2);
    free(pb);
    free(png);
    free(maps);
    return st;
}

static json_t *bsds_region_json(const useg_bsds_region_summary *s, char **names, size_t n) {
    json_t *root = json_pack("{s:{s:f,s:f,s:f,s:f},s:{s:f,s:f,s:f},s:{s:f,s:f,s:f},s:[],s:[]}", "cover", "ods_t",
                             s->cover_ods_t, "ods", s->cover_ods, "ois", s->cover_ois, "best", s->cover_best, "ri",
                             "ods_t", s->ri_ods_t, "ods", s->ri_ods, "ois", s->ri_ois, "voi", "ods_t", s->voi_ods_t,
                             "ods", s->voi_ods, "ois", s->voi_ois, "per_threshold", "per_image");
    for (int t = 0; root && t < s->n; t++)
        json_array_append_new(json_object_get(root, "per_threshold"),
                              json_pack("{s:f,s:f,s:f,s:f}", "t", s->thresh[t], "cover", s->cover_th[t], "ri",
                                        s->ri_th[t], "voi", s->voi_th[t]));
    for (size_t i = 0; root && i < n; i++)
        json_array_append_new(json_object_get(root, "per_image"),
                              json_pack("{s:s,s:f,s:f,s:f,s:f}", "name", names[i], "t", s->img_t[i], "cover",
                                        s->img_cover[i], "precision", s->img_precision[i], "best", s->img_best[i]));
    return root;
}

static json_t *bsds_boundary_json(const useg_bsds_boundary_summary *s, const useg_bsds_boundary_params *p,
                                  uint64_t seed, char **names, size_t n) {
    json_t *b = json_pack("{s:s,s:f,s:b,s:I,s:{s:f,s:f,s:f,s:f},s:{s:f,s:f,s:f},s:f,s:[],s:[]}", "match",
                          p->match == USEG_BSDS_MATCH_EXACT ? "exact" : "sparse", "max_dist", p->max_dist, "thin",
                          p->thin, "seed", (json_int_t)seed, "ods", "t", s->ods_t, "r", s->ods_r, "p", s->ods_p, "f",
                          s->ods_f, "ois", "r", s->ois_r, "p", s->ois_p, "f", s->ois_f, "ap", s->ap, "per_threshold",
                          "per_image");
    for (int t = 0; b && t < s->n; t++)
        json_array_append_new(json_object_get(b, "per_threshold"),
                              json_pack("{s:f,s:f,s:f,s:f}", "t", s->thresh[t], "r", s->r_th[t], "p", s->p_th[t], "f",
                                        s->f_th[t]));
    for (size_t i = 0; b && i < n; i++)
        json_array_append_new(json_object_get(b, "per_image"),
                              json_pack("{s:s,s:f,s:f,s:f,s:f}", "name", names[i], "t", s->img_t[i], "r",
                                        s->img_r[i], "p", s->img_p[i], "f", s->img_f[i]));
    return b;
}

// Parse the options; returns -1 to go on, else the exit code.
static int bsds_parse(int argc, char **argv, bsds_opts *o, const char **gt_dir, const char **seg_dir,
                      const char **json_path, uint64_t *seed) {
    static const struct option opts[] = {
        {"gt-dir", required_argument, NULL, 'g'},   {"seg-dir", required_argument, NULL, 's'},
        {"ucm", no_argument, NULL, 'u'},            {"pb", no_argument, NULL, 'b'},
        {"nthresh", required_argument, NULL, 'n'},  {"bench", required_argument, NULL, 'B'},
        {"match", required_argument, NULL, 'm'},    {"seed", required_argument, NULL, 'S'},
        {"max-dist", required_argument, NULL, 'd'}, {"no-thin", no_argument, NULL, 'T'},
        {"json", required_argument, NULL, 'j'},     {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *bench = "all";
    bool ucm = false, pb = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'g': *gt_dir = optarg; break;
        case 's': *seg_dir = optarg; break;
        case 'j': *json_path = optarg; break;
        case 'u': ucm = true; break;
        case 'b': pb = true; break;
        case 'T': o->bp.thin = false; break;
        case 'B': bench = optarg; break;
        case 'n': {
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 1000) {
                fprintf(stderr, "useg eval bsds: --nthresh wants 1..1000, not '%s'\n", optarg);
                return USEG_EXIT_USAGE;
            }
            o->nthresh = (int)v;
            break;
        }
        case 'm':
            if (!strcmp(optarg, "sparse")) o->bp.match = USEG_BSDS_MATCH_SPARSE;
            else if (!strcmp(optarg, "exact")) o->bp.match = USEG_BSDS_MATCH_EXACT;
            else {
                fprintf(stderr, "useg eval bsds: --match must be sparse or exact, not '%s'\n", optarg);
                return USEG_EXIT_USAGE;
            }
            break;
        case 'S':
            *seed = strtoull(optarg, &end, 10);
            if (*end || !*optarg || *optarg == '-') {
                fprintf(stderr, "useg eval bsds: --seed wants a non-negative integer, not '%s'\n", optarg);
                return USEG_EXIT_USAGE;
            }
            break;
        case 'd':
            o->bp.max_dist = strtod(optarg, &end);
            if (*end || !(o->bp.max_dist > 0 && o->bp.max_dist < 1)) {
                fprintf(stderr, "useg eval bsds: --max-dist wants a fraction in (0, 1), not '%s'\n", optarg);
                return USEG_EXIT_USAGE;
            }
            break;
        case 'h': bsds_help(stdout); return USEG_EXIT_OK;
        default: bsds_help(stderr); return USEG_EXIT_USAGE;
        }
    }
    o->region = !strcmp(bench, "all") || !strcmp(bench, "region");
    o->boundary = !strcmp(bench, "all") || !strcmp(bench, "boundary");
    const char *err = optind < argc             ? "unexpected argument"
                      : !*gt_dir || !*seg_dir   ? "--gt-dir and --seg-dir are required"
                      : !o->region && !o->boundary ? "--bench must be all, region or boundary"
                      : ucm && pb                ? "--ucm and --pb exclude each other"
                                                 : NULL;
    if (pb && !err) {
        if (!strcmp(bench, "region")) err = "--pb boundary maps have no region benchmark";
        o->region = false;
    }
    if (err) {
        fprintf(stderr, "useg eval bsds: %s\n", err);
        bsds_help(stderr);
        return USEG_EXIT_USAGE;
    }
    o->input = ucm ? BSDS_UCM : pb ? BSDS_PB : BSDS_SEGS;
    return -1;
}

static int eval_bsds(int argc, char **argv) {
    const char *gt_dir = NULL, *seg_dir = NULL, *json_path = NULL;
    bsds_opts o = {.nthresh = 99, .bp = useg_bsds_boundary_defaults()};
    uint64_t seed = 0;
    int rc = bsds_parse(argc, argv, &o, &gt_dir, &seg_dir, &json_path, &seed);
    if (rc >= 0) return rc;
    useg_ctx ctx;
    useg_ctx_init(&ctx, &(useg_ctx_options){0});
    const char *ext = o.input == BSDS_PB ? ".png" : ".mat";
    char **names = NULL;
    size_t n = 0;
    useg_bsds_region_image *reg = NULL;
    useg_bsds_boundary_image *bdry = NULL;
    useg_bsds_region_summary rsum = {0};
    useg_bsds_boundary_summary bsum = {0};
    useg_status st = list_files(&ctx, seg_dir, ext, &names, &n);
    if (st == USEG_OK && n == 0) st = useg_fail(&ctx, USEG_ERR_INVALID_ARG, "%s: no %s files", seg_dir, ext);
    if (st == USEG_OK && (!(reg = calloc(n, sizeof *reg)) || !(bdry = calloc(n, sizeof *bdry))))
        st = useg_fail(&ctx, USEG_ERR_OUT_OF_MEMORY, "out of memory for %zu images", n);
    for (size_t i = 0; st == USEG_OK && i < n; i++) {
        char gp[4096], sp[4096];
        // The ground truth shares the input's name, with .mat for a .png input.
        snprintf(gp, sizeof gp, "%s/%.*s.mat", gt_dir, (int)(strlen(names[i]) - 4), names[i]);
        snprintf(sp, sizeof sp, "%s/%s", seg_dir, names[i]);
        st = bsds_image(&ctx, &o, gp, sp, seed + i, &reg[i], &bdry[i]);
    }
    if (st == USEG_OK && o.region) st = useg_bsds_region_collect(&ctx, reg, (int)n, &rsum);
    if (st == USEG_OK && o.boundary) st = useg_bsds_boundary_collect(&ctx, bdry, (int)n, &bsum);
    for (size_t i = 0; reg && bdry && i < n; i++) {
        useg_bsds_region_image_free(&reg[i]);
        useg_bsds_boundary_image_free(&bdry[i]);
    }
    free(reg);
    free(bdry);
    if (st != USEG_OK) {
        free_names(names, n);
        useg_bsds_region_summary_free(&rsum);
        fprintf(stderr, "useg eval bsds: %s\n", ctx.message);
        useg_ctx_free(&ctx);
        return USEG_EXIT_RUNTIME;
    }
    const char *what = o.input == BSDS_SEGS ? "segmentations" : "thresholds";
    json_t *root = json_pack("{s:s,s:I}", "task", "bsds", "n_images", (json_int_t)n);
    if (o.region) {
        printf("BSDS region benchmark: %zu images, %d %s\n", n, rsum.n, what);
        printf("  GT covering: ODS %.4f [th %g]  OIS %.4f  Best %.4f\n", rsum.cover_ods, rsum.cover_ods_t,
               rsum.cover_ois, rsum.cover_best);
        printf("  Rand index:  ODS %.4f [th %g]  OIS %.4f\n", rsum.ri_ods, rsum.ri_ods_t, rsum.ri_ois);
        printf("  Var. info.:  ODS %.4f [th %g]  OIS %.4f\n", rsum.voi_ods, rsum.voi_ods_t, rsum.voi_ois);
        json_t *r = bsds_region_json(&rsum, names, n);
        if (root && r) json_object_update(root, r);
        json_decref(r);
    }
    if (o.boundary) {
        printf("BSDS boundary benchmark: %zu images, %d %s, %s matching\n", n, bsum.n, what,
               o.bp.match == USEG_BSDS_MATCH_EXACT ? "exact" : "sparse");
        printf("  Boundary:    ODS F %.4f (R %.4f, P %.4f) [th %g]  OIS F %.4f (R %.4f, P %.4f)  AP %.4f\n",
               bsum.ods_f, bsum.ods_r, bsum.ods_p, bsum.ods_t, bsum.ois_f, bsum.ois_r, bsum.ois_p, bsum.ap);
        if (root) json_object_set_new(root, "boundary", bsds_boundary_json(&bsum, &o.bp, seed, names, n));
    }
    free_names(names, n);
    useg_bsds_region_summary_free(&rsum);
    useg_bsds_boundary_summary_free(&bsum);
    rc = finish_json(&ctx, "bsds", root, json_path);
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
    {"bsds", "BSDS500 benchmarks: covering, PRI, VoI; boundary P/R/F (ODS/OIS), AP", eval_bsds},
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
