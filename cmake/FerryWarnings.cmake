# Compiler flags shared by every target. POSIX 2008 + GNU extensions that glibc
# hides behind _GNU_SOURCE (pipe2, O_DIRECTORY, strcasestr...) are requested explicitly
# because CMAKE_C_EXTENSIONS is off.
add_compile_definitions(_GNU_SOURCE _FILE_OFFSET_BITS=64)
add_compile_options(-Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes
                    -Wno-unused-parameter -Wno-missing-field-initializers)
if(FERRY_WERROR)
    add_compile_options(-Werror)
endif()
if(FERRY_SANITIZE)
    add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
    add_link_options(-fsanitize=address,undefined)
endif()
if(FERRY_FUZZ)
    if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
        message(FATAL_ERROR "FERRY_FUZZ needs clang: configure with -DCMAKE_C_COMPILER=clang")
    endif()
    add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
    add_link_options(-fsanitize=address,undefined)
endif()

# Generated protobuf-c/plugin sources are not ours to lint: targets built from them
# call ferry_relax_warnings().
function(ferry_relax_warnings target)
    target_compile_options(${target} PRIVATE -Wno-missing-prototypes -Wno-strict-prototypes -Wno-shadow
                           -Wno-unused-but-set-variable)
endfunction()
