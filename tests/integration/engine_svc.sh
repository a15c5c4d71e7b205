#!/usr/bin/env bash
# A stand-in service for the engine tests, driven by the `command` control kind:
#   engine_svc.sh start|stop|status RUNDIR SERVERDIR [FERRY_TESTD]
# The service is a real background process with a pid file in RUNDIR: the project's
# ferry-testd when its path is given (a daemon that can refuse SIGTERM), otherwise a
# plain `sleep`. Behaviour switches, as files:
#   SERVERDIR/FAIL_START   start fails (the "new version" that cannot start)
#   RUNDIR/REFUSE_STOP     the process ignores the stop request (timeout); with ferry-testd
#                          it must exist when the service starts (--refuse-stop)
#   RUNDIR/STOP_FAILS      stop exits 1 (E_SERVICE_STOP_FAILED)
set -u
cmd=$1 run=$2 server=$3 testd=${4:-}
pidf=$run/svc.pid
# A killed process may linger as a zombie until its (re)parent reaps it: not running.
running() {
    local pid st
    [ -f "$pidf" ] && pid=$(cat "$pidf") && [ -r /proc/$pid/stat ] || return 1
    st=$(sed 's/^.*) //' /proc/$pid/stat 2>/dev/null | cut -c1)
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}
case $cmd in
start)
    [ -e "$server/FAIL_START" ] && { echo "refusing to start: FAIL_START present" >&2; exit 1; }
    running && exit 0
    if [ -n "$testd" ]; then
        args=(--daemon --pidfile "$pidf" --log "$run/testd.log")
        [ -e "$run/REFUSE_STOP" ] && args+=(--refuse-stop)
        "$testd" "${args[@]}" || exit 1
    else
        # argv[0] names the run dir, so a test's cleanup can find it by its command line
        setsid bash -c 'exec -a "ferry-svc-sleep $0" sleep 1000000' "$run" </dev/null >/dev/null 2>&1 &
        echo $! >"$pidf"
    fi
    echo "started pid $(cat "$pidf")" >>"$run/svc.log"
    ;;
stop)
    [ -e "$run/STOP_FAILS" ] && { echo "stop failed on purpose" >&2; exit 1; }
    running || exit 0
    if [ -n "$testd" ]; then
        "$testd" --stop --pidfile "$pidf" || exit 1
    else
        [ -e "$run/REFUSE_STOP" ] && exit 0
        kill "$(cat "$pidf")"
    fi
    for _ in $(seq 50); do running || break; sleep 0.1; done
    echo "stopped" >>"$run/svc.log"
    ;;
status)
    running
    ;;
*)
    echo "usage: $0 start|stop|status RUNDIR SERVERDIR" >&2
    exit 2
    ;;
esac
