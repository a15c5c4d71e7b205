#!/usr/bin/env bash
# Upgrade hooks through the agent daemon: a real ferryd refuses a hostile hooks.json at
# package commit; a real `ferry-agent run` applies a package with hooks: site-specific
# hooks match the binding's customer/store/node codes, the task reaches 100 on the server
# BEFORE the post_upgrade hooks finish (they run in the background), the local report
# ends `postUpgrade: done`; a daemon stopped during a post_upgrade hook resumes the phase
# at its next start.
source "$(dirname "$0")/agentd_lib.sh"

POLL=60 server_start
tree ACME ACME-SH01
site N1 ACME-SH01 none
M=$W/marks
mkdir -p "$M"

# hookpkg VERSION HOOKS_JSON: the usual package plus hooks.json and hooks/*.sh, uploaded.
hookpkg() {
    local v=$1 js=$2 P=$W/hp-$1
    rm -rf "$P"
    mkdir -p "$P/server/bin" "$P/hooks"
    printf 'app %s\n' "$v" >"$P/server/bin/app.txt"
    (cd "$P/server" && zip -qr "$P/server.zip" .)
    printf "INSERT INTO orders(item) VALUES ('%s');\nGO\n" "$v" >"$P/data.sql"
    cat >"$P/hooks/mark.sh" <<EOF
#!/bin/sh
# mark.sh NAME [SLEEP]: sleeps, then records the run with the site codes.
sleep \${2:-0}
echo "sites=\$FERRY_SITE_CODES to=\$FERRY_TO_VERSION" >>$M/\$1
EOF
    chmod 0755 "$P/hooks/mark.sh"
    printf '%s' "$js" >"$P/hooks.json"
    (cd "$P" && zip -q "$W/pkg-$v.zip" server.zip data.sql hooks.json hooks/mark.sh)
    "$FERRY" package upload "$W/pkg-$v.zip" --version "$v" --description "hooks $v" --type full \
        >"$W/upload.out" 2>&1
}

log "server: a hooks.json naming a file the package lacks is refused at commit"
if hookpkg '1.25.12.12(12520)' '{"pre_upgrade": [{"id": "x", "kind": "exec", "run": "hooks/absent.sh"}]}'; then
    fail "hostile hooks.json accepted by the server"
fi
grep -q E_PACKAGE_INVALID "$W/upload.out" || fail "no E_PACKAGE_INVALID: $(cat "$W/upload.out")"
grep -qF "hooks.json: pre_upgrade[0].run: 'hooks/absent.sh' is not in the package" "$W/upload.out" ||
    fail "the server's refusal does not name the field: $(cat "$W/upload.out")"
if hookpkg '1.25.12.12(12520)' '{"pre_upgrade": [{"id": "x", "kind": "exec", "run": "../../etc/passwd"}]}'; then
    fail "escaping hook path accepted by the server"
fi
grep -qF "hooks.json: pre_upgrade[0].run: '../../etc/passwd' escapes" "$W/upload.out" ||
    fail "escaping path: $(cat "$W/upload.out")"

bind N1
agent_start N1
V='1.25.12.13(12521)'
hookpkg "$V" '{"pre_check": [{"id": "tea", "kind": "check", "sql": "SELECT COUNT(*) FROM orders WHERE item IS NULL"}],
 "post_upgrade": [
  {"id": "slow_post", "kind": "exec", "run": "hooks/mark.sh", "args": ["post", "3"]},
  {"id": "store_only", "kind": "exec", "run": "hooks/mark.sh", "args": ["store"], "is_common": false, "site_ids": ["ACME-SH01"]},
  {"id": "other_only", "kind": "exec", "run": "hooks/mark.sh", "args": ["other"], "is_common": false, "site_ids": ["BETA"]}]}' ||
    fail "upload: $(cat "$W/upload.out")"
R=$(release "$V" forced)
wait_states "$R" "N1=100" 60
T=$(task_of "$R" N1)
REPORT=$W/N1/engine/reports/$T/upgrade-report.json
[ -f "$REPORT" ] || fail "no report at $REPORT"
# 100 was reported while the 3-second post_upgrade hook still ran (or had just begun).
[ ! -e "$M/store" ] || log "note: post_upgrade already done when 100 was seen"
for _ in $(seq 150); do
    [ "$(json 'd["postUpgrade"]' <"$REPORT")" = done ] && break
    sleep 0.2
done
[ "$(json 'd["postUpgrade"]' <"$REPORT")" = done ] || fail "post_upgrade not done: $(cat "$REPORT")"
grep -q "sites=ACME,ACME-SH01,N1 to=$V" "$M/post" || fail "site codes: $(cat "$M/post")"
[ -e "$M/store" ] || fail "store-specific hook did not run"
[ ! -e "$M/other" ] || fail "hook for another site ran"
[ "$(json '[h["outcome"] for p in d["phases"] for h in p["hooks"] if h["id"] == "other_only"][0]' <"$REPORT")" = \
    NOT_APPLICABLE ] || fail "other_only not NOT_APPLICABLE"
