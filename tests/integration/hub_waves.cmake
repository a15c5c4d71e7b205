# Rollouts in waves through the hub's real RPC services (tests/support/hub_harness):
# thresholds, automatic pause, resume, CheckIn of a later wave's node, promote refusals.
if(TARGET ferry_hub_harness)
    ferry_add_check_test(hub_waves_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/hub_waves_test.c
        LIBS ferry_hub_harness ferry_hub ferry_store ferry_model ferry_idl_server ferry_idl_client ferry_core
             PkgConfig::SQLITE Threads::Threads
        LABELS integration TIMEOUT 300 ENV "LSAN_OPTIONS=suppressions=${CMAKE_SOURCE_DIR}/tests/lsan.supp")
endif()
