// ZIP central directory parsing and entry extraction (APPNOTE 6.3).
//
// The end-of-central-directory record is searched backwards from the end
// (it may be followed by a comment of up to 64 KiB); a ZIP64 locator just
// before it redirects to the ZIP64 end record when counts or offsets
// overflow 32 bits. Sizes come from the central directory (the local header
// may defer them to a data descriptor), with ZIP64 extra fields where the
// 32-bit values are 0xffffffff. Each entry's data position is resolved from
// its local header at open time, so a bad archive is refused up front.
// Fuzzing builds (FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION, the libFuzzer
// convention) skip the CRC check so the fuzzer can reach past it.
#include "zip.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

enum {
    EOCD_SIG = 0x06054b50, EOCD_SIZE = 22,
    ZIP64_LOCATOR_SIG = 0x07064b50, ZIP64_LOCATOR_SIZE = 20,
    ZIP64_EOCD_SIG = 0x06064b50, ZIP64_EOCD_SIZE = 56,
    CDIR_SIG = 0x02014b50, CDIR_SIZE = 46,
    LOCAL_SIG = 0x04034b50, LOCAL_SIZE = 30,
};

static uint32_t le16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t le32(const uint8_t *p) { return le16(p) | le16(p + 2) << 16; }
static uint64_t le64(const uint8_t *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }

// Whether [off, off + len) lies within a buffer of `size` bytes.
static bool fits(uint64_t off, uint64_t len, size_t size) { return off <= size && len <= size - off; }

// Replace 0xffffffff sizes/offset with the values of the ZIP64 extra field
// (id 1), which lists only the overflowing ones, in this order.
static bool apply_zip64_extra(const uint8_t *extra, uint32_t len, uint64_t *size, uint64_t *comp,
                              uint64_t *offset) {
    uint64_t *fields[3] = {size, comp, offset};
    for (uint32_t pos = 0; pos + 4 <= len;) {
        uint32_t id = le16(extra + pos), n = le16(extra + pos + 2);
        if (n > len - pos - 4) return false;
        if (id == 1) {
            const uint8_t *p = extra + pos + 4, *end = p + n;
            for (int i = 0; i < 3; i++) {
                if (*fields[i] != 0xffffffffu) continue;
                if (end - p < 8) return false;
                *fields[i] = le64(p);
                p += 8;
            }
            return true;
        }
        pos += 4 + n;
    }
    return *size != 0xffffffffu && *comp != 0xffffffffu && *offset != 0xffffffffu;
}

