/*
 * protoc-gen-ferry: a protoc plugin. protoc writes a CodeGeneratorRequest to our
 * stdin; we answer with a CodeGeneratorResponse on stdout holding, for every file
 * to generate, X.ferry.{h,c} (method tables, JSON side tables), X.ferry-server.{h,c}
 * (typed server interfaces) and X.ferry-client.{h,c} (typed client stubs).
 *
 * Problems in the IDL are reported through CodeGeneratorResponse.error (protoc prints
 * them and fails); only I/O failures make the process exit non-zero.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugin.h"

/* A CodeGeneratorRequest larger than this is refused (Ferry's IDL is a few hundred KiB). */
#define REQUEST_MAX (64u * 1024u * 1024u)

static int read_all(FILE *in, uint8_t **out, size_t *out_len)
{
    size_t cap = 64 * 1024, len = 0;
    uint8_t *buf = malloc(cap);
    int rc = -1;

    if (buf == NULL) {
        goto out;
    }
    for (;;) {
        if (len == cap) {
            if (cap >= REQUEST_MAX) {
                goto out;
            }
            uint8_t *p = realloc(buf, cap * 2);
            if (p == NULL) {
                goto out;
            }
            buf = p;
            cap *= 2;
        }
        size_t n = fread(buf + len, 1, cap - len, in);
        len += n;
        if (n == 0) {
            if (ferror(in)) {
                goto out;
            }
            break;
        }
    }
    *out = buf;
    *out_len = len;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    return rc;
}

static const Google__Protobuf__FileDescriptorProto *
find_file(const Google__Protobuf__Compiler__CodeGeneratorRequest *req, const char *name)
{
    for (size_t i = 0; i < req->n_proto_file; i++) {
        if (req->proto_file[i]->name != NULL && strcmp(req->proto_file[i]->name, name) == 0) {
            return req->proto_file[i];
        }
    }
    return NULL;
}

int main(void)
{
    Google__Protobuf__Compiler__CodeGeneratorRequest *req = NULL;
    Google__Protobuf__Compiler__CodeGeneratorResponse resp =
        GOOGLE__PROTOBUF__COMPILER__CODE_GENERATOR_RESPONSE__INIT;
    Google__Protobuf__Compiler__CodeGeneratorResponse__File *files = NULL, **file_ptrs = NULL;
    gen_out_t *outs = NULL;
    size_t n_outs = 0;
    uint8_t *in = NULL, *packed = NULL;
    size_t in_len = 0;
    char err[1024] = "";
    int rc = 1;

    if (read_all(stdin, &in, &in_len) != 0) {
        fprintf(stderr, "protoc-gen-ferry: cannot read the request from stdin\n");
        goto out;
    }
    req = google__protobuf__compiler__code_generator_request__unpack(NULL, in_len, in);
    if (req == NULL) {
        fprintf(stderr, "protoc-gen-ferry: stdin is not a CodeGeneratorRequest (run me through protoc)\n");
        goto out;
    }

    outs = calloc(req->n_file_to_generate * GEN_OUTS_PER_FILE + 1, sizeof(*outs));
    if (outs == NULL) {
        fprintf(stderr, "protoc-gen-ferry: out of memory\n");
        goto out;
    }
    for (size_t i = 0; i < req->n_file_to_generate && err[0] == '\0'; i++) {
        const Google__Protobuf__FileDescriptorProto *fd = find_file(req, req->file_to_generate[i]);
        if (fd == NULL) {
            snprintf(err, sizeof(err), "%s: not in the request's proto_file list", req->file_to_generate[i]);
            break;
        }
        if (gen_file(req, fd, outs + n_outs, err, sizeof(err)) != 0) {
            break;
        }
        n_outs += GEN_OUTS_PER_FILE;
    }

    if (err[0] != '\0') {
        resp.error = err;
    } else {
        files = calloc(n_outs + 1, sizeof(*files));
        file_ptrs = calloc(n_outs + 1, sizeof(*file_ptrs));
        if (files == NULL || file_ptrs == NULL) {
            fprintf(stderr, "protoc-gen-ferry: out of memory\n");
            goto out;
        }
        for (size_t i = 0; i < n_outs; i++) {
            google__protobuf__compiler__code_generator_response__file__init(&files[i]);
            files[i].name = outs[i].name;
            files[i].content = outs[i].text.buf ? outs[i].text.buf : (char *)"";
            file_ptrs[i] = &files[i];
        }
        resp.n_file = n_outs;
        resp.file = file_ptrs;
    }

    size_t len = google__protobuf__compiler__code_generator_response__get_packed_size(&resp);
    packed = malloc(len ? len : 1);
    if (packed == NULL) {
        fprintf(stderr, "protoc-gen-ferry: out of memory\n");
        goto out;
    }
    google__protobuf__compiler__code_generator_response__pack(&resp, packed);
    if (fwrite(packed, 1, len, stdout) != len || fflush(stdout) != 0) {
        fprintf(stderr, "protoc-gen-ferry: cannot write the response\n");
        goto out;
    }
    rc = 0;
out:
    for (size_t i = 0; outs != NULL && i < req->n_file_to_generate * GEN_OUTS_PER_FILE; i++) {
        sb_free(&outs[i].text);
    }
    free(outs);
    free(files);
    free(file_ptrs);
    free(packed);
    free(in);
    if (req != NULL) {
        google__protobuf__compiler__code_generator_request__free_unpacked(req, NULL);
    }
    return rc;
}
