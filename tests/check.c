#include "check.h"

#include <math.h>

int check_failures;
int check_count;

int check_report(const char *name) {
    printf("%s: %d checks, %d failed\n", name, check_count, check_failures);
    return check_failures ? 1 : 0;
}

double check_rel_error(const useg_tensor *ours, const useg_tensor *ref) {
    double diff = 0, scale = 0;
    for (int64_t i = 0; i < useg_numel(ref); i++) {
        double r = useg_get_flat(ref, i);
        diff = fmax(diff, fabs(useg_get_flat(ours, i) - r));
        scale = fmax(scale, fabs(r));
    }
    return scale > 0 ? diff / scale : diff;
}
