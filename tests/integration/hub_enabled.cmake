# One rule for "enabled" on node tokens (node, its store, its customer) across every
# node-authenticated method and Bind, cache included; real RPC on loopback.
# ferry_hub_harness comes from hub_admin.cmake (included before this file: glob order).
if(TARGET ferry_hub_harness)
    ferry_add_check_test(hub_enabled_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/hub_enabled_test.c
        LIBS ferry_hub_harness ferry_hub ferry_store ferry_model ferry_idl_server ferry_idl_client ferry_core
             PkgConfig::SQLITE Threads::Threads
        LABELS integration TIMEOUT 120 ENV "LSAN_OPTIONS=suppressions=${CMAKE_SOURCE_DIR}/tests/lsan.supp")
endif()
