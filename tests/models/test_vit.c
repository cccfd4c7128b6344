// ViT parity against the PyTorch reference (vit_reference.py): every case's
// four taps, with the weights loaded from the .pth (with DINO training-
// checkpoint prefixes for ViT-S/16) and, for the first case of each model,
// also from the .safetensors copy of the same weights.
// Error measure: max |ours - torch| / max |torch| over each tap, <= 1e-4.
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "npy.h"
#include "vit.h"

static const char *const TAP_NAMES[USEG_TAP_COUNT] = {"keys", "tokens", "cls", "attn"};

// Run every tap of `vit` on the case's input and compare with the references:
// in a no-grad scope (the forward releases each branch's temporaries), and for
// inputs up to 224 pixels also with gradients enabled (the plain path).
static void check_case(useg_ctx *ctx, const char *dir, const char *name, const useg_vit *vit, const char *source) {
    char path[4096];
    useg_tensor *x;
    snprintf(path, sizeof path, "%s/%s.input.npy", dir, name);
    CHECK_OK(ctx, useg_npy_read(ctx, path, &ctx->params, &x));
    const int modes = x->shape[2] <= 224 ? 2 : 1;
    for (int mode = 0; mode < modes; mode++) {
        bool prev = mode == 0 ? useg_no_grad_begin(ctx) : ctx->grad_enabled;
        for (int tap = 0; tap < USEG_TAP_COUNT; tap++) {
            useg_tensor *ours = NULL, *ref;
            CHECK_OK(ctx, useg_vit_forward(ctx, vit, x, (useg_vit_tap)tap, &ours));
            snprintf(path, sizeof path, "%s/%s.%s.npy", dir, name, TAP_NAMES[tap]);
            CHECK_OK(ctx, useg_npy_read(ctx, path, NULL, &ref));
            if (!ours) continue;
            char a[96], b[96];
            CHECK(useg_same_shape(ours, ref), "%s %s: shape %s, torch %s", name, TAP_NAMES[tap],
                  useg_shape_str(ours, a, sizeof a), useg_shape_str(ref, b, sizeof b));
            if (!useg_same_shape(ours, ref)) continue;
            double e = check_rel_error(ours, ref);
            CHECK(e <= 1e-4, "%s %s (%s%s): relative error %.3g", name, TAP_NAMES[tap], source,
                  mode ? ", grad" : "", e);
            printf("%-20s %-6s %-12s %-5s rel. error %.2e\n", name, TAP_NAMES[tap], source, mode ? "grad" : "",
                   e);
            useg_step_end(ctx);
        }
        useg_no_grad_end(ctx, prev);
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s REFERENCE_DIR (run through vit_reference.py)\n", argv[0]);
        return 2;
    }
    char path[4096], line[512], last_model[64] = "";
    snprintf(path, sizeof path, "%s/cases.txt", argv[1]);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "%s: cannot open\n", path);
        return 1;
    }
    useg_ctx ctx;
    useg_ctx_init(&ctx, NULL);
    useg_vit vit;
    while (fgets(line, sizeof line, f)) {
        char name[64], model[64], arch[64];
        int patch, size, batch;
        if (sscanf(line, "%63s %63s %63s %d %d %d", name, model, arch, &patch, &size, &batch) != 6) continue;
        if (strcmp(model, last_model)) {
            // A new model: its weights from the .pth, and once from the .safetensors copy.
            useg_arena_reset(&ctx.params);
            snprintf(path, sizeof path, "%s/%s.safetensors", argv[1], model);
            CHECK_OK(&ctx, useg_vit_load(&ctx, path, &vit));
            check_case(&ctx, argv[1], name, &vit, "safetensors");
            useg_arena_reset(&ctx.params);
            snprintf(path, sizeof path, "%s/%s.pth", argv[1], model);
            CHECK_OK(&ctx, useg_vit_load(&ctx, path, &vit));
            useg_vit_config want;
            CHECK(useg_vit_config_named(arch, patch, &want) && want.dim == vit.cfg.dim &&
                      want.heads == vit.cfg.heads && want.pos_grid == vit.cfg.pos_grid &&
                      want.layer_scale == vit.cfg.layer_scale,
                  "%s: detected architecture differs from %s/%d", model, arch, patch);
            strcpy(last_model, model);
        }
        check_case(&ctx, argv[1], name, &vit, "pth");
    }
    fclose(f);
    useg_ctx_free(&ctx);
    return check_report("vit vs torch");
}
