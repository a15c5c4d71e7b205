# Agent daemon: node-config.json <-> ferry.v1.NodeConfig (agent/daemon/nodecfg.c), built
# from its source directly so it does not depend on the rest of ferry_agentd.
ferry_add_check_test(agentd_nodecfg_test
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/agentd_nodecfg_test.c ${CMAKE_SOURCE_DIR}/agent/daemon/nodecfg.c
    LIBS ferry_engine ferry_idl ferry_core ferry_test_support PkgConfig::JANSSON LABELS unit)
target_include_directories(agentd_nodecfg_test PRIVATE ${CMAKE_SOURCE_DIR}/agent/daemon)
