# The C client against the real server runtime on loopback (TLS with a CA made at
# test time by gen-test-certs.sh, h2c via Upgrade, HTTP/1.1).
if(TARGET ferry_test_proto_client AND TARGET ferry_test_proto_server)
    ferry_add_check_test(rpc_client_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/rpc_client_test.c
        LIBS ferry_test_proto_client ferry_test_proto_server Threads::Threads
        LABELS integration TIMEOUT 300)
    target_compile_definitions(rpc_client_test PRIVATE FERRY_TEST_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
endif()