useg_status useg_zip_open(useg_ctx *ctx, const char *name, const uint8_t *data, size_t size, useg_arena *a,
                          useg_zip *zip) {
    *zip = (useg_zip){.name = name, .data = data, .size = size};
    if (size < EOCD_SIZE) return useg_fail(ctx, USEG_ERR_FORMAT, "%s: not a ZIP archive (%zu bytes)", name, size);
    size_t eocd = size - EOCD_SIZE, stop = size > EOCD_SIZE + 65535 ? size - EOCD_SIZE - 65535 : 0;
    while (le32(data + eocd) != EOCD_SIG) {
        if (eocd == stop)
            return useg_fail(ctx, USEG_ERR_FORMAT, "%s: not a ZIP archive (no end of central directory record)",
                             name);
        eocd--;
    }
    const uint8_t *e = data + eocd;
    if (le16(e + 4) != 0 || le16(e + 6) != 0)
        return useg_fail(ctx, USEG_ERR_FORMAT, "%s: multi-disk ZIP archives are not supported", name);
    uint64_t count = le16(e + 10), cd_size = le32(e + 12), cd_offset = le32(e + 16);
    if ((count == 0xffff || cd_size == 0xffffffffu || cd_offset == 0xffffffffu) && eocd >= ZIP64_LOCATOR_SIZE &&
        le32(data + eocd - ZIP64_LOCATOR_SIZE) == ZIP64_LOCATOR_SIG) {
        uint64_t z = le64(data + eocd - ZIP64_LOCATOR_SIZE + 8);
        if (!fits(z, ZIP64_EOCD_SIZE, size) || le32(data + z) != ZIP64_EOCD_SIG)
            return useg_fail(ctx, USEG_ERR_FORMAT, "%s: bad ZIP64 end record at byte %llu", name,
                             (unsigned long long)z);
        count = le64(data + z + 32);
        cd_size = le64(data + z + 40);
        cd_offset = le64(data + z + 48);
    }
    if (!fits(cd_offset, cd_size, size) || count > cd_size / CDIR_SIZE)
        return useg_fail(ctx, USEG_ERR_FORMAT,
                         "%s: central directory (%llu entries, %llu bytes at byte %llu) does not fit the %zu-byte file",
                         name, (unsigned long long)count, (unsigned long long)cd_size,
                         (unsigned long long)cd_offset, size);
    USEG_TRY(useg_alloc(ctx, a, sizeof(useg_zip_entry) * (size_t)(count ? count : 1), (void **)&zip->entries));
    uint64_t pos = cd_offset, end = cd_offset + cd_size;
    for (uint64_t i = 0; i < count; i++) {
        if (!fits(pos, CDIR_SIZE, end) || le32(data + pos) != CDIR_SIG)
            return useg_fail(ctx, USEG_ERR_FORMAT, "%s: bad central directory entry %llu at byte %llu", name,
                             (unsigned long long)i, (unsigned long long)pos);
        const uint8_t *c = data + pos;
        uint32_t flags = le16(c + 8), name_len = le16(c + 28), extra_len = le16(c + 30), comment_len = le16(c + 32);
        if (!fits(pos + CDIR_SIZE, (uint64_t)name_len + extra_len + comment_len, end))
            return useg_fail(ctx, USEG_ERR_FORMAT, "%s: central directory entry %llu at byte %llu overruns it", name,
                             (unsigned long long)i, (unsigned long long)pos);
        useg_zip_entry *ze = &zip->entries[i];
        char *entry_name;
        USEG_TRY(useg_alloc(ctx, a, name_len + 1u, (void **)&entry_name));
        memcpy(entry_name, c + CDIR_SIZE, name_len);
        entry_name[name_len] = '\0';
        uint64_t local = le32(c + 42);
        *ze = (useg_zip_entry){.name = entry_name, .method = (uint16_t)le16(c + 10), .crc32 = le32(c + 16),
                               .comp_size = le32(c + 20), .size = le32(c + 24)};
        if (!apply_zip64_extra(c + CDIR_SIZE + name_len, extra_len, &ze->size, &ze->comp_size, &local))
            return useg_fail(ctx, USEG_ERR_FORMAT, "%s: entry '%s': bad ZIP64 extra field", name, entry_name);
        if (flags & 1)
            return useg_fail(ctx, USEG_ERR_FORMAT, "%s: entry '%s' is encrypted", name, entry_name);
        if (!fits(local, LOCAL_SIZE, size) || le32(data + local) != LOCAL_SIG)
            return useg_fail(ctx, USEG_ERR_FORMAT, "%s: entry '%s': no local header at byte %llu", name, entry_name,
                             (unsigned long long)local);
        ze->data_offset = local + LOCAL_SIZE + le16(data + local + 26) + le16(data + local + 28);
        if (!fits(ze->data_offset, ze->comp_size, size))
            return useg_fail(ctx, USEG_ERR_FORMAT,
                             "%s: entry '%s': %llu bytes at byte %llu run past the end of the %zu-byte file "
                             "(truncated archive?)",
                             name, entry_name, (unsigned long long)ze->comp_size,
                             (unsigned long long)ze->data_offset, size);
        pos += CDIR_SIZE + (uint64_t)name_len + extra_len + comment_len;
    }
    zip->count = (int64_t)count;
    return USEG_OK;
}

const useg_zip_entry *useg_zip_find(const useg_zip *zip, const char *name) {
    for (int64_t i = 0; i < zip->count; i++)
        if (!strcmp(zip->entries[i].name, name)) return &zip->entries[i];
    return NULL;
}

