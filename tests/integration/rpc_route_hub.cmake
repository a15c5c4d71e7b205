# ferryd with one event loop: /healthz and the signed-URL routes answer while a chunk
# PUT's write is held on a worker (test hook FERRY_PAUSE_AT=hub.upload.write).
ferry_add_script_test(rpc_route_hub_test ${CMAKE_CURRENT_LIST_DIR}/rpc_route_hub_test.sh LABELS integration
    TIMEOUT 120)
