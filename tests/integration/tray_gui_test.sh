#!/usr/bin/env bash
# ferry-tray's windows (issue 10) under Xvfb against a real ferryd and a real
# `ferry-agent run`: tests/gui/tray_gui_test.c opens each window in its own run (a phase),
# drives it by widget name and asserts what it shows and what the agent reports; this
# script sets up the site (agentd_lib.sh, as tray_cli_test.sh), starts a private Xvfb and
# a D-Bus session per phase, and checks the server's side between the phases: bound, node
# configuration saved and uploaded (`ferry node-config get`), deferred, update applied,
# offline package applied. Screenshots of each window go to $FERRY_TRAY_SHOTS.
source "$(dirname "$0")/agentd_lib.sh"
GUI=${FERRY_TRAY_GUI_TEST:-}
TRAY=${FERRY_TRAY:-$B/tray/ferry-tray}
SHOTS=${FERRY_TRAY_SHOTS:-$W/shots}
[ -x "$GUI" ] || { echo "SKIP: tray_gui_test not built (FERRY_TRAY_GUI_TEST)"; exit 77; }
command -v Xvfb >/dev/null || { echo "SKIP: Xvfb not installed (Debian package xvfb; scripts/install-deps.sh)"; exit 77; }
S=$W/N1/state
mkdir -p "$SHOTS"

XVFB_PID=""
gui_cleanup() {
    set +e
    [ -s "$W/gui.pid" ] && kill "$(cat "$W/gui.pid")" 2>/dev/null
    [ -n "${GUI_PID:-}" ] && wait "$GUI_PID" 2>/dev/null
    [ -n "$XVFB_PID" ] && { kill "$XVFB_PID" 2>/dev/null; wait "$XVFB_PID" 2>/dev/null; }
    XVFB_PID=""
    cleanup
}
trap gui_cleanup EXIT

# A display of our own: Xvfb picks a free number and writes it to fd 3.
Xvfb -displayfd 3 -screen 0 1280x1400x24 -nolisten tcp 3>"$W/display" 2>"$W/xvfb.log" &
XVFB_PID=$!
for _ in $(seq 100); do [ -s "$W/display" ] && break; sleep 0.05; done
[ -s "$W/display" ] || fail "Xvfb did not start: $(cat "$W/xvfb.log")"
export DISPLAY=":$(head -1 "$W/display")" GDK_BACKEND=x11 NO_AT_BRIDGE=1 GSETTINGS_BACKEND=memory
log "Xvfb on $DISPLAY"
RUN_BUS=()
if command -v dbus-run-session >/dev/null; then RUN_BUS=(dbus-run-session --); else log "no dbus-run-session: notifications counted, not received"; fi

# Under the ASan pass (LSAN_OPTIONS set), the GUI processes use their own suppressions:
# GTK and friends keep process-wide caches until exit (tests/gui/lsan.supp says which).
GUI_ENV=(env)
[ -n "${LSAN_OPTIONS:-}" ] && GUI_ENV=(env "LSAN_OPTIONS=suppressions=$FERRY_SOURCE_DIR/tests/gui/lsan.supp")
# FERRY_TRAY_GUI_WRAP: a command put before the test binary, e.g.
# "valgrind --error-exitcode=9 --leak-check=no" (memory errors in the views' threads).
read -r -a WRAP <<<"${FERRY_TRAY_GUI_WRAP:-}"
gui() { # gui PHASE ARGS...: one run of the GUI test; its log is kept on failure
    local phase=$1
    log "GUI phase $phase"
    if ! "${RUN_BUS[@]}" "${GUI_ENV[@]}" "${WRAP[@]}" "$GUI" --state-dir "$S" --shots "$SHOTS" "$@" >"$W/gui-$phase.log" 2>&1; then
        cat "$W/gui-$phase.log" >&2
        fail "GUI phase $phase"
    fi
    grep -E '^\[gui\]' "$W/gui-$phase.log" || true
}

