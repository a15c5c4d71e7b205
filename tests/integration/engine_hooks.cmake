# Upgrade hooks (seed 002) through ferry-agent: real SQLite data, real scripts, a real
# service process, kill -9 between and inside hooks.
ferry_add_script_test(engine_hooks ${CMAKE_CURRENT_LIST_DIR}/engine_hooks.sh LABELS integration TIMEOUT 300)
