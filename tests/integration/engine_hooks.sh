#!/usr/bin/env bash
# Upgrade hooks (hooks.json, seed 002) through `ferry-agent apply`, on a real SQLite
# database, real shell scripts and a real service process: every phase, the failure rule
# of each, site and version matching, the report, kill -9 between and inside hooks with
# the resume rules, retry with a skipped hook, hostile manifests.
source "$(dirname "$0")/engine_lib.sh"
new_version_trees
M=$W/marks # hooks leave their traces here, outside the node
mkdir -p $M

# hookpkg OUT HOOKS_JSON [SRC_DIR]: the full package plus hooks.json and the files of SRC_DIR/hooks.
hookpkg() {
    local out=$1 json=$2 src=${3:-$W/hooks-src}
    mkpkg $out --server $NEW/server --client $NEW/client --schema $W/schema.sql --data $W/data.sql
    "$PY" - "$out" "$json" "$src" <<'PYEOF'
import os, sys, zipfile
out, js, src = sys.argv[1:4]
with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED) as z:
    z.writestr("hooks.json", js)
    base = os.path.join(src, "hooks")
    if os.path.isdir(base):
        for f in sorted(os.listdir(base)):
            zi = zipfile.ZipInfo("hooks/" + f, date_time=(2024, 1, 1, 0, 0, 0))
            zi.external_attr = 0o100755 << 16
            zi.create_system = 3
            zi.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(zi, open(os.path.join(base, f), "rb").read())
PYEOF
}

# Scripts: each appends a line to $M/<name> so the test can count runs.
mkdir -p $W/hooks-src/hooks
H=$W/hooks-src/hooks
cat >$H/mark.sh <<EOF
#!/bin/sh
# mark.sh NAME [EXIT]: records one run with the FERRY_* environment, exits EXIT.
echo "run phase=\$FERRY_PHASE hook=\$FERRY_HOOK_ID from=\$FERRY_FROM_VERSION to=\$FERRY_TO_VERSION sites=\$FERRY_SITE_CODES attempt=\$FERRY_ATTEMPT leak=\${LEAK_ME:-none} cwd=\$(pwd)" >>$M/\$1
echo "hook \$1 says hello"
echo "hook \$1 to stderr" >&2
exit \${2:-0}
EOF
cat >$H/svc_up.sh <<EOF
#!/bin/sh
# startup_post: the service must be running now.
"$SVC" status $W/node/run $W/node/server $TESTD && echo up >>$M/svc_up
EOF
cat >$H/undo.sh <<EOF
#!/bin/sh
echo "rollback rolling_back=\$FERRY_HOOK_ROLLBACK" >>$M/undo
EOF
cat >$H/crash_once.sh <<EOF
#!/bin/sh
# Kills the agent running it the first time (a power cut inside the hook), passes later.
echo run >>$M/\$1
if [ ! -e $M/\$1.crashed ]; then touch $M/\$1.crashed; kill -9 \$PPID; sleep 5; fi
exit 0
EOF
cat >$H/slow.sh <<'EOF'
#!/bin/sh
echo "slow start"
sleep 30
EOF
cat >$H/migrate.sql <<'EOF'
ALTER TABLE item ADD COLUMN price INTEGER NOT NULL DEFAULT 0;
GO
INSERT INTO log(what) VALUES ('hook-migrate');
GO
EOF
cat >$H/bad.sql <<'EOF'
INSERT INTO log(what) VALUES ('hook-bad');
GO
INSERT INTO no_such_table VALUES (1);
GO
EOF

# The data the checks look at: 15 orders without a user, 3 negative amounts.
add_orders() {
    sqlite3 $N/db/main.db "CREATE TABLE orders(id INTEGER PRIMARY KEY, user_id INTEGER, amount INTEGER);
        WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 100)
        INSERT INTO orders(user_id, amount) SELECT CASE WHEN i <= 15 THEN NULL ELSE i END,
            CASE WHEN i > 97 THEN -i ELSE i END FROM c;"
}
svc_pid() { cat $N/run/svc.pid; }
rfield() { "$PY" -c 'import json,sys; print(eval(sys.argv[2], {"r": json.load(open(sys.argv[1]))}))' "$1" "$2"; }
hook_outcome() { rfield "$1" "[h['outcome'] for p in r['phases'] for h in p['hooks'] if h['id'] == '$2'][0]"; }
runs() { [ -f $M/$1 ] && wc -l <$M/$1 || echo 0; }