static useg_status inflate_entry(useg_ctx *ctx, const useg_zip *zip, const useg_zip_entry *e, uint8_t *out) {
    z_stream zs = {0};
    if (inflateInit2(&zs, -MAX_WBITS) != Z_OK)
        return useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY, "%s: entry '%s': cannot start zlib", zip->name, e->name);
    const uint8_t *in = zip->data + e->data_offset;
    uint64_t in_left = e->comp_size, out_left = e->size;
    // Feed at most 1 GiB at a time (zlib counts in 32 bits); inflate returns
    // Z_OK while it makes progress, Z_BUF_ERROR when it cannot.
    int rc = Z_OK;
    while (rc == Z_OK) {
        uInt in_chunk = in_left > (1u << 30) ? (1u << 30) : (uInt)in_left;
        uInt out_chunk = out_left > (1u << 30) ? (1u << 30) : (uInt)out_left;
        zs.next_in = (Bytef *)in;
        zs.avail_in = in_chunk;
        zs.next_out = out;
        zs.avail_out = out_chunk;
        rc = inflate(&zs, Z_NO_FLUSH);
        in += in_chunk - zs.avail_in;
        in_left -= in_chunk - zs.avail_in;
        out += out_chunk - zs.avail_out;
        out_left -= out_chunk - zs.avail_out;
    }
    inflateEnd(&zs);
    if (rc != Z_STREAM_END || out_left != 0)
        return useg_fail(ctx, USEG_ERR_FORMAT, "%s: entry '%s': bad deflate data (%s, %llu of %llu bytes produced)",
                         zip->name, e->name, zs.msg ? zs.msg : "stream ends early or overflows",
                         (unsigned long long)(e->size - out_left), (unsigned long long)e->size);
    return USEG_OK;
}

#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
// zlib's crc32 takes 32-bit lengths; feed it in pieces.
static uint32_t crc_of(const uint8_t *p, uint64_t n) {
    uLong crc = crc32(0L, Z_NULL, 0);
    while (n) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        crc = crc32(crc, p, k);
        p += k;
        n -= k;
    }
    return (uint32_t)crc;
}
#endif

useg_status useg_zip_read(useg_ctx *ctx, const useg_zip *zip, const useg_zip_entry *e, const uint8_t **bytes,
                          void **owned) {
    *owned = NULL;
    if (e->method == 0) {
        if (e->comp_size != e->size)
            return useg_fail(ctx, USEG_ERR_FORMAT, "%s: stored entry '%s' has sizes %llu and %llu", zip->name,
                             e->name, (unsigned long long)e->comp_size, (unsigned long long)e->size);
        *bytes = zip->data + e->data_offset;
    } else if (e->method == 8) {
        // A deflate stream expands at most about 1032:1; a larger claim is a lie.
        if (e->size > e->comp_size * 1032 + 64 || e->size > SIZE_MAX - 1)
            return useg_fail(ctx, USEG_ERR_FORMAT, "%s: entry '%s' claims %llu bytes from %llu compressed", zip->name,
                             e->name, (unsigned long long)e->size, (unsigned long long)e->comp_size);
        uint8_t *buf = malloc(e->size ? (size_t)e->size : 1);
        if (!buf)
            return useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY, "%s: out of memory inflating '%s' (%llu bytes)", zip->name,
                             e->name, (unsigned long long)e->size);
        useg_status st = inflate_entry(ctx, zip, e, buf);
        if (st != USEG_OK) {
            free(buf);
            return st;
        }
        *bytes = buf;
        *owned = buf;
    } else {
        return useg_fail(ctx, USEG_ERR_FORMAT, "%s: entry '%s' uses compression method %u (only stored and deflate)",
                         zip->name, e->name, e->method);
    }
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    uint32_t crc = crc_of(*bytes, e->size);
    if (crc != e->crc32) {
        free(*owned);
        *owned = NULL;
        return useg_fail(ctx, USEG_ERR_FORMAT, "%s: entry '%s' is corrupt (CRC %08x, expected %08x)", zip->name,
                         e->name, crc, e->crc32);
    }
#endif
    return USEG_OK;
}
