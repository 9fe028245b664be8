#!/usr/bin/env bash
# Installs what building, running and testing Moosync Audio Share needs on Debian 12 (or 13):
# the six C libraries' -dev packages, the Swift toolchain's own runtime dependencies (DESIGN §2),
# and the tools the tests and benchmarks drive. Idempotent; needs root (or sudo).
#   install-deps.sh [PACKAGE...]         also installs these (a benchmark's peers)
#   install-deps.sh --only PACKAGE...    installs just these, and needs no Swift (a benchmark of
#                                        Snapcast alone)
set -euo pipefail

only=0
if [ "${1:-}" = --only ]; then only=1; shift; fi
packages=(
  # the six C libraries
  libopus-dev libflac-dev libavahi-client-dev libmbedtls-dev libasound2-dev libgpiod-dev libsamplerate0-dev
  # what a swift.org toolchain needs on a minimal Debian
  libcurl4-openssl-dev libedit2 libgcc-12-dev libpython3-dev libsqlite3-0
  libstdc++-12-dev libxml2-dev libz3-dev pkg-config tzdata zlib1g-dev libncurses6 git gcc libc6-dev
  # tests: alsa-lib's plugins and configuration, services for discovery, process tools
  libasound2-plugins alsa-utils avahi-daemon avahi-utils dbus procps iproute2 python3
  # tests: packet loss on a veth link (this kernel has no netem)
  nftables
  # tests: an outside TLS client (what it can and cannot get from mshost)
  openssl
  "$@"
)
[ "$only" -eq 0 ] || packages=("$@")

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# No binutils-gold: Debian 12's binutils has it, and without it (Debian 13 splits it out)
# swiftc links with BFD, which takes msrecv's text order too (Package.swift).
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ "$only" -eq 0 ] || exit 0
command -v swift >/dev/null || {
  echo "install-deps: no 'swift' on PATH. Install a Swift 6 toolchain (swift.org tarball, or Debian 13's swiftlang) and run again." >&2
  exit 1
}
