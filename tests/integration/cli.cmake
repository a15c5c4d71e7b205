# The `ferry` CLI through the real binary against a real hub (cli_test.sh), served by
# cli_test_server (the in-process hub harness). Deferred to the end of tests/ so the
# harness target (defined in hub_admin.cmake) exists whatever the include order.
function(ferry_cli_integration_tests)
    if(NOT TARGET ferry OR NOT TARGET ferry_hub_harness)
        return()
    endif()
    add_executable(cli_test_server ${CMAKE_SOURCE_DIR}/tests/integration/cli_test_server.c)
    target_link_libraries(cli_test_server PRIVATE ferry_hub_harness Threads::Threads)
    ferry_add_script_test(cli_integration ${CMAKE_SOURCE_DIR}/tests/integration/cli_test.sh TIMEOUT 600
        ENV "FERRY_CLI=$<TARGET_FILE:ferry>;FERRY_CLI_TEST_SERVER=$<TARGET_FILE:cli_test_server>")
endfunction()
cmake_language(DEFER CALL ferry_cli_integration_tests)
