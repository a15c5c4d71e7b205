# The agent daemon's multi-source downloader (agent/daemon/download.c, built from its
# source so it does not depend on the rest of ferry_agentd) over the real transfer
# client, against HTTP/1.1 servers written in the test: fallback in priority order,
# resume across sources, corrupt sources, kept partials, disk check, cancellation.
if(TARGET ferry_rpc_client)
    ferry_add_check_test(agentd_download_test
        SOURCES ${CMAKE_CURRENT_LIST_DIR}/agentd_download_test.c ${CMAKE_SOURCE_DIR}/agent/daemon/download.c
        LIBS ferry_rpc_client ferry_core Threads::Threads LABELS integration TIMEOUT 300)
    target_include_directories(agentd_download_test PRIVATE ${CMAKE_SOURCE_DIR}/agent/daemon)
endif()
