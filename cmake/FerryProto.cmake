# ferry_proto_library(<name> ROOT <dir> PROTOS <paths relative to ROOT...> [DEPENDS <proto libs...>])
#
# Generates, at build time, C code for .proto files and wraps it in three static
# libraries so each binary links only the runtime it needs (the agent never links h2o):
#
#   <name>         protoc-c messages + protoc-gen-ferry method tables and JSON side
#                  tables (X.pb-c.c, X.ferry.c); links ferry_rpc.
#   <name>_server  typed server interfaces (X.ferry-server.c); links ferry_rpc_server.
#   <name>_client  typed client stubs (X.ferry-client.c); links ferry_rpc_client.
#
# The server/client libraries exist only when their runtime target does. DEPENDS names
# other ferry_proto_library targets whose .proto files these import; their roots are
# added to protoc's search path and their generated headers to the include path.
# google/protobuf/* is always on the search path (FERRY_PROTOBUF_INCLUDE); link
# ferry_wkt (DEPENDS ferry_wkt) when importing the well-known types.
#
# Generated files land in ${CMAKE_CURRENT_BINARY_DIR}/<name>.gen (target property
# FERRY_PROTO_GEN_DIR) and are never committed.
include_guard(GLOBAL)

function(ferry_proto_library name)
    cmake_parse_arguments(P "" "ROOT" "PROTOS;DEPENDS" ${ARGN})
    if(NOT P_ROOT OR NOT P_PROTOS)
        message(FATAL_ERROR "ferry_proto_library(${name}): ROOT and PROTOS are required")
    endif()
    get_filename_component(root "${P_ROOT}" ABSOLUTE)
    set(out "${CMAKE_CURRENT_BINARY_DIR}/${name}.gen")

    # Search path: our root, the roots of the libraries we import from, then the
    # system copy of google/protobuf/*.
    set(roots "${root}")
    set(dep_protos "")
    foreach(dep ${P_DEPENDS})
        get_target_property(dep_roots ${dep} FERRY_PROTO_ROOTS)
        get_target_property(dep_files ${dep} FERRY_PROTO_FILES)
        list(APPEND roots ${dep_roots})
        list(APPEND dep_protos ${dep_files})
    endforeach()
    list(APPEND roots "${FERRY_PROTOBUF_INCLUDE}")
    list(REMOVE_DUPLICATES roots)
    set(inc "")
    foreach(r ${roots})
        list(APPEND inc "-I${r}")
    endforeach()

    set(abs_protos "")
    set(core_src "")
    set(server_src "")
    set(client_src "")
    foreach(p ${P_PROTOS})
        list(APPEND abs_protos "${root}/${p}")
        string(REGEX REPLACE "\\.proto$" "" stem "${p}")
        list(APPEND core_src "${out}/${stem}.pb-c.c" "${out}/${stem}.pb-c.h")
        if(TARGET protoc-gen-ferry)
            list(APPEND core_src "${out}/${stem}.ferry.c" "${out}/${stem}.ferry.h")
            list(APPEND server_src "${out}/${stem}.ferry-server.c" "${out}/${stem}.ferry-server.h")
            list(APPEND client_src "${out}/${stem}.ferry-client.c" "${out}/${stem}.ferry-client.h")
        endif()
    endforeach()

    set(commands COMMAND ${CMAKE_COMMAND} -E make_directory "${out}"
                 COMMAND ${PROTOC_C} ${inc} "--c_out=${out}" ${abs_protos})
    set(deps ${abs_protos} ${dep_protos})
    if(TARGET protoc-gen-ferry)
        list(APPEND commands COMMAND ${PROTOC} ${inc} "--plugin=protoc-gen-ferry=$<TARGET_FILE:protoc-gen-ferry>"
             "--ferry_out=${out}" ${abs_protos})
        list(APPEND deps protoc-gen-ferry)
    endif()
    add_custom_command(OUTPUT ${core_src} ${server_src} ${client_src}
                       ${commands}
                       DEPENDS ${deps}
                       COMMENT "protoc-c + protoc-gen-ferry: ${name}"
                       VERBATIM)

    add_library(${name} STATIC ${core_src})
    target_include_directories(${name} PUBLIC "${out}")
    target_link_libraries(${name} PUBLIC ferry_rpc ${P_DEPENDS})
    set_target_properties(${name} PROPERTIES POSITION_INDEPENDENT_CODE ON FERRY_PROTO_GEN_DIR "${out}"
                          FERRY_PROTO_ROOTS "${roots}" FERRY_PROTO_FILES "${abs_protos}")
    # protoc-c's output is not ours to lint (it shares this library with X.ferry.c); the
    # _server/_client libraries hold only protoc-gen-ferry output and build with full warnings.
    ferry_relax_warnings(${name})

    if(server_src AND TARGET ferry_rpc_server)
        add_library(${name}_server STATIC ${server_src})
        target_link_libraries(${name}_server PUBLIC ${name} ferry_rpc_server)
    endif()
    if(client_src AND TARGET ferry_rpc_client)
        add_library(${name}_client STATIC ${client_src})
        target_link_libraries(${name}_client PUBLIC ${name} ferry_rpc_client)
    endif()
endfunction()
