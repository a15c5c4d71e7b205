#!/usr/bin/env bash
# `ferry task retry ID --skip HOOK_ID` (issue 11) with a real ferryd and a real `ferry-agent
# run`: a task stopped by a failing pre_check (110 E_PRECHECK_FAILED) is retried. Skipping
# a check of severity fail needs the sysadmin role; an implementer is refused (E_PERMISSION,
# audited DENIED), as are unknown and malformed ids, and each refusal changes nothing (state,
# attempt, history, stored skip list). An implementer may skip a warn check; the agent
# receives the list in Assignment.skip_hook_ids and reports those hooks SKIPPED. A sysadmin
# skipping the failing check (--skip-failed-hook: the hooks the agent reported FAIL in the
# last attempt) lets the upgrade through. The agent reports every hook's result as it
# happens: `task get` lists them, post_upgrade's included after the task reached 100.
source "$(dirname "$0")/agentd_lib.sh"

POLL=60 server_start
tree ACME ACME-SH01
site N1 ACME-SH01 none
DB=$W/data/ferry.db
IMPL=$("$FERRY" token create --name impl --role implementer --json | json 'd["token"]')

P=$W/hp
mkdir -p "$P/server/bin" "$P/hooks"
printf 'app 2\n' >"$P/server/bin/app.txt"
(cd "$P/server" && zip -qr "$P/server.zip" .)
printf '#!/bin/sh\necho post >>%s/post.mark\n' "$W" >"$P/hooks/mark.sh"
chmod 0755 "$P/hooks/mark.sh"
cat >"$P/hooks.json" <<'JSON'
{"pre_check": [
  {"id": "tea_gone", "kind": "check", "sql": "SELECT COUNT(*) FROM orders WHERE item = 'tea'", "threshold": 0,
   "severity": "fail", "suggestion": "DELETE FROM orders WHERE item = 'tea';"},
  {"id": "soft", "kind": "check", "sql": "SELECT COUNT(*) FROM orders", "threshold": 0, "severity": "warn"}],
 "post_upgrade": [{"id": "mark", "kind": "exec", "run": "hooks/mark.sh"}]}
JSON
(cd "$P" && zip -q "$W/pkg.zip" server.zip hooks.json hooks/mark.sh)
V='1.25.12.13(12521)'
"$FERRY" package upload "$W/pkg.zip" --version "$V" --description hooks --type full >"$W/upload.out" 2>&1 ||
    fail "upload: $(cat "$W/upload.out")"

bind N1
agent_start N1
R=$(release "$V" forced)
wait_states "$R" "N1=110" 60
T=$(task_of "$R" N1)
REPORT=$W/N1/engine/reports/$T/upgrade-report.json
"$FERRY" --json task get "$T" | json 'd["task"]["errorCode"]' | grep -qx E_PRECHECK_FAILED || fail "not a pre_check failure"

# The agent reported each hook's result: the server lists them on the task.
hook_result() { # hook_result TASK HOOK_ID -> RESULT name (HOOK_RESULT_FAIL ...) or ""
    "$FERRY" --json task get "$1" | json "([h.get('result', '') for h in d['task'].get('hooks', []) if h['hookId'] == '$2'] + [''])[0]"
}
[ "$(hook_result "$T" tea_gone)" = HOOK_RESULT_FAIL ] || fail "tea_gone not FAIL on the server: $("$FERRY" --json task get "$T")"
[ "$(hook_result "$T" soft)" = HOOK_RESULT_WARN ] || fail "soft not WARN on the server"
"$FERRY" task get "$T" >"$W/get.out" 2>&1 || fail "task get: $(cat "$W/get.out")"
grep -q "^  pre_check tea_gone: FAIL (" "$W/get.out" || fail "task get does not show the failed hook: $(cat "$W/get.out")"

