ferry_add_check_test(store_db_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/store_db_test.c LIBS ferry_store)
ferry_add_check_test(store_blob_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/store_blob_test.c LIBS ferry_store)
