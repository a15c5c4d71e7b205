#!/usr/bin/env bash
# Runs every test: format, layering and clang-tidy checks, the full suite in a normal -Werror build, then the
# unit and integration tests again under AddressSanitizer + UndefinedBehaviorSanitizer.
# Usage: scripts/test.sh [--quick]   (--quick skips the sanitizer pass)
# After each ctest run, any process still alive that was started during the run from an
# executable in that build directory (a ferry-testd service, ferryd, ferry-agent, a test
# server...) is a test that did not stop what it started: it is listed, killed, and the
# script fails.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=${JOBS:-$(nproc)}
# The web console is part of what is tested: its build (npm ci from the committed lock
# file) must not be skipped here, unlike a developer's build without node.
export FERRY_CONSOLE_REQUIRED=${FERRY_CONSOLE_REQUIRED:-1}

# leftovers DIR SINCE: pids of live (not zombie) processes whose executable lies under
# DIR and that started at or after SINCE (clock ticks since boot, /proc/PID/stat field
# 22). Only this checkout's build directory and only processes younger than the test run
# count, so a developer's own daemons (even ones run from this tree) are never matched.
leftovers() {
    local dir=$1 since=$2 d exe st
    local -a f
    for d in /proc/[0-9]*; do
        exe=$(readlink "$d/exe" 2>/dev/null) || continue
        case $exe in "$dir"/*) ;; *) continue ;; esac
        st=$(sed 's/^.*) //' "$d/stat" 2>/dev/null) || continue
        read -r -a f <<<"$st"
        [ "${#f[@]}" -ge 20 ] || continue
        case ${f[0]} in Z | X) continue ;; esac
        [ "${f[19]}" -ge "$since" ] || continue
        echo "${d#/proc/}"
    done
}

# run_ctest DIR CTEST-ARGS...: ctest in DIR, then the leftover check. Non-zero if either
# failed; a leftover process is printed and killed.
run_ctest() {
    local dir=$ROOT/$1 since rc=0 pids pid i
    shift
    since=$(awk '{print $22}' /proc/self/stat)
    (cd "$dir" && ctest "$@") || rc=$?
    for i in $(seq 10); do # a process in the middle of exiting gets 3 s
        pids=$(leftovers "$dir" "$since")
        [ -n "$pids" ] || break
        sleep 0.3
    done
    if [ -n "$pids" ]; then
        echo "== FAIL: $(echo $pids | wc -w) process(es) started by the tests in $dir outlived their test:" >&2
        for pid in $pids; do
            echo "  $pid $(tr '\0' ' ' 2>/dev/null </proc/$pid/cmdline)" >&2
        done
        kill -9 $pids 2>/dev/null || true
        rc=1
    fi
    return $rc
}

./scripts/install-deps.sh

echo "== format check"
./scripts/check-format.sh
echo "== layering check"
./scripts/check-layering.sh

echo "== build (RelWithDebInfo, -Werror)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFERRY_WERROR=ON >/dev/null
cmake --build build -j"$JOBS"
echo "== clang-tidy (analyzer + bugprone checks of .clang-tidy, over build/compile_commands.json)"
./scripts/check-tidy.sh build
echo "== tests"
run_ctest build --output-on-failure -j"$JOBS" --timeout 900

if [ "${1:-}" != "--quick" ]; then
  echo "== build (ASan + UBSan)"
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DFERRY_SANITIZE=ON -DFERRY_WERROR=ON >/dev/null
  cmake --build build-asan -j"$JOBS"
  echo "== tests under ASan + UBSan (unit, integration, fuzz corpus replay)"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    LSAN_OPTIONS=suppressions=$ROOT/tests/lsan.supp \
    run_ctest build-asan --output-on-failure -j"$JOBS" --timeout 1800 -L 'unit|integration|fuzz-replay' -LE 'slow|interop'
fi
echo "== all tests passed"
