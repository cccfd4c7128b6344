// A pickle reader for PyTorch checkpoints: the subset of the pickle virtual
// machine that torch.save writes (protocols 2 to 5), building a tree of
// plain values. Nothing is executed: a GLOBAL is only a name. The few
// globals a checkpoint needs are interpreted (collections.OrderedDict,
// torch._utils._rebuild_tensor_v2 and friends, the torch.*Storage classes of
// persistent ids); every other class or function call becomes an opaque
// OBJECT value carrying its name (argparse.Namespace in DINO's 'args', numpy
// scalars), so what a checkpoint holds beside its tensors is skipped safely.
// Opcodes outside the subset (the text opcodes of protocols 0/1, extension
// registry, out-of-band buffers) fail with a message naming the opcode and
// its byte offset.
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "context.h"
#include "tensor.h"

typedef enum useg_pickle_kind {
    USEG_PICKLE_NONE,
    USEG_PICKLE_BOOL,
    USEG_PICKLE_INT,      // fits int64 (longer LONG1/LONG4 values become OBJECT "int")
    USEG_PICKLE_FLOAT,
    USEG_PICKLE_STRING,   // str or bytes
    USEG_PICKLE_TUPLE,
    USEG_PICKLE_LIST,     // list or set
    USEG_PICKLE_DICT,     // dict or OrderedDict: items are key, value, key, value, ...
    USEG_PICKLE_GLOBAL,   // a class or function name (module.name)
    USEG_PICKLE_OBJECT,   // an opaque result of calling a global
    USEG_PICKLE_STORAGE,  // a persistent id ('storage', type, key, location, numel)
    USEG_PICKLE_TENSOR,   // a rebuilt tensor: a strided view of a storage
} useg_pickle_kind;

typedef struct useg_pickle_value useg_pickle_value;
struct useg_pickle_value {
    useg_pickle_kind kind;
    union {
        bool b;
        int64_t i;
        double f;
        struct {
            const char *s;  // NUL-terminated; may hold NULs before len
            size_t len;
        } str;
        struct {
            useg_pickle_value **items;
            int64_t count, cap;  // dict: count counts keys and values
        } seq;
        struct {
            const char *module, *name;  // GLOBAL, or the class/function of an OBJECT
        } global;
        struct {
            const char *type_name;  // "FloatStorage", ...
            bool supported;         // false: a dtype useg has no use for (ShortStorage, ...)
            useg_dtype dtype;
            size_t elem_size;
            const char *key;        // archive entry data/<key>
            int64_t numel;
        } storage;
        struct {
            const useg_pickle_value *storage;
            int64_t offset;  // in elements
            int ndim;
            int64_t shape[USEG_MAX_DIMS];
            int64_t strides[USEG_MAX_DIMS];
        } tensor;
    };
};

// Run the pickle in data[0, size) and return the object it builds in *root.
// Values live in arena `a`. `name` ("model.pth: data.pkl") starts every
// message. Fails with USEG_ERR_FORMAT for a truncated or malformed pickle,
// an unsupported opcode, global call or persistent id, or tensor arguments
// of the wrong types (sizes and strides must be non-negative integers, at
// most USEG_MAX_DIMS of them). Whether a tensor fits its storage is the
// caller's check (it knows the tensor's name and the storage's real size).
useg_status useg_pickle_load(useg_ctx *ctx, const char *name, const uint8_t *data, size_t size, useg_arena *a,
                             const useg_pickle_value **root);

// A tensor found in the object tree with its dotted name.
typedef struct useg_pickle_named {
    const char *name;
    const useg_pickle_value *tensor;
} useg_pickle_named;

// Every tensor reachable from `root` through dicts (string or integer keys),
// lists and tuples, named by the keys and positions on the way joined with
// '.' ({'teacher': {'backbone.cls_token': t}} gives "teacher.backbone.cls_token"),
// in pickle order; opaque objects are not entered. The list lives in arena
// `a`. Fails with USEG_ERR_FORMAT when the tree is deeper than 64, a name is
// longer than 1024 bytes, or a walk (a cyclic or exponentially shared
// pickle) would visit more than 2^20 values or write more than 64 MiB of names.
useg_status useg_pickle_tensors(useg_ctx *ctx, const char *name, const useg_pickle_value *root, useg_arena *a,
                                useg_pickle_named **tensors, int64_t *count);
