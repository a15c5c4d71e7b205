/*
 * A reflective check of protobuf wire bytes before protobuf-c unpacks them.
 *
 * protobuf-c 1.4.1 copies a string field's bytes into a NUL-terminated C string and
 * checks nothing: U+0000 silently truncates the value for every C reader, and bytes
 * that are not UTF-8 (proto3 requires UTF-8) pass through. The JSON codec refuses both,
 * so binary input must too. This walks the encoded message with its descriptor,
 * recursing into message fields (singular, repeated, map entries, oneof members), and
 * rejects such strings with a message naming the field path. Nothing is allocated.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "ferry/rpc.h"

#define PATH_MAX_LEN 200

typedef struct pb_walk {
    char path[PATH_MAX_LEN + 4];
    size_t path_len;
    const char *reason; /* static text of the first problem */
} pb_walk_t;

/* Reads a varint (at most 10 bytes). Returns the bytes used, 0 when malformed/truncated. */
static size_t get_varint(const uint8_t *p, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    for (size_t i = 0; i < len && i < 10; i++) {
        v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if ((p[i] & 0x80) == 0) {
            *out = v;
            return i + 1;
        }
    }
    return 0;
}

bool ferry_utf8_valid(const uint8_t *s, size_t len, bool allow_nul)
{
    size_t i = 0;
    while (i < len) {
        /* ASCII fast path: eight bytes with no high bit (and no NUL unless allowed) */
        while (len - i >= 8) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if ((w & 0x8080808080808080ull) != 0)
                break;
            if (!allow_nul && ((w - 0x0101010101010101ull) & ~w & 0x8080808080808080ull) != 0)
                break;
            i += 8;
        }
        if (i >= len)
            break;
        uint8_t c = s[i];
        if (c < 0x80) {
            if (c == 0 && !allow_nul)
                return false;
            i++;
            continue;
        }
        size_t n;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false; /* continuation byte, overlong lead (c0, c1) or > U+10FFFF lead */
        }
        if (len - i - 1 < n)
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false; /* overlong, out of range, surrogate */
        i += n + 1;
    }
    return true;
}

/* Appends |s| to the path (cut with "..." past PATH_MAX_LEN); returns the old length. */
static size_t path_put(pb_walk_t *w, const char *s)
{
    size_t old = w->path_len, n = strlen(s);
    if (w->path_len >= PATH_MAX_LEN)
        return old;
    if (n > PATH_MAX_LEN - w->path_len) {
        memcpy(w->path + w->path_len, s, PATH_MAX_LEN - w->path_len);
        memcpy(w->path + PATH_MAX_LEN, "...", 4);
        w->path_len = PATH_MAX_LEN;
        return old;
    }
    memcpy(w->path + w->path_len, s, n + 1);
    w->path_len += n;
    return old;
}

/* Appends ".name" ("name" at the root). */
static size_t path_push_name(pb_walk_t *w, const char *name)
{
    size_t old = w->path_len;
    if (old > 0)
        path_put(w, ".");
    path_put(w, name);
    return old;
}

static void path_push_index(pb_walk_t *w, size_t index)
{
    char tmp[32];
    snprintf(tmp, sizeof(tmp), "[%zu]", index);
    path_put(w, tmp);
}

static void path_pop(pb_walk_t *w, size_t len)
{
    if (len >= PATH_MAX_LEN)
        return;
    w->path_len = len;
    w->path[len] = '\0';
}

/* Counts the occurrences of field |id| in |msg| before |stop| (for "[i]" in errors). */
static size_t occurrences_before(const uint8_t *msg, size_t len, const uint8_t *stop, uint32_t id)
{
    size_t count = 0, off = 0;
    while (off < len && msg + off < stop) {
        uint64_t tag, v;
        size_t n = get_varint(msg + off, len - off, &tag);
        if (n == 0)
            break;
        off += n;
        switch (tag & 7) {
        case 0:
            n = get_varint(msg + off, len - off, &v);
            break;
        case 1:
            n = 8;
            break;
        case 5:
            n = 4;
            break;
        case 2:
            n = get_varint(msg + off, len - off, &v);
            if (n == 0 || v > len - off - n)
                return count;
            n += (size_t)v;
            break;
        default:
            return count;
        }
        if (n == 0 || n > len - off)
            break;
        if ((tag >> 3) == id)
            count++;
        off += n;
    }
    return count;
}

