# Fleet management (issue 12): licences, node status, configuration distribution over
# real RPC on loopback (tests/support/hub_harness, a real SQLite file), and the `ferry`
# CLI's fleet commands through the real binary (fleet_cli_test.sh). Deferred: the
# harness target is defined in hub_admin.cmake, which the glob includes after this file.
function(ferry_fleet_tests)
    if(NOT TARGET ferry_hub_harness)
        return()
    endif()
    ferry_add_check_test(fleet_test SOURCES ${CMAKE_SOURCE_DIR}/tests/integration/fleet_test.c
        LIBS ferry_hub_harness ferry_hub ferry_store ferry_model ferry_idl_server ferry_idl_client ferry_core
             PkgConfig::SQLITE Threads::Threads
        LABELS integration TIMEOUT 300 ENV "LSAN_OPTIONS=suppressions=${CMAKE_SOURCE_DIR}/tests/lsan.supp")
    target_include_directories(fleet_test PRIVATE ${CMAKE_SOURCE_DIR}/lib/hub)
    if(TARGET ferry AND TARGET cli_test_server AND EXISTS ${CMAKE_SOURCE_DIR}/tests/integration/fleet_cli_test.sh)
        ferry_add_script_test(fleet_cli ${CMAKE_SOURCE_DIR}/tests/integration/fleet_cli_test.sh TIMEOUT 300
            ENV "FERRY_CLI=$<TARGET_FILE:ferry>;FERRY_CLI_TEST_SERVER=$<TARGET_FILE:cli_test_server>")
    endif()
    if(TARGET cli_test_server)
        ferry_add_script_test(fleet_deploy ${CMAKE_SOURCE_DIR}/tests/integration/fleet_deploy_test.sh TIMEOUT 120
            ENV "FERRY_CLI_TEST_SERVER=$<TARGET_FILE:cli_test_server>")
    endif()
    if(TARGET ferryd AND TARGET ferry)
        ferry_add_script_test(fleet_backup ${CMAKE_SOURCE_DIR}/tests/integration/fleet_backup_test.sh TIMEOUT 300
            ENV "FERRYD=$<TARGET_FILE:ferryd>;FERRY_CLI=$<TARGET_FILE:ferry>")
    endif()
endfunction()
cmake_language(DEFER CALL ferry_fleet_tests)
