// Status codes, the error-carrying context message, and bug assertions.
//
// Two kinds of failure (STYLE.md): a broken invariant is a bug and stops the
// program with file:line (USEG_ASSERT); anything the outside world can cause
// (bad input, missing file, out of memory, no GPU) returns a useg_status and
// leaves a one-line message in the context. The first error wins ("sticky",
// as SQLite keeps it on the connection): later failures caused by the first
// one do not overwrite the message. Only the CLI's main() turns a status into
// an exit code.
#pragma once

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

typedef enum useg_status {
    USEG_OK = 0,
    USEG_ERR_INVALID_ARG,   // a bad argument or option value
    USEG_ERR_SHAPE,         // shapes or dtypes that do not fit together
    USEG_ERR_OUT_OF_MEMORY, // an allocation or an arena limit failed
    USEG_ERR_IO,            // a file could not be opened, read or written
    USEG_ERR_FORMAT,        // a file's content is corrupt or unsupported
    USEG_ERR_UNSUPPORTED,   // valid request the engine does not implement (op on a device/dtype)
    USEG_ERR_DEVICE,        // GPU or driver error, or no GPU present
    USEG_STATUS_COUNT
} useg_status;

// Short stable name of a status ("shape", "io", ...), for messages and JSON.
const char *useg_status_name(useg_status s);

// Bugs: stop with a location. Always on, release builds included.
#define USEG_ASSERT(cond, ...)                                                      \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "%s:%d: internal error: assertion `%s` failed: ",       \
                    __FILE__, __LINE__, #cond);                                     \
            fprintf(stderr, __VA_ARGS__);                                           \
            fputc('\n', stderr);                                                    \
            abort();                                                                \
        }                                                                           \
    } while (0)

// Propagate a failed status from a call that has already recorded its message.
#define USEG_TRY(expr)                                                              \
    do {                                                                            \
        useg_status try_status_ = (expr);                                           \
        if (try_status_ != USEG_OK) return try_status_;                             \
    } while (0)
