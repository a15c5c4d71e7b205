#!/usr/bin/env bash
# The agent side of configuration distribution (docs/fleet.md, agent contract
# "Configuration") with a real ferryd, real `ferry-agent run` daemons, real ferry-testd
# services and the real `ferry` CLI:
#  1. a template assigned to a store: every node writes its rendered file (SHA-256 equal
#     to the server's) and `ferry config status` shows APPLIED;
#  2. a version whose restart fails the health check: ROLLED_BACK with the reason, the
#     previous file back byte for byte, the service running again; ferry-tray shows it;
#  3. a target leading out of the server dir through a symlink: FAILED, nothing written;
#  4. an optional update waiting for the user holds a new assignment back (the file is
#     unchanged for as long as the task is not final); it is applied once the update ends;
#  5. kill -9 while the service restarts with a new file: the restarted agent finishes it
#     (APPLIED), `.ferry-prev` still holds the file from before (not the new one);
#  6. the server down and the agent restarted: the last good file stays, the status shows it.
source "$(dirname "$0")/agentd_lib.sh"

# cfg_aware NODE: the node's service start reads config/app.ini: "mode = broken" makes
# the health check answer 503, "mode = slow" a start that takes 4 s after the service is up.
cfg_aware() {
    local S=$W/$1
    "$PY" - "$S" "$TESTD" <<'PYEOF'
import json, sys
S, testd = sys.argv[1], sys.argv[2]
p = S + "/node-config.json"
c = json.load(open(p))
port = c["service"]["healthCheck"]["target"].split(":")[2].split("/")[0]
open(S + "/run/start.sh", "w").write(f"""st=200
grep -q 'mode *= *broken' {S}/server/config/app.ini 2>/dev/null && st=503
{testd} --daemon --pidfile {S}/run/app.pid --port {port} --http-status $st || exit 1
grep -q 'mode *= *slow' {S}/server/config/app.ini 2>/dev/null && sleep 4
exit 0
""")
c["service"]["startCommand"] = "sh " + S + "/run/start.sh"
c["service"]["startTimeoutSeconds"] = 8
json.dump(c, open(p, "w"), indent=2)
PYEOF
}

# put NAME TARGET MODE [flags]: a template version (ini), data names the node and MODE.
put() {
    local name=$1 target=$2 mode=$3
    shift 3
    printf '{"node": "${node.code}", "store": "${store.code}", "mode": "%s"}' "$mode" >"$W/tpl.json"
    "$FERRY" config template put --name "$name" --type SERVER --target "$target" --format ini \
        --file "$W/tpl.json" "$@" --json >/dev/null || fail "template put $name $mode"
}

# assign [flags]: prints "NODE=ID ..." of the new assignments.
assign() {
    "$FERRY" config assign "$@" --json | json '" ".join("%s=%s" % (a["nodeCode"], a["id"]) for a in d["assignments"])'
}
id_of() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

# cstate ID: the assignment's state on the server (APPLIED, ...), then its error message.
cstate() {
    "$FERRY" config status --json | json "[a['state'].replace('CONFIG_ASSIGNMENT_STATE_', '') for a in d['assignments'] if a['id'] == '$1'][0]"
}
cerror() {
    "$FERRY" config status --json | json "[a.get('errorMessage', '') for a in d['assignments'] if a['id'] == '$1'][0]"
}

