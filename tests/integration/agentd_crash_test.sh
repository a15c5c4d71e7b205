#!/usr/bin/env bash
# kill -9 of the agent daemon at each pipeline step (the engine's crash points
# state.50 ... state.90 SIGKILL the process there) and during report delivery: after a
# restart the task ends Succeeded or Rollbacked by itself, and the server's history of
# the task holds every report exactly once, in order (sequences 1..n, no gap, no
# repeat). The service process is running again at the end of each round.
source "$(dirname "$0")/agentd_lib.sh"

POLL=60 server_start
tree ACME ACME-SH01
site N1 ACME-SH01
bind N1

check_history() { # check_history TASK: sequences strictly 1..n, states never go back except to 120/130
    "$FERRY" task events "$1" --json >"$W/events.json"
    "$PY" - "$W/events.json" <<'EOF' || fail "history of $1 is not exactly-once in order: $(cat "$W/events.json")"
import json, sys
d = json.load(open(sys.argv[1]))
ev = [e for e in d.get("events", []) if int(e.get("sequence", 0)) > 0]
seqs = [int(e["sequence"]) for e in ev]
states = [int(e["state"]) for e in ev]
# Every report of the agent, once, in order: 1..n without gap or repeat.
assert len(seqs) >= 5, "too few reports: %s" % seqs
assert seqs == list(range(1, len(seqs) + 1)), seqs
assert states[-1] in (100, 130), states
print("  history: %d reports, states %s" % (len(seqs), " ".join(map(str, states))))
EOF
}

service_up() { "$TESTD" --status --pidfile "$W/N1/run/app.pid" >/dev/null 2>&1; }

n=0
for point in state.50 state.60 state.70 state.75 state.80 state.90; do
    n=$((n + 1))
    v="1.25.13.$n(1300$n)"
    pkg "$v"
    log "round $n: kill -9 at $point"
    agent_start N1 FERRY_CRASH_AT="$point"
    R=$(release "$v" forced)
    # The agent SIGKILLs itself at the crash point.
    for _ in $(seq 300); do kill -0 "${AGENT_PID[N1]}" 2>/dev/null || break; sleep 0.1; done
    kill -0 "${AGENT_PID[N1]}" 2>/dev/null && fail "agent did not reach $point"
    wait "${AGENT_PID[N1]}" 2>/dev/null || true
    unset "AGENT_PID[N1]"
    rm -f "$W/N1/state/local.json"
    agent_start N1
    for _ in $(seq 300); do
        s=$(states "$R")
        case "$s" in "N1=100" | "N1=130") break ;; esac
        sleep 0.2
    done
    s=$(states "$R")
    case "$s" in "N1=100" | "N1=130") ;; *) fail "after the crash at $point: $s" ;; esac
    log "  ended $s"
    # Let the outbox drain, then compare with the server's history.
    for _ in $(seq 100); do
        "$AGENT" status --state-dir "$W/N1/state" --json | json 'd.get("bufferedReports", 0)' | grep -qx 0 && break
        sleep 0.1
    done
    check_history "$(task_of "$R" N1)"
    service_up || fail "service not running after the crash at $point"
    agent_stop N1
done

log "kill -9 while reports are being delivered (server down, outbox filling, then agent killed)"
# A slow stop gives the time to take the server away in the middle of the update.
"$PY" - "$W/N1/node-config.json" "$TESTD" "$W/N1/run/app.pid" <<'EOF'
import json, sys
p, testd, pidf = sys.argv[1:4]
c = json.load(open(p))
c["service"]["stopCommand"] = "sh -c 'sleep 2; %s --stop --pidfile %s'" % (testd, pidf)
json.dump(c, open(p, "w"), indent=2)
EOF
v="1.25.14.1(14001)"
pkg "$v"
agent_start N1
R=$(release "$v" forced)
for _ in $(seq 300); do
    grep -q "50 StoppingService" <(grep -a "task" "$W/N1/agent.log" | tail -n 5) && break
    sleep 0.05
done
server_stop
# The update goes on without the server; its reports wait in the outbox.
for _ in $(seq 300); do
    tail -n 3 "$W/N1/agent.log" | grep -q ": 100 Succeeded: update applied" && break
    sleep 0.1
done
buffered=$("$AGENT" status --state-dir "$W/N1/state" --json | json 'd.get("bufferedReports", 0)')
log "  $buffered reports buffered while ferryd is down"
[ "$buffered" -ge 3 ] || fail "expected reports buffered while ferryd was down, got $buffered"
agent_stop N1 KILL
POLL=60 server_start
agent_start N1
wait_states "$R" "N1=100" 60
for _ in $(seq 100); do
    "$AGENT" status --state-dir "$W/N1/state" --json | json 'd.get("bufferedReports", 0)' | grep -qx 0 && break
    sleep 0.1
done
check_history "$(task_of "$R" N1)"
log "PASS"
