# The transfer client (lib/rpc/client/transfer.c) against a small HTTP/1.1 + TLS server
# written in the test (cut connections, ignored ranges, statuses, endless bodies,
# stalls, uploads), h2 over TLS through the RPC server runtime's plain routes, and,
# when the hub harness is built (hub_admin.cmake, included before this file: glob
# order), against a real in-process ferryd's signed blob URLs.
if(TARGET ferry_rpc_client)
    ferry_add_check_test(rpc_transfer_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/rpc_transfer_test.c
        LIBS ferry_rpc_client ferry_core OpenSSL::SSL Threads::Threads
        LABELS integration TIMEOUT 300)
    target_compile_definitions(rpc_transfer_test PRIVATE FERRY_TEST_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
    if(TARGET ferry_rpc_server)
        # h2 over TLS (ALPN) through the server runtime's plain-route API.
        target_link_libraries(rpc_transfer_test PRIVATE ferry_rpc_server)
        target_compile_definitions(rpc_transfer_test PRIVATE FERRY_XFER_TEST_H2=1)
    endif()
    if(TARGET ferry_hub_harness)
        target_link_libraries(rpc_transfer_test PRIVATE ferry_hub_harness ferry_hub ferry_store PkgConfig::SQLITE)
        target_include_directories(rpc_transfer_test PRIVATE ${CMAKE_SOURCE_DIR}/lib/hub)
        target_compile_definitions(rpc_transfer_test PRIVATE FERRY_XFER_TEST_HUB=1)
    endif()
endif()