POLL=60 server_start
tree ACME ACME-SH01
site N1 ACME-SH01
agent_start N1

log "ferry-tray itself (no command, a display): starts, opens the bind wizard, exits 0 on SIGTERM"
# No session bus here (a bare X server): no notifications, everything else works.
env -u DBUS_SESSION_BUS_ADDRESS "${GUI_ENV[@]:1}" "$TRAY" --state-dir "$S" >"$W/tray.log" 2>&1 &
TRAY_PID=$!
for _ in $(seq 100); do grep -q "watching the agent of $S" "$W/tray.log" && break; sleep 0.1; done
grep -q "watching the agent of $S" "$W/tray.log" || { kill "$TRAY_PID"; fail "ferry-tray did not start: $(cat "$W/tray.log")"; }
sleep 1
kill -0 "$TRAY_PID" 2>/dev/null || fail "ferry-tray exited: $(cat "$W/tray.log")"
kill -TERM "$TRAY_PID"
rc=0
for _ in $(seq 50); do kill -0 "$TRAY_PID" 2>/dev/null || break; sleep 0.1; done
wait "$TRAY_PID" || rc=$?
[ $rc = 0 ] || fail "ferry-tray exited $rc on SIGTERM: $(cat "$W/tray.log")"
grep -qi "critical\|segmentation" "$W/tray.log" && fail "ferry-tray log: $(cat "$W/tray.log")"

log "bind wizard: bad input and a wrong token refused on their fields, then bound"
gui bind "$FERRY_SERVER" N1 "$W/N1.token"
"$TRAY" status --json --state-dir "$S" >"$W/st.json" 2>/dev/null || true
json 'd["status"]["bound"]' <"$W/st.json" | grep -qx True || fail "not bound after the wizard: $(cat "$W/st.json")"
[ "$(stat -c %a "$S/token")" = 600 ] || fail "token not stored 0600 by the agent"
grep -q "$(cat "$W/N1.token")" "$W"/gui-*.log && fail "the token reached the GUI test's output"

log "settings: refusals on their fields (file unchanged), then saved + uploaded"
gui settings "$W/N1/node-config.json"
"$FERRY" node-config get N1 --json >"$W/srv.json"
# The last save set a password (through the masked entry): version 3 on the server, masked.
json 'd["summary"]["configVersion"] + " " + str(d["summary"]["config"]["backup"]["retentionN"]) + " " + str(d["summary"]["config"]["service"]["stopTimeoutSeconds"]) + " " + d["summary"]["config"]["backup"]["db"]["engine"]' <"$W/srv.json" |
    grep -qx "3 3 45 DB_ENGINE_SQLSERVER" || fail "server's node-config view after Save: $(cat "$W/srv.json")"
grep -q Sup3r "$W/srv.json" && fail "the server shows the password"
grep -q 'Password=\*\*\*' "$W/srv.json" || fail "the server's view has no masked password: $(cat "$W/srv.json")"
grep -q '"retentionN": 3' "$W/N1/node-config.json" || fail "node-config.json not rewritten"
log "server's read-only view: $("$FERRY" node-config get N1 | grep -i -m1 version)"
grep -q "Sup3r" "$W"/gui-*.log && fail "the password reached the GUI test's output"
# Back to the site's SQLite database (no SQL Server here) for the updates below.
"$TRAY" config set backup.db.engine=sqlite backup.db.sqlConnectionString= --state-dir "$S" >/dev/null ||
    fail "back to sqlite"

log "update prompt: notification + window, Later (1 h, capped choices), deferred on the server"
pkg '1.25.12.14(12522)'
DEADLINE=$(date -u -d '+2 hours' +%Y-%m-%dT%H:%M:%SZ)
R=$(release '1.25.12.14(12522)' optional --deadline "$DEADLINE" --description 'Faster invoice printing; fixes the VAT rounding')
wait_states "$R" "N1=40" 30
T=$(task_of "$R" N1)
# The agent has the release's description for the prompt (the GUI test checks the window shows it).
local_call N1 ListPendingUpdates '{}' | grep -q '"description":"Faster invoice printing; fixes the VAT rounding"' ||
    fail "the agent lacks the release description: $(local_call N1 ListPendingUpdates '{}')"
