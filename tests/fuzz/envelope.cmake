# libFuzzer target for the RPC server's request envelope reader (and header parsers);
# its seed corpus is replayed as an ordinary test in every build. Messages also go
# through ferry_pb_check() with jsontest_proto's types (from tests/unit/json.cmake).
if(COMMAND ferry_add_fuzz_target AND TARGET ferry_rpc_server)
    ferry_add_fuzz_target(envelope_reader_fuzz SOURCES ${CMAKE_CURRENT_LIST_DIR}/envelope_reader_fuzz.c
        LIBS ferry_rpc_server jsontest_proto CORPUS ${CMAKE_CURRENT_LIST_DIR}/corpus/envelope_reader)
    foreach(t envelope_reader_fuzz_replay envelope_reader_fuzz)
        if(TARGET ${t})
            target_include_directories(${t} PRIVATE ${CMAKE_SOURCE_DIR}/lib/rpc/server)
        endif()
    endforeach()
endif()
