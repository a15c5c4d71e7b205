# The reports repository (progress, timings, node files) against a real SQLite file.
ferry_add_check_test(store_reports_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/store_reports_test.c ${CMAKE_SOURCE_DIR}/tests/support/store_fixture.c
    LIBS ferry_store ferry_model ferry_core PkgConfig::SQLITE)
