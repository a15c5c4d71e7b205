#!/usr/bin/env bash
# Rollouts in waves and maintenance windows end to end (issue 13): a real ferryd, four
# real `ferry-agent run` daemons, packages published with the `ferry` CLI.
#   - bad input (--waves 0, --waves 50%,20%, --window 25:00-01:00, an unknown canary)
#     is E_INVALID_ARG naming the culprit and creates nothing (no release, no task, the
#     failure audited);
#   - a canary whose update fails pauses the release by itself before wave 2 starts: no
#     task of wave 2 exists (so none was sent), the reason is shown and audited;
#   - success promotes: wave 2 starts by itself when wave 1 reaches the threshold
#     (`ferry release watch` and `list` show the waves);
#   - --approve-waves: wave 2 waits for `ferry release promote`, refused before;
#   - a maintenance window in the future holds the task in 10 with the reason visible,
#     a window now lets it run; moving the node's time zone into the window releases
#     the held task at once.
source "$(dirname "$0")/agentd_lib.sh"

POLL=60 server_start
tree ACME ACME-S1
"$FERRY" store create --customer ACME --code ACME-S2 --name S2 >/dev/null
for n in N1 N2 N3; do site $n ACME-S1 none; done
site N4 ACME-S2 none
for n in N1 N2 N3 N4; do bind $n; agent_start $n; done

n_releases() { "$FERRY" release list --json | json 'len(d.get("releases", []))'; }
n_tasks() { "$FERRY" task list --json | json 'len(d.get("tasks", []))'; }
rel() { "$FERRY" release get "$1" --json | json "d['release'].get('$2', '')"; }

pkg '2.0.0.0(1)'
pkg '2.0.1.0(1)' badsql
pkg '2.0.2.0(1)'
pkg '2.0.3.0(1)'
pkg '2.0.0.5(1)'

log "bad input: E_INVALID_ARG naming the culprit, nothing created"
r0=$(n_releases)
t0=$(n_tasks)
bad() { # bad CULPRIT FLAGS...: the create fails with E_INVALID_ARG naming CULPRIT
    local culprit=$1
    shift
    if "$FERRY" release create --version '2.0.0.0(1)' --env PROD --customer ACME --policy forced "$@" \
        >"$W/bad.out" 2>&1; then
        fail "release create $* succeeded"
    fi
    grep -q E_INVALID_ARG "$W/bad.out" || fail "$*: no E_INVALID_ARG in: $(cat "$W/bad.out")"
    grep -qF -- "$culprit" "$W/bad.out" || fail "$*: '$culprit' not named in: $(cat "$W/bad.out")"
}
bad "'0'" --waves 0
bad "'20%'" --waves 50%,20%
bad "25:00" --window 25:00-01:00
bad "NOSUCH" --canary NOSUCH --waves 100%
bad "count:x" --waves 1 --error-threshold count:x
[ "$(n_releases)" = "$r0" ] || fail "a refused create left a release"
[ "$(n_tasks)" = "$t0" ] || fail "a refused create left a task"
"$FERRY" audit list --json | json 'sum(1 for e in d.get("entries", []) if e.get("errorCode") == "E_INVALID_ARG")' |
    grep -qx 5 || fail "the refused creates are not audited as E_INVALID_ARG"

log "canary failure: the release pauses by itself before wave 2 starts"
R1=$(release '2.0.1.0(1)' forced --canary N2 --waves 100% --error-threshold 0)
wait_states "$R1" "N2=130" 60
for _ in $(seq 50); do [ "$(rel "$R1" state)" = RELEASE_STATE_PAUSED ] && break; sleep 0.1; done
[ "$(rel "$R1" state)" = RELEASE_STATE_PAUSED ] || fail "release $R1 not paused: $("$FERRY" release get "$R1")"
rel "$R1" pausedReason | grep -q "wave 1: 1 of 1 task(s) failed" || fail "no reason: $(rel "$R1" pausedReason)"
sleep 2
[ "$(states "$R1")" = "N2=130" ] || fail "wave 2 got tasks after the canary failed: $(states "$R1")"
[ "$(rel "$R1" currentWave)" = 1 ] || fail "current wave moved"
"$FERRY" release get "$R1" | tee "$W/get1.txt" | grep -q "paused: wave 1: 1 of 1 task(s) failed" ||
    fail "ferry release get shows no paused reason: $(cat "$W/get1.txt")"
grep -q "wave 2 (100%): 3 node(s), 0 at 100, 0 failed, not started" "$W/get1.txt" ||
    fail "ferry release get shows no waves: $(cat "$W/get1.txt")"
"$FERRY" release summary "$R1" | grep -q "canary node N2" || fail "summary shows no canary"
"$FERRY" audit list --json |
    json "[e for e in d['entries'] if e['actorTokenId'] == 'ferryd' and {'kind': 'release', 'id': '$R1'} in e['targets']][0]['detailsJson']" |
    grep -q "error threshold" || fail "the automatic pause is not audited with its reason"
for n in N1 N3 N4; do
    if grep -qF '2.0.1.0(1)' "$W/$n/server/bin/app.txt"; then fail "$n was updated to 2.0.1.0(1)"; fi
    # Nothing was sent to a wave-2 node: its agent never heard of a task.
    if grep -q "task [0-9]" "$W/$n/agent.log"; then fail "$n heard of a task: $(grep "task [0-9]" "$W/$n/agent.log")"; fi
