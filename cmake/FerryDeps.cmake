# Every dependency comes from a Debian 12 package (scripts/install-deps.sh).
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(OpenSSL 3 REQUIRED)
find_package(ZLIB REQUIRED)

pkg_check_modules(PROTOBUFC REQUIRED IMPORTED_TARGET libprotobuf-c>=1.4)
pkg_check_modules(H2O REQUIRED IMPORTED_TARGET libh2o-evloop)
pkg_check_modules(JANSSON REQUIRED IMPORTED_TARGET jansson>=2.13)
pkg_check_modules(CURL REQUIRED IMPORTED_TARGET libcurl>=7.88)
pkg_check_modules(SQLITE REQUIRED IMPORTED_TARGET sqlite3>=3.35)
pkg_check_modules(LIBZIP REQUIRED IMPORTED_TARGET libzip>=1.7)
pkg_check_modules(CHECK IMPORTED_TARGET check>=0.15)

# libh2o-evloop.pc does not define H2O_USE_LIBUV=0; without it the headers assume
# the libuv ABI (see shared/notes/platform-facts.md).
set_property(TARGET PkgConfig::H2O APPEND PROPERTY INTERFACE_COMPILE_DEFINITIONS H2O_USE_LIBUV=0)

# FreeTDS ships no pkg-config file in Debian: find db-lib directly.
find_path(FREETDS_INCLUDE_DIR sybdb.h REQUIRED)
find_library(FREETDS_SYBDB_LIBRARY sybdb REQUIRED)
add_library(Ferry::freetds INTERFACE IMPORTED)
target_include_directories(Ferry::freetds INTERFACE ${FREETDS_INCLUDE_DIR})
target_link_libraries(Ferry::freetds INTERFACE ${FREETDS_SYBDB_LIBRARY})

find_program(PROTOC protoc REQUIRED)
find_program(PROTOC_C protoc-c REQUIRED)
# Where Debian keeps descriptor.proto, plugin.proto and the well-known types.
find_path(FERRY_PROTOBUF_INCLUDE google/protobuf/compiler/plugin.proto PATHS /usr/include REQUIRED)
