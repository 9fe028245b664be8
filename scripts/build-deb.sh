#!/usr/bin/env bash
# Builds the Debian package of both daemons for this machine's architecture:
#   .build-deb/moosync-audio-share_VERSION_ARCH.deb
# msrecv and mshost (release, static Swift runtime, stripped), their systemd units, the system
# user (sysusers.d), the gpio udev rule, /etc/moosync.json as a conffile, man pages made from
# their --help (image/debian/manpage.py) and the config reference; Depends computed from the
# binaries by dpkg-shlibdeps; then lintian, which must report nothing the overrides do not
# explain (image/debian/lintian-overrides).
#   bash scripts/build-deb.sh            build, check with lintian
#   DEB_SKIP_BUILD=1 ...                 package the release binaries already in .build/release
# Another architecture's binaries (image/cross-build.sh): DEB_ARCH=arm64, DEB_BINARIES=DIR
# holding msrecv and mshost, DEB_ROOT=a Debian root of that architecture with dpkg-dev, in
# which they are stripped and given to dpkg-shlibdeps (qemu-user runs them), DEB_RUN=how to run
# them for their --help (qemu-aarch64-static -L ROOT), and DEB_OUT=DIR for the package.
# The version is Core's (Sources/Core/Version.swift) and the number of commits, so each commit
# packages a newer version than the one before it (what apt needs to offer an update);
# DEB_VERSION sets another (scripts/check-deb.sh makes an update from the same binaries).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
say() { echo "build-deb: $*"; }
die() { echo "build-deb: error: $*" >&2; exit 1; }

package=moosync-audio-share
arch="${DEB_ARCH:-$(dpkg --print-architecture)}"
[ $# -eq 0 ] || die "takes no arguments (DEB_ARCH, DEB_BINARIES, DEB_ROOT and DEB_OUT say what else to package)"
foreign="${DEB_ROOT:-}"
[ -z "$foreign" ] || [ -x "$foreign/usr/bin/dpkg-shlibdeps" ] || die "DEB_ROOT=$foreign has no dpkg-shlibdeps (dpkg-dev)"
# A command on the binaries: in DEB_ROOT for another architecture's, here for this one's.
in_root() { if [ -n "$foreign" ]; then chroot "$foreign" "$@"; else "$@"; fi; }

tools=(dpkg-dev lintian binutils python3)
missing=()
for p in "${tools[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  say "installing ${missing[*]}"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" > /dev/null
fi

upstream="$(sed -n 's/.*current = "\([0-9.]*\)".*/\1/p' Sources/Core/Version.swift)"
[ -n "$upstream" ] || die "no version in Sources/Core/Version.swift"
commits="$(git rev-list --count HEAD 2>/dev/null)" || die "not a git checkout: the version counts its commits"
version="${DEB_VERSION:-$upstream+$commits}"

if [ -z "${DEB_SKIP_BUILD:-}" ] && [ -z "${DEB_BINARIES:-}" ]; then
  say "building msrecv and mshost (release)"
  swift build -c release --product msrecv
  swift build -c release --product mshost
fi
bin="${DEB_BINARIES:-$root/.build/release}"
[ -x "$bin/msrecv" ] && [ -x "$bin/mshost" ] || die "no release binaries in $bin"

out="${DEB_OUT:-$root/.build-deb}"
# The staging tree, and where in_root sees it.
inner=/tmp/moosync-deb
stage="$foreign$inner/stage"
[ -n "$foreign" ] || { inner="$out"; stage="$out/stage"; }
rm -rf "$stage"
mkdir -p "$stage/DEBIAN" "$out"
doc="$stage/usr/share/doc/$package"
install -d "$stage/usr/bin" "$stage/etc" "$doc" "$stage/usr/share/man/man1" "$stage/usr/lib/systemd/system" \
  "$stage/usr/lib/sysusers.d" "$stage/usr/lib/udev/rules.d" "$stage/usr/share/lintian/overrides"
for daemon in msrecv mshost; do
  install -m 0755 "$bin/$daemon" "$stage/usr/bin/$daemon"
  in_root strip --strip-unneeded --remove-section=.comment --remove-section=.note "$inner/stage/usr/bin/$daemon"
  install -m 0644 "image/debian/$daemon.service" "$stage/usr/lib/systemd/system/"
  # The page is the program's own --help and each command's.
  MANPAGE_RUN="${DEB_RUN:-}" python3 image/debian/manpage.py "$stage/usr/bin/$daemon" \
    "$(sed -n 's/^Description=\(.*\)$/\1/p' "image/debian/$daemon.service")" "$upstream" | gzip -9n > "$stage/usr/share/man/man1/$daemon.1.gz"
done
install -m 0644 image/debian/sysusers.conf "$stage/usr/lib/sysusers.d/moosync.conf"
install -m 0644 image/debian/60-moosync-gpio.rules "$stage/usr/lib/udev/rules.d/"
install -m 0644 image/debian/moosync.json "$stage/etc/moosync.json"
install -m 0644 image/debian/copyright "$doc/copyright"
install -m 0644 config/SCHEMA.md "$doc/SCHEMA.md"
install -m 0644 image/debian/lintian-overrides "$stage/usr/share/lintian/overrides/$package"
# A native package's changelog: this version, from the commit it was built from.
{
  echo "$package ($version) unstable; urgency=medium"
  echo
  echo "  * Built from commit $(git rev-parse --short HEAD): $(git log -1 --format=%s | cut -c1-40)"
  echo
  echo " -- Moosync Audio Share developers <speakers@moosync.app>  $(git log -1 --format=%aD)"
} | gzip -9n > "$doc/changelog.gz"
for script in postinst prerm postrm; do install -m 0755 "image/debian/$script" "$stage/DEBIAN/$script"; done
echo /etc/moosync.json > "$stage/DEBIAN/conffiles"

# Depends: what the binaries link, as dpkg-shlibdeps reads it (from a control file of its own).
shlibs="$foreign$inner/shlibs"
rm -rf "$shlibs"; mkdir -p "$shlibs/debian"
printf 'Source: %s\n\nPackage: %s\nArchitecture: any\n' "$package" "$package" > "$shlibs/debian/control"
depends="$(in_root sh -c 'cd "$1/shlibs" && dpkg-shlibdeps -O --warnings=0 "$1/stage/usr/bin/msrecv" "$1/stage/usr/bin/mshost"' sh "$inner" |
  sed -n 's/^shlibs:Depends=//p')"
[ -n "$depends" ] || die "dpkg-shlibdeps found no dependencies"

sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@DEPENDS@/$depends/" \
  -e "s/@SIZE@/$(du -k -s --exclude=DEBIAN "$stage" | cut -f1)/" image/debian/control.in > "$stage/DEBIAN/control"
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum > DEBIAN/md5sums)

deb="$out/${package}_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" > /dev/null
say "built $deb ($(du -k "$deb" | cut -f1) KB): Depends: $depends"
if ! lintian --fail-on error,warning --info "$deb"; then
  die "lintian found what image/debian/lintian-overrides does not explain"
fi
say "lintian: clean"
