#include "status.h"

const char *useg_status_name(useg_status s) {
    static const char *const names[USEG_STATUS_COUNT] = {
        [USEG_OK] = "ok",
        [USEG_ERR_INVALID_ARG] = "invalid argument",
        [USEG_ERR_SHAPE] = "shape",
        [USEG_ERR_OUT_OF_MEMORY] = "out of memory",
        [USEG_ERR_IO] = "io",
        [USEG_ERR_FORMAT] = "format",
        [USEG_ERR_UNSUPPORTED] = "unsupported",
        [USEG_ERR_DEVICE] = "device",
    };
    _Static_assert(USEG_STATUS_COUNT == 8, "name every status");
    return (s >= 0 && s < USEG_STATUS_COUNT) ? names[s] : "unknown";
}
