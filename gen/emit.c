/*
 * The emitter: one .proto file in, six C files out.
 *
 *   X.ferry.h/.c         JSON side tables of every message, and per service the
 *                        ferry_rpc_method_t table, method indices and service desc.
 *   X.ferry-server.h/.c  per service a struct of typed handlers, a registration call
 *                        built on generic trampolines, typed reply/send helpers.
 *   X.ferry-client.h/.c  per method a typed stub over the generic client runtime.
 *
 * Everything the runtimes need but protobuf-c's descriptors lack comes from the
 * descriptor protos protoc hands us: streaming flags, idempotency level, json_name,
 * map_entry, and the IDL comments (SourceCodeInfo) copied into the headers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"

/* Mirrors ferry_rpc_kind_t / ferry_rpc_idempotency_t (ferry/rpc.h); the plugin does not link the runtime. */
enum { KIND_UNARY, KIND_SERVER_STREAMING, KIND_CLIENT_STREAMING, KIND_BIDI };
static const char *const kind_enum[] = {"FERRY_RPC_UNARY", "FERRY_RPC_SERVER_STREAMING",
                                        "FERRY_RPC_CLIENT_STREAMING", "FERRY_RPC_BIDI_STREAMING"};
static const char *const kind_text[] = {"unary", "server streaming", "client streaming",
                                        "bidirectional streaming"};
static const char *const idem_enum[] = {"FERRY_RPC_IDEMPOTENCY_UNKNOWN", "FERRY_RPC_NO_SIDE_EFFECTS",
                                        "FERRY_RPC_IDEMPOTENT"};

/* Transitive imports a file may have; far above anything real. */
#define MAX_DEPS 256

/* SourceCodeInfo path tags (descriptor.proto field numbers). */
#define TAG_FILE_MESSAGE   4
#define TAG_FILE_SERVICE   6
#define TAG_SERVICE_METHOD 2

/* Column at which generated doc comments wrap. */
#define COMMENT_WIDTH 100

typedef struct method_info {
    const Google__Protobuf__MethodDescriptorProto *md;
    int kind;
    int idem;
    const char *comment;
    char member[GEN_IDENT_MAX]; /* struct member: "check_in" (C keywords get a '_' suffix) */
    char upper[GEN_IDENT_MAX];  /* index constant: "FERRY_V1_AGENT_SERVICE_CHECK_IN" */
    char fn[GEN_IDENT_MAX];     /* stub / helper stem: "ferry_v1_agent_service_check_in" */
    char in_c[GEN_IDENT_MAX];   /* "Ferry__V1__CheckInRequest" */
    char out_c[GEN_IDENT_MAX];
    char in_desc[GEN_IDENT_MAX]; /* "ferry__v1__check_in_request__descriptor" */
    char out_desc[GEN_IDENT_MAX];
} method_info_t;

typedef struct service_info {
    const Google__Protobuf__ServiceDescriptorProto *sd;
    const char *comment;
    char full[GEN_IDENT_MAX];   /* "ferry.v1.AgentService" */
    char prefix[GEN_IDENT_MAX]; /* "ferry_v1_agent_service" */
    char upper[GEN_IDENT_MAX];  /* "FERRY_V1_AGENT_SERVICE" */
    size_t n;
    method_info_t *m;
} service_info_t;

typedef struct ctx {
    const Google__Protobuf__Compiler__CodeGeneratorRequest *req;
    const Google__Protobuf__FileDescriptorProto *fd;
    char stem[GEN_IDENT_MAX];  /* "ferry/v1/agent" */
    char ident[GEN_IDENT_MAX]; /* "ferry_v1_agent_proto" */
    char guard[GEN_IDENT_MAX]; /* "FERRY_V1_AGENT_PROTO" */
    size_t n_svc;
    service_info_t *svc;
    const Google__Protobuf__FileDescriptorProto *deps[MAX_DEPS]; /* transitive imports with side tables */
    size_t n_deps;
    char **names; /* every global identifier we emit, for the collision check */
    size_t n_names, cap_names;
    size_t n_tables; /* counter for unique static array names */
    char *err;
    size_t err_size;
} ctx_t;

/* ---- helpers -------------------------------------------------------------- */

