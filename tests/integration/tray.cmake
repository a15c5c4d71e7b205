# ferry-tray's terminal mode end to end: a real ferryd, a real `ferry-agent run`, a real
# service process (ferry-testd), the tray binary as a site administrator runs it.
if(EXISTS ${CMAKE_CURRENT_LIST_DIR}/tray_cli_test.sh)
    ferry_add_script_test(tray_cli ${CMAKE_CURRENT_LIST_DIR}/tray_cli_test.sh TIMEOUT 600
                          ENV "FERRY_TESTD=$<TARGET_FILE:ferry-testd>;FERRY_TRAY=$<TARGET_FILE:ferry-tray>")
endif()
