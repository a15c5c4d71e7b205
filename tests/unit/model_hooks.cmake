# hooks.json (seed 002 upgrade hooks): parsing, validation of hostile manifests, the
# package manifest step shared by the server's commit and the agent's verification.
if(NOT TARGET ferry_test_support)
    add_library(ferry_test_support STATIC ${CMAKE_SOURCE_DIR}/tests/support/ferry_test_util.c)
    target_include_directories(ferry_test_support PUBLIC ${CMAKE_SOURCE_DIR}/tests/support)
    target_link_libraries(ferry_test_support PUBLIC ferry_core PkgConfig::LIBZIP)
endif()
ferry_add_check_test(model_hooks_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/model_hooks_test.c
                     LIBS ferry_model ferry_test_support PkgConfig::LIBZIP)
