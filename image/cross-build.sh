#!/usr/bin/env bash
# msrecv and mshost for arm64 (aarch64), cross-compiled on an x86-64 Debian machine with Debian
# trixie's own Swift (swiftlang 6.0.3, the speaker image's compiler) and the toolchain's lld,
# then packaged as the arm64 .deb (scripts/build-deb.sh). Two Debian trixie roots, made once
# and kept in $IMAGE_WORK (default /var/tmp/moosync-image, about 4 GB):
#   buildroot-amd64  the compiler: swiftlang and its C library headers
#   sysroot-arm64    what the binaries link: the six -dev libraries, libc and libstdc++ for
#                    arm64, and swiftlang's static runtime for aarch64; dpkg-shlibdeps runs in
#                    it (under qemu-user) to compute the .deb's Depends
# Output: $IMAGE_WORK/deb/moosync-audio-share_VERSION_arm64.deb. Needs root (mmdebstrap,
# systemd-nspawn, binfmt for qemu-aarch64).
#   sudo image/cross-build.sh
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="${IMAGE_WORK:-/var/tmp/moosync-image}"
mirror="${IMAGE_MIRROR:-http://deb.debian.org/debian}"
say() { echo "cross-build: $*"; }
die() { echo "cross-build: error: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (mmdebstrap, systemd-nspawn)"

host_tools=(mmdebstrap systemd-container qemu-user-static binfmt-support dpkg-dev lintian rsync)
missing=()
for p in "${host_tools[@]}"; do dpkg-query -W -f='${Status}' "$p" 2> /dev/null | grep -q "install ok installed" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" > /dev/null
fi
# qemu-user runs the arm64 root's maintainer scripts and dpkg-shlibdeps.
[ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64
mkdir -p "$work"

# A root made once: into NAME.tmp, renamed when mmdebstrap succeeded, so a broken one is redone.
make_root() {  # name, mmdebstrap arguments...
  local name=$1; shift
  [ -d "$work/$name" ] && return
  say "making $name (once; kept in $work)"
  rm -rf "$work/$name.tmp"
  local started=$SECONDS
  mmdebstrap --quiet "$@" "$work/$name.tmp" "$mirror" > "$work/$name.log" 2>&1 || { tail -20 "$work/$name.log"; die "mmdebstrap for $name failed"; }
  mv "$work/$name.tmp" "$work/$name"
  say "$name made in $((SECONDS - started)) s"
}
make_root buildroot-amd64 --variant=apt --include=swiftlang,libc6-dev,libstdc++-14-dev,pkg-config trixie
make_root sysroot-arm64 --arch=arm64 --variant=apt \
  --include=libc6-dev,libstdc++-14-dev,libgcc-14-dev,libopus-dev,libflac-dev,libavahi-client-dev,libmbedtls-dev,libasound2-dev,libgpiod-dev,libsamplerate0-dev,swiftlang,dpkg-dev trixie

# The tree as it is now (committed or not), without build products.
src="$work/src"
mkdir -p "$src"
rsync -a --delete --exclude '/.build*' --exclude '/Benchmarks/.build' --exclude '.git/' "$repo/" "$src/"

# lld takes msrecv's text order as symbols (Package.swift).
sed -n 's/^\.text\.//p' "$repo/Sources/msrecv/link/text-order.txt" > "$work/text-order.symbols"
cat > "$work/aarch64.json" << 'JSON'
{
  "version": 1,
  "sdk": "/sysroot",
  "toolchain-bin-dir": "/usr/bin",
  "target": "aarch64-unknown-linux-gnu",
  "extra-cc-flags": [],
  "extra-swiftc-flags": ["-sdk", "/sysroot", "-resource-dir", "/sysroot/usr/libexec/swift/lib/swift_static", "-use-ld=lld"],
  "extra-cpp-flags": []
}
JSON

say "building msrecv and mshost for aarch64"
started=$SECONDS
systemd-nspawn --quiet --register=no --keep-unit --directory="$work/buildroot-amd64" --bind="$src:/src" --bind-ro="$work/sysroot-arm64:/sysroot" \
  --bind="$work:/work" --setenv=MOOSYNC_SYMBOL_ORDER=/work/text-order.symbols --setenv=PATH=/usr/bin:/bin --chdir=/src \
  sh -c 'for product in msrecv mshost; do
           swift build -c release --destination /work/aarch64.json --scratch-path /work/build-aarch64 --product $product || exit 1
         done'
say "built in $((SECONDS - started)) s"

bin="$work/build-aarch64/aarch64-unknown-linux-gnu/release"
python3 "$repo/scripts/text-order-took.py" "$bin/msrecv" || die "lld did not take msrecv's text order"
# Swift's runtime reads its arguments from /proc, which the root has not mounted: --help is
# asked from here, under qemu-user with the root as its library path.
rm -rf "$work/deb"
DEB_ARCH=arm64 DEB_BINARIES="$bin" DEB_ROOT="$work/sysroot-arm64" DEB_RUN="qemu-aarch64-static -L $work/sysroot-arm64" DEB_OUT="$work/deb" \
  bash "$repo/scripts/build-deb.sh"
