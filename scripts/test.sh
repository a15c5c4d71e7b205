#!/usr/bin/env bash
# Runs every test: format check, the full suite in a normal -Werror build, then the
# unit and integration tests again under AddressSanitizer + UndefinedBehaviorSanitizer.
# Usage: scripts/test.sh [--quick]   (--quick skips the sanitizer pass)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=${JOBS:-$(nproc)}

./scripts/install-deps.sh

echo "== format check"
./scripts/check-format.sh

echo "== build (RelWithDebInfo, -Werror)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFERRY_WERROR=ON >/dev/null
cmake --build build -j"$JOBS"
echo "== tests"
(cd build && ctest --output-on-failure -j"$JOBS" --timeout 900)

if [ "${1:-}" != "--quick" ]; then
  echo "== build (ASan + UBSan)"
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DFERRY_SANITIZE=ON -DFERRY_WERROR=ON >/dev/null
  cmake --build build-asan -j"$JOBS"
  echo "== tests under ASan + UBSan (unit, integration, fuzz corpus replay)"
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    LSAN_OPTIONS=suppressions=$ROOT/tests/lsan.supp \
    ctest --output-on-failure -j"$JOBS" --timeout 1800 -L 'unit|integration|fuzz-replay' -LE 'slow|interop')
fi
echo "== all tests passed"
