# `ferry` CLI unit tests: argument parsing, value parsers, output formatting,
# configuration precedence, upload state files. No server.
if(TARGET ferry_cli_lib)
    ferry_add_check_test(cli_unit_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/cli_unit_test.c LIBS ferry_cli_lib)
endif()
