# Engine operations: node config, GO splitter, SQL executors, service control,
# diagnostic file. ferry-testd is the real process the service tests (and the
# pipeline's acceptance tests) start and stop; tests find it in $FERRY_TESTD.
add_executable(ferry-testd ${CMAKE_SOURCE_DIR}/tests/support/ferry-testd.c)

set(FERRY_OPS_DIR ${CMAKE_CURRENT_LIST_DIR})
ferry_add_check_test(engine_sqlsplit_test SOURCES ${FERRY_OPS_DIR}/engine_sqlsplit_test.c LIBS ferry_engine)
ferry_add_check_test(engine_config_test SOURCES ${FERRY_OPS_DIR}/engine_config_test.c LIBS ferry_engine)
ferry_add_check_test(engine_sqlexec_test SOURCES ${FERRY_OPS_DIR}/engine_sqlexec_test.c
                     LIBS ferry_engine PkgConfig::SQLITE)
ferry_add_check_test(engine_mssql_test SOURCES ${FERRY_OPS_DIR}/engine_mssql_test.c LIBS ferry_engine)
# Needs a real SQL Server: runs only when FERRY_TEST_MSSQL holds a connection string.
ferry_add_check_test(engine_mssql_integration_test SOURCES ${FERRY_OPS_DIR}/engine_mssql_integration_test.c
                     LIBS ferry_engine LABELS integration)
ferry_add_check_test(engine_svcctl_test SOURCES ${FERRY_OPS_DIR}/engine_svcctl_test.c LIBS ferry_engine
                     TIMEOUT 120 ENV "FERRY_TESTD=$<TARGET_FILE:ferry-testd>")
add_dependencies(engine_svcctl_test ferry-testd)
ferry_add_check_test(engine_diag_test SOURCES ${FERRY_OPS_DIR}/engine_diag_test.c LIBS ferry_engine
                     PkgConfig::LIBZIP ENV "FERRY_TESTD=$<TARGET_FILE:ferry-testd>")
add_dependencies(engine_diag_test ferry-testd)