# snapshot: what a refused retry must leave as it was.
snap() {
    sqlite3 "$DB" "SELECT state, attempt, error_code, updated_at, skip_hooks_json FROM update_task WHERE id = $T;
                   SELECT count(*) FROM task_event WHERE task_id = $T;"
}
refused() { # refused CODE MESSAGE TOKEN ARGS...: the retry fails naming the culprit, nothing changes
    local code=$1 msg=$2 tok=$3 before after
    shift 3
    before=$(snap)
    if "$FERRY" --token "$tok" task retry "$T" "$@" >"$W/retry.out" 2>&1; then
        fail "retry $* accepted: $(cat "$W/retry.out")"
    fi
    grep -q "$code" "$W/retry.out" || fail "retry $*: no $code: $(cat "$W/retry.out")"
    grep -qF "$msg" "$W/retry.out" || fail "retry $*: message does not say '$msg': $(cat "$W/retry.out")"
    after=$(snap)
    [ "$before" = "$after" ] || fail "retry $* changed the task: '$before' -> '$after'"
}

log "refusals change nothing"
refused E_PERMISSION "'tea_gone' is a check of severity fail: skipping it needs the SYSADMIN role" "$IMPL" \
    --skip soft --skip tea_gone
[ "$(sqlite3 "$DB" "SELECT count(*) FROM audit_log WHERE method LIKE '%RetryTask' AND outcome = 3
                    AND error_code = 'E_PERMISSION'")" = 1 ] || fail "the denied retry is not audited"
refused E_PERMISSION "skip_failed_hook: 'tea_gone' is a check of severity fail: skipping it needs the SYSADMIN role" \
    "$IMPL" --skip-failed-hook
refused E_INVALID_ARG "package $V has no hook 'nosuch'" "$ADMIN_TOKEN" --skip nosuch
refused E_INVALID_ARG "skip_hook_ids[0]: 'bad/id' is not a hook id" "$ADMIN_TOKEN" --skip 'bad/id'
[ ! -e "$W/post.mark" ] || fail "a hook ran"

log "an implementer skips a warn check: the agent gets the list and reports it SKIPPED"
"$FERRY" --token "$IMPL" task retry "$T" --skip soft --skip soft --reason "warn only" >"$W/retry.out" 2>&1 ||
    fail "implementer retry --skip soft: $(cat "$W/retry.out")"
[ "$(sqlite3 "$DB" "SELECT skip_hooks_json FROM update_task WHERE id = $T")" = '["soft"]' ] ||
    fail "skip list not stored (duplicates dropped)"
"$FERRY" --json task events "$T" | grep -q "retry requested (skip: soft): warn only" || fail "history lacks the skip list"
# The server counts attempts from 0: the retry made this attempt 1. The agent runs it as a
# new attempt of the same task id (not a stale view of the first one): it fails on tea_gone
# again, and its report shows soft SKIPPED.
# (The agent may already be at work on it: only the counter is checked here.)
[ "$(sqlite3 "$DB" "SELECT attempt FROM update_task WHERE id = $T")" = 1 ] ||
    fail "retry did not make attempt 1: $(sqlite3 "$DB" "SELECT state, attempt FROM update_task WHERE id = $T")"
soft_outcome() { json '[h["outcome"] for p in d["phases"] for h in p["hooks"] if h["id"] == "soft"][0]' <"$REPORT"; }
ok=0
for _ in $(seq 150); do
    if [ "$(sqlite3 "$DB" "SELECT state || '/' || attempt FROM update_task WHERE id = $T")" = 110/1 ] &&
        [ "$(soft_outcome)" = SKIPPED ]; then
        ok=1
        break
    fi
    sleep 0.2
done
[ $ok = 1 ] || fail "attempt 1 did not end 110 with soft SKIPPED: task $(sqlite3 "$DB" "SELECT state, attempt FROM update_task
    WHERE id = $T"), report $(cat "$REPORT")"
[ "$(sqlite3 "$DB" "SELECT error_code FROM update_task WHERE id = $T")" = E_PRECHECK_FAILED ] ||
    fail "second attempt: not E_PRECHECK_FAILED"
grep -q "task $T: retried by the server: attempt 1 starts (skipping soft)" "$W/N1/agent.log" ||
    fail "the agent did not log the new attempt"
J=$W/N1/engine/journal.db
[ "$(sqlite3 "$J" "SELECT count(*) FROM task WHERE task_id = '$T'")" = 1 ] || fail "journal: not one row for task $T"
[ "$(sqlite3 "$J" "SELECT count(*) FROM event WHERE task_id = '$T' AND message LIKE 'new attempt after 110 Failed%'")" = 1 ] ||
    fail "journal: no new-attempt event for task $T"
