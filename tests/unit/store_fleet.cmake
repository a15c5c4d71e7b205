# The fleet repositories (licences, node status, configuration distribution) against a real SQLite file.
ferry_add_check_test(store_fleet_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/store_fleet_test.c ${CMAKE_SOURCE_DIR}/tests/support/store_fixture.c
    LIBS ferry_store ferry_core PkgConfig::SQLITE)
