# Transfer routes of the RPC server runtime (ferry/rpc_route.h): files with Range over
# HTTP/1.1 and h2c, offloaded uploads that never hold the event loop, a client gone
# while its body is being read on a worker, error replies. A real server on loopback,
# libcurl as the client.
if(TARGET ferry_rpc_server)
    ferry_add_check_test(rpc_route_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/rpc_route_test.c
        LIBS ferry_rpc_server ferry_core PkgConfig::CURL Threads::Threads
        LABELS integration TIMEOUT 300)
endif()
