/* Hand-written JSON side tables for tests/proto/jsontest/v1/json_test.proto (what
 * protoc-gen-ferry would emit), shared by the JSON unit tests and the fuzz target. */
#ifndef JSON_TEST_TABLES_H
#define JSON_TEST_TABLES_H

#include "ferry/rpc.h"
#include "jsontest/v1/json_test.pb-c.h"

/* Every message of json_test.proto except Unregistered (the fallback case). */
extern const ferry_json_file_info_t jsontest_json_file;

/* Registers jsontest_json_file (idempotent). */
void jsontest_register(void);

#endif
