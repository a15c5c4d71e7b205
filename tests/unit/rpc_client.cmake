# Client runtime unit tests: the pure response decoder and helpers (no sockets).
if(TARGET ferry_rpc_client AND TARGET ferry_test_proto)
    ferry_add_check_test(rpc_client_decoder_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/rpc_client_decoder_test.c
        LIBS ferry_rpc_client ferry_test_proto)
    target_include_directories(rpc_client_decoder_test PRIVATE ${CMAKE_SOURCE_DIR}/lib/rpc/client)
endif()
