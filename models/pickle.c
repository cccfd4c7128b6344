// The pickle virtual machine subset behind torch.load, without execution.
//
// Follows CPython's _pickle.c semantics for the opcodes it accepts: a value
// stack with marks as fences (popping below the innermost mark is an
// underflow, as in CPython), a memo indexed by BINPUT/MEMOIZE numbers. The
// stack, marks and memo are malloc'd working arrays freed on return; values
// are allocated from the caller's arena and may be shared (the memo makes
// the object graph a DAG, and lists/dicts can even contain themselves, so
// useg_pickle_tensors bounds its walk).
// Resource bounds, since the input is untrusted: every read is checked
// against the end of the data; memo indices may not exceed the pickle's
// length (a valid pickle has fewer memo entries than bytes); call
// interpretation nests at most 8 deep.
#include "pickle.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_CALL_DEPTH = 8, MAX_WALK_DEPTH = 64, MAX_NAME = 1024 };
// Real checkpoints hold thousands of tensors; these bounds stop a small
// pickle that shares one list exponentially often ("billion laughs") from
// making the walk, or the names it writes, take gigabytes.
static const int64_t MAX_WALK_VISITS = INT64_C(1) << 20, MAX_NAME_BYTES = INT64_C(1) << 26;

typedef struct vm {
    useg_ctx *ctx;
    const char *name;
    const uint8_t *data;
    size_t size, pos, op_pos;  // op_pos: offset of the opcode being run, for messages
    useg_arena *a;
    useg_pickle_value **stack;
    int64_t sp, stack_cap;
    int64_t *marks;  // stack heights at each MARK
    int64_t n_marks, marks_cap;
    useg_pickle_value **memo;  // NULL where unset
    int64_t memo_cap, memo_len;  // memo_len: entries set, the index MEMOIZE uses
} vm;

__attribute__((format(printf, 2, 3))) static useg_status bad(vm *m, const char *fmt, ...) {
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return useg_fail(m->ctx, USEG_ERR_FORMAT, "%s: %s at byte %zu", m->name, msg, m->op_pos);
}

// Grow a malloc'd array to hold at least `need` elements.
static useg_status grow(vm *m, void **arr, int64_t *cap, int64_t need, size_t elem) {
    if (need <= *cap) return USEG_OK;
    int64_t n = *cap ? *cap : 64;
    while (n < need) n *= 2;
    void *p = realloc(*arr, (size_t)n * elem);
    if (!p) return useg_fail(m->ctx, USEG_ERR_OUT_OF_MEMORY, "%s: out of memory unpickling", m->name);
    if (arr == (void **)&m->memo) memset((useg_pickle_value **)p + *cap, 0, (size_t)(n - *cap) * elem);
    *arr = p;
    *cap = n;
    return USEG_OK;
}

static useg_status take(vm *m, size_t n, const uint8_t **p) {
    if (n > m->size - m->pos) return bad(m, "pickle truncated (%zu bytes needed)", n);
    *p = m->data + m->pos;
    m->pos += n;
    return USEG_OK;
}

