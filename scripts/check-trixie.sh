#!/usr/bin/env bash
# Builds and tests the package with Debian 13 (trixie)'s own Swift (`swiftlang`, 6.0.3) in an amd64
# trixie chroot (DESIGN §2). Slow: run before a release and for issues touching Swift 6.0 or the
# trixie generation of the C libraries (mbedTLS 3.6, libgpiod 2.x), not on every CI run.
#
#   sudo scripts/check-trixie.sh                # create/reuse the chroot, copy the tree, build + test
#   sudo scripts/check-trixie.sh --setup-only   # only create/verify the chroot
#
# Environment:
#   TRIXIE_ROOT    chroot cache dir (default /var/tmp/moosync-trixie, ~3.5 GB); reused when complete
#   TRIXIE_MIRROR  Debian mirror (default: the host's apt sources, else http://deb.debian.org/debian)
#   CHECK_CMD      what runs in /src inside the chroot (default below)
#   CLEAN=1        drop the chroot's /src/.build first (it is kept between runs otherwise)
#
# Needs root (debootstrap, chroot, mount). Installs debootstrap on the host if missing.
set -euo pipefail

# The command run inside the chroot, in /src (a copy of this repository's working tree).
CHECK_CMD="${CHECK_CMD:-bash scripts/test.sh}"

ROOT="${TRIXIE_ROOT:-/var/tmp/moosync-trixie}"
SUITE=trixie
ARCH=amd64
FALLBACK_MIRROR=http://deb.debian.org/debian

# Installed with apt inside the chroot (--no-install-recommends, so libc6-dev and libstdc++-14-dev
# must be named: without them swiftc reports "libc not found" and -static-stdlib fails).
PACKAGES=(
  swiftlang libc6-dev libstdc++-14-dev pkg-config git
  # the six C libraries
  libopus-dev libflac-dev libavahi-client-dev libmbedtls-dev libasound2-dev libgpiod-dev libsamplerate0-dev
  # tests: alsa-lib's configuration and tools, discovery services, process tools
  alsa-utils avahi-daemon dbus procps iproute2 python3
  # this script: incremental copy of the source tree
  rsync
)
OPTIONAL_PACKAGES=(libasound2-plugins)   # installed when trixie has them

MARKER="$ROOT/.moosync-trixie-ready"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODE=check
case "${1:-}" in
  "") ;;
  --setup-only) MODE=setup ;;
  -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
  *) echo "usage: $0 [--setup-only]" >&2; exit 2 ;;
esac

