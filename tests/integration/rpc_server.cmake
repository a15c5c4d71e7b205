# The RPC server runtime against real clients (curl, nghttp) on loopback.
if(TARGET ferry_test_proto_server AND TARGET ferry_health)
    # The test server binary: also used by the client-runtime, interop and bench scripts.
    add_executable(rpc_test_server ${CMAKE_CURRENT_LIST_DIR}/rpc_test_server.c)
    target_link_libraries(rpc_test_server PRIVATE ferry_test_proto_server ferry_health ferry_core)

    ferry_add_script_test(rpc_server_integration ${CMAKE_CURRENT_LIST_DIR}/rpc_server_test.sh
        LABELS integration TIMEOUT 300
        ENV "RPC_TEST_SERVER=$<TARGET_FILE:rpc_test_server>;FERRYD=$<TARGET_FILE:ferryd>")

    # Regression: loop sockets created on the main thread shared its h2o buffer cache.
    ferry_add_script_test(rpc_threads_regression ${CMAKE_CURRENT_LIST_DIR}/rpc_threads_regression_test.sh
        LABELS integration TIMEOUT 600
        ENV "RPC_TEST_SERVER=$<TARGET_FILE:rpc_test_server>")
endif()
