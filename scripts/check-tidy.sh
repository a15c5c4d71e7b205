#!/usr/bin/env bash
# clang-tidy gate: the analyzer and bugprone checks of .clang-tidy over every project C
# source (lib, agent, server, cli, tray; not gen/ nor tests/) compiled in BUILD_DIR's
# compile_commands.json. Prints each finding as FILE:LINE:COL: message [check] and exits 1
# if there is any. A false positive is suppressed at its line with NOLINT(check) plus a
# comment saying why; a check disabled as a whole is justified in .clang-tidy.
# Usage: scripts/check-tidy.sh [BUILD_DIR] [FILE...]   (default: build, every source)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${1:-build}
shift || true
JOBS=${JOBS:-$(nproc)}

if ! command -v run-clang-tidy >/dev/null 2>&1 || ! command -v clang-tidy >/dev/null 2>&1; then
  echo "check-tidy: clang-tidy is not installed (scripts/install-deps.sh installs it)" >&2
  exit 1
fi
if [ ! -f "$BUILD/compile_commands.json" ]; then
  echo "check-tidy: $BUILD/compile_commands.json missing: configure the build first (cmake -S . -B $BUILD)" >&2
  exit 1
fi

if [ "$#" -gt 0 ]; then
  files=("$@")
  regex="^($(printf '%s|' "${files[@]/#/$ROOT/}" | sed 's/|$//; s/\./\\./g'))\$"
else
  regex="^$ROOT/(lib|agent|server|cli|tray)/.*\\.c\$"
fi

out=$(mktemp)
trap 'rm -f "$out"' EXIT
# run-clang-tidy prints each file's command and diagnostics; -quiet drops the banners.
run-clang-tidy -p "$BUILD" -j "$JOBS" -quiet "$regex" >"$out" 2>&1 || true
# Findings are "path:line:col: warning|error: text [check]"; "clang-diagnostic-error"
# (a file that does not compile for the analyzer) counts too.
mapfile -t findings < <(sed 's/\x1b\[[0-9;]*m//g' "$out" |
  grep -E '^/[^:]+:[0-9]+:[0-9]+: (warning|error): ' | sed "s|^$ROOT/||" | sort -u || true)
if [ "${#findings[@]}" -gt 0 ]; then
  printf '%s\n' "${findings[@]}"
  echo "check-tidy: ${#findings[@]} finding(s) (checks in .clang-tidy; fix, or NOLINT(check) with a reason)" >&2
  exit 1
fi
echo "check-tidy: no findings"
