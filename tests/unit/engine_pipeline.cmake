# Unit tests of the engine's state machine, journal and pipeline (agent/engine).
ferry_add_check_test(engine_states_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/engine_states_test.c LIBS ferry_engine)
ferry_add_check_test(engine_journal_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/engine_journal_test.c
                     LIBS ferry_engine PkgConfig::SQLITE)
