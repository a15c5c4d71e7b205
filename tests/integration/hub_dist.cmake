# Distribution to nodes against a real in-process ferryd (tests/support/hub_harness):
# GetDownload sources (primary, customer storage, mirrors), manifests signed per task,
# mirror validation, download telemetry, node-config preview, offline export.
# ferry_hub_harness comes from hub_admin.cmake (included before this file: glob order).
if(TARGET ferry_hub_harness)
    ferry_add_check_test(hub_dist_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/hub_dist_test.c
        LIBS ferry_hub_harness ferry_hub ferry_store ferry_idl_server ferry_idl_client ferry_test_support ferry_core
             PkgConfig::CURL PkgConfig::SQLITE PkgConfig::LIBZIP Threads::Threads
        LABELS integration TIMEOUT 300 ENV "LSAN_OPTIONS=suppressions=${CMAKE_SOURCE_DIR}/tests/lsan.supp")
    target_include_directories(hub_dist_test PRIVATE ${CMAKE_SOURCE_DIR}/lib/hub)
endif()

# The real ferryd binary: `serve --manifest-ttl` bounds and effect on GetDownload's manifest.
ferry_add_script_test(hub_ferryd_manifest ${CMAKE_CURRENT_LIST_DIR}/hub_ferryd_manifest.sh LABELS integration)
