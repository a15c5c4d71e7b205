#!/usr/bin/env bash
# The real ferryd and ferry binaries: `ferryd serve --upload-max-open/--upload-max-bytes`
# bound an admin token's open package uploads (E_NOSPACE naming the limit, exit 3,
# nothing stored), `ferry package abort UPLOAD_ID` gives an interrupted upload up (its
# bytes deleted, its place in the quota freed; a second abort and an unknown id are
# refused and change nothing), and bad flag values are refused before serving.
set -uo pipefail
BUILD=${FERRY_BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
FERRYD=$BUILD/server/ferryd
FERRY=$BUILD/cli/ferry
[ -x "$FERRYD" ] && [ -x "$FERRY" ] || { echo "skip: ferryd or ferry not built"; exit 77; }
for t in curl python3 jq sqlite3; do command -v $t >/dev/null || { echo "skip: $t missing"; exit 77; }; done
T=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
FAILS=0
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
pass() { echo "ok: $*"; }
parts() { find "$T/d/blobs/uploads" -name '*.part' | wc -l; }
db() { sqlite3 "$T/d/ferry.db" "$1"; }

"$FERRYD" init --data-dir "$T/d" --json >"$T/init.json" 2>"$T/init.err" || { echo "ferryd init failed"; cat "$T/init.err"; exit 1; }
export FERRY_TOKEN=$(jq -r .adminToken "$T/init.json") FERRY_CACHE_DIR=$T/cache
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export FERRY_SERVER=http://127.0.0.1:$port

# Bad values: refused before anything is served.
for bad in "--upload-max-open 0" "--upload-max-bytes 12Q" "--upload-reserve -1" "--node-upload-max-bytes 2P"; do
    # shellcheck disable=SC2086
    "$FERRYD" serve --data-dir "$T/d" --listen "127.0.0.1:$port" $bad >"$T/bad.out" 2>&1
    rc=$?
    [ "$rc" = 2 ] && grep -q -- "${bad%% *}" "$T/bad.out" && pass "refused $bad" || fail "$bad: exit $rc: $(cat "$T/bad.out")"
done

"$FERRYD" serve --data-dir "$T/d" --listen "127.0.0.1:$port" --upload-max-open 1 --upload-max-bytes 8M \
    --upload-reserve 1M >"$T/log" 2>&1 &
PID=$!
for _ in $(seq 200); do curl -sf -o /dev/null "$FERRY_SERVER/healthz" && break; sleep 0.05; done
curl -sf -o /dev/null "$FERRY_SERVER/healthz" || fail "ferryd serve did not come up: $(cat "$T/log")"

head -c 3000000 /dev/urandom >"$T/a.zip"
head -c 3000000 /dev/urandom >"$T/b.zip"
head -c 9000000 /dev/urandom >"$T/big.zip"
# An interrupted upload: one chunk received, the upload stays open.
FERRY_CLI_UPLOAD_STOP_AFTER_CHUNKS=1 "$FERRY" package upload "$T/a.zip" --version "1.0.0.1(1)" --chunk-size 1M \
    >"$T/a.out" 2>&1
ID=$(db "SELECT id FROM upload WHERE status = 'open'")
[ -n "$ID" ] && [ "$(parts)" = 1 ] && pass "interrupted upload open with its bytes" || fail "no open upload: $(cat "$T/a.out")"

# The quota: a second open upload is refused, nothing stored.
n0=$(db "SELECT count(*) FROM upload")
"$FERRY" --json package upload "$T/b.zip" --version "1.0.0.2(1)" >"$T/b.json" 2>/dev/null
rc=$?
[ "$rc" = 3 ] && jq -e '.error.errorCode == "E_NOSPACE" and (.error.message | test("limit is 1"))' "$T/b.json" >/dev/null &&
    pass "second open upload refused (E_NOSPACE, limit named)" || fail "second upload: exit $rc $(cat "$T/b.json")"
[ "$(db "SELECT count(*) FROM upload")" = "$n0" ] && [ "$(parts)" = 1 ] && pass "refusal stored nothing" ||
    fail "refusal stored something"

# Abort: bytes deleted, row closed, audited; the quota has room again.
"$FERRY" --json package abort "$ID" >"$T/abort.json" 2>"$T/abort.err"
rc=$?
[ "$rc" = 0 ] && jq -e ".uploadId == \"$ID\" and (.reclaimedBytes | tonumber) == 1048576" "$T/abort.json" >/dev/null &&
    pass "abort reports the bytes deleted" || fail "abort: exit $rc $(cat "$T/abort.json" "$T/abort.err")"
[ "$(parts)" = 0 ] && [ "$(db "SELECT status FROM upload WHERE id = '$ID'")" = aborted ] && pass "abort deleted the bytes" ||
    fail "after abort: $(parts) partial files, status $(db "SELECT status FROM upload WHERE id = '$ID'")"
[ "$(db "SELECT count(*) FROM audit_log WHERE method LIKE '%AbortPackageUpload' AND target = 'upload:$ID' AND outcome = 1")" = 1 ] &&
    pass "abort audited" || fail "abort not audited"
"$FERRY" --json package abort "$ID" >"$T/abort2.json" 2>/dev/null
rc=$?
[ "$rc" = 3 ] && jq -e '.error.errorCode == "E_PRECONDITION"' "$T/abort2.json" >/dev/null && pass "second abort refused" ||
    fail "second abort: exit $rc $(cat "$T/abort2.json")"
"$FERRY" --json package abort 0123456789abcdef0123456789abcdef >"$T/abort3.json" 2>/dev/null
rc=$?
[ "$rc" = 3 ] && jq -e '.error.errorCode == "E_NOT_FOUND" and (.error.message | test("0123456789abcdef"))' "$T/abort3.json" >/dev/null &&
    pass "unknown upload: not found, named" || fail "unknown abort: exit $rc $(cat "$T/abort3.json")"

# Bytes in flight: 9 MB announced is over the 8M limit.
"$FERRY" --json package upload "$T/big.zip" --version "1.0.0.3(1)" >"$T/big.json" 2>/dev/null
rc=$?
[ "$rc" = 3 ] && jq -e '.error.errorCode == "E_NOSPACE" and (.error.message | test("8388608"))' "$T/big.json" >/dev/null &&
    pass "upload over the byte quota refused" || fail "big upload: exit $rc $(cat "$T/big.json")"
# With the place freed, the next upload goes through to the commit (refused there: not a zip).
"$FERRY" --json package upload "$T/b.zip" --version "1.0.0.2(1)" >"$T/b2.json" 2>/dev/null
jq -e '.error.errorCode == "E_PACKAGE_INVALID"' "$T/b2.json" >/dev/null && pass "quota freed by the abort" ||
    fail "after abort: $(cat "$T/b2.json")"

kill "$PID" 2>/dev/null
wait "$PID" 2>/dev/null
PID=
[ "$FAILS" = 0 ] && echo "all ok" || { echo "$FAILS failure(s)"; exit 1; }