[ "$(sqlite3 "$W/N1/state/agent.db" "SELECT phase || '/' || attempt FROM task WHERE id = '$T'")" = 3/1 ] ||
    fail "agent.db: task $T not DONE at attempt 1"

log "a restart with the task final on the server (no new retry) runs nothing"
agent_stop N1
agent_start N1
sleep 2
[ "$(sqlite3 "$DB" "SELECT state || '/' || attempt FROM update_task WHERE id = $T")" = 110/1 ] ||
    fail "the restart changed the task: $(sqlite3 "$DB" "SELECT state, attempt FROM update_task WHERE id = $T")"
[ "$(grep -c "task $T: retried by the server" "$W/N1/agent.log")" = 1 ] || fail "the restart revived the task"
[ "$(sqlite3 "$J" "SELECT count(*) FROM event WHERE task_id = '$T' AND message LIKE 'new attempt%'")" = 1 ] ||
    fail "the restart started an engine attempt"

log "a sysadmin skips the failing check: the upgrade goes through"
# attempt 1 reported soft SKIPPED and tea_gone FAIL again: only tea_gone is "the failed hook".
[ "$(hook_result "$T" soft)" = HOOK_RESULT_SKIPPED ] || fail "soft not SKIPPED on the server in attempt 1"
"$FERRY" task retry "$T" --skip-failed-hook >"$W/retry.out" 2>&1 ||
    fail "sysadmin retry: $(cat "$W/retry.out")"
[ "$(sqlite3 "$DB" "SELECT skip_hooks_json FROM update_task WHERE id = $T")" = '["tea_gone"]' ] ||
    fail "--skip-failed-hook did not skip tea_gone: $(sqlite3 "$DB" "SELECT skip_hooks_json FROM update_task WHERE id = $T")"
"$FERRY" --json task events "$T" | grep -q "retry requested (skip failed hook) (skip: tea_gone)" ||
    fail "history lacks the failed hook skipped"
[ "$(sqlite3 "$DB" "SELECT count(*) FROM audit_log WHERE method LIKE '%RetryTask' AND outcome = 1")" = 2 ] ||
    fail "the retries are not audited"
wait_states "$R" "N1=100" 60
[ "$(sqlite3 "$DB" "SELECT attempt FROM update_task WHERE id = $T")" = 2 ] || fail "the second retry is not attempt 2"
[ "$(sqlite3 "$W/N1/state/agent.db" "SELECT phase || '/' || attempt FROM task WHERE id = '$T'")" = 3/2 ] ||
    fail "agent.db: task $T not DONE at attempt 2"
[ "$(local_call N1 GetStatus '{}' | json 'd["status"]["lastTask"]["attempt"]')" = 2 ] || fail "the tray does not see attempt 2"
for _ in $(seq 100); do [ -e "$W/post.mark" ] && break; sleep 0.2; done
[ -e "$W/post.mark" ] || fail "post_upgrade did not run"
# post_upgrade ran after 100: its result reaches the server as a hook-only report.
for _ in $(seq 100); do [ "$(hook_result "$T" mark)" = HOOK_RESULT_PASS ] && break; sleep 0.2; done
[ "$(hook_result "$T" mark)" = HOOK_RESULT_PASS ] || fail "post_upgrade's mark not PASS on the server: $("$FERRY" --json task get "$T")"
[ "$(hook_result "$T" tea_gone)" = HOOK_RESULT_SKIPPED ] || fail "tea_gone not SKIPPED on the server"
[ "$(sqlite3 "$DB" "SELECT state || '/' || error_code FROM update_task WHERE id = $T")" = 100/ ] ||
    fail "the hook-only report changed the final task: $(sqlite3 "$DB" "SELECT state, error_code FROM update_task WHERE id = $T")"
[ "$(json '[h["outcome"] for p in d["phases"] for h in p["hooks"] if h["id"] == "tea_gone"][0]' <"$REPORT")" = SKIPPED ] ||
    fail "tea_gone not SKIPPED: $(cat "$REPORT")"
