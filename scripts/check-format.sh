#!/usr/bin/env bash
# Fails when a tracked C source or header differs from .clang-format's output.
# Fix with: scripts/check-format.sh --fix
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.c' '*.h' | grep -v -E '^(tests/fuzz/corpus|third_party)/' || true)
[ "${#files[@]}" -eq 0 ] && exit 0
if [ "${1:-}" = "--fix" ]; then
  clang-format -i "${files[@]}"
  exit 0
fi
clang-format --dry-run -Werror "${files[@]}"
echo "format: ${#files[@]} files ok"