/* Inserts "[index]" at |at| in the path (while unwinding from an error inside element
 * |index| of a repeated field: the index is only computed when something failed). */
static void path_insert_index(pb_walk_t *w, size_t at, size_t index)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof(tmp), "[%zu]", index);
    if (n <= 0 || at > w->path_len || at + (size_t)n > PATH_MAX_LEN)
        return;
    size_t tail = w->path_len - at;
    if (at + (size_t)n + tail > PATH_MAX_LEN)
        tail = PATH_MAX_LEN - at - (size_t)n;
    memmove(w->path + at + n, w->path + at, tail);
    memcpy(w->path + at, tmp, (size_t)n);
    w->path_len = at + (size_t)n + tail;
    w->path[w->path_len] = '\0';
}

/* Walks one message. Returns 0, or -1 with w->reason set and w->path naming the field. */
static int walk(pb_walk_t *w, const ProtobufCMessageDescriptor *desc, const uint8_t *msg, size_t len,
                unsigned depth)
{
    size_t off = 0;
    if (depth > FERRY_PB_MAX_DEPTH) {
        w->reason = "messages nested too deeply";
        return -1;
    }
    while (off < len) {
        uint64_t tag, v = 0;
        size_t n = get_varint(msg + off, len - off, &tag);
        if (n == 0 || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff) {
            w->reason = "malformed protobuf (bad tag)";
            return -1;
        }
        const uint8_t *field_start = msg + off;
        off += n;
        uint32_t wt = (uint32_t)(tag & 7);
        switch (wt) {
        case 0:
            n = get_varint(msg + off, len - off, &v);
            break;
        case 1:
            n = len - off >= 8 ? 8 : 0;
            break;
        case 5:
            n = len - off >= 4 ? 4 : 0;
            break;
        case 2:
            n = get_varint(msg + off, len - off, &v);
            if (n == 0 || v > len - off - n)
                n = 0;
            break;
        default: /* groups (3, 4) and the unused 6, 7: protobuf-c refuses them too */
            n = 0;
            break;
        }
        if (n == 0) {
            w->reason = "malformed protobuf (truncated field)";
            return -1;
        }
        if (wt == 2) {
            const uint8_t *data = msg + off + n;
            size_t dlen = (size_t)v;
            const ProtobufCFieldDescriptor *f =
                protobuf_c_message_descriptor_get_field(desc, (unsigned)(tag >> 3));
            if (f != NULL && f->type == PROTOBUF_C_TYPE_STRING) {
                if (!ferry_utf8_valid(data, dlen, false))
                    w->reason = memchr(data, 0, dlen) != NULL
                                    ? "string contains U+0000 (NUL), which is not supported"
                                    : "string is not valid UTF-8";
                if (w->reason != NULL) {
                    path_push_name(w, f->name);
                    if (f->label == PROTOBUF_C_LABEL_REPEATED)
                        path_push_index(w, occurrences_before(msg, len, field_start, f->id));
                    return -1;
                }
            } else if (f != NULL && f->type == PROTOBUF_C_TYPE_MESSAGE) {
                size_t mark = path_push_name(w, f->name);
                size_t name_end = w->path_len;
                if (walk(w, f->descriptor, data, dlen, depth + 1) != 0) {
                    if (f->label == PROTOBUF_C_LABEL_REPEATED)
                        path_insert_index(w, name_end, occurrences_before(msg, len, field_start, f->id));
                    return -1;
                }
                path_pop(w, mark);
            }
        }
        off += n + (wt == 2 ? (size_t)v : 0);
    }
    return 0;
}

ferry_err_code_t ferry_pb_check(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                                ferry_err_t *err)
{
    pb_walk_t w;
    w.path[0] = '\0';
    w.path_len = 0;
    w.reason = NULL;
    if (walk(&w, desc, data, len, 1) == 0)
        return FERRY_OK;
    if (w.path_len > 0)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "field '%s': %s", w.path, w.reason);
    return ferry_err_set(err, FERRY_E_INVALID_ARG, "%s", w.reason);
}
