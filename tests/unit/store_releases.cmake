ferry_add_check_test(store_releases_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/store_releases_test.c ${CMAKE_SOURCE_DIR}/tests/support/store_fixture.c LIBS ferry_store ferry_model PkgConfig::SQLITE)
