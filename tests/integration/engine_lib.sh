# Shared helpers of the engine's integration tests (sourced, not run).
# Each test gets a fresh node under $W: server and client trees, a real SQLite database,
# a node-config.json using the `command` service control kind over a real daemon
# (ferry-testd when built, else a sleep process managed by engine_svc.sh).
set -euo pipefail

: "${FERRY_BUILD_DIR:?FERRY_BUILD_DIR must be set (ctest sets it)}"
: "${FERRY_SOURCE_DIR:?FERRY_SOURCE_DIR must be set (ctest sets it)}"
AGENT=$FERRY_BUILD_DIR/agent/ferry-agent
PKGPY=$FERRY_SOURCE_DIR/tests/integration/engine_pkg.py
SVC=$FERRY_SOURCE_DIR/tests/integration/engine_svc.sh
# The real test daemon (engine-ops) when built; engine_svc.sh falls back to `sleep`.
TESTD=${FERRY_TESTD:-$(find "$FERRY_BUILD_DIR/tests" -maxdepth 2 -name ferry-testd -type f -perm -u+x 2>/dev/null | head -1)}
V='1.25.12.13(12521)'
V2='1.25.12.14(12522)'

# The system interpreter: a version-manager shim can cost a second per start.
PY=$(command -v /usr/bin/python3 || command -v python3 || true)
[ -n "$PY" ] || { echo "SKIP: python3 not installed"; exit 77; }
for tool in sqlite3 unzip; do
    command -v $tool >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done
[ -x "$AGENT" ] || { echo "SKIP: $AGENT not built"; exit 77; }

