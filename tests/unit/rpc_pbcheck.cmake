# ferry_pb_check(): the wire-format string check run before protobuf-c unpacks
# (lib/rpc/common/pbcheck.c). Uses the JSON codec's test proto (tests/unit/json.cmake).
if(TARGET jsontest_proto)
    ferry_add_check_test(rpc_pbcheck_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/rpc_pbcheck_test.c
        LIBS jsontest_proto ferry_rpc)
endif()