static uint64_t le_uint(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static useg_status new_value(vm *m, useg_pickle_kind kind, useg_pickle_value **out) {
    USEG_TRY(useg_alloc(m->ctx, m->a, sizeof(useg_pickle_value), (void **)out));
    memset(*out, 0, sizeof **out);
    (*out)->kind = kind;
    return USEG_OK;
}

static useg_status new_string(vm *m, const uint8_t *p, size_t len, useg_pickle_value **out) {
    char *s;
    USEG_TRY(new_value(m, USEG_PICKLE_STRING, out));
    USEG_TRY(useg_alloc(m->ctx, m->a, len + 1, (void **)&s));
    memcpy(s, p, len);
    s[len] = '\0';
    (*out)->str.s = s;
    (*out)->str.len = len;
    return USEG_OK;
}

static useg_status seq_push(vm *m, useg_pickle_value *seq, useg_pickle_value *item) {
    if (seq->seq.count == seq->seq.cap) {
        int64_t cap = seq->seq.cap ? 2 * seq->seq.cap : 8;
        useg_pickle_value **items;
        USEG_TRY(useg_alloc(m->ctx, m->a, sizeof *items * (size_t)cap, (void **)&items));
        if (seq->seq.count) memcpy(items, seq->seq.items, sizeof *items * (size_t)seq->seq.count);
        seq->seq.items = items;
        seq->seq.cap = cap;
    }
    seq->seq.items[seq->seq.count++] = item;
    return USEG_OK;
}

static useg_status push(vm *m, useg_pickle_value *v) {
    USEG_TRY(grow(m, (void **)&m->stack, &m->stack_cap, m->sp + 1, sizeof *m->stack));
    m->stack[m->sp++] = v;
    return USEG_OK;
}

static int64_t fence(const vm *m) { return m->n_marks ? m->marks[m->n_marks - 1] : 0; }

static useg_status pop(vm *m, useg_pickle_value **v) {
    if (m->sp <= fence(m)) return bad(m, "pickle stack underflow");
    *v = m->stack[--m->sp];
    return USEG_OK;
}

static useg_status top(vm *m, useg_pickle_value **v) {
    if (m->sp <= fence(m)) return bad(m, "pickle stack underflow");
    *v = m->stack[m->sp - 1];
    return USEG_OK;
}

// Pop the innermost mark: the items above it are stack[*start, m->sp), which
// the caller consumes before setting m->sp = *start.
static useg_status pop_mark(vm *m, int64_t *start) {
    if (!m->n_marks) return bad(m, "pickle MARK missing");
    *start = m->marks[--m->n_marks];
    return USEG_OK;
}

static useg_status make_seq(vm *m, useg_pickle_kind kind, useg_pickle_value *const *items, int64_t n,
                            useg_pickle_value **out) {
    USEG_TRY(new_value(m, kind, out));
    for (int64_t i = 0; i < n; i++) USEG_TRY(seq_push(m, *out, items[i]));
    return USEG_OK;
}

static bool is_global(const useg_pickle_value *v, const char *module, const char *name) {
    return v->kind == USEG_PICKLE_GLOBAL && !strcmp(v->global.module, module) && !strcmp(v->global.name, name);
}

// --- torch's persistent ids and rebuild functions ------------------------------

static const struct {
    const char *name;
    int dtype;  // -1: a storage useg cannot load
    size_t elem_size;
} storage_types[] = {
    {"FloatStorage", USEG_F32, 4},   {"HalfStorage", USEG_F16, 2},   {"BFloat16Storage", USEG_BF16, 2},
    {"DoubleStorage", USEG_F64, 8},  {"LongStorage", USEG_I64, 8},   {"IntStorage", USEG_I32, 4},
    {"ByteStorage", USEG_U8, 1},     {"BoolStorage", USEG_U8, 1},    {"ShortStorage", -1, 2},
    {"CharStorage", -1, 1},          {"ComplexFloatStorage", -1, 8}, {"ComplexDoubleStorage", -1, 16},
};

// BINPERSID: ('storage', torch.<Type>Storage, key, location, numel).
static useg_status persistent_load(vm *m, const useg_pickle_value *pid, useg_pickle_value **out) {
    if (pid->kind != USEG_PICKLE_TUPLE || pid->seq.count != 5 || pid->seq.items[0]->kind != USEG_PICKLE_STRING ||
        strcmp(pid->seq.items[0]->str.s, "storage"))
        return bad(m, "unsupported persistent id (torch storages are ('storage', type, key, location, numel))");
    const useg_pickle_value *type = pid->seq.items[1], *key = pid->seq.items[2], *numel = pid->seq.items[4];
    if (type->kind != USEG_PICKLE_GLOBAL || strcmp(type->global.module, "torch"))
        return bad(m, "persistent id with a storage type that is not a torch class");
    if (key->kind != USEG_PICKLE_STRING || numel->kind != USEG_PICKLE_INT || numel->i < 0)
        return bad(m, "persistent id of a torch.%s without a string key and an element count", type->global.name);
    for (size_t i = 0; i < sizeof storage_types / sizeof storage_types[0]; i++) {
        if (strcmp(type->global.name, storage_types[i].name)) continue;
        USEG_TRY(new_value(m, USEG_PICKLE_STORAGE, out));
        (*out)->storage.type_name = storage_types[i].name;
        (*out)->storage.supported = storage_types[i].dtype >= 0;
        (*out)->storage.dtype = storage_types[i].dtype >= 0 ? (useg_dtype)storage_types[i].dtype : USEG_U8;
        (*out)->storage.elem_size = storage_types[i].elem_size;
        (*out)->storage.key = key->str.s;
        (*out)->storage.numel = numel->i;
        return USEG_OK;
    }
    return bad(m, "unsupported storage type torch.%s", type->global.name);
}

// A tuple of n <= USEG_MAX_DIMS non-negative integers into dst.
static bool int_tuple(const useg_pickle_value *v, int64_t *dst, int *n) {
    if (v->kind != USEG_PICKLE_TUPLE || v->seq.count > USEG_MAX_DIMS) return false;
    for (int64_t i = 0; i < v->seq.count; i++) {
        if (v->seq.items[i]->kind != USEG_PICKLE_INT || v->seq.items[i]->i < 0) return false;
        dst[i] = v->seq.items[i]->i;
    }
    *n = (int)v->seq.count;
    return true;
}

// _rebuild_tensor(storage, offset, size, stride) and _rebuild_tensor_v2(...,
// requires_grad, backward_hooks[, metadata]): the extra arguments are not needed.
static useg_status rebuild_tensor(vm *m, const useg_pickle_value *args, useg_pickle_value **out) {
    int ndim = 0, nstrides = 0;
    USEG_TRY(new_value(m, USEG_PICKLE_TENSOR, out));
    if (args->seq.count < 4 || args->seq.items[0]->kind != USEG_PICKLE_STORAGE ||
        args->seq.items[1]->kind != USEG_PICKLE_INT || args->seq.items[1]->i < 0 ||
        !int_tuple(args->seq.items[2], (*out)->tensor.shape, &ndim) ||
        !int_tuple(args->seq.items[3], (*out)->tensor.strides, &nstrides) || nstrides != ndim)
        return bad(m, "_rebuild_tensor_v2 needs (storage, offset >= 0, sizes, strides) with at most %d "
                      "non-negative sizes and as many strides",
                   USEG_MAX_DIMS);
    (*out)->tensor.storage = args->seq.items[0];
    (*out)->tensor.offset = args->seq.items[1]->i;
    (*out)->tensor.ndim = ndim;
    return USEG_OK;
}

// REDUCE / NEWOBJ: what calling `fn` with the tuple `args` gives.
static useg_status call(vm *m, const useg_pickle_value *fn, const useg_pickle_value *args, int depth,
                        useg_pickle_value **out) {
    if (args->kind != USEG_PICKLE_TUPLE) return bad(m, "call arguments are not a tuple");
    if (depth > MAX_CALL_DEPTH) return bad(m, "calls nested deeper than %d", MAX_CALL_DEPTH);
    const int64_t n = args->seq.count;
    if (is_global(fn, "collections", "OrderedDict") && n == 0) return new_value(m, USEG_PICKLE_DICT, out);
    if (is_global(fn, "torch._utils", "_rebuild_tensor_v2") || is_global(fn, "torch._utils", "_rebuild_tensor"))
        return rebuild_tensor(m, args, out);
    if (is_global(fn, "torch._utils", "_rebuild_parameter") ||
        is_global(fn, "torch._utils", "_rebuild_parameter_with_state")) {
        if (n < 1 || args->seq.items[0]->kind != USEG_PICKLE_TENSOR)
            return bad(m, "%s without a tensor", fn->global.name);
        *out = args->seq.items[0];
        return USEG_OK;
    }
    if (is_global(fn, "torch._tensor", "_rebuild_from_type_v2")) {  // (func, type, args, state)
        if (n < 3) return bad(m, "_rebuild_from_type_v2 needs (func, type, args, state)");
        return call(m, args->seq.items[0], args->seq.items[2], depth + 1, out);
    }
    USEG_TRY(new_value(m, USEG_PICKLE_OBJECT, out));
    (*out)->global.module = fn->kind == USEG_PICKLE_GLOBAL ? fn->global.module : "?";
    (*out)->global.name = fn->kind == USEG_PICKLE_GLOBAL ? fn->global.name : "?";
    return USEG_OK;
}

// --- The machine -----------------------------------------------------------------

// GLOBAL's argument: one line of text (without the newline) as a string.
static useg_status read_line(vm *m, useg_pickle_value **out) {
    const uint8_t *start = m->data + m->pos;
    const uint8_t *nl = memchr(start, '\n', m->size - m->pos);
    if (!nl) return bad(m, "pickle truncated in a GLOBAL name");
    m->pos += (size_t)(nl - start) + 1;
    return new_string(m, start, (size_t)(nl - start), out);
}

static useg_status make_global(vm *m, const useg_pickle_value *module, const useg_pickle_value *name,
                               useg_pickle_value **out) {
    if (module->kind != USEG_PICKLE_STRING || name->kind != USEG_PICKLE_STRING)
        return bad(m, "STACK_GLOBAL needs two strings");
    USEG_TRY(new_value(m, USEG_PICKLE_GLOBAL, out));
    (*out)->global.module = module->str.s;
    (*out)->global.name = name->str.s;
    return USEG_OK;
}

static useg_status memo_put(vm *m, uint64_t idx) {
    useg_pickle_value *v = NULL;
    USEG_TRY(top(m, &v));
    if (idx > m->size) return bad(m, "memo index %llu beyond any valid pickle of this size", (unsigned long long)idx);
    USEG_TRY(grow(m, (void **)&m->memo, &m->memo_cap, (int64_t)idx + 1, sizeof *m->memo));
    if (!m->memo[idx]) m->memo_len++;
    m->memo[idx] = v;
    return USEG_OK;
}

static useg_status memo_get(vm *m, uint64_t idx) {
    if (idx >= (uint64_t)m->memo_cap || !m->memo[idx]) return bad(m, "memo entry %llu is not set", (unsigned long long)idx);
    return push(m, m->memo[idx]);
}

// Length-prefixed string/bytes with an n-byte little-endian length.
static useg_status read_counted(vm *m, int n, useg_pickle_value **out) {
    const uint8_t *p = NULL;
    USEG_TRY(take(m, (size_t)n, &p));
    uint64_t len = le_uint(p, n);
    if (len > m->size - m->pos) return bad(m, "string of %llu bytes runs past the end", (unsigned long long)len);
    USEG_TRY(take(m, (size_t)len, &p));
    return new_string(m, p, (size_t)len, out);
}

// LONG1/LONG4: little-endian two's complement of n bytes.
static useg_status read_long(vm *m, uint64_t n, useg_pickle_value **out) {
    const uint8_t *p = NULL;
    if (n > m->size - m->pos) return bad(m, "long of %llu bytes runs past the end", (unsigned long long)n);
    USEG_TRY(take(m, (size_t)n, &p));
    if (n > 8) {
        USEG_TRY(new_value(m, USEG_PICKLE_OBJECT, out));
        (*out)->global.module = "builtins";
        (*out)->global.name = "int";
        return USEG_OK;
    }
    uint64_t v = n ? le_uint(p, (int)n) : 0;
    if (n && n < 8 && (p[n - 1] & 0x80)) v |= ~UINT64_C(0) << (8 * n);  // sign-extend
    USEG_TRY(new_value(m, USEG_PICKLE_INT, out));
    memcpy(&(*out)->i, &v, sizeof v);
    return USEG_OK;
}

static useg_status new_int(vm *m, int64_t i, useg_pickle_value **out) {
    USEG_TRY(new_value(m, USEG_PICKLE_INT, out));
    (*out)->i = i;
    return USEG_OK;
}

// Run one opcode; *done is set by STOP. Cases that make a value break out
// of the switch to push it.
static useg_status step(vm *m, bool *done) {
    const uint8_t *p = NULL;
    useg_pickle_value *v = NULL, *x, *y;
    int64_t start = 0;
    m->op_pos = m->pos;
    USEG_TRY(take(m, 1, &p));
    const uint8_t op = *p;
    switch (op) {
    case 0x80:  // PROTO
        USEG_TRY(take(m, 1, &p));
        if (*p > 5) return bad(m, "pickle protocol %d is newer than 5", *p);
        return USEG_OK;
    case 0x95:  // FRAME: a length hint only
        return take(m, 8, &p);
    case '.':  // STOP
        USEG_TRY(top(m, &v));
        *done = true;
        return USEG_OK;
    case '(':  // MARK
        USEG_TRY(grow(m, (void **)&m->marks, &m->marks_cap, m->n_marks + 1, sizeof *m->marks));
        m->marks[m->n_marks++] = m->sp;
        return USEG_OK;
    case '0':  // POP
        return pop(m, &v);
    case '1':  // POP_MARK
        USEG_TRY(pop_mark(m, &start));
        m->sp = start;
        return USEG_OK;
    case '2':  // DUP
        USEG_TRY(top(m, &v));
        break;
    case 'N':  // NONE
        USEG_TRY(new_value(m, USEG_PICKLE_NONE, &v));
        break;
    case 0x88:  // NEWTRUE
    case 0x89:  // NEWFALSE
        USEG_TRY(new_value(m, USEG_PICKLE_BOOL, &v));
        v->b = op == 0x88;
        break;
    case 'J':  // BININT
        USEG_TRY(take(m, 4, &p));
        USEG_TRY(new_int(m, (int32_t)(uint32_t)le_uint(p, 4), &v));
        break;
    case 'K':  // BININT1
        USEG_TRY(take(m, 1, &p));
        USEG_TRY(new_int(m, p[0], &v));
        break;
    case 'M':  // BININT2
        USEG_TRY(take(m, 2, &p));
        USEG_TRY(new_int(m, (int64_t)le_uint(p, 2), &v));
        break;
    case 0x8a:  // LONG1
        USEG_TRY(take(m, 1, &p));
        USEG_TRY(read_long(m, p[0], &v));
        break;
    case 0x8b:  // LONG4
        USEG_TRY(take(m, 4, &p));
        if (p[3] & 0x80) return bad(m, "LONG4 with a negative length");
        USEG_TRY(read_long(m, le_uint(p, 4), &v));
        break;
    case 'G': {  // BINFLOAT: big-endian IEEE double
        USEG_TRY(take(m, 8, &p));
        uint64_t bits = 0;
        for (int i = 0; i < 8; i++) bits = bits << 8 | p[i];
        USEG_TRY(new_value(m, USEG_PICKLE_FLOAT, &v));
        memcpy(&v->f, &bits, sizeof bits);
        break;
    }
    case 'T':  // BINSTRING: a signed 4-byte length
        if (m->pos + 4 <= m->size && (m->data[m->pos + 3] & 0x80)) return bad(m, "BINSTRING with a negative length");
        USEG_TRY(read_counted(m, 4, &v));
        break;
    case 'X':  // BINUNICODE
    case 'B':  // BINBYTES
        USEG_TRY(read_counted(m, 4, &v));
        break;
    case 0x8c:  // SHORT_BINUNICODE
    case 'U':   // SHORT_BINSTRING
    case 'C':   // SHORT_BINBYTES
        USEG_TRY(read_counted(m, 1, &v));
        break;
    case 0x8d:  // BINUNICODE8
    case 0x8e:  // BINBYTES8
    case 0x96:  // BYTEARRAY8
        USEG_TRY(read_counted(m, 8, &v));
        break;
    case ')':  // EMPTY_TUPLE
        USEG_TRY(new_value(m, USEG_PICKLE_TUPLE, &v));
        break;
    case ']':   // EMPTY_LIST
    case 0x8f:  // EMPTY_SET
        USEG_TRY(new_value(m, USEG_PICKLE_LIST, &v));
        break;
    case '}':  // EMPTY_DICT
        USEG_TRY(new_value(m, USEG_PICKLE_DICT, &v));
        break;
    case 't':   // TUPLE
    case 'l':   // LIST
    case 0x91:  // FROZENSET
        USEG_TRY(pop_mark(m, &start));
        USEG_TRY(make_seq(m, op == 't' ? USEG_PICKLE_TUPLE : USEG_PICKLE_LIST, m->stack + start, m->sp - start, &v));
        m->sp = start;
        break;
    case 0x85:  // TUPLE1
    case 0x86:  // TUPLE2
    case 0x87: {  // TUPLE3
        int64_t n = op - 0x84;
        if (m->sp - fence(m) < n) return bad(m, "pickle stack underflow");
        USEG_TRY(make_seq(m, USEG_PICKLE_TUPLE, m->stack + m->sp - n, n, &v));
        m->sp -= n;
        break;
    }
    case 'd':  // DICT
        USEG_TRY(pop_mark(m, &start));
        if ((m->sp - start) % 2) return bad(m, "DICT with an odd number of items");
        USEG_TRY(make_seq(m, USEG_PICKLE_DICT, m->stack + start, m->sp - start, &v));
        m->sp = start;
        break;
    case 'a':  // APPEND
        USEG_TRY(pop(m, &x));
        USEG_TRY(top(m, &v));
        if (v->kind == USEG_PICKLE_LIST) return seq_push(m, v, x);
        if (v->kind == USEG_PICKLE_OBJECT) return USEG_OK;  // a list subclass: its items are not needed
        return bad(m, "APPEND to a value that is not a list");
    case 'e':   // APPENDS
    case 0x90:  // ADDITEMS
    case 'u':   // SETITEMS
        // The target sits just below the mark, above the enclosing fence.
        USEG_TRY(pop_mark(m, &start));
        if (start <= fence(m)) return bad(m, "pickle stack underflow");
        v = m->stack[start - 1];
        if (op == 'u' && (m->sp - start) % 2) return bad(m, "SETITEMS with an odd number of items");
        if (v->kind == (op == 'u' ? USEG_PICKLE_DICT : USEG_PICKLE_LIST)) {
            for (int64_t i = start; i < m->sp; i++) USEG_TRY(seq_push(m, v, m->stack[i]));
        } else if (v->kind != USEG_PICKLE_OBJECT) {
            return bad(m, "%s to a value that is not a %s", op == 'u' ? "SETITEMS" : "APPENDS",
                       op == 'u' ? "dict" : "list");
        }
        m->sp = start;
        return USEG_OK;
    case 's':  // SETITEM
        USEG_TRY(pop(m, &y));
        USEG_TRY(pop(m, &x));
        USEG_TRY(top(m, &v));
        if (v->kind == USEG_PICKLE_DICT) {
            USEG_TRY(seq_push(m, v, x));
            return seq_push(m, v, y);
        }
        if (v->kind == USEG_PICKLE_OBJECT) return USEG_OK;
        return bad(m, "SETITEM to a value that is not a dict");
    case 'q':  // BINPUT
        USEG_TRY(take(m, 1, &p));
        return memo_put(m, p[0]);
    case 'r':  // LONG_BINPUT
        USEG_TRY(take(m, 4, &p));
        return memo_put(m, le_uint(p, 4));
    case 0x94:  // MEMOIZE
        return memo_put(m, (uint64_t)m->memo_len);
    case 'h':  // BINGET
        USEG_TRY(take(m, 1, &p));
        return memo_get(m, p[0]);
    case 'j':  // LONG_BINGET
        USEG_TRY(take(m, 4, &p));
        return memo_get(m, le_uint(p, 4));
    case 'c':  // GLOBAL: module\nname\n
        USEG_TRY(read_line(m, &x));
        USEG_TRY(read_line(m, &y));
        USEG_TRY(make_global(m, x, y, &v));
        break;
    case 0x93:  // STACK_GLOBAL
        USEG_TRY(pop(m, &y));
        USEG_TRY(pop(m, &x));
        USEG_TRY(make_global(m, x, y, &v));
        break;
    case 'Q':  // BINPERSID
        USEG_TRY(pop(m, &x));
        USEG_TRY(persistent_load(m, x, &v));
        break;
    case 'R':   // REDUCE: callable, args
    case 0x81:  // NEWOBJ: cls, args
        USEG_TRY(pop(m, &y));
        USEG_TRY(pop(m, &x));
        USEG_TRY(call(m, x, y, 0, &v));
        break;
    case 0x92:  // NEWOBJ_EX: cls, args, kwargs
        USEG_TRY(pop(m, &y));
        USEG_TRY(pop(m, &y));
        USEG_TRY(pop(m, &x));
        USEG_TRY(new_value(m, USEG_PICKLE_OBJECT, &v));
        v->global.module = x->kind == USEG_PICKLE_GLOBAL ? x->global.module : "?";
        v->global.name = x->kind == USEG_PICKLE_GLOBAL ? x->global.name : "?";
        break;
    case 'b':  // BUILD: the state sets attributes, which checkpoints do not need
        USEG_TRY(pop(m, &x));
        return top(m, &v);
    default:
        if (op >= 0x20 && op < 0x7f) return bad(m, "unsupported pickle opcode '%c' (0x%02x)", op, op);
        return bad(m, "unsupported pickle opcode 0x%02x", op);
    }
    return push(m, v);
}

useg_status useg_pickle_load(useg_ctx *ctx, const char *name, const uint8_t *data, size_t size, useg_arena *a,
                             const useg_pickle_value **root) {
    vm m = {.ctx = ctx, .name = name, .data = data, .size = size, .a = a};
    // Allocated up front so that stack + offset is never arithmetic on NULL.
    useg_status st = grow(&m, (void **)&m.stack, &m.stack_cap, 1, sizeof *m.stack);
    bool done = false;
    while (st == USEG_OK && !done) {
        if (m.pos == m.size) {
            m.op_pos = m.pos;
            st = bad(&m, "pickle ends without STOP");
        } else {
            st = step(&m, &done);
        }
    }
    if (st == USEG_OK) *root = m.stack[m.sp - 1];
    free(m.stack);
    free(m.marks);
    free(m.memo);
    return st;
}

// --- Naming the tensors ------------------------------------------------------------

typedef struct walk {
    useg_ctx *ctx;
    const char *file;
    useg_arena *a;
    useg_pickle_named *list;
    int64_t count, cap, visits, name_bytes;
    char name[MAX_NAME + 1];
} walk;

static useg_status add_tensor(walk *w, const useg_pickle_value *t) {
    if (w->count == w->cap) {
        int64_t cap = w->cap ? 2 * w->cap : 64;
        useg_pickle_named *list;
        USEG_TRY(useg_alloc(w->ctx, w->a, sizeof *list * (size_t)cap, (void **)&list));
        if (w->count) memcpy(list, w->list, sizeof *list * (size_t)w->count);
        w->list = list;
        w->cap = cap;
    }
    char *name;
    size_t len = strlen(w->name);
    if ((w->name_bytes += (int64_t)len + 1) > MAX_NAME_BYTES)
        return useg_fail(w->ctx, USEG_ERR_FORMAT, "%s: the tensor names take more than %lld bytes (a hostile pickle?)",
                         w->file, (long long)MAX_NAME_BYTES);
    USEG_TRY(useg_alloc(w->ctx, w->a, len + 1, (void **)&name));
    memcpy(name, w->name, len + 1);
    w->list[w->count++] = (useg_pickle_named){name, t};
    return USEG_OK;
}

static useg_status visit(walk *w, const useg_pickle_value *v, size_t len, int depth) {
    if (++w->visits > MAX_WALK_VISITS || depth > MAX_WALK_DEPTH)
        return useg_fail(w->ctx, USEG_ERR_FORMAT,
                         "%s: the pickled object graph is deeper than %d or has more than %lld paths to walk "
                         "(cyclic?)",
                         w->file, MAX_WALK_DEPTH, (long long)MAX_WALK_VISITS);
    if (v->kind == USEG_PICKLE_TENSOR) return add_tensor(w, v);
    bool dict = v->kind == USEG_PICKLE_DICT;
    if (!dict && v->kind != USEG_PICKLE_LIST && v->kind != USEG_PICKLE_TUPLE) return USEG_OK;
    for (int64_t i = 0; i < v->seq.count; i += dict ? 2 : 1) {
        const useg_pickle_value *key = dict ? v->seq.items[i] : NULL, *child = v->seq.items[i + dict];
        char part[32];
        const char *s = part;
        if (!dict)
            snprintf(part, sizeof part, "%lld", (long long)i);
        else if (key->kind == USEG_PICKLE_INT)
            snprintf(part, sizeof part, "%lld", (long long)key->i);
        else if (key->kind == USEG_PICKLE_STRING && strlen(key->str.s) == key->str.len)
            s = key->str.s;
        else
            continue;  // a key that cannot be part of a name
        size_t n = strlen(s), sep = len ? 1 : 0;
        if (len + sep + n > MAX_NAME)
            return useg_fail(w->ctx, USEG_ERR_FORMAT, "%s: a tensor name is longer than %d bytes", w->file, MAX_NAME);
        if (sep) w->name[len] = '.';
        memcpy(w->name + len + sep, s, n + 1);
        USEG_TRY(visit(w, child, len + sep + n, depth + 1));
        w->name[len] = '\0';
    }
    return USEG_OK;
}

useg_status useg_pickle_tensors(useg_ctx *ctx, const char *name, const useg_pickle_value *root, useg_arena *a,
                                useg_pickle_named **tensors, int64_t *count) {
    walk w = {.ctx = ctx, .file = name, .a = a};
    w.name[0] = '\0';
    USEG_TRY(visit(&w, root, 0, 0));
    *tensors = w.list;
    *count = w.count;
    return USEG_OK;
}
