#!/usr/bin/env bash
# The real ferryd binary: `ferryd init` leaves the data dir 0700 and ferry.db owner-only
# (0600), and the -wal/-shm files a serving ferryd keeps beside it are 0600 too, under
# the usual umask 022.
set -uo pipefail
BUILD=${FERRY_BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
FERRYD=$BUILD/server/ferryd
[ -x "$FERRYD" ] || { echo "skip: $FERRYD not built"; exit 77; }
for t in curl python3 stat; do command -v $t >/dev/null || { echo "skip: $t missing"; exit 77; }; done
umask 022
T=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
FAILS=0
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
pass() { echo "ok: $*"; }
mode() { stat -c %a "$1" 2>/dev/null || echo missing; }

"$FERRYD" init --data-dir "$T/d" >"$T/init.out" 2>&1 || { echo "ferryd init failed"; cat "$T/init.out"; exit 1; }
[ "$(mode "$T/d")" = 700 ] && pass "data dir 0700" || fail "data dir mode $(mode "$T/d")"
[ "$(mode "$T/d/ferry.db")" = 600 ] && pass "after init: ferry.db 0600" || fail "after init: ferry.db mode $(mode "$T/d/ferry.db")"
for f in ferry.db-wal ferry.db-shm; do # usually removed when init closes the database
    [ -e "$T/d/$f" ] || continue
    [ "$(mode "$T/d/$f")" = 600 ] && pass "after init: $f 0600" || fail "after init: $f mode $(mode "$T/d/$f")"
done

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$FERRYD" serve --data-dir "$T/d" --listen "127.0.0.1:$port" >"$T/log" 2>&1 &
PID=$!
for _ in $(seq 200); do curl -sf -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.05; done
curl -sf -o /dev/null "http://127.0.0.1:$port/healthz" || { fail "ferryd serve did not come up: $(cat "$T/log")"; }
for f in ferry.db ferry.db-wal ferry.db-shm; do
    [ "$(mode "$T/d/$f")" = 600 ] && pass "serving: $f 0600" || fail "serving: $f mode $(mode "$T/d/$f")"
done
kill "$PID" 2>/dev/null
wait "$PID" 2>/dev/null
PID=

[ "$FAILS" = 0 ] && echo "all ok" || { echo "$FAILS failure(s)"; exit 1; }
