/*
 * protoc-gen-ferry internals: a bounded string builder, protoc-c's name mangling,
 * and the emitter. Not a public API; only the plugin's own sources include this.
 */
#ifndef FERRY_GEN_PLUGIN_H
#define FERRY_GEN_PLUGIN_H

#include <stdarg.h>
#include <stddef.h>

#include "google/protobuf/compiler/plugin.pb-c.h"

/* Hard caps: a generated file and an identifier never exceed these. */
#define GEN_FILE_MAX  (32u * 1024u * 1024u)
#define GEN_IDENT_MAX 512u

/* Growable text buffer; once an append fails (cap or OOM) it stays failed. */
typedef struct sb {
    char *buf;
    size_t len;
    size_t cap;
    int failed;
} sb_t;

void sb_printf(sb_t *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_free(sb_t *sb);

/* protoc-c 1.4.1's mangling, mirrored exactly (c_helpers.cc):
 *   name_to_c("ferry.v1.CheckInRequest")   -> "Ferry__V1__CheckInRequest"
 *   name_to_lower("ferry.v1.CheckInRequest") -> "ferry__v1__check_in_request"
 *   camel_to_lower("MyHTTPService")         -> "my_httpservice"
 * A leading '.' (protoc's fully-qualified form) is ignored. Return 0, or -1 when the
 * result would not fit |n| bytes. */
int name_to_c(const char *full, char *out, size_t n);
int name_to_lower(const char *full, char *out, size_t n);
int camel_to_lower(const char *s, char *out, size_t n);

/* "ferry.v1" + "AgentService" -> "ferry_v1_agent_service" (our own identifiers). */
int service_prefix(const char *package, const char *service, char *out, size_t n);

/* "ferry/v1/agent.proto" -> "ferry_v1_agent_proto": every non-alphanumeric -> '_'. */
int file_ident(const char *path, char *out, size_t n);

/* ASCII upper-casing in place. */
void str_upper(char *s);

/* True when |s| is a C11 keyword (struct members named after methods must avoid them). */
int is_c_keyword(const char *s);

/* One generated output file. */
typedef struct gen_out {
    char name[GEN_IDENT_MAX];
    sb_t text;
} gen_out_t;

/* Number of files emitted per .proto: .ferry.{h,c}, .ferry-server.{h,c}, .ferry-client.{h,c}. */
#define GEN_OUTS_PER_FILE 6

/*
 * Generates the six outputs of |fd| (a file_to_generate of |req|). Returns 0, or -1
 * with a message in |err| (naming the proto file and the problem).
 */
int gen_file(const Google__Protobuf__Compiler__CodeGeneratorRequest *req,
             const Google__Protobuf__FileDescriptorProto *fd, gen_out_t outs[GEN_OUTS_PER_FILE], char *err,
             size_t err_size);

#endif