gui prompt-defer '1.25.12.14(12522)'
for _ in $(seq 50); do "$FERRY" task get "$T" | grep -qi deferred && break; sleep 0.2; done
"$FERRY" task get "$T" | grep -qi deferred || fail "the server does not show the deferral"
[ "$(states "$R")" = "N1=40" ] || fail "deferred task moved: $(states "$R")"

log "answered early: Update now, progress window to 100"
gui prompt-now '1.25.12.14(12522)'
grep -q "app 1.25.12.14(12522)" "$W/N1/server/bin/app.txt" || fail "server dir not updated"
wait_states "$R" "N1=100" 30

log "an update whose SQL fails: failed step, error code and message, restored backup, failed icon"
pkg '1.25.12.17(12525)' badsql
R2=$(release '1.25.12.17(12525)' optional)
wait_states "$R2" "N1=40" 30
gui prompt-fail '1.25.12.17(12525)'
wait_states "$R2" "N1=130" 30
grep -q "app 1.25.12.14(12522)" "$W/N1/server/bin/app.txt" || fail "the failed update was not rolled back"

log "offline package: a tampered zip refused on its field, the real one applied"
pkg '1.25.12.15(12523)'
"$FERRY" package export '1.25.12.15(12523)' --out "$W/export" --customer ACME --valid-days 7 >/dev/null || fail "export"
cp "$W/export/1.25.12.15(12523).zip" "$W/tampered.zip"
printf 'X' | dd of="$W/tampered.zip" bs=1 seek=200 conv=notrunc status=none
gui offline "$W/tampered.zip" "$W/export/1.25.12.15(12523).zip" "$W/export/1.25.12.15(12523).manifest.json" '1.25.12.15(12523)'
grep -q "app 1.25.12.15(12523)" "$W/N1/server/bin/app.txt" || fail "offline package not applied"

log "deadline passing while the prompt is open: the window says it runs now, the agent runs it"
pkg '1.25.12.16(12524)'
DEADLINE=$(date -u -d '+35 seconds' +%Y-%m-%dT%H:%M:%SZ)
R3=$(release '1.25.12.16(12524)' optional --deadline "$DEADLINE")
wait_states "$R3" "N1=40" 30
gui prompt-deadline '1.25.12.16(12524)'
wait_states "$R3" "N1=100" 60
grep -q "app 1.25.12.16(12524)" "$W/N1/server/bin/app.txt" || fail "forced-at-deadline update not applied"

log "the agent restarts under an open tray: agent-down, then reconnected by itself"
# The test binary records its own pid (under dbus-run-session), so cleanup can stop it.
"${RUN_BUS[@]}" "${GUI_ENV[@]}" bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$W/gui.pid" \
    "$GUI" --state-dir "$S" --shots "$SHOTS" agent-restart >"$W/gui-agent-restart.log" 2>&1 &
GUI_PID=$!
for _ in $(seq 300); do grep -q '^\[gui\] ready' "$W/gui-agent-restart.log" && break; sleep 0.1; done
grep -q '^\[gui\] ready' "$W/gui-agent-restart.log" || { cat "$W/gui-agent-restart.log" >&2; fail "GUI phase agent-restart not ready"; }
agent_stop N1
sleep 2
agent_start N1
rc=0
wait "$GUI_PID" || rc=$?
rm -f "$W/gui.pid"
GUI_PID=""
grep -E '^\[gui\]' "$W/gui-agent-restart.log" || true
[ $rc = 0 ] || { cat "$W/gui-agent-restart.log" >&2; fail "GUI phase agent-restart"; }

ls "$SHOTS"/tray-*.png >/dev/null || fail "no screenshots in $SHOTS"
log "screenshots: $(cd "$SHOTS" && echo tray-*.png)"
log "PASS"
