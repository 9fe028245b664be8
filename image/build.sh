#!/usr/bin/env bash
# A flashable SD-card image of a Moosync speaker for arm64 Raspberry Pis, from Debian trixie's
# packages (mmdebstrap, as Debian's own Raspberry Pi images are built from its packages):
#   sudo image/build.sh        ->  $IMAGE_WORK/moosync-speaker-arm64.img (default /var/tmp/moosync-image)
# Flash it with `dd if=moosync-speaker-arm64.img of=/dev/sdX bs=4M conv=fsync`, then set the
# speaker up on its FAT partition (moosync.txt; image/README.md).
#
#   1. image/cross-build.sh: msrecv and mshost for aarch64 and the arm64 .deb
#   2. the root file system: systemd, Debian's kernel and Raspberry Pi firmware, Wi-Fi firmware,
#      avahi-daemon, alsa-utils, jq, and the .deb; the speaker's own files (image/rootfs: the
#      boot-time setup from moosync.txt, Wi-Fi, DHCP, a read-only root, updates from the FAT
#      partition; image/README.md as the speaker's README.image); the board profiles;
#      the profile's config.txt lines (IMAGE_PROFILE, default pcm5102a: the DAC Debian's
#      kernel drives); for the read-only root, what systemd would otherwise make at boot
#      (logind's linger directory) made now, and networkd's persistent storage masked
#   3. the disk: a FAT partition (firmware, kernel, moosync.txt), the root (ext4, read-only)
#      and a small data partition for the speaker's identity, keys and pins, assembled from
#      files without loop devices (mkfs.vfat + mtools, mke2fs -d)
# Prints the image's size, the time each stage took and what is in it (packages.txt beside it).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="${IMAGE_WORK:-/var/tmp/moosync-image}"
mirror="${IMAGE_MIRROR:-http://deb.debian.org/debian}"
profile="${IMAGE_PROFILE:-pcm5102a}"
say() { echo "image: $*"; }
die() { echo "image: error: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (mmdebstrap, chroot)"
[ -r "$repo/board/$profile.json" ] || die "no board profile $profile in board/"
for p in mtools dosfstools e2fsprogs fdisk; do
  dpkg-query -W -f='${Status}' "$p" 2> /dev/null | grep -q "install ok installed" || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$p" > /dev/null
done

started=$SECONDS
IMAGE_WORK="$work" IMAGE_MIRROR="$mirror" bash "$repo/image/cross-build.sh"
deb="$(ls "$work"/deb/moosync-audio-share_*_arm64.deb)"
say "stage 1 (cross build, .deb) done at $((SECONDS - started)) s"

rootfs="$work/rootfs"
rm -rf "$rootfs"
stage=$SECONDS
packages=systemd-sysv,udev,dbus,kmod,systemd-resolved,linux-image-arm64,raspi-firmware,firmware-brcm80211,wpasupplicant,avahi-daemon,libnss-mdns,alsa-utils,jq,iproute2,ca-certificates
mmdebstrap --arch=arm64 --variant=minbase --components=main,non-free-firmware --include="$packages" \
  --setup-hook='mkdir -p "$1/boot/firmware"' \
  --customize-hook="copy-in $deb /tmp" \
  --customize-hook="chroot \"\$1\" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends /tmp/$(basename "$deb")" \
  --customize-hook="sync-in $repo/image/rootfs /" \
  --customize-hook="upload $repo/image/README.md /usr/share/doc/moosync-audio-share/README.image" \
  --customize-hook="copy-in $repo/board/$profile.config.txt /tmp" \
  --customize-hook='mkdir -p "$1/usr/share/moosync/board" "$1/var/lib/moosync"' \
  --customize-hook="sync-in $repo/board /usr/share/moosync/board" \
  --customize-hook='sed -i "s|^#\?ROOTPART=.*|ROOTPART=LABEL=RASPIROOT|" "$1/etc/default/raspi-firmware"' \
  --customize-hook='grep -v "^#" "$1/tmp/'"$profile"'.config.txt" > "$1/etc/default/raspi-firmware-custom"' \
  --customize-hook='chroot "$1" sh -c "DEB_MAINT_PARAMS=configure /etc/kernel/postinst.d/z50-raspi-firmware"' \
  --customize-hook='echo moosync-speaker > "$1/etc/hostname"' \
  --customize-hook='ln -sf /run/systemd/resolve/stub-resolv.conf "$1/etc/resolv.conf"' \
  --customize-hook='chroot "$1" systemctl enable moosync-setup.service moosync-update.service systemd-networkd.service systemd-resolved.service' \
  --customize-hook='chroot "$1" systemctl mask systemd-networkd-persistent-storage.service' \
  --customize-hook='mkdir -p "$1/var/lib/systemd/linger"' \
  --customize-hook='chroot "$1" dpkg-query -W -f "\${Package} \${Version}\n" > "$1/tmp/packages.txt"' \
  --customize-hook="copy-out /tmp/packages.txt $work" \
  --customize-hook='rm -f "$1"/tmp/*.deb "$1"/tmp/*.txt' \
  trixie "$rootfs" "$mirror" > "$work/rootfs.log" 2>&1 || { tail -30 "$work/rootfs.log"; die "mmdebstrap for the root file system failed ($work/rootfs.log)"; }
say "stage 2 (root file system, $(du -sm "$rootfs" | cut -f1) MB, $(wc -l < "$work/packages.txt") packages) took $((SECONDS - stage)) s"

# Stage 3: the disk, in 1 MiB units: 4 MiB gap, FAT 256, root (its files and a quarter more), data 64.
stage=$SECONDS
firmware="$work/firmware"
rm -rf "$firmware" && mkdir -p "$firmware"
mv "$rootfs"/boot/firmware/* "$firmware/"
cp "$repo/image/moosync.txt" "$firmware/moosync.txt"
fat_mb=256
root_mb=$(($(du -sm "$rootfs" | cut -f1) * 5 / 4 + 64))
data_mb=64
img="$work/moosync-speaker-arm64.img"
rm -f "$img" "$work"/part-*.img
mkfs.vfat -n RASPIFIRM -F 32 -C "$work/part-fat.img" $((fat_mb * 1024)) > /dev/null
mcopy -s -i "$work/part-fat.img" "$firmware"/* ::
mke2fs -q -t ext4 -L RASPIROOT -d "$rootfs" "$work/part-root.img" "${root_mb}M"
mke2fs -q -t ext4 -L MOOSYNC "$work/part-data.img" "${data_mb}M"
truncate -s $((4 + fat_mb + root_mb + data_mb))M "$img"
sfdisk --quiet "$img" << EOF
label: dos
start=4MiB, size=${fat_mb}MiB, type=c
size=${root_mb}MiB, type=83
size=${data_mb}MiB, type=83
EOF
dd if="$work/part-fat.img" of="$img" bs=1M seek=4 conv=notrunc,sparse status=none
dd if="$work/part-root.img" of="$img" bs=1M seek=$((4 + fat_mb)) conv=notrunc,sparse status=none
dd if="$work/part-data.img" of="$img" bs=1M seek=$((4 + fat_mb + root_mb)) conv=notrunc,sparse status=none
rm -f "$work"/part-*.img
mv "$firmware"/* "$rootfs/boot/firmware/"
say "stage 3 (disk) took $((SECONDS - stage)) s"
say "built $img: $((4 + fat_mb + root_mb + data_mb)) MB ($(du -sm "$img" | cut -f1) MB allocated, $(xz -T0 -c "$img" | wc -c | awk '{printf "%.0f", $1 / 1048576}') MB as .xz) in $((SECONDS - started)) s; packages: $work/packages.txt"
