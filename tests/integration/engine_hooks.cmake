# Upgrade hooks (seed 002) through ferry-agent: real SQLite data, real scripts, a real
# service process, kill -9 between and inside hooks.
ferry_add_script_test(engine_hooks ${CMAKE_CURRENT_LIST_DIR}/engine_hooks.sh LABELS integration TIMEOUT 300)
# The same through the agent daemon and a real ferryd (commit-time refusal, post_upgrade in
# the background, resume after a stop).
ferry_add_script_test(engine_hooks_agentd ${CMAKE_CURRENT_LIST_DIR}/engine_hooks_agentd.sh TIMEOUT 300
                      ENV "FERRY_TESTD=$<TARGET_FILE:ferry-testd>")
