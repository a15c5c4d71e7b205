# ferry-tray's windows under Xvfb (issue 10): tests/gui/tray_gui_test.c drives each window
# by widget name against a real `ferry-agent run` bound to a real ferryd; the script runs
# its phases on a private Xvfb display and D-Bus session and checks the server between
# them. Screenshots land in ${CMAKE_BINARY_DIR}/tray-shots (docs/img/tray-*.png come
# from there).
add_executable(tray_gui_test ${CMAKE_SOURCE_DIR}/tests/gui/tray_gui_test.c)
target_link_libraries(tray_gui_test PRIVATE ferry_tray_gtk)
ferry_add_script_test(tray_gui ${CMAKE_CURRENT_LIST_DIR}/tray_gui_test.sh TIMEOUT 900
                      ENV "FERRY_TESTD=$<TARGET_FILE:ferry-testd>;FERRY_TRAY=$<TARGET_FILE:ferry-tray>;FERRY_TRAY_GUI_TEST=$<TARGET_FILE:tray_gui_test>;FERRY_TRAY_SHOTS=${CMAKE_BINARY_DIR}/tray-shots")
