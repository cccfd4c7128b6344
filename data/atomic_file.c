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

useg_status useg_make_dirs(useg_ctx *ctx, const char *dir) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf)
        return useg_fail(ctx, USEG_ERR_INVALID_ARG, "folder path too long: %s", dir);
    // Each prefix ending before a '/', then the whole path.
    for (char *p = buf + 1;; p++) {
        const bool end = *p == '\0';
        if (!end && *p != '/') continue;
        *p = '\0';
        struct stat info;
        if (mkdir(buf, 0777) != 0 && !(errno == EEXIST && stat(buf, &info) == 0 && S_ISDIR(info.st_mode)))
            return useg_fail(ctx, USEG_ERR_IO, "%s: cannot create the folder: %s", buf,
                             errno == EEXIST ? "a file has that name" : strerror(errno));
        if (end) return USEG_OK;
        *p = '/';
    }
}

useg_status useg_make_parent_dirs(useg_ctx *ctx, const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path) return USEG_OK;
    char dir[4096];
    if ((size_t)(slash - path) >= sizeof dir) return useg_fail(ctx, USEG_ERR_INVALID_ARG, "output path too long: %s", path);
    memcpy(dir, path, (size_t)(slash - path));
    dir[slash - path] = '\0';
    return useg_make_dirs(ctx, dir);
}
