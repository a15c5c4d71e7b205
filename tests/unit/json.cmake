# JSON codec tests (lib/rpc/json). The test proto and the well-known types it imports
# are compiled here with protoc-c alone, so these tests depend on neither the stub
# generator nor ferry_wkt; the JSON side tables are written by hand in the tests.
# (json_decode_fuzz in tests/fuzz/json.cmake links the same library.)
get_filename_component(JSONTEST_TESTS ${CMAKE_CURRENT_LIST_DIR}/.. ABSOLUTE)
set(JSONTEST_GEN ${CMAKE_BINARY_DIR}/tests/jsontest.gen)
set(JSONTEST_WKT timestamp duration empty wrappers field_mask any)
set(JSONTEST_SRC ${JSONTEST_GEN}/jsontest/v1/json_test.pb-c.c ${JSONTEST_GEN}/jsontest/v1/json_test.pb-c.h)
set(JSONTEST_WKT_PROTOS "")
foreach(w ${JSONTEST_WKT})
    list(APPEND JSONTEST_SRC ${JSONTEST_GEN}/google/protobuf/${w}.pb-c.c ${JSONTEST_GEN}/google/protobuf/${w}.pb-c.h)
    list(APPEND JSONTEST_WKT_PROTOS ${FERRY_PROTOBUF_INCLUDE}/google/protobuf/${w}.proto)
endforeach()
add_custom_command(OUTPUT ${JSONTEST_SRC}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${JSONTEST_GEN}
    COMMAND ${PROTOC_C} -I${JSONTEST_TESTS}/proto -I${FERRY_PROTOBUF_INCLUDE} --c_out=${JSONTEST_GEN}
            ${JSONTEST_TESTS}/proto/jsontest/v1/json_test.proto ${JSONTEST_WKT_PROTOS}
    DEPENDS ${JSONTEST_TESTS}/proto/jsontest/v1/json_test.proto ${JSONTEST_WKT_PROTOS}
    COMMENT "protoc-c: jsontest/v1/json_test.proto + well-known types"
    VERBATIM)
add_library(jsontest_proto STATIC ${JSONTEST_SRC} ${JSONTEST_TESTS}/unit/json_test_tables.c)
target_include_directories(jsontest_proto PUBLIC ${JSONTEST_GEN} ${JSONTEST_TESTS}/unit)
target_link_libraries(jsontest_proto PUBLIC ferry_rpc PkgConfig::PROTOBUFC)
ferry_relax_warnings(jsontest_proto)

ferry_add_check_test(json_codec_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/json_codec_test.c LIBS jsontest_proto ferry_rpc)
ferry_add_check_test(json_errors_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/json_errors_test.c LIBS jsontest_proto ferry_rpc)
ferry_add_check_test(json_wkt_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/json_wkt_test.c LIBS jsontest_proto ferry_rpc)
