# Upload hygiene: orphan partial files swept, AbortPackageUpload, quotas and the free-space reserve
# ferry_hub_harness comes from hub_admin.cmake (included before this file: glob order).
if(TARGET ferry_hub_harness)
    ferry_add_check_test(hub_uploads_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/hub_uploads_test.c
        LIBS ferry_hub_harness ferry_hub ferry_store ferry_idl_server ferry_idl_client ferry_test_support ferry_core
             PkgConfig::CURL PkgConfig::SQLITE PkgConfig::LIBZIP Threads::Threads
        LABELS integration TIMEOUT 300 ENV "LSAN_OPTIONS=suppressions=${CMAKE_SOURCE_DIR}/tests/lsan.supp")
    target_include_directories(hub_uploads_test PRIVATE ${CMAKE_SOURCE_DIR}/lib/hub)
endif()
