#include "torch_parity.h"

#include <stdio.h>
#include <unistd.h>

#include "../check.h"
#include "npy.h"
#include "ops.h"

static void compare(const char *what, const char *name, const useg_tensor *ours, const useg_tensor *ref) {
    CHECK(ours && useg_same_shape(ours, ref), "%s %s: shape differs from torch", name, what);
    if (!ours || !useg_same_shape(ours, ref)) return;
    double e = check_rel_error(ours, ref);
    CHECK(e <= 1e-5, "%s %s: relative error %.3g", name, what, e);
    printf("%-22s %-5s rel. error %.2e\n", name, what, e);
}

int torch_parity_main(int argc, char **argv, const parity_case *cases, int n, const char *label) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s REFERENCE_DIR (run through the torch_*.py script)\n", argv[0]);
        return 2;
    }
    useg_ctx ctx;
    useg_ctx_init(&ctx, NULL);
    char path[4096];
    for (int c = 0; c < n; c++) {
        const char *name = cases[c].name;
        useg_tensor *in[4], *ref_out, *dout, *out = NULL;
        bool loaded = true;
        bool has_grad[4] = {0};
        for (int k = 0; k < cases[c].n_in && loaded; k++) {
            snprintf(path, sizeof path, "%s/%s.in%d.npy", argv[1], name, k);
            loaded = useg_npy_read(&ctx, path, &ctx.params, &in[k]) == USEG_OK;
            // The reference decides which inputs are differentiated: those it wrote a gradient for.
            snprintf(path, sizeof path, "%s/%s.din%d.npy", argv[1], name, k);
            has_grad[k] = access(path, R_OK) == 0;
            if (loaded && has_grad[k]) loaded = useg_requires_grad(&ctx, in[k]) == USEG_OK;
        }
        snprintf(path, sizeof path, "%s/%s.out.npy", argv[1], name);
        loaded = loaded && useg_npy_read(&ctx, path, NULL, &ref_out) == USEG_OK;
        snprintf(path, sizeof path, "%s/%s.dout.npy", argv[1], name);
        loaded = loaded && useg_npy_read(&ctx, path, NULL, &dout) == USEG_OK;
        CHECK(loaded, "%s: cannot load references: %s", name, ctx.message);
        if (!loaded) {
            useg_clear_error(&ctx);
            continue;
        }
        // Backward of sum(out * dout) gives the vector-Jacobian product torch computed.
        useg_tensor *p, *loss;
        CHECK_OK(&ctx, cases[c].fn(&ctx, in, &out));
        if (!out) continue;
        compare("out", name, out, ref_out);
        CHECK_OK(&ctx, useg_mul(&ctx, out, dout, &p));
        CHECK_OK(&ctx, useg_sum(&ctx, p, 0, false, &loss));
        CHECK_OK(&ctx, useg_backward(&ctx, loss));
        for (int k = 0; k < cases[c].n_in; k++) {
            if (!has_grad[k]) continue;
            useg_tensor *ref_din;
            snprintf(path, sizeof path, "%s/%s.din%d.npy", argv[1], name, k);
            CHECK_OK(&ctx, useg_npy_read(&ctx, path, NULL, &ref_din));
            char what[16];
            snprintf(what, sizeof what, "din%d", k);
            compare(what, name, in[k]->grad, ref_din);
        }
        useg_step_end(&ctx);
    }
    useg_ctx_free(&ctx);
    return check_report(label);
}
