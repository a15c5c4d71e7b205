# Unit tests of the state machine (lib/model) and of the engine's journal and pipeline (agent/engine).
ferry_add_check_test(engine_states_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/engine_states_test.c LIBS ferry_model)
ferry_add_check_test(engine_journal_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/engine_journal_test.c
                     LIBS ferry_engine PkgConfig::SQLITE)
