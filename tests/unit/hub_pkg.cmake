# Pure decisions of the hub's package / release / task modules (lib/hub/hub_pkg.h).
ferry_add_check_test(hub_pkg_unit_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/hub_pkg_test.c
                     LIBS ferry_hub ferry_store ferry_idl_server ferry_core)
target_include_directories(hub_pkg_unit_test PRIVATE ${CMAKE_SOURCE_DIR}/lib/hub)
