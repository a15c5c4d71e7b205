# Pure parts of distribution to nodes: connection-string and node-config masking, the
# mapping of the engine's node-config.json onto ferry.v1.NodeConfig, mirror rules, and
# the schema migrations of a database made by the first release.
ferry_add_check_test(hub_dist_unit_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/hub_dist_unit_test.c
    LIBS ferry_hub ferry_store ferry_idl_server ferry_core PkgConfig::SQLITE PkgConfig::JANSSON)
target_include_directories(hub_dist_unit_test PRIVATE ${CMAKE_SOURCE_DIR}/lib/hub)
