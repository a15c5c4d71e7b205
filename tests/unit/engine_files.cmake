# Engine file handling: safe zip extraction, sync, backup/restore, retention.
# ferry_test_support is shared by every engine test (the pipeline's too): defined once.
if(NOT TARGET ferry_test_support)
    add_library(ferry_test_support STATIC ${CMAKE_SOURCE_DIR}/tests/support/ferry_test_util.c)
    target_include_directories(ferry_test_support PUBLIC ${CMAKE_SOURCE_DIR}/tests/support)
    target_link_libraries(ferry_test_support PUBLIC ferry_core PkgConfig::LIBZIP)
endif()

foreach(t zip sync backup retention)
    ferry_add_check_test(engine_${t}_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/engine_${t}_test.c
                         LIBS ferry_engine ferry_test_support PkgConfig::LIBZIP)
endforeach()
# Needs root for a small tmpfs; exits 77 (skipped) otherwise.
ferry_add_check_test(engine_diskfull_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/engine_diskfull_test.c
                     LIBS ferry_engine ferry_test_support PkgConfig::LIBZIP)
