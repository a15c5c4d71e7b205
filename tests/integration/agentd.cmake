# The agent daemon end to end: real ferryd, real `ferry-agent run` daemons, real
# service processes (ferry-testd), loopback only.
set(FERRY_AGENTD_IDIR ${CMAKE_CURRENT_LIST_DIR})
foreach(t agentd_push agentd_resilience agentd_crash agentd_download agentd_fleet agentd_fleet_license
          agentd_fleet_config agentd_waves)
    if(EXISTS ${FERRY_AGENTD_IDIR}/${t}_test.sh)
        ferry_add_script_test(${t} ${FERRY_AGENTD_IDIR}/${t}_test.sh TIMEOUT 600
                              ENV "FERRY_TESTD=$<TARGET_FILE:ferry-testd>")
    endif()
endforeach()
if(TEST agentd_fleet)
    set_tests_properties(agentd_fleet PROPERTIES LABELS "integration;slow")
endif()
