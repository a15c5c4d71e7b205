# libFuzzer target for the agent's manifest verifier (agent/daemon/verify.c, built from
# its source so it does not depend on the rest of ferry_agentd). The target signs each
# input with its own key, so the decoder and every TUF rule see arbitrary bytes; its
# seed corpus (packed PackageManifest messages and near misses) is replayed as a test.
if(COMMAND ferry_add_fuzz_target AND TARGET ferry_model AND TARGET ferry_idl)
    ferry_add_fuzz_target(agentd_verify_fuzz
        SOURCES ${CMAKE_CURRENT_LIST_DIR}/agentd_verify_fuzz.c ${CMAKE_SOURCE_DIR}/agent/daemon/verify.c
        LIBS ferry_model ferry_rpc ferry_idl ferry_core CORPUS ${CMAKE_CURRENT_LIST_DIR}/corpus/agentd_verify)
    foreach(t agentd_verify_fuzz_replay agentd_verify_fuzz)
        if(TARGET ${t})
            target_include_directories(${t} PRIVATE ${CMAKE_SOURCE_DIR}/agent/daemon)
        endif()
    endforeach()
endif()
