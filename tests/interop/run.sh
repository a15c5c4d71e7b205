#!/usr/bin/env bash
# Interop suite: third-party Connect / gRPC-Web clients (connect-es) and plain curl
# against Ferry's RPC runtime, served by the C test server on a loopback port.
#
#   FERRY_BUILD_DIR=build bash tests/interop/run.sh
#
# Works in $FERRY_BUILD_DIR/interop (npm packages, generated stubs), never in the
# source tree. Exits 77 (skipped) when a prerequisite is missing on this machine:
# node >= 20, npm, protoc, curl, the test server binary, or the npm registry (only
# when node_modules must be installed).
#
# Environment:
#   FERRY_BUILD_DIR        build directory (required; ctest sets it)
#   FERRY_SOURCE_DIR       source directory (default: two levels up from this script)
#   FERRY_RPC_TEST_SERVER  test server binary (default: searched in the build dir)
#                          (tests/integration/rpc_test_server.c; started with
#                          --host 127.0.0.1 --port 0 --port-file F)
#   FERRY_INTEROP_URL      use an already running server instead of starting one
#   FERRY_INTEROP_ARGS     extra arguments for `node --test` (e.g. --test-name-pattern=curl)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=${FERRY_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
build=${FERRY_BUILD_DIR:?FERRY_BUILD_DIR must name the build directory}
build=$(cd "$build" && pwd)

skip() {
    echo "SKIP: $*"
    exit 77
}

for tool in node npm protoc curl; do
    command -v "$tool" >/dev/null 2>&1 || skip "'$tool' is not installed"
done
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || skip "node $(node --version) is too old (need >= 20)"

# --- the server --------------------------------------------------------------
server=${FERRY_RPC_TEST_SERVER:-}
if [ -z "$server" ] && [ -z "${FERRY_INTEROP_URL:-}" ]; then
    for cand in "$build/tests/integration/rpc_test_server" "$build/tests/rpc_test_server" "$build/rpc_test_server"; do
        if [ -x "$cand" ]; then server=$cand; break; fi
    done
    if [ -z "$server" ]; then
        server=$(find "$build" -maxdepth 4 -type f -name 'rpc_test_server' -perm -u+x 2>/dev/null | head -n1 || true)
    fi
    [ -n "$server" ] || skip "the RPC test server (rpc_test_server) is not built in $build"
fi

# --- the node project ----------------------------------------------------------
work="$build/interop"
mkdir -p "$work"
cp "$here/package.json" "$here/package-lock.json" "$here/reference-server.mjs" "$work/"
rm -rf "$work/test" "$work/proto"
cp -R "$here/test" "$here/proto" "$work/"

stamp="$work/node_modules/.ferry-lock.sha256"
want=$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "installing npm packages (npm ci) in $work"
    rm -rf "$work/node_modules"
    log="$work/npm-ci.log"
    if ! (cd "$work" && npm ci --no-audit --no-fund >"$log" 2>&1); then
        cat "$log"
        if grep -Eq 'ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ENETUNREACH|network' "$log"; then
            skip "the npm registry is unreachable; cannot install the interop clients"
        fi
        echo "FAIL: npm ci failed"
        exit 1
    fi
    echo "$want" >"$stamp"
fi

# --- stubs, generated from the same IDL the C side uses ------------------------
gen="$work/gen"
rm -rf "$gen"
mkdir -p "$gen"
protoc --plugin=protoc-gen-es="$work/node_modules/.bin/protoc-gen-es" \
    --es_out="$gen" --es_opt=target=js,import_extension=js \
    -I "$src/tests/proto" -I "$src/idl" -I "$work/proto" -I /usr/include \
    ferrytest/v1/test.proto grpc/health/v1/health.proto ferryinterop/error_info.proto
# Generated modules resolve @bufbuild/protobuf from their own directory upwards.
[ -e "$gen/node_modules" ] || ln -s ../node_modules "$gen/node_modules"
export FERRY_INTEROP_GEN="$gen"

# --- start the server on a free loopback port -----------------------------------
server_pid=""
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT INT TERM

if [ -z "${FERRY_INTEROP_URL:-}" ]; then
    # Port 0: the server picks a free loopback port and writes it to the port file.
    port_file="$work/server.port"
    server_log="$work/server.log"
    rm -f "$port_file"
    "$server" --host 127.0.0.1 --port 0 --port-file "$port_file" >"$server_log" 2>&1 &
    server_pid=$!
    for _ in $(seq 150); do
        [ -s "$port_file" ] && break
        kill -0 "$server_pid" 2>/dev/null || { cat "$server_log"; echo "FAIL: test server exited"; exit 1; }
        sleep 0.1
    done
    [ -s "$port_file" ] || { cat "$server_log"; echo "FAIL: test server did not write $port_file"; exit 1; }
    port=$(tr -dc '0-9' <"$port_file")
    export FERRY_INTEROP_URL="http://127.0.0.1:$port"
fi
echo "server: $FERRY_INTEROP_URL"

# --- run -------------------------------------------------------------------------
cd "$work"
# shellcheck disable=SC2086
node --test --test-reporter=spec ${FERRY_INTEROP_ARGS:-} test/rpc.test.mjs test/curl.test.mjs