say() { echo "check-trixie: $*"; }
die() { echo "check-trixie: error: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, mount); run with sudo"
case "$ROOT" in
  /*) ;; *) die "TRIXIE_ROOT must be an absolute path: $ROOT" ;;
esac
[[ "$ROOT" =~ ^/[A-Za-z0-9._/-]*[A-Za-z0-9._-]$ ]] || die "TRIXIE_ROOT must be a plain path (no spaces, no trailing /): $ROOT"
[ "$(readlink -m "$ROOT")" != / ] || die "TRIXIE_ROOT must not be /"

# ---- mounts -------------------------------------------------------------------------------------

# Mount points under $ROOT, deepest first (also catches leftovers of an interrupted run).
mounts_under_root() {
  awk -v r="$ROOT" '$2 == r || index($2, r "/") == 1 { print $2 }' /proc/self/mounts | sort -r
}

# Processes whose root directory is the chroot (daemons the checks started and left running).
procs_in_root() {
  local p
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/root" 2>/dev/null)" = "$ROOT" ] && echo "${p#/proc/}"
  done
  return 0
}

cleanup() {
  local pids m
  pids="$(procs_in_root)"
  if [ -n "$pids" ]; then
    say "stopping processes left in the chroot: $(echo $pids)"
    kill -TERM $pids 2>/dev/null || true
    sleep 2
    pids="$(procs_in_root)"
    [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
  fi
  for m in $(mounts_under_root); do
    umount "$m" 2>/dev/null || umount -l "$m" || echo "check-trixie: warning: could not unmount $m" >&2
  done
}

mount_all() {
  say "mounting proc, /dev, /dev/pts and a tmpfs /dev/shm into $ROOT"
  # The chroot's root a mount point of its own: the discovery tests run avahi-daemon under
  # `unshare -m`, which makes / private first, and that fails on a plain directory.
  mount --bind "$ROOT" "$ROOT"
  mount --make-private "$ROOT"
  mkdir -p "$ROOT/proc" "$ROOT/dev"
  mount -t proc proc "$ROOT/proc"
  mount --bind /dev "$ROOT/dev"              # not --rbind: /dev/pts and /dev/shm come next
  mkdir -p "$ROOT/dev/pts" "$ROOT/dev/shm" 2>/dev/null || true
  mount --bind /dev/pts "$ROOT/dev/pts"
  mount -t tmpfs -o mode=1777,nosuid,nodev shm "$ROOT/dev/shm"
}

in_root() {   # run a command in the chroot with a clean environment
  chroot "$ROOT" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    DEBIAN_FRONTEND=noninteractive "$@"
}

# ---- mirror -------------------------------------------------------------------------------------

# Prints "<kind> <uri>" for every enabled deb source of the host: kind is "main" for a plain suite
# (bookworm, bookworm-updates…) and "security" for a *-security suite.
host_sources() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -r "$f" ] || continue
    sed -E -n 's/^[[:space:]]*deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+)[[:space:]]+([^[:space:]]+).*/\2 \3/p' "$f"
  done | awk '{ print ($2 ~ /-security$/ ? "security" : "main"), $1 }'
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    awk '
      function flush() {
        if (types ~ /(^|[[:space:]])deb([[:space:]]|$)/ && tolower(enabled) != "no")
          for (i = 1; i <= nu; i++) print (suites ~ /-security/ ? "security" : "main"), u[i]
        types = ""; suites = ""; enabled = ""; nu = 0
      }
      /^[[:space:]]*#/ { next }
      /^[[:space:]]*$/ { flush(); next }
      { key = tolower($1); sub(/:$/, "", key); $1 = "" }
      key == "types"   { types = $0 }
      key == "suites"  { suites = $0 }
      key == "enabled" { enabled = $2 }
      key == "uris"    { nu = split($0, u, /[[:space:]]+/); n = 0
                         for (i = 1; i <= nu; i++) if (u[i] != "") u[++n] = u[i]; nu = n }
      END { flush() }
    ' "$f"
  done
}

pick_source() {   # $1 = main|security: first matching Debian http(s) URI of the host
  host_sources | awk -v k="$1" '$1 == k && $2 ~ /^https?:\/\// && $2 ~ /debian/ { print $2; exit }'
}

# ---- chroot -------------------------------------------------------------------------------------

wanted_packages() {
  local p
  printf '%s\n' "${PACKAGES[@]}"
  for p in "${OPTIONAL_PACKAGES[@]}"; do
    if in_root apt-cache show --no-all-versions "$p" >/dev/null 2>&1; then echo "$p"
    else say "note: $p is not in $SUITE, skipped" >&2; fi
  done
}

requested() { printf '%s\n' "${PACKAGES[@]}" "${OPTIONAL_PACKAGES[@]}"; }

base_complete() {
  [ -x "$ROOT/usr/bin/apt-get" ] && [ -x "$ROOT/bin/bash" ] && [ ! -e "$ROOT/debootstrap" ]
}

create_base() {
  local mirror
  mirror="${TRIXIE_MIRROR:-$(pick_source main)}"
  mirror="${mirror:-$FALLBACK_MIRROR}"
  if ! command -v debootstrap >/dev/null; then
    say "installing debootstrap on the host"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; }
  fi
  if [ -e "$ROOT" ]; then
    say "removing the incomplete chroot at $ROOT"
    [ -z "$(mounts_under_root)" ] || die "something is still mounted under $ROOT"
    rm -rf --one-file-system "$ROOT"
  fi
  mkdir -p "$(dirname "$ROOT")"
  say "debootstrap --variant=minbase $SUITE ($ARCH) from $mirror into $ROOT"
  debootstrap --variant=minbase --arch="$ARCH" "$SUITE" "$ROOT" "$mirror" \
    > "$ROOT.debootstrap.log" 2>&1 || { tail -n 30 "$ROOT.debootstrap.log" >&2; die "debootstrap failed (log: $ROOT.debootstrap.log)"; }
}

