# Tree writes through the handler frame (hub_frame_exec) on a real SQLite file: commit with
# the audit row, rollback with a failure row, nothing partial.
ferry_add_check_test(store_tree_frame_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/store_tree_frame_test.c ${CMAKE_SOURCE_DIR}/tests/support/store_fixture.c
    LIBS ferry_hub ferry_idl_server ferry_store ferry_core PkgConfig::SQLITE)
target_include_directories(store_tree_frame_test PRIVATE ${CMAKE_SOURCE_DIR}/lib/hub)