wait_cstate() { # wait_cstate ID WANT SECONDS
    local end=$((SECONDS + $3)) got=""
    while [ $SECONDS -lt $end ]; do
        got=$(cstate "$1")
        [ "$got" = "$2" ] && return 0
        sleep 0.3
    done
    fail "assignment $1: want $2 within $3 s, got '$got'"
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

server_start
tree ACME ACME-SH01
for n in C1 C2; do
    site "$n" ACME-SH01 testd
    cfg_aware "$n"
    bind "$n"
    agent_start "$n"
done
INI=server/config/app.ini

# 1. Assign to the store: both nodes write their own rendering and report APPLIED.
put app config/app.ini ok --restart
t0=$SECONDS
A1=$(assign --template app --customer ACME --store ACME-SH01)
for n in C1 C2; do wait_cstate "$(id_of "$A1" $n)" APPLIED 30; done
log "store assignment APPLIED on both nodes in $((SECONDS - t0)) s"
for n in C1 C2; do
    grep -q "^node=$n\$" "$W/$n/$INI" || fail "$n: file does not name the node: $(cat "$W/$n/$INI")"
    want=$("$FERRY" config diff --node $n --json | json "[x['applied']['renderedSha256'] for x in d['diffs'] if x['applied']['templateName'] == 'app'][0]")
    [ "$(sha "$W/$n/$INI")" = "$want" ] || fail "$n: file SHA-256 differs from the server's rendering"
    [ ! -e "$W/$n/$INI.ferry-prev" ] || fail "$n: .ferry-prev although there was no previous file"
    "$TESTD" --status --pidfile "$W/$n/run/app.pid" || fail "$n: service not running after the restart"
done
"$FERRY" config status --template app | grep -q APPLIED || fail "config status table shows no APPLIED"
V1=$(sha "$W/C1/$INI")
cp "$W/C1/$INI" "$W/c1-v1.ini"

# 2. A version whose restart fails the health check: ROLLED_BACK, previous file back.
put app config/app.ini broken --restart
A2=$(assign --template app --customer ACME --node C1)
ID2=$(id_of "$A2" C1)
wait_cstate "$ID2" ROLLED_BACK 60
cerror "$ID2" | grep -q "503" || fail "ROLLED_BACK reason does not name the health check: $(cerror "$ID2")"
cerror "$ID2" | grep -q "previous file restored" || fail "reason does not say the file was restored: $(cerror "$ID2")"
[ "$(sha "$W/C1/$INI")" = "$V1" ] || fail "C1: previous file not restored byte for byte: $(cat "$W/C1/$INI")"
cmp -s "$W/C1/$INI.ferry-prev" "$W/c1-v1.ini" || fail "C1: .ferry-prev is not the previous file"
"$TESTD" --status --pidfile "$W/C1/run/app.pid" || fail "C1: service not running after the rollback"
curl -fs "$(json 'd["service"]["healthCheck"]["target"]' <"$W/C1/node-config.json")" >/dev/null ||
    fail "C1: health check fails after the rollback"
TRAY=$B/tray/ferry-tray
if [ -x "$TRAY" ]; then
    "$TRAY" status --state-dir "$W/C1/state" | grep -q "^last conf: *app v2 -> config/app.ini: ROLLED_BACK" ||
        fail "ferry-tray status shows no ROLLED_BACK line: $("$TRAY" status --state-dir "$W/C1/state")"
fi
log "health failure after restart: ROLLED_BACK, previous file restored byte for byte"

# 3. A target leading out of the server dir through a symlink: FAILED, nothing written.
mkdir -p "$W/outside"
ln -s "$W/outside" "$W/C1/server/ext"
put esc ext/evil.ini ok
A3=$(assign --template esc --customer ACME --node C1)
ID3=$(id_of "$A3" C1)
wait_cstate "$ID3" FAILED 30
cerror "$ID3" | grep -q "resolves outside the server dir" || fail "FAILED reason: $(cerror "$ID3")"
[ -z "$(ls -A "$W/outside")" ] || fail "something was written outside the server dir: $(ls -A "$W/outside")"
[ "$(sha "$W/C1/$INI")" = "$V1" ] || fail "C1: app.ini changed by the refused assignment"
log "symlink escape refused: FAILED, nothing written"

# 4. Never while an update is under way: an optional update waits for the user on C2.
pkg '1.25.12.20(12530)'
R=$(CUSTOMER=ACME release '1.25.12.20(12530)' optional --node C2)
wait_states "$R" "C2=40" 30
V2C2=$(sha "$W/C2/$INI")
put app config/app.ini ok3 --restart
A4=$(assign --template app --customer ACME --node C2)
ID4=$(id_of "$A4" C2)
wait_for_log() { for _ in $(seq 100); do grep -q "$2" "$W/$1/agent.log" && return 0; sleep 0.1; done; return 1; }
wait_for_log C2 "config $ID4: received" || fail "C2 did not receive assignment $ID4"
sleep 4
[ "$(cstate "$ID4")" = PENDING ] || fail "assignment applied while the update waits for the user: $(cstate "$ID4")"
[ "$(sha "$W/C2/$INI")" = "$V2C2" ] || fail "C2 file changed while the update task was under way"
grep -q "config $ID4: waits until the update under way is final" "$W/C2/agent.log" || fail "no 'waits' line in C2's log"
local_call C2 RespondToPrompt "{\"taskId\":\"$(task_of "$R" C2)\",\"choice\":\"PROMPT_CHOICE_NOW\"}" >/dev/null
wait_states "$R" "C2=100" 60
wait_cstate "$ID4" APPLIED 30
grep -q "^mode=ok3\$" "$W/C2/$INI" || fail "C2: ok3 not written after the update ended"
log "assignment held back while the update waited, applied after it ended"

# 5. kill -9 during the restart with the new file; the restarted agent finishes it.
put app config/app.ini slow --restart
A5=$(assign --template app --customer ACME --node C1)
ID5=$(id_of "$A5" C1)
wait_for_log C1 "config $ID5: wrote" || fail "C1 did not start applying $ID5"
sleep 1
agent_stop C1 KILL
phase=$(sqlite3 "$W/C1/state/agent.db" "SELECT phase FROM config WHERE id = '$ID5'")
[ "$phase" = 1 ] || fail "after kill -9 the job is not recorded as APPLYING (phase '$phase')"
[ "$(cstate "$ID5")" = PENDING ] || fail "reported before the restart finished: $(cstate "$ID5")"
sleep 4 # the killed agent's start script finishes on its own
agent_start C1
wait_cstate "$ID5" APPLIED 60
grep -q "config $ID5: interrupted while applying" "$W/C1/agent.log" || fail "no resume line in C1's log"
grep -q "^mode=slow\$" "$W/C1/$INI" || fail "C1: slow version not in place"
cmp -s "$W/C1/$INI.ferry-prev" "$W/c1-v1.ini" ||
    fail "C1: .ferry-prev is not the file from before the interrupted apply: $(cat "$W/C1/$INI.ferry-prev")"
"$TESTD" --status --pidfile "$W/C1/run/app.pid" || fail "C1: service not running after the resumed apply"
log "kill -9 mid-apply: resumed, APPLIED, .ferry-prev intact"

# 6. Server down, agent restarted: the last good file stays in force.
GOOD=$(sha "$W/C1/$INI")
server_stop
agent_stop C1
agent_start C1
sleep 3
[ "$(sha "$W/C1/$INI")" = "$GOOD" ] || fail "C1: file changed while the server was down"
local_call C1 GetStatus '{}' | json 'd["status"]["lastConfig"]["state"]' | grep -q APPLIED ||
    fail "AgentStatus.lastConfig after an offline restart: $(local_call C1 GetStatus '{}')"
grep -q "$(cat "$W/C1.token")" "$W/C1/agent.log" && fail "token appears in the agent log"
log "server down: last good file stays"
log "PASS"
