# protoc-gen-ferry tests (gen/). See tests/unit/gen_*.c.

# Generated stubs for the test IDL against recording fakes of the runtimes: the
# generated server/client sources are compiled in directly so the fakes replace
# ferry_rpc_server / ferry_rpc_client.
get_target_property(FERRY_TEST_PROTO_GEN ferry_test_proto FERRY_PROTO_GEN_DIR)
set_source_files_properties(${FERRY_TEST_PROTO_GEN}/ferrytest/v1/test.ferry-server.c
                            ${FERRY_TEST_PROTO_GEN}/ferrytest/v1/test.ferry-client.c PROPERTIES GENERATED ON)
ferry_add_check_test(gen_stubs_test
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/gen_stubs_test.c ${CMAKE_CURRENT_LIST_DIR}/gen_fake_runtime.c
            ${FERRY_TEST_PROTO_GEN}/ferrytest/v1/test.ferry-server.c
            ${FERRY_TEST_PROTO_GEN}/ferrytest/v1/test.ferry-client.c
    LIBS ferry_test_proto)
add_dependencies(gen_stubs_test ferry_test_proto)

# "A change in the IDL changes the stubs": runs protoc + the plugin on two versions of a proto.
ferry_add_check_test(gen_idl_change_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/gen_idl_change_test.c LIBS ferry_core)
target_compile_definitions(gen_idl_change_test PRIVATE FERRY_PROTOC="${PROTOC}"
    FERRY_PROTOC_GEN_FERRY="$<TARGET_FILE:protoc-gen-ferry>" FERRY_PROTOBUF_INCLUDE="${FERRY_PROTOBUF_INCLUDE}")
add_dependencies(gen_idl_change_test protoc-gen-ferry)

# The upstream health.proto goes through the same pipeline (ferry_idl is built by idl/).
if(TARGET grpc_health)
    ferry_add_check_test(gen_real_idl_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/gen_real_idl_test.c LIBS grpc_health)
endif()
