#!/usr/bin/env bash
# Builds the web console into BUILD/web/dist (served by ferryd at /console/).
#
#   web/build.sh BUILD_DIR [STAMP]    (CMake target ferry_console runs this; STAMP is
#                                      touched after a successful build)
#
# Works in BUILD/web, never in the source tree: copies web/ there, installs the npm
# packages of the committed lock file (`npm ci`, only when the lock changed), generates
# the TypeScript stubs from idl/ with protoc + protoc-gen-es (never hand-written request
# code), type-checks (vue-tsc), bundles (vite) and gzips the text assets (ferryd sends
# NAME.gz to clients that accept gzip).
#
# When node/npm/protoc are missing or the npm registry is unreachable the console is not
# built: a warning is printed and the script exits 0, so the C build still succeeds;
# ferryd then logs that no console is served and the browser test skips. Set
# FERRY_CONSOLE_REQUIRED=1 to make that an error. Any other failure (a type error, a
# failing bundle) fails the build.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/.." && pwd)
build=${1:?usage: web/build.sh BUILD_DIR [STAMP]}
done_stamp=${2:-}
mkdir -p "$build"
build=$(cd "$build" && pwd)
work="$build/web"

soft_fail() {
    if [ "${FERRY_CONSOLE_REQUIRED:-0}" = 1 ]; then
        echo "web/build.sh: ERROR: $*" >&2
        exit 1
    fi
    echo "web/build.sh: WARNING: $* -- the web console is not built (ferryd will not serve /console/)" >&2
    rm -f "$done_stamp" # not built: try again on the next build
    exit 0
}

for tool in node npm protoc; do
    command -v "$tool" >/dev/null 2>&1 || soft_fail "'$tool' is not installed (scripts/install-deps.sh)"
done
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || soft_fail "node $(node --version) is too old (need >= 20)"

mkdir -p "$work"
cp "$here/package.json" "$here/package-lock.json" "$here/index.html" "$here/vite.config.ts" \
    "$here/tsconfig.json" "$work/"
rm -rf "$work/src.new"
cp -R "$here/src" "$work/src.new"
rm -rf "$work/src.new/gen"
[ -d "$work/src/gen" ] && mv "$work/src/gen" "$work/src.new/gen"
rm -rf "$work/src"
mv "$work/src.new" "$work/src"
# Unit tests live in tests/web/unit; vitest runs them from here (they import "@/...").
rm -rf "$work/tests"
if [ -d "$src/tests/web/unit" ]; then
    mkdir -p "$work/tests"
    cp -R "$src/tests/web/unit" "$work/tests/unit"
fi

stamp="$work/node_modules/.ferry-lock.sha256"
want=$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "web/build.sh: installing npm packages (npm ci) in $work"
    rm -rf "$work/node_modules"
    log="$work/npm-ci.log"
    if ! (cd "$work" && npm ci --no-audit --no-fund >"$log" 2>&1); then
        cat "$log" >&2
        if grep -Eq 'ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ENETUNREACH|network' "$log"; then
            soft_fail "the npm registry is unreachable"
        fi
        echo "web/build.sh: npm ci failed" >&2
        exit 1
    fi
    echo "$want" >"$stamp"
fi

# Stubs from the published IDL: the same .proto files the C side compiles.
gen="$work/src/gen.new"
rm -rf "$gen"
mkdir -p "$gen"
protoc --plugin=protoc-gen-es="$work/node_modules/.bin/protoc-gen-es" --es_out="$gen" --es_opt=target=ts \
    -I "$src/idl" -I /usr/include ferry/v1/common.proto ferry/v1/admin.proto
rm -rf "$work/src/gen"
mv "$gen" "$work/src/gen"

cd "$work"
echo "web/build.sh: type-checking (vue-tsc)"
node_modules/.bin/vue-tsc --noEmit -p tsconfig.json
echo "web/build.sh: bundling (vite)"
node_modules/.bin/vite build --logLevel warn
# Pre-compressed copies of the text files; the originals stay for clients without gzip.
find dist -type f \( -name '*.js' -o -name '*.css' -o -name '*.html' -o -name '*.svg' -o -name '*.json' \) \
    -size +1k -exec gzip -9 -k -n -f {} \;
echo "web/build.sh: console built in $work/dist ($(du -sh dist | cut -f1))"
[ -z "$done_stamp" ] || touch "$done_stamp"