CHECKS='"pre_check": [
  {"id": "orders_user_null", "name": "orders.user_id must be set", "kind": "check",
   "sql": "SELECT COUNT(*) FROM orders WHERE user_id IS NULL", "threshold": 0, "severity": "fail",
   "suggestion": "UPDATE orders SET user_id=0 WHERE user_id IS NULL;"},
  {"id": "amount_negative", "name": "amounts must not be negative", "kind": "check",
   "sql": "SELECT COUNT(*) FROM orders WHERE amount < 0", "threshold": 0, "severity": "warn"},
  {"id": "amount_huge", "name": "no amount above 1e9", "kind": "check",
   "sql": "SELECT COUNT(*) FROM orders WHERE amount > 1000000000", "threshold": 0}]'

echo "== pre_check fail: nothing changes (files, DB, the running service), report names the check"
hookpkg $W/check.zip "{$CHECKS, \"pre_upgrade\": [{\"id\": \"pre\", \"kind\": \"exec\", \"run\": \"hooks/mark.sh\", \"args\": [\"pre\"]}]}"
node_setup
add_orders
snap old
pid0=$(svc_pid)
agent apply $W/check.zip --config $CFG --version "$V" --json
[ $RC = 1 ] || { cat $W/out $W/err; fail "apply exit $RC"; }
expect_state 110 E_PRECHECK_FAILED
grep -q "orders_user_null" <<<"$(json_field errorMessage)" || fail "error does not name the check"
snap after
same_old old after
[ "$(svc_pid)" = "$pid0" ] && svc_running || fail "service was touched (pid $pid0 -> $(svc_pid))"
[ -z "$(ls $N/backup)" ] || fail "a backup was written: $(ls $N/backup)"
[ "$(runs pre)" = 0 ] || fail "pre_upgrade ran after a failed pre_check"
R=$(json_field upgradeReport)
[ "$R" = "$N/state/reports/$(json_field taskId)/upgrade-report.json" ] && [ -f "$R" ] || fail "report $R"
[ "$(hook_outcome $R orders_user_null)" = FAIL ] || fail "check not FAIL in report"
[ "$(hook_outcome $R amount_negative)" = WARN ] || fail "warn check not WARN"
[ "$(hook_outcome $R amount_huge)" = PASS ] || fail "passing check not PASS"
[ "$(hook_outcome $R pre)" = SKIPPED ] || fail "unreached hook not SKIPPED"
[ "$(rfield $R "[c for c in r['checks'] if c['id'] == 'orders_user_null'][0]['count']")" = 15 ] || fail "count"
T=${R%.json}.txt
grep -q "Check: orders.user_id must be set (orders_user_null)" $T && grep -q "Result: FAIL (15 record(s) found, threshold 0)" $T &&
    grep -q 'Suggestion: run `UPDATE orders SET user_id=0 WHERE user_id IS NULL;`' $T || { cat $T; fail "text report"; }
[ "$(ls $N/tmp)" = "" ] || fail "temp files left: $(ls $N/tmp)"

echo "== retry with --skip-hook: the failing check is skipped, warn passes, the update goes on"
agent apply $W/check.zip --config $CFG --version "$V" --json --skip-hook orders_user_null
expect_state 100
R=$(json_field upgradeReport)
[ "$(hook_outcome $R orders_user_null)" = SKIPPED ] && [ "$(hook_outcome $R amount_negative)" = WARN ] ||
    fail "skip/warn outcomes"
[ "$(runs pre)" = 1 ] || fail "pre_upgrade runs: $(runs pre)"