[ "$(json 'd["state"]' <"$REPORT")" = 100 ] || fail "report state"
grep -q "post_upgrade done" "$W/N1/agent.log" || fail "agent log lacks the post_upgrade outcome"
[ ! -e "$W/N1/tmp/ferry-dl-$T.zip" ] || fail "package kept after post_upgrade"
# The report reaches the server as a report file of kind UPGRADE_REPORT (5), linked to the
# task: the agent's upload is committed, and the task lists it with its summary.
for _ in $(seq 100); do grep -q "uploaded upgrade-report.json .* for task $T" "$W/N1/agent.log" && break; sleep 0.2; done
grep -q "uploaded upgrade-report.json .* for task $T" "$W/N1/agent.log" ||
    fail "upgrade report not uploaded: $(grep upgrade-report "$W/N1/agent.log")"
"$FERRY" --json task get "$T" >"$W/task.json" || fail "task get: $(cat "$W/task.json")"
# (One file when the task ended, another when post_upgrade ended, if that was later.)
[ "$(json 'sorted(set(f["fileName"] for f in d["files"] if f["kind"] in ("FILE_KIND_UPGRADE_REPORT", 5)))' \
    <"$W/task.json")" = "['upgrade-report.json']" ] || fail "task $T lacks its upgrade report: $(cat "$W/task.json")"
json '[f["summary"] for f in d["files"] if f["kind"] in ("FILE_KIND_UPGRADE_REPORT", 5)][0]' <"$W/task.json" |
    grep -q "^upgrade report: [0-9]* hook(s), [0-9]* PASS" || fail "upgrade report summary: $(cat "$W/task.json")"

log "ferry task report: the newest upgrade report of the task, through its signed link"
for _ in $(seq 100); do
    "$FERRY" --json task report "$T" >"$W/report.json" 2>"$W/report.err" &&
        [ "$(json 'd["postUpgrade"]' <"$W/report.json")" = done ] && break
    sleep 0.2
done
[ "$(json 'd["postUpgrade"]' <"$W/report.json")" = done ] ||
    fail "task report --json: $(cat "$W/report.json" "$W/report.err")"
# --json is the document as the node wrote it, byte for byte.
cmp -s "$W/report.json" "$REPORT" || fail "task report --json differs from the node's $REPORT"
"$FERRY" task report "$T" >"$W/report.txt" 2>&1 || fail "task report: $(cat "$W/report.txt")"
grep -q "^Task: *$T (" "$W/report.txt" || fail "report header: $(cat "$W/report.txt")"
grep -q "1. Check: .* (tea)" "$W/report.txt" || fail "report checks: $(cat "$W/report.txt")"
grep -qE "^  NOT_APPLICABLE +other_only" "$W/report.txt" || fail "report hooks: $(cat "$W/report.txt")"
grep -q "^Totals:.* hooks 4" "$W/report.txt" || fail "report totals: $(cat "$W/report.txt")"
if "$FERRY" task report 99999 >"$W/report.out" 2>&1; then fail "a task without a report printed one"; fi
grep -q E_NOT_FOUND "$W/report.out" || fail "no E_NOT_FOUND: $(cat "$W/report.out")"
grep -q "task 99999 has no upgrade report" "$W/report.out" || fail "E_NOT_FOUND names no task: $(cat "$W/report.out")"

log "daemon stopped inside a post_upgrade hook: the next start resumes the phase"
V2='1.25.12.14(12522)'
hookpkg "$V2" '{"post_upgrade": [{"id": "long_post", "kind": "exec", "run": "hooks/mark.sh", "args": ["long", "4"], "idempotent": true}]}' ||
    fail "upload: $(cat "$W/upload.out")"
rm -f "$M/long"
R2=$(release "$V2" forced)
wait_states "$R2" "N1=100" 60
T2=$(task_of "$R2" N1)
for _ in $(seq 100); do grep -q "task $T2: post_upgrade: post_upgrade long_post" "$W/N1/agent.log" && break; sleep 0.1; done
sleep 0.5 # the hook's sleep is running
t0=$SECONDS
agent_stop N1 TERM
# SIGTERM reaches the hook (not blocked like in the daemon's threads): no 5 s SIGKILL wait.
[ $((SECONDS - t0)) -le 3 ] || fail "stopping the agent took $((SECONDS - t0)) s"
[ ! -e "$M/long" ] || fail "the stopped hook finished anyway"
REPORT2=$W/N1/engine/reports/$T2/upgrade-report.json
agent_start N1
for _ in $(seq 150); do
    [ -f "$REPORT2" ] && [ "$(json 'd["postUpgrade"]' <"$REPORT2")" = done ] && break
    sleep 0.2
done
[ "$(json 'd["postUpgrade"]' <"$REPORT2")" = done ] || fail "post_upgrade not resumed: $(cat "$REPORT2")"
[ "$(wc -l <"$M/long")" = 1 ] || fail "long_post ran $(wc -l <"$M/long") times to the end"
[ "$(json '[h["runs"] for p in d["phases"] for h in p["hooks"] if h["id"] == "long_post"][0]' <"$REPORT2")" = 2 ] ||
    fail "long_post runs != 2"
log "PASS"
