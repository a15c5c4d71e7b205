# Interop suite: connect-es (Connect + gRPC-Web) and curl against the C test server.
# Needs node >= 20, npm (with registry access for the first `npm ci`), protoc, curl;
# skips (exit 77) when one is missing. See tests/interop/run.sh.
set(_ferry_interop_env "")
if(TARGET rpc_test_server)
    set(_ferry_interop_env ENV "FERRY_RPC_TEST_SERVER=$<TARGET_FILE:rpc_test_server>")
endif()
ferry_add_script_test(interop_connect_es ${CMAKE_CURRENT_LIST_DIR}/run.sh
    LABELS interop TIMEOUT 900 ${_ferry_interop_env})
