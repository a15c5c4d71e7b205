#!/usr/bin/env bash
# Crash safety: kill -9 the engine (FERRY_CRASH_AT) at every state and inside backup,
# install, SQL and restore, then `ferry-agent resume`. Every run must end Succeeded or
# Rollbacked with the server tree, client tree and database equal to the new or the old
# version, never a mix. A step that crashes every time must end, bounded.
source "$(dirname "$0")/engine_lib.sh"
new_version_trees
mkpkg $W/good.zip --server $NEW/server --client $NEW/client --schema $W/schema.sql --data $W/data.sql
printf "INSERT INTO log(what) VALUES ('partial');\nGO\nINSERT INTO nope VALUES (1);\nGO\n" >$W/bad.sql
mkpkg $W/bad.zip --server $NEW/server --client $NEW/client --schema $W/schema.sql --data $W/bad.sql

# Reference snapshots: the old installation, and the result of an uninterrupted apply.
node_setup
snap old
agent apply $W/good.zip --config $CFG --version "$V" --json
expect_state 100
snap new
svc_kill

hit=0
run_case() { # run_case PKG POINT [AFTER]
    local pkg=$1 point=$2 after=${3:-1}
    node_setup
    set +e
    FERRY_CRASH_AT=$point FERRY_CRASH_AFTER=$after "$AGENT" apply $pkg --config $CFG --version "$V" --json \
        >$W/out 2>$W/err
    local rc=$?
    set -e
    if [ $rc = 137 ]; then
        hit=$((hit + 1))
        agent resume --config $CFG --json
    fi
    local st
    st=$(json_field state)
    case $st in
    100) snap end && same_snap new end ;;
    130) snap end && same_old old end ;;
    *) cat $W/out $W/err >&2; fail "$point: ended in state $st" ;;
    esac
    svc_running || fail "$point: service not running at the end"
    agent status --config $CFG --json
    [ "$(json_field active)" = False ] || fail "$point: task still active"
    printf '  %-24s %s -> %s\n' "$point${3:+#$3}" "$([ $rc = 137 ] && echo killed || echo 'not hit')" "$st"
}

echo "== crash at every state of a successful apply"
for s in 10 30 50 60 70 75 80 90 100; do
    run_case $W/good.zip state.$s
done
# After a step finished but before the next state was journaled (redo must be harmless).
for s in 60 70 75 80 90; do
    run_case $W/good.zip state.$s.done
done
echo "== crash inside backup, install and SQL"
for p in backup.server.file backup.client.entry backup.client.rename backup.db.done backup.finalize \
    extract.file install.server.file install.server.delete install.client.file install.client.delete; do
    run_case $W/good.zip $p
done
run_case $W/good.zip sql.batch 1
run_case $W/good.zip sql.batch 3
echo "== crash during an automatic rollback (SQL failure)"
for p in state.120 restore.server.file restore.server.delete restore.client.file state.130; do
    run_case $W/bad.zip $p
done
[ $hit -ge 29 ] || fail "only $hit crash points were reached"

echo "== a step that crashes every time ends bounded (install -> rollback)"
node_setup
export FERRY_CRASH_AT=install.server.file
set +e
"$AGENT" apply $W/good.zip --config $CFG --version "$V" --json >$W/out 2>$W/err
for i in 1 2 3 4 5 6; do
    "$AGENT" resume --config $CFG --json >$W/out 2>$W/err
    [ $? != 137 ] && break
done
set -e
unset FERRY_CRASH_AT
[ $i -le 4 ] || fail "crash loop not bounded ($i resumes)"
expect_state 130 E_INSTALL_FAILED_SERVER
snap end && same_old old end

echo "== a rollback that crashes every time ends Failed E_ROLLBACK_FAILED"
node_setup
export FERRY_CRASH_AT=restore.server.file
set +e
"$AGENT" apply $W/bad.zip --config $CFG --version "$V" --task-id r1 --json >$W/out 2>$W/err
for i in 1 2 3 4 5 6; do
    "$AGENT" resume --config $CFG --json >$W/out 2>$W/err
    [ $? != 137 ] && break
done
set -e
unset FERRY_CRASH_AT
[ $i -le 4 ] || fail "rollback crash loop not bounded ($i resumes)"
expect_state 110 E_ROLLBACK_FAILED
B=$(json_field backupPath)
[ -f "$B/.ferry-backup-complete" ] || fail "backup not left intact after failed rollback"
echo "  a new attempt of the task (server retry) reuses that backup, not the half-restored state"
backups_before=$(ls $N/backup | wc -l)
agent apply $W/good.zip --config $CFG --version "$V" --task-id r1 --json
expect_state 100
[ "$(json_field taskId)" = r1 ] || fail "the new attempt is not task r1"
[ "$(json_field backupPath)" = "$B" ] || fail "new attempt took backup $(json_field backupPath), not $B"
[ "$(ls $N/backup | wc -l)" = "$backups_before" ] || fail "the new attempt wrote another backup folder"
[ "$(sqlite3 $N/state/journal.db "SELECT count(*) FROM event WHERE task_id = 'r1' AND message LIKE
    'new attempt after 110 Failed (E_ROLLBACK_FAILED%reusing backup %'")" = 1 ] || fail "journal: no new-attempt event"
agent apply $W/good.zip --config $CFG --version "$V" --task-id r1 --json
[ "$RC" = 3 ] && grep -q "task r1: a new attempt continues only a Failed apply.*in 100 Succeeded" $W/out $W/err ||
    fail "a Succeeded task started again: $(cat $W/out $W/err)"
echo "  manual rollback afterwards restores the old version"
agent rollback --version "$V" --config $CFG --json
expect_state 130
snap end && same_old old end

echo "PASS engine_crash ($hit crash points reached)"
