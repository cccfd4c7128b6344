#include "atomic_file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

useg_status useg_atomic_open(useg_ctx *ctx, useg_atomic_file *af, const char *path) {
    if (strlen(path) >= sizeof af->path) return useg_fail(ctx, USEG_ERR_INVALID_ARG, "output path too long: %s", path);
    strcpy(af->path, path);
    snprintf(af->tmp_path, sizeof af->tmp_path, "%s.tmpXXXXXX", path);
    int fd = mkstemp(af->tmp_path);
    if (fd < 0) return useg_fail(ctx, USEG_ERR_IO, "%s: cannot create a temporary file: %s", path, strerror(errno));
    // mkstemp makes the file 0600; give the final file the permissions a
    // plain fopen would (0666 less the umask), so outputs shared between
    // the tasks of a cluster job stay readable.
    const mode_t umask_bits = umask(0);
    umask(umask_bits);
    fchmod(fd, 0666 & ~umask_bits);
    af->f = fdopen(fd, "wb");
    if (!af->f) {
        close(fd);
        unlink(af->tmp_path);
        return useg_fail(ctx, USEG_ERR_IO, "%s: cannot open a temporary file: %s", path, strerror(errno));
    }
    return USEG_OK;
}

useg_status useg_atomic_close(useg_ctx *ctx, useg_atomic_file *af, bool ok) {
    ok = (fflush(af->f) == 0) && ok;
    ok = (fclose(af->f) == 0) && ok;
    af->f = NULL;
    if (ok && rename(af->tmp_path, af->path) == 0) return USEG_OK;
    int err = errno;
    unlink(af->tmp_path);
    return useg_fail(ctx, USEG_ERR_IO, "%s: write failed: %s", af->path, strerror(err));
}
