#!/usr/bin/env bash
# Regression (issue 9): a chunk PUT's disk work runs on the worker pool, never on an
# event loop. A real ferryd with ONE event-loop thread; the chunk's write is held for
# PAUSE_MS by the test hook (FERRY_PAUSE_AT=hub.upload.write, lib/core ferry_pausepoint)
# while `ferry package upload` sends it. While the write is held, /healthz and a signed
# blob GET must be answered, and the upload's .part file must still be empty when they
# are (so they were answered before the write, not after it). Then the write goes on
# and the upload commits.
set -uo pipefail
BUILD=${FERRY_BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
FERRYD=$BUILD/server/ferryd
FERRY=$BUILD/cli/ferry
[ -x "$FERRYD" ] || { echo "skip: $FERRYD not built"; exit 77; }
[ -x "$FERRY" ] || { echo "skip: $FERRY not built"; exit 77; }
for t in curl python3 zip stat; do command -v $t >/dev/null || { echo "skip: $t missing"; exit 77; }; done
PAUSE_MS=${PAUSE_MS:-8000}
T=$(mktemp -d)
SPID=
UPID=
stop() { [ -n "$1" ] && kill "$1" 2>/dev/null && wait "$1" 2>/dev/null; }
cleanup() { stop "$UPID"; stop "$SPID"; rm -rf "$T"; }
trap cleanup EXIT
FAILS=0
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
pass() { echo "ok: $*"; }
json() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {"d": d}))' "$1"; }

ADMIN=$("$FERRYD" init --data-dir "$T/d" --json | json 'd["adminToken"]') || { echo "ferryd init failed"; exit 1; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
U=http://127.0.0.1:$port
FERRY_PAUSE_AT=hub.upload.write FERRY_PAUSE_MS=$PAUSE_MS \
    "$FERRYD" serve --data-dir "$T/d" --listen "127.0.0.1:$port" --threads 1 >"$T/log" 2>&1 &
SPID=$!
for _ in $(seq 200); do curl -sf -o /dev/null "$U/healthz" && break; sleep 0.05; done
curl -sf -o /dev/null "$U/healthz" || { echo "ferryd did not come up: $(cat "$T/log")"; exit 1; }
export FERRY_SERVER=$U FERRY_TOKEN=$ADMIN FERRY_CACHE_DIR=$T/cache

mkdir "$T/pkg"
(cd "$T/pkg" && printf 'server\n' >a.txt && zip -q server.zip a.txt && zip -q ../p.zip server.zip) ||
    { echo "cannot build the package"; exit 1; }
"$FERRY" package upload "$T/p.zip" --version "1.0.0.1(1)" --type full >"$T/up.out" 2>&1 &
UPID=$!
for _ in $(seq 300); do grep -q "pause at hub.upload.write" "$T/log" && break; sleep 0.05; done
if ! grep -q "pause at hub.upload.write" "$T/log"; then
    fail "the chunk PUT never reached its write: $(cat "$T/up.out")"
else
    part=$(ls "$T"/d/blobs/uploads/*.part 2>/dev/null | head -1)
    [ -n "$part" ] || fail "no .part file while the chunk is held"
    code=$(curl -s -o "$T/hz" -w '%{http_code}' "$U/healthz")
    [ "$code" = 200 ] && pass "/healthz answered while the chunk's write is held" || fail "/healthz: $code"
    code=$(curl -s -o /dev/null -w '%{http_code}' "$U/blobs/sha256/$(printf '0%.0s' $(seq 64))?x=1")
    [ "$code" = 403 ] && pass "a signed-URL route answered meanwhile (403 for a bad signature)" ||
        fail "blob route meanwhile: $code"
    size=$(stat -c %s "$part" 2>/dev/null || echo gone)
    [ "$size" = 0 ] && pass "...and both before the chunk was written (.part still empty)" ||
        fail ".part is '$size' bytes: the answers waited for the write"
fi
wait "$UPID"
rc=$?
UPID=
[ "$rc" = 0 ] && pass "the upload completed once the write went on" || fail "upload exit $rc: $(cat "$T/up.out")"
"$FERRY" package list --json >"$T/list" 2>&1 && grep -q '1.0.0.1(1)' "$T/list" &&
    pass "the package is committed" || fail "package not listed: $(cat "$T/list")"

[ "$FAILS" = 0 ] && echo "all ok" || { echo "$FAILS failure(s)"; exit 1; }