static int fail(ctx_t *cx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(ctx_t *cx, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(cx->err, cx->err_size, "%s: ", cx->fd->name);
    if (n > 0 && (size_t)n < cx->err_size) {
        va_start(ap, fmt);
        vsnprintf(cx->err + n, cx->err_size - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Records a global identifier for the collision check. */
static int add_name(ctx_t *cx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int add_name(ctx_t *cx, const char *fmt, ...)
{
    char buf[GEN_IDENT_MAX];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(buf)) {
        return fail(cx, "identifier too long: %s...", buf);
    }
    if (cx->n_names == cx->cap_names) {
        size_t cap = cx->cap_names ? cx->cap_names * 2 : 64;
        char **p = realloc(cx->names, cap * sizeof(*p));
        if (p == NULL) {
            return fail(cx, "out of memory");
        }
        cx->names = p;
        cx->cap_names = cap;
    }
    cx->names[cx->n_names] = strdup(buf);
    if (cx->names[cx->n_names] == NULL) {
        return fail(cx, "out of memory");
    }
    cx->n_names++;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Two IDL names can mangle to one C name (CheckIn + Check_in, Foo + FooReply's helper...). */
static int check_collisions(ctx_t *cx)
{
    qsort(cx->names, cx->n_names, sizeof(*cx->names), cmp_str);
    for (size_t i = 1; i < cx->n_names; i++) {
        if (strcmp(cx->names[i - 1], cx->names[i]) == 0) {
            return fail(cx, "two IDL names map to the same C identifier '%s'; rename one of them",
                        cx->names[i]);
        }
    }
    return 0;
}

/* The leading comment protoc recorded for the element at |path|, or NULL. */
static const char *leading_comment(const Google__Protobuf__FileDescriptorProto *fd, const int32_t *path,
                                   size_t n)
{
    const Google__Protobuf__SourceCodeInfo *sci = fd->source_code_info;
    if (sci == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < sci->n_location; i++) {
        const Google__Protobuf__SourceCodeInfo__Location *loc = sci->location[i];
        if (loc->n_path == n && memcmp(loc->path, path, n * sizeof(*path)) == 0) {
            return loc->leading_comments;
        }
    }
    return NULL;
}

/* Writes |text| line by line after |indent| " * ", defusing any comment terminator. */
static void emit_comment_lines(sb_t *sb, const char *indent, const char *text)
{
    const char *p = text;
    size_t pending_blank = 0;

    while (p != NULL && *p != '\0') {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        const char *line = p;
        if (len > 0 && line[0] == ' ') { /* protoc keeps the space after "//" */
            line++;
            len--;
        }
        while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t' || line[len - 1] == '\r')) {
            len--;
        }
        if (len == 0) {
            pending_blank++; /* trailing blank lines are dropped */
        } else {
            for (; pending_blank > 0; pending_blank--) {
                sb_printf(sb, "%s *\n", indent);
            }
            /* Long lines wrap at a space so generated headers stay readable. */
            size_t width = COMMENT_WIDTH > strlen(indent) + 3 ? COMMENT_WIDTH - strlen(indent) - 3 : 40;
            while (len > 0) {
                size_t take = len;
                if (len > width) {
                    take = width;
                    while (take > width / 2 && line[take] != ' ') {
                        take--;
                    }
                    if (line[take] != ' ') {
                        take = width;
                    }
                }
                sb_printf(sb, "%s * ", indent);
                for (size_t i = 0; i < take; i++) {
                    if (line[i] == '*' && i + 1 < len && line[i + 1] == '/') {
                        sb_printf(sb, "* ");
                    } else {
                        sb_printf(sb, "%c", line[i]);
                    }
                }
                sb_printf(sb, "\n");
                line += take;
                len -= take;
                while (len > 0 && *line == ' ') {
                    line++;
                    len--;
                }
            }
        }
        p = nl ? nl + 1 : NULL;
    }
}

/* A doc comment: the IDL comment (if any), a blank line, then |note| (if any). */
static void emit_doc(sb_t *sb, const char *indent, const char *idl, const char *note)
{
    sb_printf(sb, "%s/**\n", indent);
    if (idl != NULL && idl[0] != '\0') {
        emit_comment_lines(sb, indent, idl);
        if (note != NULL) {
            sb_printf(sb, "%s *\n", indent);
        }
    }
    if (note != NULL) {
        emit_comment_lines(sb, indent, note);
    }
    sb_printf(sb, "%s */\n", indent);
}

/* A C string literal for |s| (json_name may be any string via the json_name option). */
static void emit_c_string(sb_t *sb, const char *s)
{
    sb_printf(sb, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            sb_printf(sb, "\\%c", *p);
        } else if (*p < 0x20 || *p >= 0x7f || *p == '?') {
            sb_printf(sb, "\\%03o", *p); /* also avoids trigraphs */
        } else {
            sb_printf(sb, "%c", *p);
        }
    }
    sb_printf(sb, "\"");
}

static const Google__Protobuf__FileDescriptorProto *find_file(const ctx_t *cx, const char *name)
{
    for (size_t i = 0; i < cx->req->n_proto_file; i++) {
        if (strcmp(cx->req->proto_file[i]->name, name) == 0) {
            return cx->req->proto_file[i];
        }
    }
    return NULL;
}

/*
 * Files whose side tables no Ferry library provides: descriptor.proto (imported only
 * for custom options, never as an RPC payload) and protobuf-c's own options file.
 */
static int has_no_side_table(const char *name)
{
    return strcmp(name, "google/protobuf/descriptor.proto") == 0 ||
           strcmp(name, "protobuf-c/protobuf-c.proto") == 0;
}

/* Depth-first collection of the transitive imports of |fd| into cx->deps. */
static int collect_deps(ctx_t *cx, const Google__Protobuf__FileDescriptorProto *fd)
{
    for (size_t i = 0; i < fd->n_dependency; i++) {
        const char *name = fd->dependency[i];
        const Google__Protobuf__FileDescriptorProto *dep;
        int seen = 0;
        if (has_no_side_table(name)) {
            continue;
        }
        for (size_t k = 0; k < cx->n_deps; k++) {
            seen |= strcmp(cx->deps[k]->name, name) == 0;
        }
        if (seen) {
            continue;
        }
        dep = find_file(cx, name);
        if (dep == NULL) {
            return fail(cx, "import '%s' missing from the request", name);
        }
        if (cx->n_deps == MAX_DEPS) {
            return fail(cx, "more than %d transitive imports", MAX_DEPS);
        }
        cx->deps[cx->n_deps++] = dep;
        if (collect_deps(cx, dep) != 0) {
            return -1;
        }
    }
    return 0;
}

static int proto_stem(const char *name, char *out, size_t n)
{
    size_t len = strlen(name);
    if (len > 6 && strcmp(name + len - 6, ".proto") == 0) {
        len -= 6;
    }
    if (len + 1 > n) {
        return -1;
    }
    memcpy(out, name, len);
    out[len] = '\0';
    return 0;
}

/* ---- model ---------------------------------------------------------------- */

static int build_method(ctx_t *cx, service_info_t *s, size_t si, size_t mi)
{
    method_info_t *m = &s->m[mi];
    const Google__Protobuf__MethodDescriptorProto *md = s->sd->method[mi];
    char snake[GEN_IDENT_MAX];
    int32_t path[4] = {TAG_FILE_SERVICE, (int32_t)si, TAG_SERVICE_METHOD, (int32_t)mi};
    int cs, ss;

    m->md = md;
    if (md->name == NULL || md->input_type == NULL || md->output_type == NULL) {
        return fail(cx, "method %zu of %s lacks a name or types", mi, s->full);
    }
    cs = md->has_client_streaming && md->client_streaming;
    ss = md->has_server_streaming && md->server_streaming;
    m->kind = cs && ss ? KIND_BIDI : cs ? KIND_CLIENT_STREAMING : ss ? KIND_SERVER_STREAMING : KIND_UNARY;
    m->idem = 0;
    if (md->options != NULL && md->options->has_idempotency_level) {
        m->idem = (int)md->options->idempotency_level;
        if (m->idem < 0 || m->idem > 2) {
            m->idem = 0;
        }
    }
    m->comment = leading_comment(cx->fd, path, 4);
    if (camel_to_lower(md->name, snake, sizeof(snake)) != 0 ||
        name_to_c(md->input_type, m->in_c, sizeof(m->in_c)) != 0 ||
        name_to_c(md->output_type, m->out_c, sizeof(m->out_c)) != 0 ||
        name_to_lower(md->input_type, m->in_desc, sizeof(m->in_desc) - 16) != 0 ||
        name_to_lower(md->output_type, m->out_desc, sizeof(m->out_desc) - 16) != 0) {
        return fail(cx, "names of %s.%s too long", s->full, md->name);
    }
    strcat(m->in_desc, "__descriptor");
    strcat(m->out_desc, "__descriptor");
    if ((size_t)snprintf(m->member, sizeof(m->member), "%s%s", snake, is_c_keyword(snake) ? "_" : "") >=
            sizeof(m->member) ||
        (size_t)snprintf(m->fn, sizeof(m->fn), "%s_%s", s->prefix, snake) >= sizeof(m->fn) - 16 ||
        (size_t)snprintf(m->upper, sizeof(m->upper), "%s", m->fn) >= sizeof(m->upper)) {
        return fail(cx, "names of %s.%s too long", s->full, md->name);
    }
    str_upper(m->upper);

    for (size_t k = 0; k < mi; k++) {
        if (strcmp(s->m[k].member, m->member) == 0) {
            return fail(cx, "methods %s and %s of %s map to the same C name '%s'", s->m[k].md->name, md->name,
                        s->full, m->member);
        }
    }
    if (add_name(cx, "%s", m->upper) != 0) {
        return -1;
    }
    if (m->kind == KIND_BIDI) {
        return 0; /* no handler, stub or helper (see the comment emitted for it) */
    }
    if (add_name(cx, "%s", m->fn) != 0 ||
        add_name(cx, "%s_%s", m->fn, m->kind == KIND_SERVER_STREAMING ? "send" : "reply") != 0) {
        return -1;
    }
    if (m->kind == KIND_SERVER_STREAMING && add_name(cx, "%s_cb", m->fn) != 0) {
        return -1;
    }
    return 0;
}

static int build_model(ctx_t *cx)
{
    const Google__Protobuf__FileDescriptorProto *fd = cx->fd;

    if (proto_stem(fd->name, cx->stem, sizeof(cx->stem)) != 0 ||
        file_ident(fd->name, cx->ident, sizeof(cx->ident) - 8) != 0) {
        return fail(cx, "file name too long");
    }
    snprintf(cx->guard, sizeof(cx->guard), "%s", cx->ident);
    str_upper(cx->guard);
    if (add_name(cx, "%s_json", cx->ident) != 0 || collect_deps(cx, fd) != 0) {
        return -1;
    }

    cx->n_svc = fd->n_service;
    cx->svc = calloc(cx->n_svc + 1, sizeof(*cx->svc));
    if (cx->svc == NULL) {
        return fail(cx, "out of memory");
    }
    for (size_t si = 0; si < fd->n_service; si++) {
        service_info_t *s = &cx->svc[si];
        int32_t path[2] = {TAG_FILE_SERVICE, (int32_t)si};
        s->sd = fd->service[si];
        s->comment = leading_comment(fd, path, 2);
        if ((size_t)snprintf(s->full, sizeof(s->full), "%s%s%s", fd->package ? fd->package : "",
                             fd->package && fd->package[0] ? "." : "", s->sd->name) >= sizeof(s->full) ||
            service_prefix(fd->package, s->sd->name, s->prefix, sizeof(s->prefix) - 32) != 0) {
            return fail(cx, "service name too long");
        }
        snprintf(s->upper, sizeof(s->upper), "%s", s->prefix);
        str_upper(s->upper);
        if (add_name(cx, "%s_desc", s->prefix) != 0 || add_name(cx, "%s_method_t", s->prefix) != 0 ||
            add_name(cx, "%s_METHOD_COUNT", s->upper) != 0 || add_name(cx, "%s_server_t", s->prefix) != 0 ||
            add_name(cx, "%s_server_register", s->prefix) != 0) {
            return -1;
        }
        s->n = s->sd->n_method;
        s->m = calloc(s->n + 1, sizeof(*s->m));
        if (s->m == NULL) {
            return fail(cx, "out of memory");
        }
        for (size_t mi = 0; mi < s->n; mi++) {
            if (build_method(cx, s, si, mi) != 0) {
                return -1;
            }
        }
    }
    return check_collisions(cx);
}

static void free_model(ctx_t *cx)
{
    for (size_t i = 0; cx->svc != NULL && i < cx->n_svc; i++) {
        free(cx->svc[i].m);
    }
    free(cx->svc);
    for (size_t i = 0; i < cx->n_names; i++) {
        free(cx->names[i]);
    }
    free(cx->names);
}

/* ---- X.ferry.h / X.ferry.c ------------------------------------------------ */

static void emit_banner(sb_t *sb, const ctx_t *cx, const char *what)
{
    sb_printf(sb,
              "/*\n * Generated by protoc-gen-ferry from %s: %s.\n * DO NOT EDIT: edit the .proto file and "
              "rebuild.\n */\n",
              cx->fd->name, what);
}

static void emit_core_h(const ctx_t *cx, sb_t *h)
{
    emit_banner(h, cx, "method tables and JSON side tables");
    sb_printf(h, "#ifndef FERRY_GEN_%s_FERRY_H\n#define FERRY_GEN_%s_FERRY_H\n\n", cx->guard, cx->guard);
    sb_printf(h, "#include \"ferry/rpc.h\"\n#include \"%s.pb-c.h\"\n", cx->stem);
    for (size_t i = 0; i < cx->fd->n_dependency; i++) {
        char stem[GEN_IDENT_MAX];
        if (!has_no_side_table(cx->fd->dependency[i]) &&
            proto_stem(cx->fd->dependency[i], stem, sizeof(stem)) == 0) {
            sb_printf(h, "#include \"%s.ferry.h\"\n", stem);
        }
    }
    sb_printf(h, "\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n");
    sb_printf(h, "/** JSON names and map-entry flags of every message in %s (nested ones included). */\n",
              cx->fd->name);
    sb_printf(h, "extern const ferry_json_file_info_t %s_json;\n", cx->ident);

    for (size_t si = 0; si < cx->n_svc; si++) {
        const service_info_t *s = &cx->svc[si];
        char note[GEN_IDENT_MAX * 2];
        sb_printf(h, "\n/* ======== service %s ======== */\n\n", s->full);
        snprintf(note, sizeof(note),
                 "Service %s: its method table (paths, kinds, idempotency, message descriptors) "
                 "and the JSON side tables of its file and imports.",
                 s->full);
        emit_doc(h, "", s->comment, note);
        sb_printf(h, "extern const ferry_rpc_service_desc_t %s_desc;\n\n", s->prefix);
        sb_printf(h, "/** Indices into %s_desc.methods, in IDL order. */\n", s->prefix);
        sb_printf(h, "typedef enum %s_method {\n", s->prefix);
        for (size_t mi = 0; mi < s->n; mi++) {
            const method_info_t *m = &s->m[mi];
            char mnote[GEN_IDENT_MAX * 2];
            snprintf(mnote, sizeof(mnote), "/%s/%s: %s -> %s, %s%s%s.", s->full, m->md->name,
                     m->md->input_type + (m->md->input_type[0] == '.'),
                     m->md->output_type + (m->md->output_type[0] == '.'), kind_text[m->kind],
                     m->idem == 1   ? ", no side effects"
                     : m->idem == 2 ? ", idempotent"
                                    : "",
                     m->kind == KIND_BIDI ? " (not servable over h2o 2.2.5: described only)" : "");
            emit_doc(h, "    ", m->comment, mnote);
            sb_printf(h, "    %s = %zu,\n", m->upper, mi);
        }
        sb_printf(h, "    /** Number of methods. */\n    %s_METHOD_COUNT = %zu\n} %s_method_t;\n", s->upper,
                  s->n, s->prefix);
    }
    sb_printf(h, "\n#ifdef __cplusplus\n}\n#endif\n#endif\n");
}

/* Emits the field tables of |msgs| (and their nested types) into |c|, rows into |rows|. */
static void emit_json_msgs(ctx_t *cx, sb_t *c, sb_t *rows, const char *scope,
                           Google__Protobuf__DescriptorProto *const *msgs, size_t n, size_t *count)
{
    for (size_t i = 0; i < n; i++) {
        const Google__Protobuf__DescriptorProto *d = msgs[i];
        char full[GEN_IDENT_MAX], lower[GEN_IDENT_MAX];
        size_t table = cx->n_tables++;
        int is_map = d->options != NULL && d->options->has_map_entry && d->options->map_entry;

        snprintf(full, sizeof(full), "%s%s%s", scope, scope[0] ? "." : "", d->name);
        if (name_to_lower(full, lower, sizeof(lower)) != 0) {
            c->failed = 1; /* reported as "output too large"; names this long are absurd */
            return;
        }
        if (d->n_field > 0) {
            sb_printf(c, "/* %s */\nstatic const ferry_json_field_info_t json_fields_%zu[] = {\n", full,
                      table);
            for (size_t f = 0; f < d->n_field; f++) {
                const Google__Protobuf__FieldDescriptorProto *fp = d->field[f];
                sb_printf(c, "    {%d, ", fp->number);
                emit_c_string(c, fp->json_name ? fp->json_name : fp->name);
                sb_printf(c, "},\n");
            }
            sb_printf(c, "};\n");
            sb_printf(rows, "    {&%s__descriptor, %d, %zu, json_fields_%zu},\n", lower, is_map, d->n_field,
                      table);
        } else {
            sb_printf(rows, "    {&%s__descriptor, %d, 0, NULL},\n", lower, is_map);
        }
        (*count)++;
        emit_json_msgs(cx, c, rows, full, d->nested_type, d->n_nested_type, count);
    }
}

static void emit_core_c(ctx_t *cx, sb_t *c)
{
    sb_t rows = {0};
    size_t count = 0;

    emit_banner(c, cx, "method tables and JSON side tables");
    sb_printf(c, "#include <stddef.h>\n\n#include \"%s.ferry.h\"\n\n", cx->stem);
    emit_json_msgs(cx, c, &rows, cx->fd->package ? cx->fd->package : "", cx->fd->message_type,
                   cx->fd->n_message_type, &count);
    if (rows.failed) {
        c->failed = 1;
    }
    if (count > 0) {
        sb_printf(c, "\nstatic const ferry_json_msg_info_t json_messages[] = {\n%s};\n", rows.buf);
    }
    sb_printf(c, "\nconst ferry_json_file_info_t %s_json = {", cx->ident);
    emit_c_string(c, cx->fd->name);
    sb_printf(c, ", %zu, %s};\n", count, count > 0 ? "json_messages" : "NULL");
    sb_free(&rows);

    for (size_t si = 0; si < cx->n_svc; si++) {
        const service_info_t *s = &cx->svc[si];
        sb_printf(c, "\n/* ======== service %s ======== */\n\n", s->full);
        if (s->n > 0) {
            sb_printf(c, "static const ferry_rpc_method_t %s_methods[%zu] = {\n", s->prefix, s->n);
            for (size_t mi = 0; mi < s->n; mi++) {
                const method_info_t *m = &s->m[mi];
                sb_printf(c, "    [%s] = {\"/%s/%s\", \"%s\", \"%s\", %s, %s, &%s, &%s},\n", m->upper,
                          s->full, m->md->name, s->full, m->md->name, kind_enum[m->kind], idem_enum[m->idem],
                          m->in_desc, m->out_desc);
            }
            sb_printf(c, "};\n\n");
        }
        sb_printf(
            c,
            "/* This file's side table, then every transitive import's, so runtimes can register them. */\n");
        sb_printf(c, "static const ferry_json_file_info_t *const %s_json_files[] = {\n    &%s_json,\n",
                  s->prefix, cx->ident);
        for (size_t i = 0; i < cx->n_deps; i++) {
            char ident[GEN_IDENT_MAX];
            if (file_ident(cx->deps[i]->name, ident, sizeof(ident)) == 0) {
                sb_printf(c, "    &%s_json,\n", ident);
            }
        }
        sb_printf(c, "    NULL,\n};\n\n");
        sb_printf(c, "const ferry_rpc_service_desc_t %s_desc = {\"%s\", %zu, %s%s, %s_json_files};\n",
                  s->prefix, s->full, s->n, s->n > 0 ? s->prefix : "NULL", s->n > 0 ? "_methods" : "",
                  s->prefix);
    }
}

/* ---- X.ferry-server.h / .c ------------------------------------------------ */

static const char *const bidi_note =
    "Bidirectional streaming: described in the method table only. h2o 2.2.5 hands a "
    "handler the whole request body at once, so a bidi call cannot be served; the runtime "
    "answers it with `unimplemented`.";

static void emit_server_h(const ctx_t *cx, sb_t *h)
{
    emit_banner(h, cx, "typed server interfaces");
    sb_printf(h, "#ifndef FERRY_GEN_%s_FERRY_SERVER_H\n#define FERRY_GEN_%s_FERRY_SERVER_H\n\n", cx->guard,
              cx->guard);
    sb_printf(h, "#include <stddef.h>\n\n#include \"ferry/rpc_server.h\"\n#include \"%s.ferry.h\"\n",
              cx->stem);
    sb_printf(h, "\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n");

    for (size_t si = 0; si < cx->n_svc; si++) {
        const service_info_t *s = &cx->svc[si];
        char note[GEN_IDENT_MAX * 4];
        sb_printf(h, "\n/* ======== service %s ======== */\n\n", s->full);
        snprintf(note, sizeof(note),
                 "Typed handlers of %s. Each runs on an event-loop thread and must complete its call "
                 "exactly once (reply / ferry_rpc_call_fail for unary and client-streaming methods, "
                 "ferry_rpc_call_finish for server-streaming ones), possibly later from another thread "
                 "(ferry_rpc_call_offload for slow work). Requests stay valid until the call completes. "
                 "A NULL member answers `unimplemented`.",
                 s->full);
        emit_doc(h, "", s->comment, note);
        sb_printf(h, "typedef struct %s_server {\n", s->prefix);
        for (size_t mi = 0; mi < s->n; mi++) {
            const method_info_t *m = &s->m[mi];
            char mnote[GEN_IDENT_MAX * 3];
            if (m->kind == KIND_BIDI) {
                emit_doc(h, "    ", m->comment, bidi_note);
                sb_printf(h, "    /* %s: no handler */\n", m->md->name);
                continue;
            }
            if (m->kind == KIND_SERVER_STREAMING) {
                snprintf(
                    mnote, sizeof(mnote),
                    "%s (server streaming): send messages with %s_send(), end with ferry_rpc_call_finish(). "
                    "Watch ferry_rpc_call_is_canceled() / ferry_rpc_call_on_cancel() for a departed peer.",
                    m->md->name, m->fn);
            } else if (m->kind == KIND_CLIENT_STREAMING) {
                snprintf(
                    mnote, sizeof(mnote),
                    "%s (client streaming): |reqs| holds all |n_reqs| messages the client sent, in order "
                    "(h2o buffers the whole body). Complete with %s_reply() or ferry_rpc_call_fail().",
                    m->md->name, m->fn);
            } else {
                snprintf(mnote, sizeof(mnote),
                         "%s (unary%s): complete with %s_reply() or ferry_rpc_call_fail().", m->md->name,
                         m->idem == 1   ? ", no side effects"
                         : m->idem == 2 ? ", idempotent"
                                        : "",
                         m->fn);
            }
            emit_doc(h, "    ", m->comment, mnote);
            if (m->kind == KIND_CLIENT_STREAMING) {
                sb_printf(h,
                          "    void (*%s)(ferry_rpc_call_t *call, const %s *const *reqs, size_t n_reqs, void "
                          "*user);\n",
                          m->member, m->in_c);
            } else {
                sb_printf(h, "    void (*%s)(ferry_rpc_call_t *call, const %s *req, void *user);\n",
                          m->member, m->in_c);
            }
        }
        sb_printf(h, "    /** Passed to every handler as |user|. */\n    void *user;\n} %s_server_t;\n\n",
                  s->prefix);

        sb_printf(h,
                  "/**\n * Registers |impl| as the implementation of %s on |srv|. |impl| must outlive\n"
                  " * the server (it is not copied); NULL members answer `unimplemented`.\n */\n",
                  s->full);
        sb_printf(h,
                  "ferry_err_code_t %s_server_register(ferry_rpc_server_t *srv, const %s_server_t *impl, "
                  "ferry_err_t *err);\n",
                  s->prefix, s->prefix);
        for (size_t mi = 0; mi < s->n; mi++) {
            const method_info_t *m = &s->m[mi];
            if (m->kind == KIND_BIDI) {
                continue;
            }
            if (m->kind == KIND_SERVER_STREAMING) {
                sb_printf(h, "\n/** Sends one message of a %s stream (see ferry_rpc_call_send()). */\n",
                          m->md->name);
                sb_printf(h, "ferry_err_code_t %s_send(ferry_rpc_call_t *call, const %s *msg);\n", m->fn,
                          m->out_c);
            } else {
                sb_printf(h, "\n/** Completes a %s call with |resp| (see ferry_rpc_call_reply()). */\n",
                          m->md->name);
                sb_printf(h, "ferry_err_code_t %s_reply(ferry_rpc_call_t *call, const %s *resp);\n", m->fn,
                          m->out_c);
            }
        }
    }
    sb_printf(h, "\n#ifdef __cplusplus\n}\n#endif\n#endif\n");
}

static int has_client_streaming(const ctx_t *cx)
{
    for (size_t si = 0; si < cx->n_svc; si++) {
        for (size_t mi = 0; mi < cx->svc[si].n; mi++) {
            if (cx->svc[si].m[mi].kind == KIND_CLIENT_STREAMING) {
                return 1;
            }
        }
    }
    return 0;
}

static void emit_server_c(const ctx_t *cx, sb_t *c)
{
    emit_banner(c, cx, "typed server interfaces");
    sb_printf(c, "#include <stdlib.h>\n\n#include \"%s.ferry-server.h\"\n", cx->stem);
    if (has_client_streaming(cx)) {
        sb_printf(c,
                  "\n/* Call-data key of the typed request arrays built for client-streaming handlers. */\n"
                  "static const char typed_reqs_key;\n");
    }

    for (size_t si = 0; si < cx->n_svc; si++) {
        const service_info_t *s = &cx->svc[si];
        sb_printf(c, "\n/* ======== service %s ======== */\n", s->full);
        sb_printf(
            c, "/*\n * Trampolines adapt the runtime's generic handler to the typed one. Calling the typed\n"
               " * function through a cast pointer would be undefined behaviour (and UBSan says so).\n */\n");
        for (size_t mi = 0; mi < s->n; mi++) {
            const method_info_t *m = &s->m[mi];
            if (m->kind == KIND_BIDI) {
                continue;
            }
            sb_printf(c,
                      "\nstatic void tramp_%s(ferry_rpc_call_t *call, const ProtobufCMessage *const *reqs, "
                      "size_t n_reqs, void *user)\n{\n",
                      m->fn);
            sb_printf(c, "    const %s_server_t *impl = user;\n", s->prefix);
            if (m->kind == KIND_CLIENT_STREAMING) {
                sb_printf(c, "    const %s **typed = NULL;\n\n", m->in_c);
            } else {
                sb_printf(c, "\n");
            }
            sb_printf(c, "    if (impl->%s == NULL) {\n", m->member);
            sb_printf(c,
                      "        ferry_rpc_call_fail(call, FERRY_RPC_UNIMPLEMENTED, NULL, \"%%s is not "
                      "implemented\", "
                      "\"/%s/%s\");\n        return;\n    }\n",
                      s->full, m->md->name);
            if (m->kind == KIND_CLIENT_STREAMING) {
                sb_printf(c, "    for (size_t i = 0; i < n_reqs; i++) {\n");
                sb_printf(c, "        if (reqs[i]->descriptor != &%s) {\n", m->in_desc);
                sb_printf(
                    c,
                    "            ferry_rpc_call_fail(call, FERRY_RPC_INTERNAL, NULL, \"request of the wrong "
                    "type\");\n            return;\n        }\n    }\n");
                sb_printf(c,
                          "    /* A typed copy of the pointer array: the handler may use it until the call "
                          "completes. */\n");
                sb_printf(c, "    if (n_reqs > 0) {\n        typed = calloc(n_reqs, sizeof(*typed));\n");
                sb_printf(c, "        if (typed == NULL) {\n            ferry_rpc_call_fail(call, "
                             "FERRY_RPC_RESOURCE_EXHAUSTED, NULL, \"out of memory\");\n            return;\n"
                             "        }\n");
                sb_printf(c,
                          "        for (size_t i = 0; i < n_reqs; i++) {\n            typed[i] = (const %s "
                          "*)reqs[i];\n"
                          "        }\n        ferry_rpc_call_set_data(call, &typed_reqs_key, typed, free);\n "
                          "   }\n",
                          m->in_c);
                sb_printf(c, "    impl->%s(call, (const %s *const *)typed, n_reqs, impl->user);\n}\n",
                          m->member, m->in_c);
            } else {
                sb_printf(c, "    if (n_reqs != 1 || reqs[0]->descriptor != &%s) {\n", m->in_desc);
                sb_printf(
                    c, "        ferry_rpc_call_fail(call, FERRY_RPC_INTERNAL, NULL, \"request of the wrong "
                       "type\");\n        return;\n    }\n");
                sb_printf(c, "    impl->%s(call, (const %s *)reqs[0], impl->user);\n}\n", m->member, m->in_c);
            }
        }
        if (s->n > 0) {
            sb_printf(c, "\n/* Indexed like %s_desc.methods; bidi methods have none. */\n", s->prefix);
            sb_printf(c, "static const ferry_rpc_handler_fn %s_trampolines[%zu] = {\n", s->prefix, s->n);
            for (size_t mi = 0; mi < s->n; mi++) {
                const method_info_t *m = &s->m[mi];
                if (m->kind == KIND_BIDI) {
                    sb_printf(c, "    [%s] = NULL,\n", m->upper);
                } else {
                    sb_printf(c, "    [%s] = tramp_%s,\n", m->upper, m->fn);
                }
            }
            sb_printf(c, "};\n");
        }
        sb_printf(c,
                  "\nferry_err_code_t %s_server_register(ferry_rpc_server_t *srv, const %s_server_t *impl, "
                  "ferry_err_t *err)\n{\n",
                  s->prefix, s->prefix);
        sb_printf(c,
                  "    if (impl == NULL) {\n        return ferry_err_set(err, FERRY_E_INVALID_ARG, \"%s: no "
                  "implementation\");\n    }\n",
                  s->full);
        sb_printf(c,
                  "    /* The runtime hands |impl| back to the trampolines as their |user| argument. */\n");
        if (s->n > 0) {
            sb_printf(c,
                      "    return ferry_rpc_server_register(srv, &%s_desc, %s_trampolines, (void *)impl, "
                      "err);\n}\n",
                      s->prefix, s->prefix);
        } else {
            sb_printf(c, "    return ferry_rpc_server_register(srv, &%s_desc, NULL, (void *)impl, err);\n}\n",
                      s->prefix);
        }
        for (size_t mi = 0; mi < s->n; mi++) {
            const method_info_t *m = &s->m[mi];
            if (m->kind == KIND_BIDI) {
                continue;
            }
            if (m->kind == KIND_SERVER_STREAMING) {
                sb_printf(c, "\nferry_err_code_t %s_send(ferry_rpc_call_t *call, const %s *msg)\n{\n", m->fn,
                          m->out_c);
                sb_printf(c, "    return ferry_rpc_call_send(call, msg ? &msg->base : NULL);\n}\n");
            } else {
                sb_printf(c, "\nferry_err_code_t %s_reply(ferry_rpc_call_t *call, const %s *resp)\n{\n",
                          m->fn, m->out_c);
                sb_printf(c, "    return ferry_rpc_call_reply(call, resp ? &resp->base : NULL);\n}\n");
            }
        }
    }
}

/* ---- X.ferry-client.h / .c ------------------------------------------------ */

static void emit_client_h(const ctx_t *cx, sb_t *h)
{
    emit_banner(h, cx, "typed client stubs");
    sb_printf(h, "#ifndef FERRY_GEN_%s_FERRY_CLIENT_H\n#define FERRY_GEN_%s_FERRY_CLIENT_H\n\n", cx->guard,
              cx->guard);
    sb_printf(h, "#include <stddef.h>\n\n#include \"ferry/rpc_client.h\"\n#include \"%s.ferry.h\"\n",
              cx->stem);
    sb_printf(h, "\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n");

    for (size_t si = 0; si < cx->n_svc; si++) {
        const service_info_t *s = &cx->svc[si];
        sb_printf(h, "\n/* ======== service %s ======== */\n", s->full);
        if (s->comment != NULL) {
            sb_printf(h, "\n/*\n");
            emit_comment_lines(h, "", s->comment);
            sb_printf(h, " */\n");
        }
        for (size_t mi = 0; mi < s->n; mi++) {
            const method_info_t *m = &s->m[mi];
            char note[GEN_IDENT_MAX * 3];
            sb_printf(h, "\n");
            if (m->kind == KIND_BIDI) {
                sb_printf(h, "/* %s: bidirectional streaming, no stub (not servable over h2o 2.2.5). */\n",
                          m->md->name);
                continue;
            }
            if (m->kind == KIND_SERVER_STREAMING) {
                snprintf(note, sizeof(note),
                         "Called for each %s message as it arrives; owns |msg| (free with "
                         "protobuf_c_message_free_unpacked(&msg->base, NULL)). Return 0 to continue, "
                         "non-zero to cancel the call.",
                         m->md->name);
                emit_doc(h, "", NULL, note);
                sb_printf(h, "typedef int (*%s_cb)(%s *msg, void *user);\n\n", m->fn, m->out_c);
                snprintf(note, sizeof(note),
                         "Calls /%s/%s (server streaming): |on_msg| gets each message; returns the "
                         "end-of-stream code, with details in |st| (may be NULL). |opts| may be NULL.",
                         s->full, m->md->name);
                emit_doc(h, "", m->comment, note);
                sb_printf(
                    h,
                    "ferry_rpc_code_t %s(ferry_rpc_client_t *c, const %s *req, %s_cb on_msg, void *user,\n"
                    "    const ferry_rpc_call_opts_t *opts, ferry_rpc_status_t *st);\n",
                    m->fn, m->in_c, m->fn);
            } else if (m->kind == KIND_CLIENT_STREAMING) {
                snprintf(
                    note, sizeof(note),
                    "Calls /%s/%s (client streaming) with the |n_reqs| messages |reqs|. On FERRY_RPC_OK "
                    "*resp owns the response (free with protobuf_c_message_free_unpacked(&(*resp)->base, "
                    "NULL)); otherwise *resp is NULL and |st| (may be NULL) says why.",
                    s->full, m->md->name);
                emit_doc(h, "", m->comment, note);
                sb_printf(h,
                          "ferry_rpc_code_t %s(ferry_rpc_client_t *c, const %s *const *reqs, size_t n_reqs, "
                          "%s **resp,\n"
                          "    const ferry_rpc_call_opts_t *opts, ferry_rpc_status_t *st);\n",
                          m->fn, m->in_c, m->out_c);
            } else {
                snprintf(note, sizeof(note),
                         "Calls /%s/%s (unary%s). On FERRY_RPC_OK *resp owns the response (free with "
                         "protobuf_c_message_free_unpacked(&(*resp)->base, NULL)); otherwise *resp is NULL "
                         "and |st| (may be NULL) says why.",
                         s->full, m->md->name,
                         m->idem == 1   ? ", no side effects: retried on `unavailable`"
                         : m->idem == 2 ? ", idempotent: retried on `unavailable`"
                                        : "");
                emit_doc(h, "", m->comment, note);
                sb_printf(h,
                          "ferry_rpc_code_t %s(ferry_rpc_client_t *c, const %s *req, %s **resp,\n"
                          "    const ferry_rpc_call_opts_t *opts, ferry_rpc_status_t *st);\n",
                          m->fn, m->in_c, m->out_c);
            }
        }
    }
    sb_printf(h, "\n#ifdef __cplusplus\n}\n#endif\n#endif\n");
}

static void emit_client_c(const ctx_t *cx, sb_t *c)
{
    emit_banner(c, cx, "typed client stubs");
    sb_printf(
        c,
        "#include <pthread.h>\n#include <stdlib.h>\n#include <string.h>\n\n#include \"%s.ferry-client.h\"\n",
        cx->stem);
    if (cx->n_svc > 0) {
        /* JSON peers need the json_name side tables: every stub registers them once. */
        sb_printf(c,
                  "\n/* The JSON name tables of this file's services (and their imports), registered once\n"
                  " * before the first call so the JSON codec uses protoc's json_name. */\n");
        sb_printf(c, "static pthread_once_t json_once = PTHREAD_ONCE_INIT;\n\n"
                     "static void json_register(void)\n{\n");
        for (size_t si = 0; si < cx->n_svc; si++) {
            sb_printf(c, "    ferry_rpc_client_register_service(&%s_desc);\n", cx->svc[si].prefix);
        }
        sb_printf(c, "}\n");
    }
    for (size_t si = 0; si < cx->n_svc; si++) {
        const service_info_t *s = &cx->svc[si];
        sb_printf(c, "\n/* ======== service %s ======== */\n", s->full);
        for (size_t mi = 0; mi < s->n; mi++) {
            const method_info_t *m = &s->m[mi];
            if (m->kind == KIND_BIDI) {
                continue;
            }
            sb_printf(c, "\n");
            if (m->kind == KIND_SERVER_STREAMING) {
                sb_printf(c, "/* Carries the typed callback through the runtime's generic one (no pointer "
                             "casts). */\n");
                sb_printf(c, "struct %s_adapter {\n    %s_cb fn;\n    void *user;\n};\n\n", m->fn, m->fn);
                sb_printf(c, "static int %s_deliver(ProtobufCMessage *msg, void *user)\n{\n", m->fn);
                sb_printf(c, "    struct %s_adapter *a = user;\n", m->fn);
                sb_printf(c, "    return a->fn((%s *)msg, a->user);\n}\n\n", m->out_c);
                sb_printf(
                    c,
                    "ferry_rpc_code_t %s(ferry_rpc_client_t *c, const %s *req, %s_cb on_msg, void *user,\n"
                    "    const ferry_rpc_call_opts_t *opts, ferry_rpc_status_t *st)\n{\n",
                    m->fn, m->in_c, m->fn);
                sb_printf(c, "    struct %s_adapter a = {on_msg, user};\n\n", m->fn);
                sb_printf(c, "    pthread_once(&json_once, json_register);\n");
                sb_printf(
                    c,
                    "    return ferry_rpc_client_server_stream(c, &%s_desc.methods[%s], req ? &req->base : "
                    "NULL,\n        on_msg ? %s_deliver : NULL, &a, opts, st);\n}\n",
                    s->prefix, m->upper, m->fn);
                continue;
            }
            if (m->kind == KIND_CLIENT_STREAMING) {
                sb_printf(c,
                          "ferry_rpc_code_t %s(ferry_rpc_client_t *c, const %s *const *reqs, size_t n_reqs, "
                          "%s **resp,\n"
                          "    const ferry_rpc_call_opts_t *opts, ferry_rpc_status_t *st)\n{\n",
                          m->fn, m->in_c, m->out_c);
                sb_printf(c, "    const ProtobufCMessage **base = NULL;\n    ProtobufCMessage *out = NULL;\n"
                             "    ferry_rpc_code_t code;\n\n");
                sb_printf(c, "    pthread_once(&json_once, json_register);\n");
                sb_printf(c, "    /* The runtime wants base-message pointers: build that array rather than "
                             "cast. */\n");
                sb_printf(c, "    if (n_reqs > 0) {\n        base = calloc(n_reqs, sizeof(*base));\n"
                             "        if (base == NULL) {\n            if (st != NULL) {\n"
                             "                memset(st, 0, sizeof(*st));\n"
                             "                st->code = FERRY_RPC_RESOURCE_EXHAUSTED;\n"
                             "                strcpy(st->message, \"out of memory\");\n            }\n"
                             "            if (resp != NULL) {\n                *resp = NULL;\n            }\n"
                             "            return FERRY_RPC_RESOURCE_EXHAUSTED;\n        }\n"
                             "        for (size_t i = 0; i < n_reqs; i++) {\n"
                             "            base[i] = reqs[i] ? &reqs[i]->base : NULL;\n        }\n    }\n");
                sb_printf(
                    c,
                    "    code = ferry_rpc_client_client_stream(c, &%s_desc.methods[%s], base, n_reqs, &out, "
                    "opts, st);\n",
                    s->prefix, m->upper);
                sb_printf(c, "    free(base);\n");
            } else {
                sb_printf(c,
                          "ferry_rpc_code_t %s(ferry_rpc_client_t *c, const %s *req, %s **resp,\n"
                          "    const ferry_rpc_call_opts_t *opts, ferry_rpc_status_t *st)\n{\n",
                          m->fn, m->in_c, m->out_c);
                sb_printf(c, "    ProtobufCMessage *out = NULL;\n    ferry_rpc_code_t code;\n\n");
                sb_printf(c, "    pthread_once(&json_once, json_register);\n");
                sb_printf(
                    c,
                    "    code = ferry_rpc_client_unary(c, &%s_desc.methods[%s], req ? &req->base : NULL, "
                    "&out, opts, st);\n",
                    s->prefix, m->upper);
            }
            sb_printf(c,
                      "    if (resp != NULL) {\n        *resp = (%s *)out;\n    } else if (out != NULL) {\n"
                      "        protobuf_c_message_free_unpacked(out, NULL);\n    }\n    return code;\n}\n",
                      m->out_c);
        }
    }
}

/* ---- entry ---------------------------------------------------------------- */

int gen_file(const Google__Protobuf__Compiler__CodeGeneratorRequest *req,
             const Google__Protobuf__FileDescriptorProto *fd, gen_out_t outs[GEN_OUTS_PER_FILE], char *err,
             size_t err_size)
{
    static const char *const suffix[GEN_OUTS_PER_FILE] = {
        ".ferry.h", ".ferry.c", ".ferry-server.h", ".ferry-server.c", ".ferry-client.h", ".ferry-client.c"};
    ctx_t cx = {0};
    int rc = -1;

    cx.req = req;
    cx.fd = fd;
    cx.err = err;
    cx.err_size = err_size;
    if (fd->name == NULL) {
        snprintf(err, err_size, "a file in the request has no name");
        goto out;
    }
    if (build_model(&cx) != 0) {
        goto out;
    }
    for (size_t i = 0; i < GEN_OUTS_PER_FILE; i++) {
        if ((size_t)snprintf(outs[i].name, sizeof(outs[i].name), "%s%s", cx.stem, suffix[i]) >=
            sizeof(outs[i].name)) {
            fail(&cx, "output name too long");
            goto out;
        }
    }
    emit_core_h(&cx, &outs[0].text);
    emit_core_c(&cx, &outs[1].text);
    emit_server_h(&cx, &outs[2].text);
    emit_server_c(&cx, &outs[3].text);
    emit_client_h(&cx, &outs[4].text);
    emit_client_c(&cx, &outs[5].text);
    for (size_t i = 0; i < GEN_OUTS_PER_FILE; i++) {
        if (outs[i].text.failed) {
            fail(&cx, "%s: output over %u bytes or out of memory", outs[i].name, GEN_FILE_MAX);
            goto out;
        }
    }
    rc = 0;
out:
    free_model(&cx);
    return rc;
}
