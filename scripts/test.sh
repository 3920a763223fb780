#!/usr/bin/env bash
# The test suite on a fresh Debian 12 machine: install what is missing, build Release, run ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --tests
cmake --preset release >/dev/null
cmake --build build/release -j "$(nproc)"
cd build/release
ctest --output-on-failure -j "$(nproc)" --timeout 900
