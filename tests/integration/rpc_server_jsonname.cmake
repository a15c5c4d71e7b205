# JSON side tables registered by the runtimes (generated client stubs, server register):
# a custom json_name round-trips between the C client and rpc_test_server (another
# process). After rpc_server.cmake (sorted glob), which defines rpc_test_server.
if(TARGET ferry_test_proto_client AND TARGET rpc_test_server)
    ferry_add_check_test(rpc_jsonname_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/rpc_jsonname_test.c
        LIBS ferry_test_proto_client LABELS integration TIMEOUT 120)
    target_compile_definitions(rpc_jsonname_test PRIVATE FERRY_RPC_TEST_SERVER="$<TARGET_FILE:rpc_test_server>")
    add_dependencies(rpc_jsonname_test rpc_test_server)
endif()