W=$(mktemp -d /tmp/ferry-engine-XXXXXX)
# Every process this test starts must be gone when it ends, however it ends (a failed
# check, a kill -9 of the agent under test, Ctrl-C, ctest's SIGTERM): the service of the
# current node is killed by its pid file, and anything else still running whose command
# line names this test's private directory $W (services of earlier nodes, a stray agent)
# is killed too. node_setup replaces a node: it kills the old node's service before it
# deletes the pid file.
cleanup() {
    local rc=$?
    svc_kill || true
    kill_strays || true
    if [ "${KEEP_W:-0}" = 1 ]; then echo "kept $W"; else rm -rf "$W"; fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# cmdline_of PID: its command line, arguments separated by spaces.
cmdline_of() { tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline"; }
# pids_naming_w: live (not zombie) processes whose command line contains "$W/".
pids_naming_w() {
    local d pid st cmd
    for d in /proc/[0-9]*; do
        pid=${d#/proc/}
        [ "$pid" != $$ ] && [ "$pid" != "$BASHPID" ] || continue
        cmd=$(cmdline_of $pid)
        [[ $cmd == *"$W/"* ]] || continue
        st=$(sed 's/^.*) //' "$d/stat" 2>/dev/null | cut -c1)
        [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ] && echo "$pid"
    done
    return 0
}
kill_strays() {
    local pids pid i
    pids=$(pids_naming_w)
    [ -n "$pids" ] || return 0
    echo "cleanup: killing processes left by this test:" >&2
    for pid in $pids; do
        echo "  $pid $(cmdline_of $pid)" >&2
        kill -9 "$pid" 2>/dev/null || true
    done
    for i in $(seq 50); do
        [ -z "$(pids_naming_w)" ] && return 0
        sleep 0.1
    done
    echo "cleanup: still running: $(pids_naming_w)" >&2
}

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# node_setup: the "old version" installation (the service of a previous node is stopped).
node_setup() {
    svc_kill
    N=$W/node
    rm -rf $N
    mkdir -p $N/server/bin $N/server/config $N/server/logs $N/server/sub/deep $N/server/empty \
        $N/client/res $N/backup $N/tmp $N/state $N/run $N/db
    printf 'old app\n' >$N/server/bin/app.dll
    printf '#!/bin/sh\necho old\n' >$N/server/bin/run.sh
    chmod 0750 $N/server/bin/run.sh
    printf '{"db":"old"}\n' >$N/server/config/app.json
    printf 'old log line\n' >$N/server/logs/app.log
    printf 'stale\n' >$N/server/stale.txt
    "$PY" -c 'import sys; sys.stdout.write("blob data 0123456789\n" * 3500)' >$N/server/sub/deep/blob.bin
    ln -s bin/app.dll $N/server/current
    printf 'old client\n' >$N/client/setup.exe
    printf 'r1 old\n' >$N/client/res/r1.txt
    printf 'stale client\n' >$N/client/stale-client.txt
    # Fixed mtimes of every file and directory (after the last one was created): snapshots
    # of different nodes must compare equal.
    find $N/server $N/client -exec touch -h -d '2020-01-02 03:04:05' {} +
    sqlite3 $N/db/main.db "CREATE TABLE item(id INTEGER PRIMARY KEY, name TEXT);
        INSERT INTO item(name) VALUES ('a'),('b');
        CREATE TABLE log(seq INTEGER PRIMARY KEY AUTOINCREMENT, what TEXT);"
    STOP_TIMEOUT=${STOP_TIMEOUT:-5}
    START_TIMEOUT=${START_TIMEOUT:-5}
    write_config
    svc_start_initial
}

write_config() {
    local svc="'$SVC'"
    cat >$N/node-config.json <<EOF
{
  "configVersion": 1,
  "service": {
    "name": "rca7-test",
    "stopTimeoutSeconds": $STOP_TIMEOUT,
    "startTimeoutSeconds": $START_TIMEOUT,
    "control": "command",
    "stopCommand": "$SVC stop $N/run $N/server $TESTD",
    "startCommand": "$SVC start $N/run $N/server $TESTD",
    "statusCommand": "$SVC status $N/run $N/server $TESTD",
    "healthCheck": {"kind": "none"}
  },
  "paths": {
    "serverDir": "$N/server",
    "clientDir": "$N/client",
    "backupRoot": "$N/backup",
    "tempDir": "$N/tmp",
    "protectPaths": ["$N/server/config", "$N/server/logs"]
  },
  "backup": {
    "retentionN": ${RETENTION:-5},
    "db": {"engine": "sqlite", "databases": ["$N/db/main.db"], "backupFileName": "data.bak"},
    "clientBackupFileName": "client.zip"
  },
  "deploy": {"deleteOldFiles": true, "clientDeleteOldFiles": true},
  "stateDir": "$N/state"
}
EOF
    CFG=$N/node-config.json
}

svc_start_initial() {
    [ "${REFUSE_STOP:-0}" = 1 ] && touch $N/run/REFUSE_STOP
    "$SVC" start $N/run $N/server $TESTD
}
svc_running() { "$SVC" status $N/run $N/server $TESTD; }
# svc_kill: kills the current node's service by its pid file (and waits until it is gone).
# Only a process whose command line names $W: a stale pid file's pid may be reused.
svc_kill() {
    local pid i
    [ -n "${N:-}" ] && [ -f $N/run/svc.pid ] && pid=$(cat $N/run/svc.pid) && [ -n "$pid" ] || return 0
    [[ $(cmdline_of $pid) == *"$W/"* ]] || return 0
    kill -9 "$pid" 2>/dev/null || return 0
    for i in $(seq 50); do svc_running || return 0; sleep 0.1; done
    return 0
}

# new_version_trees: the "new version" content in $W/new/{server,client}.
new_version_trees() {
    NEW=$W/new
    mkdir -p $NEW/server/bin $NEW/server/config $NEW/server/newdir $NEW/client/res
    printf 'new app\n' >$NEW/server/bin/app.dll
    printf '#!/bin/sh\necho new\n' >$NEW/server/bin/run.sh
    chmod 0755 $NEW/server/bin/run.sh
    printf 'added\n' >$NEW/server/newdir/added.txt
    printf '{"db":"new"}\n' >$NEW/server/config/app.json
    printf 'new client\n' >$NEW/client/setup.exe
    printf 'r1 new\n' >$NEW/client/res/r1.txt
    printf 'r2 new\n' >$NEW/client/res/r2.txt
    cat >$W/schema.sql <<'EOF'
CREATE TABLE added(id INTEGER PRIMARY KEY, note TEXT);
GO
INSERT INTO log(what) VALUES ('schema');
GO
EOF
    cat >$W/data.sql <<'EOF'
INSERT INTO added(note) VALUES ('from data; GO is not a separator here');
INSERT INTO log(what) VALUES ('data');
GO
EOF
}

# mkpkg OUT [engine_pkg.py args...]
mkpkg() { "$PY" "$PKGPY" "$@"; }

# tree_fp DIR [mtime]: one line per entry: type, path, mode, (mtime s), content digest.
# Directories are listed without mtimes: an install gives the target root and the
# directories a package does not list fresh ones (dir_fp compares them where they must
# be equal: after a rollback).
tree_fp() {
    "$PY" - "$@" <<'PYEOF'
import hashlib, os, stat, sys
root, with_mtime = sys.argv[1], len(sys.argv) > 2
out = []
for d, dirs, files in os.walk(root):
    for name in dirs + files:
        p = os.path.join(d, name)
        rel = os.path.relpath(p, root)
        st = os.lstat(p)
        if stat.S_ISLNK(st.st_mode):
            out.append("L %s -> %s" % (rel, os.readlink(p)))
        elif stat.S_ISDIR(st.st_mode):
            out.append("D %s %o" % (rel, stat.S_IMODE(st.st_mode)))
        else:
            h = hashlib.sha256(open(p, "rb").read()).hexdigest()[:16]
            mt = " %d" % int(st.st_mtime) if with_mtime else ""
            out.append("F %s %o%s %s" % (rel, stat.S_IMODE(st.st_mode), mt, h))
print("\n".join(sorted(out)))
PYEOF
}
# dir_fp DIR: the root and every directory below: path, mode, mtime (ns).
dir_fp() {
    "$PY" - "$1" <<'PYEOF'
import os, stat, sys
root = sys.argv[1]
out = []
for d, dirs, files in os.walk(root):
    st = os.lstat(d)
    out.append("D %s %o %d" % (os.path.relpath(d, root), stat.S_IMODE(st.st_mode), st.st_mtime_ns))
print("\n".join(sorted(out)))
PYEOF
}
# snap NAME: fingerprints server tree and client tree (with file mtimes), their
# directories' mtimes, and the database (.dump).
snap() {
    tree_fp $N/server mtime >$W/snap.$1.server
    tree_fp $N/client mtime >$W/snap.$1.client
    dir_fp $N/server >$W/snap.$1.sdirs
    dir_fp $N/client >$W/snap.$1.cdirs
    sqlite3 $N/db/main.db .dump >$W/snap.$1.db
}
same_snap() {
    for part in server client db; do
        diff -u $W/snap.$1.$part $W/snap.$2.$part >&2 || fail "$part differs between snapshots $1 and $2"
    done
}
# same_old OLD NEW: NEW is OLD restored: same_snap plus every directory's mode and mtime.
same_old() {
    same_snap "$1" "$2"
    diff -u $W/snap.$1.sdirs $W/snap.$2.sdirs >&2 || fail "server directories differ between snapshots $1 and $2"
    diff -u $W/snap.$1.cdirs $W/snap.$2.cdirs >&2 || fail "client directories differ between snapshots $1 and $2"
}

# agent ARGS...: runs ferry-agent, output in $W/out, exit code in $RC.
agent() {
    set +e
    "$AGENT" "$@" >$W/out 2>$W/err
    RC=$?
    set -e
}
json_field() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' $W/out "$1"; }
expect_state() {
    local st
    st=$(json_field state)
    [ "$st" = "$1" ] || { cat $W/out $W/err >&2; fail "expected state $1, got $st"; }
    if [ -n "${2:-}" ]; then
        local ec
        ec=$(json_field errorCode)
        [ "$ec" = "$2" ] || { cat $W/out $W/err >&2; fail "expected error $2, got $ec"; }
    fi
}
