# Web console tests (tests/web): vitest unit tests of the front end's own logic, and the
# Playwright browser test (Debian chromium + playwright-core) against a real ferryd with
# real agents. Both need the console built (target ferry_console); they skip (77) when it
# could not be (no npm registry).
if(TARGET ferry_console)
    add_test(NAME web_unit COMMAND bash -c
        "cd '${CMAKE_BINARY_DIR}/web' 2>/dev/null && [ -x node_modules/.bin/vitest ] && [ -d src/gen ] || { echo 'SKIP: console not built'; exit 77; }; exec node_modules/.bin/vitest run")
    set_tests_properties(web_unit PROPERTIES LABELS unit TIMEOUT 300 SKIP_RETURN_CODE 77)
    ferry_add_script_test(web_console_e2e ${CMAKE_CURRENT_LIST_DIR}/run-e2e.sh LABELS "integration;browser" TIMEOUT 900)
endif()

# ferryd's /console/ route on a console directory the test makes (no npm needed).
if(TARGET ferryd)
    ferry_add_script_test(web_console_serve ${CMAKE_CURRENT_LIST_DIR}/serve-test.sh TIMEOUT 120)
endif()
