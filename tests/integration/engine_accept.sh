#!/usr/bin/env bash
# Seed 000 §9 acceptance list through `ferry-agent`, on real files, a real SQLite
# database and a real service process. One section per item; each starts a fresh node.
source "$(dirname "$0")/engine_lib.sh"
new_version_trees

full_pkg=$W/full.zip
mkpkg $full_pkg --server $NEW/server --client $NEW/client --schema $W/schema.sql --data $W/data.sql

echo "== §9.1-9.4: full package, backup trio, overwrite with deletes, SQL order"
node_setup
snap old
agent apply $full_pkg --config $CFG --version "$V" --sha256 "$(sha256sum <$full_pkg | cut -c1-64)" --json
[ $RC = 0 ] || { cat $W/out $W/err; fail "apply exit $RC"; }
expect_state 100 OK
B=$(json_field backupPath)
[ "$B" = "$N/backup/$V" ] || fail "backupPath $B"
# 9.1 the trio: mirror equal, zip unzips identically, data.bak restores
[ -d "$B/server" ] && [ -f "$B/client.zip" ] && [ -f "$B/data.bak" ] || fail "backup trio incomplete"
diff <(tree_fp "$B/server" mtime) $W/snap.old.server || fail "server mirror differs from the old tree"
mkdir $W/unz && (cd $W/unz && unzip -q "$B/client.zip")
diff <(tree_fp $W/unz mtime) $W/snap.old.client || fail "client.zip does not unzip to the old client dir"
# unzip reads the extended-timestamp fields: directory mtimes too (its root is its own)
diff <(dir_fp $W/unz | grep -v '^D \. ') <(grep -v '^D \. ' $W/snap.old.cdirs) ||
    fail "client.zip does not unzip to the old client dir's directory mtimes"
cp "$B/data.bak" $W/restored.db
diff <(sqlite3 $W/restored.db .dump) $W/snap.old.db || fail "data.bak does not restore the old database"
# 9.2 server overwrite: stale file gone, protected logs kept, new files in place
[ ! -e $N/server/stale.txt ] || fail "stale server file survived"
[ "$(cat $N/server/logs/app.log)" = "old log line" ] || fail "protected logs/ touched"
[ "$(cat $N/server/bin/app.dll)" = "new app" ] || fail "server not overwritten"
[ -f $N/server/newdir/added.txt ] || fail "new server file missing"
# 9.3 client overwrite
[ ! -e $N/client/stale-client.txt ] || fail "stale client file survived"
[ "$(cat $N/client/res/r2.txt)" = "r2 new" ] || fail "client not overwritten"
# 9.4 SQL order: schema then data
[ "$(sqlite3 $N/db/main.db 'SELECT group_concat(what, ",") FROM (SELECT what FROM log ORDER BY seq)')" = "schema,data" ] ||
    fail "SQL order wrong"
[ -s "$B/sql.log" ] || fail "sql.log missing"
svc_running || fail "service not running after success"
agent status --config $CFG --json
[ $RC = 0 ] && expect_state 100

echo "== manual rollback of that version"
agent rollback --version "$V" --config $CFG --json
[ $RC = 0 ] || { cat $W/out $W/err; fail "rollback exit $RC"; }
expect_state 130
snap back
same_old old back
svc_running || fail "service not running after manual rollback"

echo "== same version again: backup goes to {version}_{timestamp}"
agent apply $full_pkg --config $CFG --version "$V" --json
expect_state 100
B2=$(json_field backupPath)
case "$B2" in "$N/backup/${V}_"[0-9]*) ;; *) fail "retry backup path $B2" ;; esac

echo "== §9.4: each SQL file alone"
printf "INSERT INTO log(what) VALUES ('only-schema');\nGO\n" >$W/s_only.sql
printf "INSERT INTO log(what) VALUES ('only-data');\n" >$W/d_only.sql
mkpkg $W/schema_only.zip --schema $W/s_only.sql
mkpkg $W/data_only.zip --data $W/d_only.sql
node_setup && snap old
agent apply $W/schema_only.zip --config $CFG --version "$V" --json
expect_state 100
[ "$(sqlite3 $N/db/main.db 'SELECT group_concat(what) FROM log')" = "only-schema" ] || fail "schema-only"
# backup of all three even for an SQL-only package (seed decision 4)
B=$(json_field backupPath)
[ -d "$B/server" ] && [ -f "$B/client.zip" ] && [ -f "$B/data.bak" ] || fail "SQL-only package skipped backups"
snap after_sql
diff $W/snap.old.server $W/snap.after_sql.server || fail "SQL-only package changed the server tree"
agent apply $W/data_only.zip --config $CFG --version "$V2" --json
expect_state 100
[ "$(sqlite3 $N/db/main.db 'SELECT group_concat(what) FROM log')" = "only-schema,only-data" ] || fail "data-only"