# The attempt lists its own hooks: soft ran again (WARN: not skipped this time).
[ "$(soft_outcome)" = WARN ] || fail "soft not re-run in attempt 2: $(cat "$REPORT")"
[ "$(cat "$W/N1/server/bin/app.txt")" = "app 2" ] || fail "the package was not installed"
[ "$(sqlite3 "$J" "SELECT state FROM task WHERE task_id = '$T'")" = 100 ] || fail "journal: task $T not 100"
[ "$(sqlite3 "$J" "SELECT count(*) FROM event WHERE task_id = '$T' AND message LIKE 'new attempt after 110 Failed%'")" = 2 ] ||
    fail "journal: not two new-attempt events"
log "checkpoint: a failed pre_upgrade hook is retried after the last one that passed"
P2=$W/hp2
mkdir -p "$P2/server/bin" "$P2/hooks"
printf 'app 3\n' >"$P2/server/bin/app.txt"
(cd "$P2/server" && zip -qr "$P2/server.zip" .)
printf '#!/bin/sh\necho run >>%s/a.runs\n' "$W" >"$P2/hooks/a.sh"
printf '#!/bin/sh\necho run >>%s/b.runs\n[ -e %s/b.ok ]\n' "$W" "$W" >"$P2/hooks/b.sh"
chmod 0755 "$P2/hooks/a.sh" "$P2/hooks/b.sh"
cat >"$P2/hooks.json" <<'JSON'
{"pre_upgrade": [{"id": "export_a", "kind": "exec", "run": "hooks/a.sh"},
                 {"id": "export_b", "kind": "exec", "run": "hooks/b.sh"}]}
JSON
(cd "$P2" && zip -q "$W/pkg2.zip" server.zip hooks.json hooks/a.sh hooks/b.sh)
V2='1.25.12.14(12522)'
"$FERRY" package upload "$W/pkg2.zip" --version "$V2" --description checkpoint --type full >"$W/upload2.out" 2>&1 ||
    fail "upload 2: $(cat "$W/upload2.out")"
R2=$(release "$V2" forced)
wait_states "$R2" "N1=110" 60 || fail "pre_upgrade failure did not end 110"
T2=$(task_of "$R2" N1)
"$FERRY" --json task get "$T2" >"$W/t2.json"
json 'd["task"]["errorCode"]' <"$W/t2.json" | grep -qx E_HOOK_FAILED || fail "not a hook failure: $(cat "$W/t2.json")"
[ "$(hook_result "$T2" export_a)/$(hook_result "$T2" export_b)" = HOOK_RESULT_PASS/HOOK_RESULT_FAIL ] ||
    fail "export_a/export_b not PASS/FAIL on the server: $(cat "$W/t2.json")"
# The final report carries the checkpoint: the server keeps it for the retry.
for _ in $(seq 50); do
    [ "$(sqlite3 "$DB" "SELECT checkpoint FROM update_task WHERE id = $T2")" = export_a ] && break
    sleep 0.2
done
[ "$(sqlite3 "$DB" "SELECT checkpoint FROM update_task WHERE id = $T2")" = export_a ] ||
    fail "checkpoint not reported: '$(sqlite3 "$DB" "SELECT checkpoint FROM update_task WHERE id = $T2")'"
[ "$(wc -l <"$W/a.runs")" = 1 ] && [ "$(wc -l <"$W/b.runs")" = 1 ] || fail "hooks did not run once each"
[ "$(cat "$W/N1/server/bin/app.txt")" = "app 2" ] || fail "a failed pre_upgrade changed the installation"
touch "$W/b.ok"
"$FERRY" task retry "$T2" --reason "b fixed" >"$W/retry2.out" 2>&1 || fail "retry: $(cat "$W/retry2.out")"
wait_states "$R2" "N1=100" 60 || fail "the retry did not reach 100"
[ "$(wc -l <"$W/a.runs")" = 1 ] || fail "export_a ran again although it passed before the checkpoint"
[ "$(wc -l <"$W/b.runs")" = 2 ] || fail "export_b did not run again"
[ "$(cat "$W/N1/server/bin/app.txt")" = "app 3" ] || fail "the retried package was not installed"
log "PASS"
