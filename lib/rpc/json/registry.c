/*
 * The JSON side-table registry (descriptor -> json names, map-entry flag), the field
 * path kept for error messages, and well-known-type recognition.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_internal.h"

/* Hard cap on registered messages; the open-addressed table is twice as large so
 * probes stay short. Messages past the cap fall back to derived names. */
#define REG_MAX_MESSAGES 4096
#define REG_SLOTS        8192

/* Slots are written once (NULL -> entry, release) under reg_lock and never cleared, and
 * entries are immutable, so readers (every encode/decode, several times per message)
 * look up without a lock (acquire loads). Registration is rare and serialised. */
static _Atomic(json_msg_t *) reg_slots[REG_SLOTS];
static atomic_size_t reg_count;
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;

static size_t slot_of(const ProtobufCMessageDescriptor *desc)
{
    uintptr_t h = (uintptr_t)desc;
    h ^= h >> 17;
    h *= (uintptr_t)0x9E3779B97F4A7C15ULL;
    h ^= h >> 29;
    return (size_t)(h & (REG_SLOTS - 1));
}

/* Safe with or without the lock (see reg_slots). */
static json_msg_t *find_locked(const ProtobufCMessageDescriptor *desc)
{
    for (size_t i = slot_of(desc), n = 0; n < REG_SLOTS; i = (i + 1) & (REG_SLOTS - 1), n++) {
        json_msg_t *m = atomic_load_explicit(&reg_slots[i], memory_order_acquire);
        if (m == NULL)
            return NULL;
        if (m->desc == desc)
            return m;
    }
    return NULL;
}

static void free_entry(json_msg_t *m)
{
    if (m == NULL)
        return;
    if (m->json_names != NULL) {
        for (unsigned i = 0; i < m->desc->n_fields; i++)
            free((char *)m->json_names[i]);
        free(m->json_names);
    }
    free(m);
}

/* Builds the entry for one message: every field gets a name, from the table or derived. */
static json_msg_t *build_entry(const ferry_json_msg_info_t *info)
{
    json_msg_t *m = NULL;
    json_msg_t *ret = NULL;
    const ProtobufCMessageDescriptor *desc = info->desc;

    m = calloc(1, sizeof(*m));
    if (m == NULL)
        goto out;
    m->desc = desc;
    m->is_map_entry = info->is_map_entry;
    m->json_names = calloc(desc->n_fields ? desc->n_fields : 1, sizeof(char *));
    if (m->json_names == NULL)
        goto out;
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const char *given = NULL;
        char buf[JSON_NAME_MAX];
        for (size_t k = 0; k < info->n_fields; k++) {
            if (info->fields[k].number == desc->fields[i].id) {
                given = info->fields[k].json_name;
                break;
            }
        }
        if (given == NULL) {
            ferry_json_camel_name(desc->fields[i].name, buf);
            given = buf;
        }
        m->json_names[i] = strdup(given);
        if (m->json_names[i] == NULL)
            goto out;
    }
    ret = m;
    m = NULL;
out:
    free_entry(m);
    return ret;
}

void ferry_json_register_file(const ferry_json_file_info_t *info)
{
    if (info == NULL)
        return;
    pthread_mutex_lock(&reg_lock);
    for (size_t i = 0; i < info->n_messages; i++) {
        const ferry_json_msg_info_t *mi = &info->messages[i];
        if (mi->desc == NULL || find_locked(mi->desc) != NULL)
            continue;
        if (atomic_load(&reg_count) >= REG_MAX_MESSAGES)
            break;
        json_msg_t *m = build_entry(mi);
        if (m == NULL)
            break; /* out of memory: the fallback (derived names) still works */
        size_t s = slot_of(mi->desc);
        while (atomic_load_explicit(&reg_slots[s], memory_order_relaxed) != NULL)
            s = (s + 1) & (REG_SLOTS - 1);
        atomic_store_explicit(&reg_slots[s], m, memory_order_release); /* publish the built entry */
        atomic_fetch_add(&reg_count, 1);
    }
    pthread_mutex_unlock(&reg_lock);
}

const json_msg_t *ferry_json_lookup(const ProtobufCMessageDescriptor *desc)
{
    /* Entries are immutable and never freed once published. */
    return atomic_load_explicit(&reg_count, memory_order_relaxed) ? find_locked(desc) : NULL;
}

void ferry_json_camel_name(const char *proto_name, char buf[JSON_NAME_MAX])
{
    size_t n = 0;
    int upper = 0;
    for (const char *p = proto_name; *p != '\0' && n + 1 < JSON_NAME_MAX; p++) {
        if (*p == '_') {
            upper = 1;
        } else if (upper) {
            buf[n++] = (char)((*p >= 'a' && *p <= 'z') ? *p - 'a' + 'A' : *p);
            upper = 0;
        } else {
            buf[n++] = *p;
        }
    }
    buf[n] = '\0';
}

