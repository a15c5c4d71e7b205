# Rollouts in waves and maintenance windows (issue 13): the pure rules (ferry/model/window.h)
# and the rollout repository (ferry/store/waves.h) against a real SQLite file.
ferry_add_check_test(store_waves_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/store_waves_test.c ${CMAKE_SOURCE_DIR}/tests/support/store_fixture.c LIBS ferry_store ferry_model PkgConfig::SQLITE)
