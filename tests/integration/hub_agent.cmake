# The hub's agent/report services, streams and metrics over real RPC on loopback
# (tests/support/hub_harness), plus the crash test and the benchmark's load tools.
# ferry_hub_harness comes from hub_admin.cmake (included before this file: glob order).
if(TARGET ferry_hub_harness)
    ferry_add_check_test(hub_agent_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/hub_agent_test.c
        LIBS ferry_hub_harness ferry_hub ferry_store ferry_model ferry_idl_server ferry_idl_client ferry_core PkgConfig::CURL
             PkgConfig::SQLITE Threads::Threads
        LABELS integration TIMEOUT 300 ENV "LSAN_OPTIONS=suppressions=${CMAKE_SOURCE_DIR}/tests/lsan.supp")
    target_include_directories(hub_agent_test PRIVATE ${CMAKE_SOURCE_DIR}/lib/hub)
endif()

# kill -9 during report writes: every acknowledged report survives (skips until
# ferryd runs the hub: `ferryd init` / `serve --data-dir`).
ferry_add_script_test(hub_agent_crash ${CMAKE_CURRENT_LIST_DIR}/hub_agent_crash.sh LABELS integration slow)
