# Upgrade hooks on the server side (issue 11): `ferry task retry --skip HOOK_ID` through a real
# ferryd and a real agent daemon (role check, refusals change nothing, delivery to the agent).
ferry_add_script_test(hub_hooks_retry ${CMAKE_CURRENT_LIST_DIR}/hub_hooks_retry.sh LABELS integration TIMEOUT 300
                      ENV "FERRY_TESTD=$<TARGET_FILE:ferry-testd>")
