# The metrics figures repository against a real SQLite file.
ferry_add_check_test(store_metrics_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/store_metrics_test.c ${CMAKE_SOURCE_DIR}/tests/support/store_fixture.c
    LIBS ferry_store ferry_core PkgConfig::SQLITE)
