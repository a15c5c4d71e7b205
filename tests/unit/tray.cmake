# ferry-tray's presenter (tray/presenter): every decision without a display or an agent.
ferry_add_check_test(tray_presenter_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/tray/tray_presenter_test.c
                     LIBS ferry_tray_presenter)
