# Pure protocol functions of the RPC server (lib/rpc/server/wire.c).
if(TARGET ferry_rpc_server)
    ferry_add_check_test(rpc_server_wire_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/rpc_server_wire_test.c
        LIBS ferry_rpc_server)
    target_include_directories(rpc_server_wire_test PRIVATE ${CMAKE_SOURCE_DIR}/lib/rpc/server)
endif()