const char *ferry_json_field_name(const json_msg_t *m, const ProtobufCMessageDescriptor *desc, unsigned i,
                                  char buf[JSON_NAME_MAX])
{
    if (m != NULL)
        return m->json_names[i];
    ferry_json_camel_name(desc->fields[i].name, buf);
    return buf;
}

int ferry_json_field_is_map(const ProtobufCFieldDescriptor *f)
{
    if (f->label != PROTOBUF_C_LABEL_REPEATED || f->type != PROTOBUF_C_TYPE_MESSAGE)
        return 0;
    const json_msg_t *m = ferry_json_lookup(f->descriptor);
    /* A map entry always has exactly key = 1 and value = 2. */
    return m != NULL && m->is_map_entry && m->desc->n_fields == 2 && m->desc->fields[0].id == 1 &&
           m->desc->fields[1].id == 2;
}

json_wkt_t ferry_json_wkt_of(const ProtobufCMessageDescriptor *desc)
{
    static const char prefix[] = "google.protobuf.";
    const char *n = desc->name;
    if (strncmp(n, prefix, sizeof(prefix) - 1) != 0)
        return WKT_NONE;
    n += sizeof(prefix) - 1;
    static const char *const wrappers[] = {"DoubleValue", "FloatValue",  "Int64Value",
                                           "UInt64Value", "Int32Value",  "UInt32Value",
                                           "BoolValue",   "StringValue", "BytesValue"};
    if (strcmp(n, "Timestamp") == 0)
        return WKT_TIMESTAMP;
    if (strcmp(n, "Duration") == 0)
        return WKT_DURATION;
    if (strcmp(n, "FieldMask") == 0)
        return WKT_FIELD_MASK;
    for (size_t i = 0; i < sizeof(wrappers) / sizeof(wrappers[0]); i++) {
        if (strcmp(n, wrappers[i]) == 0)
            return WKT_WRAPPER;
    }
    if (strcmp(n, "Any") == 0 || strcmp(n, "Struct") == 0 || strcmp(n, "Value") == 0 ||
        strcmp(n, "ListValue") == 0)
        return WKT_UNSUPPORTED;
    return WKT_NONE; /* Empty and the rest are ordinary messages */
}

/* ---- field path ---------------------------------------------------------- */

static size_t path_append(json_ctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static size_t path_append(json_ctx_t *c, const char *fmt, ...)
{
    size_t old = c->path_len;
    if (c->path_len >= JSON_PATH_MAX)
        return old; /* already truncated */
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(c->path + c->path_len, JSON_PATH_MAX + 1 - c->path_len, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    c->path_len += (size_t)n;
    if (c->path_len >= JSON_PATH_MAX) {
        /* Mark the cut so the reader knows the path goes on. */
        memcpy(c->path + JSON_PATH_MAX, "...", 4);
        c->path_len = JSON_PATH_MAX;
    }
    return old;
}

/* The hot path (every field of every message, errors or not): plain copies, no printf. */
size_t ferry_json_path_push_name(json_ctx_t *c, const char *name)
{
    size_t old = c->path_len, n = strlen(name);
    size_t need = n + (old ? 1 : 0);
    if (old >= JSON_PATH_MAX || need > JSON_PATH_MAX - old)
        return path_append(c, old ? ".%s" : "%s", name); /* truncation rules live there */
    char *p = c->path + old;
    if (old)
        *p++ = '.';
    memcpy(p, name, n + 1);
    c->path_len = old + need;
    return old;
}

size_t ferry_json_path_push_index(json_ctx_t *c, size_t i)
{
    return path_append(c, "[%zu]", i);
}

size_t ferry_json_path_push_key(json_ctx_t *c, const char *key)
{
    return path_append(c, "[\"%.40s\"]", key);
}

void ferry_json_path_pop(json_ctx_t *c, size_t len)
{
    if (len >= JSON_PATH_MAX)
        return; /* popping back into the truncated tail keeps the "..." mark */
    c->path_len = len;
    c->path[len] = '\0';
}

ferry_err_code_t ferry_json_fail(json_ctx_t *c, ferry_err_code_t code, const char *fmt, ...)
{
    char msg[FERRY_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (c->path_len > 0 || c->path[0] != '\0')
        return ferry_err_set(c->err, code, "field '%s': %s", c->path, msg);
    return ferry_err_set(c->err, code, "%s", msg);
}
