// See label_batch.h. The walk decodes only the shard's items that have no
// part yet; the progress bar counts those, so its rate is the labelling
// rate, not inflated by resumed images.
#include "label_batch.h"

#include <stdio.h>

#include "autograd.h"
#include "commands.h"
#include "progress.h"

// In the shard and not finished by an earlier run.
static bool pending(const useg_annotation_run *run, int64_t index) {
    return useg_annotation_run_wants(run, index) && !useg_annotation_run_done(run, index);
}

static bool skippable(useg_status st) {
    return st == USEG_ERR_IO || st == USEG_ERR_FORMAT || st == USEG_ERR_SHAPE;
}

// Label the decoded image of item `index` and write its part. *skipped is
// set when the image was refused by the labeller (the run goes on).
static useg_status label_one(useg_ctx *ctx, const useg_label_batch *b, useg_annotation_run *run, int64_t index,
                             const useg_tensor *img, bool *skipped) {
    *skipped = false;
    json_t *anns = json_array();
    if (!anns) return useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY, "out of memory");
    useg_status st = b->label_image(ctx, b->user, img, anns);
    if (skippable(st)) {
        fprintf(stderr, "\n%s: skipped %s: %s\n", b->prog, run->ds->items[index].name, ctx->message);
        useg_clear_error(ctx);
        *skipped = true;
        st = USEG_OK;
    } else if (st == USEG_OK) {
        st = useg_annotation_run_write(ctx, run, index, img->shape[0], img->shape[1], anns);
    }
    json_decref(anns);
    return st;
}

static int batch_run(useg_ctx *ctx, const useg_label_batch *b) {
    const useg_label_args *a = b->args;
    useg_dataset ds = {0};
    useg_annotation_run run = {0};
    if (!b->settings) {
        fprintf(stderr, "%s: out of memory\n", b->prog);
        return USEG_EXIT_RUNTIME;
    }
    if (useg_dataset_args_open(ctx, &a->data, &ds) != USEG_OK) {
        fprintf(stderr, "%s: %s\n", b->prog, ctx->message);
        useg_dataset_free(&ds);
        return USEG_EXIT_RUNTIME;
    }
    if (ds.count == 0 || useg_annotation_run_open(ctx, &run, a->out, b->settings, &ds, a->shard) != USEG_OK) {
        fprintf(stderr, "%s: %s\n", b->prog, ds.count ? ctx->message : "no images found");
        useg_annotation_run_close(&run);
        useg_dataset_free(&ds);
        return USEG_EXIT_RUNTIME;
    }
    int64_t todo = 0, resumed = 0;
    for (int64_t i = a->shard.index; i < ds.count; i += a->shard.count) {
        if (useg_annotation_run_done(&run, i)) resumed++;
        else todo++;
    }
    useg_dataset_iter it;
    useg_dataset_iter_init(&it, &ds, &(useg_image_options){.mode = USEG_IMAGE_RGB, .exif_transpose = a->data.exif});
    useg_progress bar;
    useg_progress_start(&bar, b->label, todo);
    int64_t labelled = 0, failed = 0;
    useg_status st = USEG_OK;
    const bool prev = useg_no_grad_begin(ctx);
    for (int64_t i = 0; st == USEG_OK;) {
        while (i < ds.count && !pending(&run, i)) i++;
        if (i >= ds.count) break;
        // The walk decodes item i, or on failure records it and moves on to
        // the next readable item, which may be another shard's or done.
        int64_t index, before = it.skipped_count;
        useg_tensor *img;
        it.next = i;
        st = useg_dataset_next(ctx, &it, NULL, &index, &img);
        for (int64_t k = before; k < it.skipped_count; k++) bar.done += pending(&run, it.skipped[k].index);
        if (st != USEG_OK || index < 0) break;
        i = index + 1;
        if (pending(&run, index)) {
            bool skipped;
            st = label_one(ctx, b, &run, index, img, &skipped);
            if (st == USEG_OK) {
                if (skipped) failed++;
                else labelled++;
            }
            useg_progress_advance(&bar, 1);
        }
        useg_step_end(ctx);
    }
    useg_no_grad_end(ctx, prev);
    useg_progress_finish(&bar);
    for (int64_t k = 0; k < it.skipped_count; k++) {
        if (!pending(&run, it.skipped[k].index)) continue;
        fprintf(stderr, "%s: skipped %s\n", b->prog, it.skipped[k].message);
        failed++;
    }
    int64_t n_images = 0, n_anns = 0;
    if (st == USEG_OK) st = useg_annotation_run_finish(ctx, &run, &n_images, &n_anns);
    useg_dataset_iter_free(&it);
    useg_annotation_run_close(&run);
    useg_dataset_free(&ds);
    if (st != USEG_OK) {
        fprintf(stderr, "%s: %s\n", b->prog, ctx->message);
        return USEG_EXIT_RUNTIME;
    }
    printf("%lld images labelled, %lld resumed, %lld unreadable; %lld images and %lld masks in %s\n",
           (long long)labelled, (long long)resumed, (long long)failed, (long long)n_images, (long long)n_anns, a->out);
    return failed ? USEG_EXIT_RUNTIME : USEG_EXIT_OK;
}

int useg_label_batch_run(useg_ctx *ctx, const useg_label_batch *b) {
    int rc = batch_run(ctx, b);
    json_decref(b->settings);
    return rc;
}

void useg_label_args_init(useg_label_args *a) {
    *a = (useg_label_args){.shard = {0, 1}, .device = {.device = USEG_DEVICE_CPU}};
    useg_backbone_args_init(&a->backbone);
}

useg_arg_result useg_label_arg(useg_label_args *a, int c, const char *v) {
    if (useg_dataset_arg(&a->data, c, v)) return USEG_ARG_TAKEN;
    switch (c) {
    case USEG_OPT_OUT: a->out = v; return USEG_ARG_TAKEN;
    case USEG_OPT_SHARD: return useg_shard_parse(v, &a->shard) ? USEG_ARG_TAKEN : USEG_ARG_BAD;
    case USEG_OPT_DEVICE: return useg_parse_device(v, &a->device) ? USEG_ARG_TAKEN : USEG_ARG_BAD;
    default: return useg_backbone_arg(&a->backbone, c, v);
    }
}

bool useg_label_args_check(const char *prog, int argc, char **argv, int optind_value, const useg_label_args *a) {
    return useg_batch_args_check(prog, argc, argv, optind_value, &a->data, a->out, "--out FILE.json") &&
           useg_backbone_args_check(prog, &a->backbone);
}

int useg_label_main(const char *prog, const char *what, const useg_label_args *a,
                    int (*run)(useg_ctx *ctx, const useg_label_args *a, void *job), void *job) {
    useg_ctx ctx;
    useg_ctx_init(&ctx, NULL);
    int rc = useg_open_cpu_device(&ctx, prog, &a->device, what);
    if (rc == USEG_EXIT_OK) rc = run(&ctx, a, job);
    useg_ctx_free(&ctx);
    return rc;
}
