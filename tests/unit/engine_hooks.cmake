# Engine side of the upgrade hooks: journal checkpoints and hook context, check queries
# (one integer, read-only, interrupted at the hook's timeout) on real SQLite files.
ferry_add_check_test(engine_hooks_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/engine_hooks_test.c
                     LIBS ferry_engine PkgConfig::SQLITE)
