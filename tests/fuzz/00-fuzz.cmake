# Shared fuzzing helpers. (Named 00-* so tests/CMakeLists.txt's sorted glob includes it
# before the per-area tests/fuzz/<area>.cmake files that call it.)
#
# ferry_add_fuzz_target(<name> SOURCES <files...> [LIBS <libs...>] CORPUS <dir>)
#
#   SOURCES define the libFuzzer entry point
#       int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
#   (and optionally LLVMFuzzerInitialize). The entry point must not keep state between
#   inputs and must abort() when it finds an invariant broken.
#
#   Always builds <name>_replay = SOURCES + tests/fuzz/replay_main.c, a plain main()
#   that feeds every file of CORPUS (and of any file or directory given on its command
#   line) to the entry point once. It is registered with ctest (label fuzz-replay), so
#   the committed seed corpus and every crash reproducer added to it run in each CI
#   build, under ASan+UBSan when FERRY_SANITIZE=ON. Works with gcc and clang.
#
#   With -DFERRY_FUZZ=ON (clang only, see cmake/FerryWarnings.cmake) also builds <name>,
#   a real libFuzzer binary (-fsanitize=fuzzer). Typical run, from the build directory:
#       mkdir -p /tmp/<name>.corpus
#       tests/<name> -max_total_time=180 /tmp/<name>.corpus <CORPUS>
#   New inputs land in the first directory; copy the crash-* reproducer of every fixed
#   bug into CORPUS so the replay test keeps it fixed.
include_guard(GLOBAL)

set(FERRY_FUZZ_REPLAY_MAIN ${CMAKE_CURRENT_LIST_DIR}/replay_main.c)

function(ferry_add_fuzz_target name)
    cmake_parse_arguments(F "" "CORPUS" "SOURCES;LIBS" ${ARGN})
    if(NOT F_SOURCES OR NOT F_CORPUS)
        message(FATAL_ERROR "ferry_add_fuzz_target(${name}): SOURCES and CORPUS are required")
    endif()

    add_executable(${name}_replay ${F_SOURCES} ${FERRY_FUZZ_REPLAY_MAIN})
    target_link_libraries(${name}_replay PRIVATE ${F_LIBS})
    add_test(NAME ${name}_replay COMMAND ${name}_replay ${F_CORPUS})
    set_tests_properties(${name}_replay PROPERTIES LABELS fuzz-replay TIMEOUT 300)

    if(FERRY_FUZZ)
        add_executable(${name} ${F_SOURCES})
        target_link_libraries(${name} PRIVATE ${F_LIBS})
        target_link_options(${name} PRIVATE -fsanitize=fuzzer)
    endif()
endfunction()