configure_apt() {
  local mirror security
  mirror="${TRIXIE_MIRROR:-$(pick_source main)}"; mirror="${mirror:-$FALLBACK_MIRROR}"
  security="$(pick_source security)"
  {
    printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "$mirror" "$SUITE" "$SUITE"
    [ -z "$security" ] || printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "$security" "$SUITE"
  } > "$ROOT/etc/apt/sources.list.d/debian.sources"
  rm -f "$ROOT/etc/apt/sources.list"
  # Package scripts must not start daemons (avahi-daemon, dbus) in the chroot; the tests do that.
  printf '#!/bin/sh\nexit 101\n' > "$ROOT/usr/sbin/policy-rc.d"
  chmod 755 "$ROOT/usr/sbin/policy-rc.d"
  cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
}

setup_chroot() {
  local t=$SECONDS wanted
  if [ -f "$MARKER" ] && base_complete; then
    mount_all
    if [ "$(cat "$MARKER")" = "$(requested)" ] && in_root dpkg-query -W "${PACKAGES[@]}" >/dev/null 2>&1; then
      say "reusing the chroot at $ROOT (complete)"
      return
    fi
  else
    base_complete || create_base
    say "debootstrap phase: $((SECONDS - t))s"
    mount_all
  fi
  t=$SECONDS
  configure_apt
  say "apt-get update and install in the chroot"
  in_root dpkg --configure -a
  in_root apt-get -qq -o Dpkg::Use-Pty=0 update
  wanted="$(wanted_packages)"
  say "installing: $(echo $wanted)"
  # shellcheck disable=SC2086
  in_root apt-get install -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends $wanted >"$ROOT.apt.log" 2>&1 \
    || { tail -n 30 "$ROOT.apt.log" >&2; die "apt-get install failed (log: $ROOT.apt.log)"; }
  in_root apt-get clean
  requested > "$MARKER"
  say "apt phase: $((SECONDS - t))s"
}

copy_source() {
  local stage="$ROOT/var/tmp/src-stage"
  say "copying the working tree's files (git ls-files: tracked + untracked, not ignored) to $ROOT/src"
  rm -rf --one-file-system "$stage"
  mkdir -p "$stage" "$ROOT/src"
  if git -C "$REPO" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -C "$REPO" ls-files -z --cached --others --exclude-standard \
      | while IFS= read -r -d '' f; do
          { [ -e "$REPO/$f" ] || [ -L "$REPO/$f" ]; } && printf '%s\0' "$f"   # skip deleted files
        done \
      | tar -C "$REPO" --null -T - -cf - \
      | tar -C "$stage" -xf -
  else
    tar -C "$REPO" --exclude='./.build*' --exclude=./.git --exclude=./.swiftpm -cf - . | tar -C "$stage" -xf -
  fi
  if [ "${CLEAN:-0}" = 1 ]; then say "CLEAN=1: removing /src/.build"; rm -rf --one-file-system "$ROOT/src/.build"; fi
  # Only changed files are rewritten, so /src/.build (kept) rebuilds incrementally.
  in_root rsync -a --checksum --delete --exclude='/.build*' /var/tmp/src-stage/ /src/
  rm -rf --one-file-system "$stage"
}

# ---- main ---------------------------------------------------------------------------------------

mkdir -p "$(dirname "$ROOT")"
exec 9>"$ROOT.lock"
flock -n 9 || die "another check-trixie run holds $ROOT.lock"
cleanup        # leftovers of an interrupted run
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

T0=$SECONDS
say "chroot: $ROOT ($SUITE $ARCH)"
setup_chroot
say "swift in the chroot: $(in_root swift --version 2>&1 | head -n 1)"
say "setup done in $((SECONDS - T0))s"
[ "$MODE" = check ] || exit 0

T1=$SECONDS
copy_source
say "copy: $((SECONDS - T1))s"

T2=$SECONDS
say "running in the chroot, in /src: $CHECK_CMD"
# In the background + wait, so that a TERM/INT to this script runs the cleanup trap at once.
set +e
in_root /bin/bash -c "set -e; cd /src; $CHECK_CMD" &
wait $!
rc=$?
set -e
if [ "$rc" -eq 0 ]; then
  say "PASS: Swift 6.0 / Debian $SUITE $ARCH ($((SECONDS - T2))s build+test, $((SECONDS - T0))s total)"
else
  say "FAIL (exit $rc): Swift 6.0 / Debian $SUITE $ARCH ($((SECONDS - T2))s build+test)"
fi
exit "$rc"
