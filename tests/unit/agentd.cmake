# The agent daemon's parts that need no network: decisions (core) and the durable
# store (outbox order and sequences across reopen).
set(FERRY_AGENTD_UDIR ${CMAKE_CURRENT_LIST_DIR})
ferry_add_check_test(agentd_core_test SOURCES ${FERRY_AGENTD_UDIR}/agentd_core_test.c LIBS ferry_agentd)
ferry_add_check_test(agentd_store_test SOURCES ${FERRY_AGENTD_UDIR}/agentd_store_test.c LIBS ferry_agentd
                     ferry_idl_client)
ferry_add_check_test(agentd_verify_rules_test SOURCES ${FERRY_AGENTD_UDIR}/agentd_verify_rules_test.c LIBS ferry_agentd
                     ferry_idl_client)
ferry_add_check_test(agentd_cfgplan_test SOURCES ${FERRY_AGENTD_UDIR}/agentd_cfgplan_test.c LIBS ferry_agentd
                     ferry_idl_client)