echo "== §9.5: SQL failure rolls back all three"
printf "INSERT INTO log(what) VALUES ('partial');\nGO\nINSERT INTO no_such_table VALUES (1);\nGO\n" >$W/bad.sql
mkpkg $W/sqlfail.zip --server $NEW/server --client $NEW/client --schema $W/schema.sql --data $W/bad.sql
node_setup && snap old
agent apply $W/sqlfail.zip --config $CFG --version "$V" --json
[ $RC = 1 ] || fail "SQL failure exit $RC"
expect_state 130 E_SQL_FAILED_DATA
snap after
same_old old after
svc_running || fail "service not running after rollback"
grep -q "no_such_table" "$(json_field backupPath)/sql.log" || fail "sql.log lacks the failing batch"

echo "== §9.5: start failure rolls back all three"
cp -a $NEW $W/new_bad
touch $W/new_bad/server/FAIL_START
mkpkg $W/startfail.zip --server $W/new_bad/server --client $NEW/client --schema $W/schema.sql --data $W/data.sql
START_TIMEOUT=2 node_setup && snap old
agent apply $W/startfail.zip --config $CFG --version "$V"
[ $RC = 1 ] || fail "start failure exit $RC"
grep -q "state:      130 Rollbacked" $W/out || { cat $W/out; fail "text output lacks the final state"; }
grep -q "errorCode:  E_SERVICE_START_FAILED" $W/out || fail "text output lacks the error code"
snap after
same_old old after
svc_running || fail "service not running after rollback"

echo "== §9.6: stop timeout -> diagnostic file, nothing touched"
STOP_TIMEOUT=1 REFUSE_STOP=1 node_setup && snap old
agent apply $full_pkg --config $CFG --version "$V" --json
[ $RC = 1 ] || fail "stop timeout exit $RC"
expect_state 110 E_SERVICE_STOP_TIMEOUT
D=$(json_field diagnosticPath)
[ -f "$D" ] || fail "no diagnostic file"
unzip -l "$D" >$W/diag.list && grep -q summary.txt $W/diag.list || fail "diagnostic zip lacks summary.txt"
[ -z "$(ls -A $N/backup)" ] || fail "backup folder created although stop failed"
snap after
same_old old after
svc_kill
node_setup && snap old

echo "== stop command failure -> E_SERVICE_STOP_FAILED"
touch $N/run/STOP_FAILS
agent apply $full_pkg --config $CFG --version "$V" --json
expect_state 110 E_SERVICE_STOP_FAILED
[ -f "$(json_field diagnosticPath)" ] || fail "no diagnostic file for stop failure"
rm $N/run/STOP_FAILS

echo "== hash mismatch: nothing touched, service never stopped"
pid_before=$(cat $N/run/svc.pid)
agent apply $full_pkg --config $CFG --version "$V" --sha256 "$(printf '0%.0s' $(seq 64))" --json
[ $RC = 1 ] || fail "hash mismatch exit $RC"
expect_state 110 E_HASH_MISMATCH
[ "$(cat $N/run/svc.pid)" = "$pid_before" ] && svc_running || fail "service was restarted on a hash mismatch"
snap after
same_old old after

echo "== usage errors"
agent apply $full_pkg --config $CFG --version "1.2.3" --json
[ $RC = 2 ] || fail "bad version exit $RC"
expect_state 110 E_VERSION_INVALID
agent apply $full_pkg --version "$V"
[ $RC = 2 ] || fail "missing --config exit $RC"
agent apply --config $CFG --version "$V"
[ $RC = 2 ] || fail "missing package exit $RC"
agent bogus
[ $RC = 2 ] || fail "unknown command exit $RC"
for c in apply resume rollback status; do
    agent $c --help
    [ $RC = 0 ] && grep -q "usage: ferry-agent $c" $W/out || fail "$c --help"
done
agent resume --config $CFG --json
[ $RC = 0 ] || fail "resume with nothing to do exit $RC"

echo "== retention keeps the newest N"
RETENTION=2 node_setup
for v in '1.0.0.1(1)' '1.0.0.2(2)' '1.0.0.3(3)'; do
    agent apply $W/schema_only.zip --config $CFG --version "$v" --json
    expect_state 100
done
[ "$(ls $N/backup | LC_ALL=C sort | tr '\n' ' ')" = "1.0.0.2(2) 1.0.0.3(3) " ] || fail "retention: $(ls $N/backup)"

echo "PASS engine_accept"
