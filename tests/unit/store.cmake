ferry_add_check_test(store_db_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/store_db_test.c LIBS ferry_store)
