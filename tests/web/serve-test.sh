#!/usr/bin/env bash
# ferryd serving the console's files at /console/ (server/console.c), on a real ferryd
# with a console directory made here (no npm needed): content types, caching (hashed
# assets immutable, index.html no-cache), the Content-Security-Policy and other headers,
# gzip siblings, SPA fallback, refusals (traversal, hidden files, symlinks, methods),
# `--console-dir` pointing at nothing refused at start, and the log line when no console
# is found. Stops every ferryd it starts.
set -euo pipefail
B=${FERRY_BUILD_DIR:?FERRY_BUILD_DIR must name the build directory}
FERRYD=$B/server/ferryd
[ -x "$FERRYD" ] || { echo "SKIP: $FERRYD not built"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }

W=$(mktemp -d /tmp/ferry-console-XXXXXX)
PID=""
cleanup() {
    [ -n "$PID" ] && { kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; }
    rm -rf "$W"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*" >&2
    tail -n 20 "$W/ferryd.log" >&2 2>/dev/null || true
    exit 1
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

D=$W/dist
mkdir -p "$D/assets"
printf '<!doctype html><title>console</title><div id="app"></div>\n' >"$D/index.html"
printf 'console.log("app");\n%.0s' $(seq 200) >"$D/assets/index-Ab12Cd34.js"
gzip -9 -k -n "$D/assets/index-Ab12Cd34.js"
printf 'body{margin:0}\n' >"$D/assets/index-Zz99.css"
printf 'secret\n' >"$D/.hidden"
printf 'outside\n' >"$W/outside.txt"
ln -s "$W/outside.txt" "$D/link.txt"

"$FERRYD" init --data-dir "$W/data" >/dev/null

# --console-dir naming a directory without index.html: refused at start, nothing served
P=$(free_port)
if "$FERRYD" serve --data-dir "$W/data" --listen "127.0.0.1:$P" --console-dir "$W/nothing" >"$W/bad.log" 2>&1; then
    fail "ferryd started with a console dir that holds no index.html"
fi
grep -q "console-dir.*$W/nothing.*index.html" "$W/bad.log" || { cat "$W/bad.log"; fail "no error naming the console dir"; }

start() { # start [flags...]
    P=$(free_port)
    "$FERRYD" serve --data-dir "$W/data" --listen "127.0.0.1:$P" "$@" >"$W/ferryd.log" 2>&1 &
    PID=$!
    for _ in $(seq 100); do curl -fs "http://127.0.0.1:$P/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
    curl -fs "http://127.0.0.1:$P/healthz" >/dev/null || fail "ferryd did not start"
    U="http://127.0.0.1:$P"
}
stop() {
    kill "$PID"
    wait "$PID" 2>/dev/null || true
    PID=""
}
# hdr URL NAME [curl args...]: the value of response header NAME (lower-case)
hdr() {
    local url=$1 name=$2
    shift 2
    curl -s -o /dev/null -D - "$@" "$url" | tr -d '\r' | awk -v n="$name" 'tolower($0) ~ "^"n":" {sub(/^[^:]*: */, ""); print; exit}'
}
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }

# The binary lives in BUILD/server: the default is BUILD/web/dist, which may or may not be
# built here; an explicit directory is what this test serves.
start --console-dir "$D"
grep -q "web console at /console/ (files from $D)" "$W/ferryd.log" || fail "no log line naming the console dir"

[ "$(code "$U/console/")" = 200 ] || fail "/console/ not 200"
[ "$(hdr "$U/console/" content-type)" = "text/html; charset=utf-8" ] || fail "index content type"
[ "$(hdr "$U/console/" cache-control)" = "no-cache" ] || fail "index must be no-cache"
csp=$(hdr "$U/console/" content-security-policy)
for want in "default-src 'none'" "script-src 'self'" "style-src 'self'" "connect-src 'self'" "frame-ancestors 'none'" "base-uri 'none'"; do
    case $csp in *"$want"*) ;; *) fail "CSP lacks $want: $csp" ;; esac
