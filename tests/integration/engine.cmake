# Integration tests of the update engine through ferry-agent: real files, real SQLite
# databases, real zips and a real service process (tests/integration/engine_svc.sh).
ferry_add_script_test(engine_accept ${CMAKE_CURRENT_LIST_DIR}/engine_accept.sh LABELS integration TIMEOUT 300)
ferry_add_script_test(engine_hostile ${CMAKE_CURRENT_LIST_DIR}/engine_hostile.sh LABELS integration TIMEOUT 300)
ferry_add_script_test(engine_crash ${CMAKE_CURRENT_LIST_DIR}/engine_crash.sh LABELS integration TIMEOUT 600)
