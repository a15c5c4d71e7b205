#!/usr/bin/env bash
# `ferryd backup` while a real ferryd serves and admin writes keep landing (customers,
# node maintenance transitions, audit rows), then `ferryd restore` into a fresh dir:
# the restored database is byte-identical to the snapshot in the archive, every
# restored row exists unchanged in the live database, PRAGMA integrity_check is ok,
# every blob comes back with its content hash, the restored server serves. Refusals:
# a non-empty target without --force, a damaged archive: nothing changes.
# Needs FERRYD and FERRY (tests/integration/fleet.cmake), sqlite3, tar, jq, sha256sum.
set -u
FERRYD=${FERRYD:-}
FERRY=${FERRY_CLI:-}
if [ -z "$FERRYD" ] || [ ! -x "$FERRYD" ] || [ -z "$FERRY" ] || [ ! -x "$FERRY" ]; then
    echo "SKIP: ferryd or ferry not built" >&2
    exit 77
fi
for t in sqlite3 tar jq sha256sum; do
    command -v "$t" >/dev/null || { echo "SKIP: $t not installed" >&2; exit 77; }
done

TMP=$(mktemp -d /tmp/ferry-backup-test.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    [ -n "${FERRY_KEEP_TMP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT
FAILS=0
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
pass() { echo "ok: $*"; }

D=$TMP/data
R=$TMP/restored
export HOME=$TMP/home XDG_CONFIG_HOME=
mkdir -p "$HOME"
unset FERRY_CONFIG FERRY_CA_FILE FERRY_PIN_SHA256 FERRY_TIMEOUT

# serve DIR LOG: starts ferryd on a free port, sets SRV_PID and BASE.
serve() {
    "$FERRYD" serve --data-dir "$1" --listen 127.0.0.1:0 --poll-interval 1 >"$2" 2>&1 &
    SRV_PID=$!
    PIDS+=("$SRV_PID")
    BASE=
    for _ in $(seq 1 100); do
        BASE=$(grep -o 'serving on 127.0.0.1:[0-9]*' "$2" | head -1 | sed 's/serving on /http:\/\//')
        [ -n "$BASE" ] && break
        sleep 0.1
    done
    [ -n "$BASE" ] || { echo "FAIL: ferryd did not start:" >&2; cat "$2" >&2; exit 1; }
}
stop() {
    kill -TERM "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}

TOKEN=$("$FERRYD" init --data-dir "$D" --json | jq -r .adminToken)
[ -n "$TOKEN" ] && [ "$TOKEN" != null ] || { echo "FAIL: ferryd init" >&2; exit 1; }
serve "$D" "$TMP/serve.log"
export FERRY_SERVER=$BASE FERRY_TOKEN=$TOKEN
"$FERRY" customer create --code ACME --name Acme >/dev/null
"$FERRY" store create --customer ACME --code S1 --name s >/dev/null
"$FERRY" node create --store S1 --code N1 --env PROD --name n >/dev/null
"$FERRY" license create --node N1 --type OFFICIAL --end 2030-12-31 >/dev/null
# Blobs as the store keeps them: content-addressed files (3 of them, one 3 MiB).
for i in 1 2 3; do
    f=$TMP/blob$i
    if [ "$i" = 3 ]; then head -c $((3 << 20)) /dev/urandom >"$f"; else echo "blob $i $RANDOM" >"$f"; fi
    h=$(sha256sum "$f" | cut -d' ' -f1)
    mkdir -p "$D/blobs/sha256/${h:0:2}"
    cp "$f" "$D/blobs/sha256/${h:0:2}/$h"
done

# ---- load while the backup runs ------------------------------------------------------------
(
    i=0
    while [ ! -e "$TMP/stop" ]; do
        i=$((i + 1))
        "$FERRY" customer create --code "L$i" --name "load $i" >/dev/null 2>&1
        "$FERRY" node maintenance N1 on --reason "load $i" >/dev/null 2>&1
        "$FERRY" node maintenance N1 off >/dev/null 2>&1
    done
) &
LOAD_PID=$!
PIDS+=("$LOAD_PID")
sleep 1
OUT=$("$FERRYD" backup --data-dir "$D" --out "$TMP/b1.tar" --json)
RC=$?
sleep 0.5
touch "$TMP/stop"
wait "$LOAD_PID"
[ "$RC" = 0 ] && pass "backup while serving under load" || fail "backup: exit $RC: $OUT"
jq -e '.blobs == 3 and .includesBlobs == true and (.dbSha256|length) == 64' <<<"$OUT" >/dev/null &&
    pass "backup reports 3 blobs and the snapshot digest" || fail "backup json: $OUT"
LOADED=$(sqlite3 "$D/ferry.db" "SELECT count(*) FROM customer WHERE code LIKE 'L%'")
[ "$LOADED" -gt 0 ] && pass "load wrote $LOADED customers meanwhile" || fail "no load happened"
[ "$(stat -c %a "$TMP/b1.tar")" = 600 ] && pass "backup file is 0600" || fail "backup mode $(stat -c %a "$TMP/b1.tar")"
tar -tf "$TMP/b1.tar" >"$TMP/list" 2>&1 && grep -qx ferry.db "$TMP/list" && grep -qx ferry-backup.json "$TMP/list" &&
    [ "$(grep -c '^blobs/sha256/' "$TMP/list")" = 3 ] && pass "a standard tar: ferry.db, keys, 3 blobs, manifest" ||
    fail "tar listing: $(cat "$TMP/list")"
"$FERRYD" backup --data-dir "$D" --out "$TMP/b1.tar" >/dev/null 2>"$TMP/err"
[ $? = 1 ] && grep -q E_EXISTS "$TMP/err" && pass "an existing backup file is not overwritten" || fail "overwrite: $(cat "$TMP/err")"

# ---- restore into a fresh dir ---------------------------------------------------------------
OUT=$("$FERRYD" restore --data-dir "$R" --from "$TMP/b1.tar" --json)
[ $? = 0 ] && pass "restore into a fresh dir" || fail "restore: $OUT"
[ "$(sqlite3 "$R/ferry.db" 'PRAGMA integrity_check')" = ok ] && pass "integrity_check ok" || fail "integrity_check"
mkdir -p "$TMP/x" && tar -xf "$TMP/b1.tar" -C "$TMP/x" ferry.db
cmp -s "$TMP/x/ferry.db" "$R/ferry.db" && pass "restored database is byte-identical to the snapshot" ||
    fail "restored ferry.db differs from the archive's"
# Every restored row is in the live database unchanged (insert-only tables: the load
# never updates them), and the snapshot is consistent: no audit row without its target.
for t in customer store license audit_log audit_target node_event config_template; do
    n=$(sqlite3 "$R/ferry.db" "ATTACH '$D/ferry.db' AS live; SELECT count(*) FROM (SELECT * FROM main.$t EXCEPT SELECT * FROM live.$t)")
    [ "$n" = 0 ] || fail "table $t: $n restored row(s) not in the live database"
done
pass "restored rows exist unchanged in the live database"
RC_CUST=$(sqlite3 "$R/ferry.db" "SELECT count(*) FROM customer")
LIVE_CUST=$(sqlite3 "$D/ferry.db" "SELECT count(*) FROM customer")
[ "$RC_CUST" -le "$LIVE_CUST" ] && [ "$RC_CUST" -ge 1 ] && pass "snapshot: $RC_CUST of $LIVE_CUST customers (taken mid-load)" ||
    fail "customer counts $RC_CUST vs $LIVE_CUST"
n=$(sqlite3 "$R/ferry.db" "SELECT count(*) FROM audit_log a WHERE method LIKE '%CreateCustomer' AND outcome = 1 AND NOT EXISTS (SELECT 1 FROM audit_target t WHERE t.audit_id = a.id)")
[ "$n" = 0 ] && pass "no half-written change in the snapshot" || fail "$n audit rows without targets"
for f in "$D"/blobs/sha256/*/*; do
    h=$(basename "$f")
    r="$R/blobs/sha256/${h:0:2}/$h"
    [ -f "$r" ] && [ "$(sha256sum "$r" | cut -d' ' -f1)" = "$h" ] || fail "blob $h not restored intact"
done
pass "every blob restored with its content hash"
for k in url-signing.key package-signing.pem; do
    cmp -s "$D/$k" "$R/$k" || fail "key $k differs"
done
pass "keys restored"

stop "$SRV_PID"
serve "$R" "$TMP/serve2.log"
RS=$(FERRY_SERVER=$BASE "$FERRY" customer list --page-size 1000 --json | jq '.customers | length')
[ "$RS" = "$RC_CUST" ] && pass "the restored server serves its $RS customers" || fail "restored server lists $RS, want $RC_CUST"
FERRY_SERVER=$BASE "$FERRY" license list --json | jq -e '.licenses[0].nodeCode == "N1"' >/dev/null &&
    pass "licence restored" || fail "licence missing after restore"
stop "$SRV_PID"

# ---- refusals -----------------------------------------------------------------------------
SUM_BEFORE=$(sha256sum "$R/ferry.db")
"$FERRYD" restore --data-dir "$R" --from "$TMP/b1.tar" >/dev/null 2>"$TMP/err"
[ $? = 1 ] && grep -q E_EXISTS "$TMP/err" && grep -q -- --force "$TMP/err" && pass "non-empty target refused without --force" ||
    fail "non-empty target: $(cat "$TMP/err")"
[ "$(sha256sum "$R/ferry.db")" = "$SUM_BEFORE" ] && pass "refused restore changed nothing" || fail "target changed"
cp "$TMP/b1.tar" "$TMP/bad.tar"
# flip one byte inside the 3 MiB blob's content (its header is the 4th blob-sized entry: find its offset)
OFF=$(grep -abo "blobs/sha256/" "$TMP/bad.tar" | while IFS=: read -r o _; do
    sz=$(dd if="$TMP/bad.tar" bs=1 skip=$((o + 124)) count=11 2>/dev/null)
    [ "$((8#$sz))" -gt 1000000 ] && { echo $((o + 512 + 1000)); break; }
done)
printf '\x00' | dd of="$TMP/bad.tar" bs=1 seek="$OFF" conv=notrunc 2>/dev/null
printf '\xff' | dd of="$TMP/bad.tar" bs=1 seek="$((OFF + 1))" conv=notrunc 2>/dev/null
"$FERRYD" restore --data-dir "$TMP/r2" --from "$TMP/bad.tar" >/dev/null 2>"$TMP/err"
[ $? = 1 ] && grep -q E_CORRUPT "$TMP/err" && grep -q "is damaged" "$TMP/err" && pass "damaged blob refused, named" ||
    fail "damaged archive: $(cat "$TMP/err")"
[ ! -e "$TMP/r2" ] && ! ls "$TMP" | grep -q 'r2.restore' && pass "nothing left behind by a refused restore" ||
    fail "refused restore left files"
OUT=$("$FERRYD" restore --data-dir "$R" --from "$TMP/b1.tar" --force --json)
[ $? = 0 ] && [ "$(sqlite3 "$R/ferry.db" 'PRAGMA integrity_check')" = ok ] && pass "--force replaces the target" ||
    fail "--force: $OUT"
"$FERRYD" backup --data-dir "$TMP/nope" --out "$TMP/n.tar" >/dev/null 2>"$TMP/err"
[ $? = 1 ] && grep -q "not a Ferry data dir" "$TMP/err" && pass "backup of a non-data-dir refused" || fail "$(cat "$TMP/err")"

echo "fleet backup: $FAILS failure(s)"
[ "$FAILS" -eq 0 ]
