#!/usr/bin/env bash
# The Debian package as a new user meets it: build chimera_<version>_amd64.deb with CPack, install
# it with apt into a fresh Debian 12 (bookworm) root made by debootstrap (apt resolves the
# dependencies the package declares), then, as an ordinary user in /tmp, with no network at all:
# `chimera --version`, `chimera run` with its default data folder and backend choice (no Ollama
# anywhere: the dummy-weight model), `man chimera`, and finally `apt-get purge`.
#
# Usage: scripts/test-deb.sh BUILD_DIR        (ctest runs it as package.deb_debian12)
# Exit 77 (ctest: skipped) when it cannot run here: not root, or no Debian mirror reachable.
# Environment: CHIMERA_DEBIAN_MIRROR (default http://deb.debian.org/debian);
#   CHIMERA_DEB_TEST_CACHE=DIR keeps the bootstrapped root as DIR/debian12-minbase.tar.zst and
#   starts later runs from it (the root is still pristine: nothing of a run is saved).
set -euo pipefail

build="$(cd "${1:?usage: scripts/test-deb.sh BUILD_DIR}" && pwd)"
mirror="${CHIMERA_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
skip() { echo "SKIPPED: $*"; exit 77; }
step_start=$SECONDS
step() { echo "[$((SECONDS - step_start))s] $*"; }

[[ $(id -u) -eq 0 ]] || skip "needs root (debootstrap, chroot, mount)"
command -v unshare >/dev/null || skip "needs unshare (util-linux) to run the package offline"
if ! curl -fsSI --max-time 20 "$mirror/dists/bookworm/Release" >/dev/null 2>&1; then
  skip "the Debian mirror $mirror is not reachable (set CHIMERA_DEBIAN_MIRROR)"
fi

step "building the package"
(cd "$build" && cpack -G DEB >/dev/null)
deb="$(ls -t "$build"/package/chimera_*_amd64.deb | head -1)"
dpkg-deb -f "$deb" Package Version Depends

if ! command -v debootstrap >/dev/null; then
  # The one package this test adds to the machine (scripts/setup.sh --tests installs it too).
  step "installing debootstrap"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi

root="$(mktemp -d /var/tmp/chimera-debian12-XXXXXX)"
chmod 755 "$root"  # mktemp's 0700 would keep every user but root (and apt's _apt) out
mounted=()
cleanup() {
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[i]}" 2>/dev/null || true; done
  rm -rf --one-file-system "$root"
}
trap cleanup EXIT

cache="${CHIMERA_DEB_TEST_CACHE:-}"
tarball="${cache:+$cache/debian12-minbase.tar.zst}"
if [[ -n "$tarball" && -f "$tarball" ]]; then
  step "unpacking the cached Debian 12 root ($tarball)"
  tar --zstd -xf "$tarball" -C "$root"
else
  step "debootstrap bookworm (minbase) from $mirror"
  debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.log" 2>&1 ||
    { tail -20 "$root.log"; exit 1; }
  rm -f "$root.log"
  if [[ -n "$tarball" ]]; then
    mkdir -p "$cache"
    tar --zstd -cf "$tarball" -C "$root" .
  fi
fi

mount -t proc proc "$root/proc" && mounted+=("$root/proc")
mount -t sysfs sysfs "$root/sys" && mounted+=("$root/sys")
mount --bind /dev "$root/dev" && mounted+=("$root/dev")
mount --bind /dev/pts "$root/dev/pts" && mounted+=("$root/dev/pts")
cp /etc/resolv.conf "$root/etc/resolv.conf"
in_root() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }

step "apt-get install ./$(basename "$deb") (apt resolves its dependencies) and man-db"
cp "$deb" "$root/tmp/"
in_root apt-get update -qq
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  "/tmp/$(basename "$deb")" man-db >/dev/null
in_root dpkg -s chimera | grep -E '^(Status|Version|Depends):'

# A user of the machine, offline: a new network namespace has no interface but a down loopback, so
# neither an Ollama server nor the mirror can be reached.
in_root useradd --create-home --shell /bin/bash alice
as_alice() {
  unshare --net chroot --userspec=alice:alice "$root" \
    env -i PATH=/usr/bin:/bin HOME=/home/alice LANG=C.UTF-8 bash -c "cd /tmp && $1"
}

step "chimera --version"
version="$(as_alice 'chimera --version')"
echo "$version"
[[ "$version" == "chimera $(dpkg-deb -f "$deb" Version) ("* ]] || { echo "unexpected --version"; exit 1; }

step "chimera run (offline, from /tmp, default data and backend)"
as_alice 'chimera run --runs 2 --analysis-num-predict 8 --report-num-predict 16 --no-hwmon' \
  >"$root/tmp/run.log" 2>&1 || { cat "$root/tmp/run.log"; exit 1; }
cat "$root/tmp/run.log"
grep -q '^data: /usr/share/chimera/examples/data: ' "$root/tmp/run.log" ||
  { echo "the default --data is not the installed example data"; exit 1; }
grep -q 'dummy weights' "$root/tmp/run.log" || { echo "no dummy-weight note"; exit 1; }
report_dir="$(ls -d "$root"/tmp/reports/*/ | head -1)"
for f in baseline_report.md chimera_report.md comparison_report.md report.html metrics.json; do
  [[ -s "$report_dir/$f" ]] || { echo "missing $f in $report_dir"; exit 1; }
done
[[ -s "$root/home/alice/.local/share/chimera/results.db" ]] || { echo "no results database"; exit 1; }

step "man chimera"
as_alice 'MANPAGER=cat MANWIDTH=100 man chimera' >"$root/tmp/man.txt"
head -5 "$root/tmp/man.txt"
for section in NAME SYNOPSIS COMMANDS CONFIGURATION ENVIRONMENT FILES "EXIT STATUS"; do
  grep -q "^$section" "$root/tmp/man.txt" || { echo "man chimera lacks $section"; exit 1; }
done
grep -q '^   chimera run$' "$root/tmp/man.txt" || { echo "man chimera lacks chimera run"; exit 1; }

step "apt-get purge chimera"
in_root env DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq chimera >/dev/null
[[ ! -e "$root/usr/bin/chimera" && ! -e "$root/usr/share/chimera" ]] ||
  { echo "purge left files behind"; exit 1; }

step "passed"
