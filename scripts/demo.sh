#!/usr/bin/env bash
# Builds Ferry and runs the main job end to end on the embedded defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
echo "demo: components are still being assembled; see docs/ and the issues."