done
grep -q "task [0-9]" "$W/N2/agent.log" || fail "the canary's agent log names no task (the check above proves nothing)"
"$FERRY" release cancel "$R1" --reason "canary failed" >/dev/null

log "success promotes: wave 2 starts by itself"
R2=$(release '2.0.0.0(1)' forced --waves 1,100% --success-threshold 100)
# Rollout order: store code, then node code: N1 first.
wait_states "$R2" "N1=100 N2=100 N3=100 N4=100" 120
[ "$(rel "$R2" currentWave)" = 2 ] || fail "current wave is not 2"
[ "$(rel "$R2" state)" = RELEASE_STATE_COMPLETED ] || fail "release $R2 not completed: $(rel "$R2" state)"
timeout 30 "$FERRY" release watch "$R2" </dev/null >"$W/watch.txt" 2>&1 || fail "release watch: $(cat "$W/watch.txt")"
grep -q "waves: 2, current wave 2; success threshold 100%, error threshold 0%" "$W/watch.txt" ||
    fail "release watch shows no waves: $(cat "$W/watch.txt")"
grep -q "wave 2 (100%): 3 node(s), 3 at 100, 0 failed, started" "$W/watch.txt" ||
    fail "release watch shows no wave 2: $(cat "$W/watch.txt")"
first=$("$FERRY" task list --release "$R2" --json | json 'min(d["tasks"], key=lambda t: int(t["id"]))["nodeCode"]')
[ "$first" = N1 ] || fail "wave 1 was $first, not N1"

log "approval gate: wave 2 waits for ferry release promote"
R3=$(release '2.0.2.0(1)' forced --waves 3,100% --approve-waves)
wait_states "$R3" "N1=100 N2=100 N3=100" 90
for _ in $(seq 50); do [ "$(rel "$R3" awaitingPromotion)" = True ] && break; sleep 0.1; done
[ "$(rel "$R3" awaitingPromotion)" = True ] || fail "release $R3 does not await promotion"
[ "$(rel "$R3" state)" = RELEASE_STATE_ACTIVE ] || fail "a release waiting for promotion reads $(rel "$R3" state)"
"$FERRY" release list | grep -qE "^$R3 .* 1/2 approve\?" || fail "release list shows no wave: $("$FERRY" release list)"
sleep 2
[ "$(states "$R3")" = "N1=100 N2=100 N3=100" ] || fail "wave 2 started without promote: $(states "$R3")"
"$FERRY" release promote "$R3" | tee "$W/promote.txt" | grep -q "wave 2 started, 1 task(s) created" ||
    fail "promote: $(cat "$W/promote.txt")"
wait_states "$R3" "N1=100 N2=100 N3=100 N4=100" 60
"$FERRY" release promote "$R3" >"$W/promote2.out" 2>&1 && fail "promote of the last wave succeeded"
grep -q E_PRECONDITION "$W/promote2.out" || fail "promote of the last wave: $(cat "$W/promote2.out")"
R3B=$(release '2.0.0.5(1)' forced --waves 1,100% --approve-waves --node N1 --node N2)
"$FERRY" release pause "$R3B" >/dev/null
"$FERRY" release promote "$R3B" >"$W/promote3.out" 2>&1 && fail "promote of a paused release succeeded"
grep -q "resume it first" "$W/promote3.out" || fail "promote of a paused release: $(cat "$W/promote3.out")"
"$FERRY" release cancel "$R3B" >/dev/null

log "maintenance window: in the future holds the task in 10, now lets it run"
"$FERRY" node update N1 --time-zone UTC >/dev/null
"$FERRY" node update N2 --time-zone +08:00 >/dev/null
"$FERRY" node get N2 --json | json 'd["node"]["timeZone"]' | grep -qx '+08:00' || fail "N2 time zone not stored"
"$FERRY" node update N3 --time-zone Mars/Olympus >"$W/tz.out" 2>&1 && fail "a bad time zone was accepted"
grep -q "Mars/Olympus" "$W/tz.out" || fail "bad time zone not named: $(cat "$W/tz.out")"
hm() { date -u -d "@$(($(date +%s) + $1))" +%H:%M; }
FUTURE="$(hm 10800)-$(hm 14400)" # opens in 3 h (UTC)
R4=$(release '2.0.3.0(1)' forced --node N1 --window "$FUTURE")
sleep 3
[ "$(states "$R4")" = "N1=10" ] || fail "a task outside its window did not wait in 10: $(states "$R4")"
T4=$(task_of "$R4" N1)
"$FERRY" task get "$T4" --json | json 'd["task"].get("holdReason", "")' | tee "$W/hold.txt" |
    grep -q "outside maintenance window $FUTURE" || fail "no hold reason: $(cat "$W/hold.txt")"
"$FERRY" release get "$R4" | grep -q "maintenance window $FUTURE daily" || fail "release get shows no window"
# N2 is at +08:00: a window around its local now lets it run at once.
NOW8="$(hm $((28800 - 3600)))-$(hm $((28800 + 3600)))"
R5=$(release '2.0.3.0(1)' forced --node N2 --window "$NOW8")
wait_states "$R5" "N2=100" 60
# N1 moves to a zone where the window is open now (+03:30): its held task runs.
[ "$(states "$R4")" = "N1=10" ] || fail "held task moved before the zone change: $(states "$R4")"
"$FERRY" node update N1 --time-zone +03:30 >/dev/null
wait_states "$R4" "N1=100" 60
log "PASS"
