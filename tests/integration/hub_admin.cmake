# The hub's bootstrap, auth, tree, tokens, storage configuration and audit, driven
# over real RPC on loopback through the generated client stubs.

# ferry_hub_harness: an in-process ferryd (hub + RPC server + clients) for every hub
# integration test (see tests/support/hub_harness.h). Defined once, here.
if(NOT TARGET ferry_hub_harness)
    add_library(ferry_hub_harness STATIC ${CMAKE_SOURCE_DIR}/tests/support/hub_harness.c)
    target_include_directories(ferry_hub_harness PUBLIC ${CMAKE_SOURCE_DIR}/tests/support)
    target_link_libraries(ferry_hub_harness PUBLIC ferry_hub ferry_idl_client ferry_rpc_client ferry_rpc_server
                          PkgConfig::SQLITE)
endif()

if(EXISTS ${CMAKE_CURRENT_LIST_DIR}/hub_admin_test.c)
    ferry_add_check_test(hub_admin_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/hub_admin_test.c
        LIBS ferry_hub_harness ferry_store ferry_core PkgConfig::SQLITE Threads::Threads
        LABELS integration TIMEOUT 300 ENV "LSAN_OPTIONS=suppressions=${CMAKE_SOURCE_DIR}/tests/lsan.supp")
endif()
if(TARGET hub_admin_test)
    target_include_directories(hub_admin_test PRIVATE ${CMAKE_SOURCE_DIR}/lib/hub)
    target_link_libraries(hub_admin_test PRIVATE ferry_idl_server)
endif()
