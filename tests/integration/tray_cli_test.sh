#!/usr/bin/env bash
# ferry-tray's terminal mode against a real ferryd and a real `ferry-agent run` (issue 10):
# bind (a wrong token and bad input refused, nothing stored), node configuration shown,
# refused on a bad value (exit 2 naming the field, file unchanged) and set + uploaded
# (then `ferry node-config get` shows it read-only, password masked), an optional update
# deferred (past the deadline refused) then accepted and followed to 100, an offline
# package (tampered one refused with E_HASH_MISMATCH, the real one applied), --help
# everywhere and --json as one object.
source "$(dirname "$0")/agentd_lib.sh"
TRAY=${FERRY_TRAY:-$B/tray/ferry-tray}
[ -x "$TRAY" ] || { echo "SKIP: $TRAY not built"; exit 77; }
S=$W/N1/state
tray() { "$TRAY" "$@" --state-dir "$S"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

log "--help everywhere"
for c in "" status bind "config" updates update apply-offline; do
    # shellcheck disable=SC2086
    "$TRAY" $c --help >"$W/help.txt" || fail "ferry-tray $c --help exited $?"
    grep -q "usage: ferry-tray" "$W/help.txt" || fail "ferry-tray $c --help: $(cat "$W/help.txt")"
done
grep -q "backup.retentionN" <("$TRAY" config --help) || fail "config --help does not list the keys"

POLL=60 server_start
tree ACME ACME-SH01
site N1 ACME-SH01

log "agent not running: status says so, exit 3"
set +e
tray status --json >"$W/st.json" 2>"$W/st.err"
rc=$?
set -e
[ $rc = 3 ] || fail "status without agent: exit $rc"
json 'd["error"]["code"]' <"$W/st.json" | grep -qx E_UNAVAILABLE || fail "status without agent: $(cat "$W/st.json")"

agent_start N1
tray status --json >"$W/st.json" || fail "status"
json 'd["trayState"]' <"$W/st.json" | grep -qx not-bound || fail "unbound agent: $(cat "$W/st.json")"

log "bind: bad input and a wrong token are refused, nothing stored"
set +e
echo tok | tray bind --server "$FERRY_SERVER" --node N1 --env STAGE --token-file - >/dev/null 2>"$W/b.err"
rc=$?
set -e
[ $rc = 2 ] && grep -q "E_INVALID_ARG" "$W/b.err" && grep -q "environment" "$W/b.err" || fail "bad env: rc $rc $(cat "$W/b.err")"
set +e
echo wrong-token | tray bind --server "$FERRY_SERVER" --node N1 --env PROD --token-file - --json >"$W/b.json" 2>"$W/b.err"
rc=$?
set -e
[ $rc = 3 ] || fail "wrong token: exit $rc"
json 'd["error"]["code"] + " " + d["error"]["field"]' <"$W/b.json" | grep -qx "E_AUTH_INVALID --token-file" ||
    fail "wrong token: $(cat "$W/b.json")"
[ ! -e "$S/token" ] && [ ! -e "$S/binding.json" ] || fail "a refused bind stored something"
tray status --json | json 'd["trayState"]' | grep -qx not-bound || fail "refused bind changed the status"
tray bind --server "$FERRY_SERVER" --node N1 --env PROD --token-file "$W/N1.token" >"$W/b.out" 2>&1 ||
    fail "bind: $(cat "$W/b.out")"
grep -q "bound to $FERRY_SERVER as node N1 (ACME / ACME-SH01, PROD)" "$W/b.out" || fail "bind output: $(cat "$W/b.out")"
grep -q "$(cat "$W/N1.token")" "$W/b.out" && fail "the token was printed"
[ "$(stat -c %a "$S/token")" = 600 ] || fail "token not stored 0600 by the agent"
for _ in $(seq 100); do
    tray status --json | json 'd["status"].get("link")' | grep -qx SERVER_LINK_STREAMING && break
    sleep 0.1
done
tray status | tee "$W/status.txt"
grep -q "binding:    node N1 (ACME / ACME-SH01, PROD)" "$W/status.txt" || fail "status after bind"
grep -q "link:       streaming" "$W/status.txt" || fail "not streaming after bind"

log "config: show, a bad value refused naming the field (file unchanged), set + upload"
tray config show >"$W/cfg.txt" || fail "config show"
grep -q "backup.retentionN *= 5" "$W/cfg.txt" || fail "config show: $(cat "$W/cfg.txt")"
tray config show --json | json 'd["config"]["backup"]["retentionN"]' | grep -qx 5 || fail "config show --json"
before=$(sha "$W/N1/node-config.json")
for bad in "backup.retentionN=0" "backup.retentionN=lots" "paths.serverDir=relative/dir" "no.such.key=1" \
    "deploy.deleteOldFiles=maybe"; do
    set +e
    tray config set "$bad" --json >"$W/set.json" 2>"$W/set.err"
    rc=$?
    set -e
    key=${bad%%=*}
    [ $rc = 2 ] || fail "config set $bad: exit $rc"
    grep -q "E_INVALID_ARG: $key" "$W/set.err" || fail "config set $bad: $(cat "$W/set.err")"
    json 'd["error"]["field"]' <"$W/set.json" | grep -qx "$key" || fail "config set $bad --json: $(cat "$W/set.json")"
done
# The agent's own rules (cross-field) also come back on their field.
set +e
tray config set "paths.protectPaths=/elsewhere/x" >/dev/null 2>"$W/set.err"
rc=$?
set -e
[ $rc = 2 ] && grep -q "E_INVALID_ARG: paths.protectPaths" "$W/set.err" || fail "agent-side refusal: rc $rc $(cat "$W/set.err")"
[ "$(sha "$W/N1/node-config.json")" = "$before" ] || fail "a refused config set changed node-config.json"
tray config set backup.retentionN=3 service.stopTimeoutSeconds=30 >"$W/set.out" 2>&1 || fail "config set: $(cat "$W/set.out")"
grep -q "saved configVersion 2 .* and uploaded it to the server" "$W/set.out" || fail "config set output: $(cat "$W/set.out")"
grep -q '"retentionN": 3' "$W/N1/node-config.json" || fail "node-config.json not rewritten"
"$FERRY" node-config get N1 --json >"$W/srv.json"
json 'd["summary"]["configVersion"] + " " + str(d["summary"]["config"]["backup"]["retentionN"]) + " " + str(d["summary"]["config"]["service"]["stopTimeoutSeconds"])' <"$W/srv.json" |
    grep -qx "2 3 30" || fail "server's node-config view: $(cat "$W/srv.json")"
"$FERRY" node-config get N1 >"$W/srv.txt"
log "the server's read-only view: $(grep -i -m1 version "$W/srv.txt")"
log "a password given on stdin is stored by the agent, never shown"
printf 'Server=127.0.0.1;User Id=sa;Password=Sup3r;Secret;\n' >"$W/cs.bad"
printf 'Server=127.0.0.1;User Id=sa;Password={Sup3r;Secret};\n' >"$W/cs.txt"
set +e
tray config set backup.db.engine=mssql backup.db.sqlConnectionString=- <"$W/cs.bad" >/dev/null 2>"$W/set.err"
rc=$?
set -e
[ $rc = 2 ] && grep -q "backup.db.sqlConnectionString" "$W/set.err" || fail "unparsable connstr: rc $rc $(cat "$W/set.err")"
grep -q "Sup3r" "$W/set.err" && fail "the password was printed in an error"
tray config set backup.db.engine=mssql backup.db.sqlConnectionString=- <"$W/cs.txt" >"$W/set.out" 2>&1 || fail "connstr set: $(cat "$W/set.out")"
grep -q "Sup3r;Secret" "$W/N1/node-config.json" || fail "the agent did not store the password"
tray config show | grep sqlConnectionString | tee "$W/cs.show"
grep -q "Password=\*\*\*" "$W/cs.show" && ! grep -q Sup3r "$W/cs.show" || fail "config show leaks the password"
for _ in $(seq 100); do
    "$FERRY" node-config get N1 --json | json 'd["summary"]["configVersion"]' | grep -qx 3 && break
    sleep 0.1
done
"$FERRY" node-config get N1 --json >"$W/srv.json"
grep -q Sup3r "$W/srv.json" && fail "the server shows the password"
grep -q '\*\*\*' "$W/srv.json" || fail "the server's view has no masked password: $(cat "$W/srv.json")"
tray config set backup.db.password=- <<<"N3xt" >/dev/null 2>&1 || fail "backup.db.password"
grep -q '"Server=127.0.0.1;User Id=sa;Password={N3xt};"' "$W/N1/node-config.json" ||
    fail "backup.db.password did not replace only the password: $(grep sqlConn "$W/N1/node-config.json")"
# Back to the site's SQLite database (no SQL Server here) for the updates below.
tray config set backup.db.engine=sqlite backup.db.sqlConnectionString= >"$W/set.out" 2>&1 || fail "back to sqlite: $(cat "$W/set.out")"
grep -q sqlConnectionString "$W/N1/node-config.json" && fail "connection string not removed"

log "optional update: deferred (never past the deadline), then accepted and followed"
pkg '1.25.12.14(12522)'
DEADLINE=$(date -u -d '+2 hours' +%Y-%m-%dT%H:%M:%SZ)
R=$(release '1.25.12.14(12522)' optional --deadline "$DEADLINE")
wait_states "$R" "N1=40" 30
T=$(task_of "$R" N1)
tray status --json | json 'd["trayState"]' | grep -qx prompt-waiting || fail "no prompt-waiting state"
tray updates >"$W/up.txt" || fail "updates"
grep -q "$T .*1.25.12.14(12522) *optional .*waiting for you" "$W/up.txt" || fail "updates: $(cat "$W/up.txt")"
tray updates --json | json 'd["updates"][0]["prompt"]' | grep -qx PROMPT_STATE_WAITING || fail "updates --json"
set +e
tray update defer "$T" --until "$(date -u -d '+3 hours' +%Y-%m-%dT%H:%M:%SZ)" >/dev/null 2>"$W/d.err"
rc=$?
set -e
[ $rc = 2 ] && grep -q "E_INVALID_ARG: --until: .* past the release deadline" "$W/d.err" || fail "defer past deadline: rc $rc $(cat "$W/d.err")"
set +e
tray update defer "$T" --until tomorrow >/dev/null 2>"$W/d.err"
rc=$?
tray update defer no-such-task --until "$(date -u -d '+10 min' +%Y-%m-%dT%H:%M:%SZ)" >/dev/null 2>"$W/d2.err"
rc2=$?
set -e
[ $rc = 2 ] && grep -q "E_INVALID_ARG: --until" "$W/d.err" || fail "defer bad time: rc $rc $(cat "$W/d.err")"
[ $rc2 = 2 ] && grep -q "E_NOT_FOUND: TASK" "$W/d2.err" || fail "defer unknown task: rc $rc2 $(cat "$W/d2.err")"
tray updates --json | json 'd["updates"][0]["prompt"]' | grep -qx PROMPT_STATE_WAITING || fail "a refused defer changed the prompt"
tray update defer "$T" --until "$(date -u -d '+30 min' +%Y-%m-%dT%H:%M:%SZ)" >"$W/d.out" || fail "defer"
grep -q "deferred $T (1.25.12.14(12522)) until" "$W/d.out" || fail "defer output: $(cat "$W/d.out")"
tray updates --json | json 'd["updates"][0]["prompt"]' | grep -qx PROMPT_STATE_DEFERRED || fail "not deferred"
for _ in $(seq 50); do "$FERRY" task get "$T" | grep -qi deferred && break; sleep 0.2; done
"$FERRY" task get "$T" | grep -qi deferred || fail "the server does not show the deferral"
[ "$(states "$R")" = "N1=40" ] || fail "deferred task moved: $(states "$R")"
tray update now "$T" --json >"$W/now.json" 2>"$W/now.err" || fail "update now: $(cat "$W/now.err")"
cat "$W/now.err"
json 'str(d["state"]) + " " + str(d["succeeded"])' <"$W/now.json" | grep -qx "100 True" || fail "update now: $(cat "$W/now.json")"
json 'd["backupPath"]' <"$W/now.json" | grep -q "$W/N1/backup/" || fail "no backup path: $(cat "$W/now.json")"
grep -q "50 StoppingService" "$W/now.err" && grep -q "100 Succeeded" "$W/now.err" || fail "progress not shown"
grep -q "app 1.25.12.14(12522)" "$W/N1/server/bin/app.txt" || fail "server dir not updated"
wait_states "$R" "N1=100" 30
tray status --json | json 'd["trayState"]' | grep -qx idle || fail "not idle after the update"

log "offline package: a tampered one refused before anything changes, the real one applied"
pkg '1.25.12.15(12523)'
"$FERRY" package export '1.25.12.15(12523)' --out "$W/export" --customer ACME --valid-days 7 >/dev/null || fail "export"
cp "$W/export/1.25.12.15(12523).zip" "$W/tampered.zip"
printf 'X' | dd of="$W/tampered.zip" bs=1 seek=200 conv=notrunc status=none
set +e
tray apply-offline "$W/tampered.zip" --manifest "$W/export/1.25.12.15(12523).manifest.json" --json >"$W/off.json" 2>"$W/off.err"
rc=$?
set -e
[ $rc = 3 ] || fail "tampered package: exit $rc"
json 'd["error"]["code"] + " " + d["error"]["field"]' <"$W/off.json" | grep -qx "E_HASH_MISMATCH PACKAGE" || fail "tampered: $(cat "$W/off.json")"
grep -q "app 1.25.12.14(12522)" "$W/N1/server/bin/app.txt" || fail "a tampered package changed the site"
set +e
tray apply-offline "$W/export/1.25.12.15(12523).zip" >/dev/null 2>"$W/off.err"
rc=$?
set -e
[ $rc = 2 ] && grep -q -- "--manifest" "$W/off.err" || fail "apply-offline without --manifest: rc $rc"
(cd "$W/export" && "$TRAY" apply-offline '1.25.12.15(12523).zip' --manifest '1.25.12.15(12523).manifest.json' \
    --state-dir "$S") >"$W/off.out" 2>"$W/off.err" || fail "apply-offline: $(cat "$W/off.err")"
cat "$W/off.out"
grep -q "100 Succeeded" "$W/off.out" || fail "apply-offline result: $(cat "$W/off.out")"
grep -q "app 1.25.12.15(12523)" "$W/N1/server/bin/app.txt" || fail "offline package not applied"
tray status | grep -q "installed:  1.25.12.15(12523)" || fail "installed version after offline apply"
grep -q "Sup3r\|N3xt\|$(cat "$W/N1.token")" "$W"/*.out "$W"/*.err "$W"/*.json 2>/dev/null && fail "a secret reached the tray's output"
log "PASS"
