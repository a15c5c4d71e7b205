# Schema migrations applied to a database created at an older schema version (real SQLite file).
ferry_add_check_test(store_migrations_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/store_migrations_test.c
    LIBS ferry_store ferry_core PkgConfig::SQLITE)
