#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: install what is missing, build Release, run `chimera run`
# with all defaults (extra arguments are passed through).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cmake --preset release >/dev/null
cmake --build build/release -j "$(nproc)" --target chimera
exec ./build/release/chimera run "$@"
