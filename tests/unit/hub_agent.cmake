# Pure rules of the hub's agent/report services (lib/hub/hub_agent.h).
ferry_add_check_test(hub_agent_unit_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/hub_agent_test.c
    LIBS ferry_hub ferry_store ferry_idl_server ferry_model ferry_core LABELS unit)
target_include_directories(hub_agent_unit_test PRIVATE ${CMAKE_SOURCE_DIR}/lib/hub)