done
case $csp in *unsafe*) fail "CSP allows unsafe-*: $csp" ;; esac
[ "$(hdr "$U/console/" x-content-type-options)" = nosniff ] || fail "nosniff"
[ "$(hdr "$U/console/" x-frame-options)" = DENY ] || fail "x-frame-options"
[ "$(hdr "$U/console/" referrer-policy)" = no-referrer ] || fail "referrer-policy"

js="$U/console/assets/index-Ab12Cd34.js"
[ "$(hdr "$js" content-type)" = "text/javascript; charset=utf-8" ] || fail "js content type"
[ "$(hdr "$js" cache-control)" = "public, max-age=31536000, immutable" ] || fail "hashed asset must be immutable"
[ "$(hdr "$U/console/assets/index-Zz99.css" content-type)" = "text/css; charset=utf-8" ] || fail "css content type"
# gzip sibling for clients that accept it, the plain file for the others
[ "$(hdr "$js" content-encoding -H 'accept-encoding: gzip, br')" = gzip ] || fail "no gzip sibling sent"
[ -z "$(hdr "$js" content-encoding)" ] || fail "gzip sent to a client that did not ask"
curl -s --compressed "$js" | cmp -s - "$D/assets/index-Ab12Cd34.js" || fail "gzip body differs from the file"
curl -s "$js" | cmp -s - "$D/assets/index-Ab12Cd34.js" || fail "plain body differs from the file"
[ "$(hdr "$js" vary)" = accept-encoding ] || fail "vary"
# HEAD and Range from the runtime's file sender
[ "$(code -I "$js")" = 200 ] || fail "HEAD"
[ "$(curl -s -r 0-6 "$js")" = "console" ] || fail "range"

# SPA fallback: client routes get index.html; missing files stay 404
for route in releases/12 tasks dashboard; do
    curl -s "$U/console/$route" | grep -q '<div id="app">' || fail "/console/$route is not index.html"
    [ "$(hdr "$U/console/$route" cache-control)" = no-cache ] || fail "$route cache-control"
done
[ "$(code "$U/console/assets/missing-123.js")" = 404 ] || fail "missing asset not 404"
[ "$(hdr "$U/console/assets/missing-123.js" ferry-error-code)" = E_NOT_FOUND ] || fail "missing asset code"
# /console redirects, /consolex is not the console
[ "$(code "$U/console")" = 308 ] || fail "/console not redirected"
[ "$(hdr "$U/console" location)" = /console/ ] || fail "redirect location"
[ "$(code "$U/consolex/index.html")" = 404 ] || fail "/consolex served"
# confinement: traversal (sent as is), hidden files, symlinks, escapes
for bad in "/console/../data/ferry.db" "/console/assets/../../outside.txt" "/console/.hidden" \
    "/console/link.txt" "/console/%2e%2e/outside.txt" "/console//etc/passwd" "/console/assets/.%2e/x.js"; do
    c=$(code --path-as-is "$U$bad")
    [ "$c" = 404 ] || fail "$bad answered $c"
    if curl -s --path-as-is "$U$bad" | grep -q -e secret -e outside -e SQLite; then fail "$bad leaked a file"; fi
done
# methods
[ "$(code -X POST "$U/console/")" = 405 ] || fail "POST not 405"
[ "$(hdr "$U/console/" allow -X DELETE)" = "GET, HEAD" ] || fail "Allow header"
# the RPC API and the other routes are untouched
[ "$(code "$U/healthz")" = 200 ] || fail "healthz"
stop

# Without --console-dir and without a built console next to the binary: a clear log line.
# (When BUILD/web/dist exists, ferryd serves it: both are fine; check the matching line.)
start
if [ -f "$B/web/dist/index.html" ]; then
    grep -q "web console at /console/" "$W/ferryd.log" || fail "built console not served by default"
else
    grep -q "web console not served: no built console found" "$W/ferryd.log" || fail "no log line for a missing console"
    [ "$(code "$U/console/")" = 404 ] || fail "/console/ served without a console"
fi
stop
echo "PASS: console serving"