echo "== every phase passes; site and version matching; clean environment"
ALL="{\"description\": \"hooks e2e\", $CHECKS,
 \"pre_upgrade\": [{\"id\": \"pre\", \"kind\": \"exec\", \"run\": \"hooks/mark.sh\", \"args\": [\"pre\"], \"timeout_seconds\": 30}],
 \"startup_pre_process\": [{\"id\": \"migrate\", \"kind\": \"sql\", \"file\": \"hooks/migrate.sql\"},
    {\"id\": \"spre\", \"kind\": \"exec\", \"run\": \"hooks/mark.sh\", \"args\": [\"spre\"]}],
 \"startup_post_process\": [{\"id\": \"svc_up\", \"kind\": \"exec\", \"run\": \"hooks/svc_up.sh\"}],
 \"post_upgrade\": [
    {\"id\": \"common_post\", \"kind\": \"exec\", \"run\": \"hooks/mark.sh\", \"args\": [\"post\"]},
    {\"id\": \"acme_only\", \"kind\": \"exec\", \"run\": \"hooks/mark.sh\", \"args\": [\"acme\"], \"is_common\": false, \"site_ids\": [\"ACME\", \"ACME-SH01\"]},
    {\"id\": \"beta_only\", \"kind\": \"exec\", \"run\": \"hooks/mark.sh\", \"args\": [\"beta\"], \"is_common\": false, \"site_ids\": [\"BETA\"]},
    {\"id\": \"in_range\", \"kind\": \"exec\", \"run\": \"hooks/mark.sh\", \"args\": [\"inrange\"], \"versions\": {\"min\": \"1.25.0.0(0)\", \"max\": \"1.25.12.99(99999)\"}},
    {\"id\": \"old_range\", \"kind\": \"exec\", \"run\": \"hooks/mark.sh\", \"args\": [\"oldrange\"], \"versions\": {\"max\": \"1.20.0.0(0)\"}}]}"
hookpkg $W/all.zip "$ALL"
node_setup
add_orders
sqlite3 $N/db/main.db "UPDATE orders SET user_id = 0 WHERE user_id IS NULL"
rm -f $M/*
# A report folder whose task left the journal is pruned when a task is created.
mkdir -p $N/state/reports/0rphan && touch $N/state/reports/0rphan/upgrade-report.json
LEAK_ME=secret agent apply $W/all.zip --config $CFG --version "$V" --json --site ACME-SH01 --site NODE7 --from '1.24.0.0(1)'
[ $RC = 0 ] || { cat $W/out $W/err; fail "apply exit $RC"; }
expect_state 100
[ "$(json_field postUpgrade)" = done ] || fail "postUpgrade $(json_field postUpgrade)"
R=$(json_field upgradeReport)
for h in pre spre post acme inrange; do [ "$(runs $h)" = 1 ] || fail "$h ran $(runs $h) times"; done
for h in beta oldrange; do [ "$(runs $h)" = 0 ] || fail "$h ran where it does not apply"; done
[ "$(hook_outcome $R beta_only)" = NOT_APPLICABLE ] && [ "$(hook_outcome $R old_range)" = NOT_APPLICABLE ] ||
    fail "not-applicable outcomes"
grep -q "ACME-SH01, NODE7" <<<"$(rfield $R "[h['reason'] for p in r['phases'] for h in p['hooks'] if h['id'] == 'beta_only'][0]")" ||
    fail "reason does not name the node's codes"
grep -q "from=1.24.0.0(1) to=$V sites=ACME-SH01,NODE7 attempt=1 leak=none" $M/pre || { cat $M/pre; fail "FERRY_* env / clean env"; }
[ "$(sqlite3 $N/db/main.db "SELECT group_concat(what, ',') FROM (SELECT what FROM log ORDER BY seq)")" = "schema,data,hook-migrate" ] ||
    fail "startup_pre sql hook did not run after the package SQL"
sqlite3 $N/db/main.db "SELECT price FROM item LIMIT 1" >/dev/null || fail "migrate hook did not add the column"
grep -q "file=hook migrate hooks/migrate.sql" "$(json_field backupPath)/sql.log" || fail "hook SQL not in sql.log"
[ "$(cat $M/svc_up)" = up ] || fail "startup_post ran before the service was up"
[ "$(hook_outcome $R svc_up)" = PASS ] || fail "svc_up"
grep -q "hook pre says hello" <<<"$(rfield $R "[h['outputTail'] for p in r['phases'] for h in p['hooks'] if h['id'] == 'pre'][0]")" ||
    fail "output not captured"
[ "$(rfield $R "r['flagged']")" = False ] || fail "flagged without a failure"
[ ! -e $N/state/reports/0rphan ] || fail "orphan report folder not pruned"
agent status --config $CFG --json
[ "$(json_field upgradeReport)" = "$R" ] || fail "status --json upgradeReport: $(json_field upgradeReport)"

echo "== startup_pre failure rolls back files and DB (120 -> 130)"
hookpkg $W/spre_fail.zip '{"startup_pre_process": [{"id": "bad_sql", "kind": "sql", "file": "hooks/bad.sql"}]}'
node_setup
snap old
agent apply $W/spre_fail.zip --config $CFG --version "$V" --json
expect_state 130 E_HOOK_FAILED
snap back
same_old old back
svc_running || fail "service not running after the rollback"
grep -q "no_such_table" <<<"$(json_field errorMessage)" || fail "error does not carry the SQL error"

echo "== startup_post: on_failure continue keeps 100 (flagged), rollback (default) goes to 130"
hookpkg $W/spost_cont.zip '{"startup_post_process": [{"id": "post_fail", "kind": "exec", "run": "hooks/mark.sh", "args": ["spc", "3"], "on_failure": "continue"}]}'
node_setup
agent apply $W/spost_cont.zip --config $CFG --version "$V" --json
expect_state 100
R=$(json_field upgradeReport)
[ "$(hook_outcome $R post_fail)" = FAIL ] && [ "$(rfield $R "r['flagged']")" = True ] || fail "continue: not FAIL/flagged"
[ "$(cat $N/server/bin/app.dll)" = "new app" ] || fail "continue rolled back"
hookpkg $W/spost_rb.zip '{"startup_post_process": [{"id": "post_fail", "kind": "exec", "run": "hooks/mark.sh", "args": ["spr", "3"], "retries": 1}]}'
node_setup
snap old
rm -f $M/spr
agent apply $W/spost_rb.zip --config $CFG --version "$V" --json
expect_state 130 E_HOOK_FAILED
[ "$(runs spr)" = 2 ] || fail "retries: ran $(runs spr) times, want 2"
snap back
same_old old back
svc_running || fail "service not running after the startup_post rollback"

echo "== pre_upgrade failure: 110 E_HOOK_FAILED after the hook's rollback, service untouched"
hookpkg $W/pre_fail.zip '{"pre_upgrade": [{"id": "export", "kind": "exec", "run": "hooks/mark.sh", "args": ["exp", "2"], "rollback": "hooks/undo.sh"}]}'
node_setup
snap old
pid0=$(svc_pid)
rm -f $M/undo
agent apply $W/pre_fail.zip --config $CFG --version "$V" --json
expect_state 110 E_HOOK_FAILED
[ "$(cat $M/undo)" = "rollback rolling_back=1" ] || fail "rollback command did not run"
[ "$(svc_pid)" = "$pid0" ] && svc_running || fail "service touched by a pre_upgrade failure"
snap after
same_old old after

echo "== exec timeout: killed, FAIL with the reason"
hookpkg $W/slow.zip '{"pre_upgrade": [{"id": "slow", "kind": "exec", "run": "hooks/slow.sh", "timeout_seconds": 1}]}'
node_setup
t0=$(date +%s)
agent apply $W/slow.zip --config $CFG --version "$V" --json
expect_state 110 E_HOOK_FAILED
[ $(($(date +%s) - t0)) -lt 20 ] || fail "timeout not enforced"
grep -q "timed out after 1 s" <<<"$(json_field errorMessage)" || fail "timeout reason"
pgrep -f "$W/node/tmp/.*slow.sh" >/dev/null && fail "timed-out hook still running"

echo "== post_upgrade failure: reported, task stays 100, nothing rolled back"
hookpkg $W/post_fail.zip '{"post_upgrade": [{"id": "late", "kind": "exec", "run": "hooks/mark.sh", "args": ["late", "4"], "retries": 1}]}'
node_setup
rm -f $M/late
agent apply $W/post_fail.zip --config $CFG --version "$V" --json
[ $RC = 0 ] || fail "post_upgrade failure changed the exit code ($RC)"
expect_state 100
[ "$(json_field postUpgrade)" = failed ] || fail "postUpgrade not failed"
[ "$(runs late)" = 2 ] || fail "post_upgrade retries: $(runs late)"
R=$(json_field upgradeReport)
[ "$(rfield $R "r['flagged']")" = True ] && [ "$(rfield $R "r['state']")" = 100 ] || fail "report not flagged at 100"
[ "$(cat $N/server/bin/app.dll)" = "new app" ] || fail "post_upgrade failure rolled back"

echo "== kill -9 between hooks: finished hooks are not run again"
hookpkg $W/two.zip '{"startup_pre_process": [{"id": "one", "kind": "exec", "run": "hooks/mark.sh", "args": ["one"]}, {"id": "two", "kind": "exec", "run": "hooks/mark.sh", "args": ["two"]}]}'
node_setup
rm -f $M/one $M/two
set +e
FERRY_CRASH_AT=hook.end FERRY_CRASH_AFTER=1 "$AGENT" apply $W/two.zip --config $CFG --version "$V" --json >$W/out 2>$W/err
rc=$?
set -e
[ $rc = 137 ] || { cat $W/err; fail "crash point not hit ($rc)"; }
agent resume --config $CFG --json
expect_state 100
[ "$(runs one)" = 1 ] && [ "$(runs two)" = 1 ] || fail "runs after resume: one=$(runs one) two=$(runs two)"

echo "== kill -9 inside a hook: idempotent -> run again; not idempotent -> rollback"
hookpkg $W/crash_idem.zip '{"startup_pre_process": [{"id": "ci", "kind": "exec", "run": "hooks/crash_once.sh", "args": ["ci"], "idempotent": true}]}'
node_setup
rm -f $M/ci*
agent apply $W/crash_idem.zip --config $CFG --version "$V" --json
[ $RC = 137 ] || { cat $W/err; fail "hook did not kill the agent ($RC)"; }
agent resume --config $CFG --json
expect_state 100
[ "$(runs ci)" = 2 ] || fail "idempotent hook ran $(runs ci) times, want 2"
R=$(json_field upgradeReport)
[ "$(rfield $R "[h['runs'] for p in r['phases'] for h in p['hooks'] if h['id'] == 'ci'][0]")" = 2 ] || fail "runs in report"

hookpkg $W/crash_once.zip '{"startup_pre_process": [{"id": "cn", "kind": "exec", "run": "hooks/crash_once.sh", "args": ["cn"]}]}'
node_setup
snap old
rm -f $M/cn*
agent apply $W/crash_once.zip --config $CFG --version "$V" --json
[ $RC = 137 ] || { cat $W/err; fail "hook did not kill the agent ($RC)"; }
agent resume --config $CFG --json
expect_state 130 E_HOOK_FAILED
[ "$(runs cn)" = 1 ] || fail "non-idempotent hook ran again"
grep -q "not idempotent" <<<"$(json_field errorMessage)" || fail "reason: $(json_field errorMessage)"
snap back
same_old old back

echo "== kill -9 inside post_upgrade: resume finishes it (task stays 100)"
hookpkg $W/crash_post.zip '{"post_upgrade": [{"id": "cp", "kind": "exec", "run": "hooks/crash_once.sh", "args": ["cp"], "idempotent": true}]}'
node_setup
rm -f $M/cp*
agent apply $W/crash_post.zip --config $CFG --version "$V" --json
[ $RC = 137 ] || { cat $W/err; fail "post hook did not kill the agent ($RC)"; }
agent resume --config $CFG --json
expect_state 100
[ "$(json_field postUpgrade)" = done ] && [ "$(runs cp)" = 2 ] || { cat $W/out; fail "post_upgrade not resumed"; }

echo "== hostile hooks.json refused by the agent, nothing changed"
for js in '{"pre_upgrade": [{"id": "x", "kind": "exec", "run": "../../../bin/sh"}]}|pre_upgrade[0].run' \
    '{"pre_upgrade": [{"id": "x", "kind": "exec", "run": "hooks/absent.sh"}]}|is not in the package' \
    '{"post_upgrade": [{"id": "x", "kind": "exec", "run": "hooks/mark.sh", "versions": {"min": "1.2"}}]}|versions.min' \
    '{"pre_upgrade": [{"id": "x", "kind": "exec", "run": "hooks/mark.sh", "sudo": true}]}|pre_upgrade[0].sudo: unknown key'; do
    hookpkg $W/hostile.zip "${js%|*}"
    node_setup
    snap old
    agent apply $W/hostile.zip --config $CFG --version "$V" --json
    expect_state 110 E_PACKAGE_INVALID
    grep -qF "${js#*|}" <<<"$(json_field errorMessage)" || fail "message '$(json_field errorMessage)' lacks '${js#*|}'"
    snap after
    same_old old after
done
echo "PASS"
