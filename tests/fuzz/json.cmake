# libFuzzer target for the proto3 JSON decoder (lib/rpc/json); jsontest_proto comes
# from tests/unit/json.cmake.
ferry_add_fuzz_target(json_decode_fuzz SOURCES ${CMAKE_CURRENT_LIST_DIR}/json_decode_fuzz.c
    LIBS jsontest_proto ferry_rpc CORPUS ${CMAKE_CURRENT_LIST_DIR}/corpus/json_decode)
