# Unit tests of the hub's auth building blocks: token format/parse/verify, role policy.
ferry_add_check_test(hub_admin_unit_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/hub_admin_unit_test.c
    LIBS ferry_hub ferry_idl_server ferry_store ferry_core PkgConfig::SQLITE)
target_include_directories(hub_admin_unit_test PRIVATE ${CMAKE_SOURCE_DIR}/lib/hub)
