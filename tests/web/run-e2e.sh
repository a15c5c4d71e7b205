#!/usr/bin/env bash
# Browser test of the web console: Debian's chromium (headless, driven by npm
# playwright-core; no browser download) against a real ferryd serving the built console,
# with real `ferry-agent run` daemons applying real packages. See e2e/console.e2e.mjs.
#
#   FERRY_BUILD_DIR=build bash tests/web/run-e2e.sh
#
# Environment:
#   FERRY_BUILD_DIR        build directory (required; ctest sets it)
#   FERRY_SOURCE_DIR       source directory (default: two levels up)
#   FERRY_CHROMIUM         browser binary (default: chromium on PATH)
#   FERRY_WEB_SHOTS_DIR    where screenshots go (default BUILD/web/shots; docs/img refreshes
#                          the committed ones)
#   KEEP_W=1               keep the work directory
# Exits 77 (skipped) when the console was not built (no npm registry), or chromium, zip or
# sqlite3 is missing. Everything started here is stopped on exit, also on failure.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=${FERRY_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
B=${FERRY_BUILD_DIR:?FERRY_BUILD_DIR must name the build directory}
B=$(cd "$B" && pwd)

skip() {
    echo "SKIP: $*"
    exit 77
}
for tool in node zip sqlite3 curl; do
    command -v "$tool" >/dev/null 2>&1 || skip "'$tool' is not installed"
done
CHROMIUM=${FERRY_CHROMIUM:-$(command -v chromium || true)}
[ -n "$CHROMIUM" ] || skip "chromium is not installed (scripts/install-deps.sh)"
[ -f "$B/web/dist/index.html" ] || skip "the console is not built in $B/web/dist (target ferry_console: needs npm)"
[ -d "$B/web/node_modules/playwright-core" ] || skip "playwright-core is not installed in $B/web"
for bin in server/ferryd cli/ferry agent/ferry-agent; do
    [ -x "$B/$bin" ] || skip "$B/$bin is not built"
done

W=$(mktemp -d /tmp/ferry-web-XXXXXX)
SERVER_PID=""
cleanup() {
    set +e
    if [ -f "$W/agent.pids" ]; then # agents the browser test started (it stops them too)
        while read -r p; do kill -TERM "$p" 2>/dev/null; done <"$W/agent.pids"
        sleep 0.5
        while read -r p; do kill -KILL "$p" 2>/dev/null; done <"$W/agent.pids"
    fi
    if [ -n "$SERVER_PID" ]; then
        kill -TERM "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
    fi
    if [ "${KEEP_W:-0}" = 1 ]; then echo "kept $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

ADMIN_TOKEN=$("$B/server/ferryd" init --data-dir "$W/data" --json | node -e \
    'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).adminToken))')
PORT=$(free_port)
"$B/server/ferryd" serve --data-dir "$W/data" --listen "127.0.0.1:$PORT" --poll-interval 5 \
    --console-dir "$B/web/dist" >"$W/ferryd.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null || { cat "$W/ferryd.log"; echo "FAIL: ferryd did not start"; exit 1; }
grep -q "web console at /console/" "$W/ferryd.log" || { cat "$W/ferryd.log"; echo "FAIL: no console log line"; exit 1; }

mkdir -p "$B/web/e2e"
cp "$here"/e2e/*.mjs "$B/web/e2e/"
shots=${FERRY_WEB_SHOTS_DIR:-$B/web/shots}
mkdir -p "$shots"
shots=$(cd "$shots" && pwd)
rc=0
(cd "$B/web" && FERRY_URL="http://127.0.0.1:$PORT" FERRY_ADMIN_TOKEN="$ADMIN_TOKEN" FERRY_W="$W" \
    FERRY_BIN="$B" FERRY_CHROMIUM="$CHROMIUM" FERRY_SHOTS="$shots" \
    timeout 600 node e2e/console.e2e.mjs) || rc=$?
if [ "$rc" -ne 0 ]; then
    echo "---- ferryd log (tail)"
    tail -n 30 "$W/ferryd.log"
    for l in "$W"/*/agent.log; do
        [ -f "$l" ] && { echo "---- $l (tail)"; tail -n 30 "$l"; }
    done
fi
exit "$rc"
