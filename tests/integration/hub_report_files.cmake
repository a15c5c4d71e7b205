# Node file uploads under hostile use (issue 9): per-node quotas and the per-task file cap,
# over real RPC on loopback (tests/support/hub_harness), real SQLite, real signed-URL PUTs.
# ferry_hub_harness comes from hub_admin.cmake (included before this file: glob order).
if(TARGET ferry_hub_harness)
    ferry_add_check_test(hub_report_files_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/hub_report_files_test.c
        LIBS ferry_hub_harness ferry_hub ferry_store ferry_idl_server ferry_idl_client ferry_core
             PkgConfig::CURL PkgConfig::SQLITE Threads::Threads
        LABELS integration TIMEOUT 300 ENV "LSAN_OPTIONS=suppressions=${CMAKE_SOURCE_DIR}/tests/lsan.supp")
    target_include_directories(hub_report_files_test PRIVATE ${CMAKE_SOURCE_DIR}/lib/hub)
endif()
