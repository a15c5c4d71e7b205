ferry_add_check_test(store_packages_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/store_packages_test.c ${CMAKE_SOURCE_DIR}/tests/support/store_fixture.c LIBS ferry_store PkgConfig::SQLITE)
