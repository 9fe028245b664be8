#!/usr/bin/env bash
# Boots the speaker image (image/build.sh) under qemu-system-aarch64 -M virt (software
# emulation: slow, so its times are not a Pi's) with user networking to an mshost on this
# machine playing a 440 Hz tone, and checks from inside the guest:
#   - systemd starts msrecv from the packaged unit (the image's setup made its config from
#     moosync.txt, as an owner would write it: host=10.0.2.2:PORT, the snd-aloop card);
#   - the tone arrives: the loopback's other end, recorded in the guest, is 440 Hz;
#   - time from kernel start to first sound, msrecv's RSS and CPU, `systemctl --failed` empty;
#   - the watchdog restarts a frozen msrecv (SIGSTOP) within WatchdogSec;
#   - the speaker's id and keys are on the data partition, the root is read-only, and
#     moosync.txt (it may hold the password) is root's alone;
#   - the units' documentation is installed;
#   - an update in place: the next version of the package copied onto the FAT partition, as an
#     owner would, is installed at the next boot (moosync-update.service), msrecv plays on it,
#     the id, keys and pins are kept and the root is read-only again.
# The guest writes what it found to a 9p share; this script prints it and judges. Two boots.
#   sudo image/boot-test.sh [IMAGE]       (default $IMAGE_WORK/moosync-speaker-arm64.img)
# Its own script, not in scripts/test.sh: a boot under emulation takes minutes.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="${IMAGE_WORK:-/var/tmp/moosync-image}"
image="${1:-$work/moosync-speaker-arm64.img}"
port="${BOOT_TEST_PORT:-18080}"
say() { echo "boot-test: $*"; }
die() { echo "boot-test: FAIL: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root"
[ -r "$image" ] || die "no image at $image (sudo image/build.sh)"
command -v qemu-system-aarch64 > /dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-system-arm > /dev/null
[ -x "$repo/.build/release/mshost" ] || (cd "$repo" && swift build -c release --product mshost)

run="$work/boot-test"
rm -rf "$run" && mkdir -p "$run/share"
host_pid=""
qemu_pid=""
cleanup() {
  [ -z "$qemu_pid" ] || kill "$qemu_pid" 2> /dev/null || true
  [ -z "$host_pid" ] || kill "$host_pid" 2> /dev/null || true
}
trap cleanup EXIT

# The host: a tone over TLS on this machine, which the guest reaches as 10.0.2.2.
cat > "$run/host.json" << EOF
{"sharing": {"enabled": true, "device_name": "boot test host", "source": "tone:440", "port": $port, "advertise": false,
             "state_dir": "$run/host-state"}}
EOF
"$repo/.build/release/mshost" --config "$run/host.json" > "$run/mshost.log" 2>&1 &
host_pid=$!

# The guest's disk: a copy of the image, its moosync.txt as the owner would write it, and the
# check the guest runs once booted.
cp --sparse=always "$image" "$run/disk.img"
fat_offset=$((4 * 1024 * 1024))
printf 'host=10.0.2.2:%s\naudio_device=hw:Loopback,0,0\nname=Boot test speaker\n' "$port" > "$run/moosync.txt"
mcopy -o -i "$run/disk.img@@$fat_offset" "$run/moosync.txt" ::moosync.txt
mcopy -o -i "$run/disk.img@@$fat_offset" "$repo/image/boot-check.sh" ::boot-check.sh

# The next version of the package, for the update in place at the second boot: the image's
# binaries again, under a higher version.
deb="$(ls "$work"/deb/moosync-audio-share_*_arm64.deb | tail -1)"
DEB_SKIP_BUILD=1 DEB_ARCH=arm64 DEB_BINARIES="$work/build-aarch64/aarch64-unknown-linux-gnu/release" DEB_ROOT="$work/sysroot-arm64" \
  DEB_RUN="qemu-aarch64-static -L $work/sysroot-arm64" DEB_OUT="$run/update" DEB_VERSION="$(dpkg-deb --field "$deb" Version)+update" \
  bash "$repo/scripts/build-deb.sh" > "$run/build-deb.log" 2>&1 || die "the next version's package could not be made ($run/build-deb.log)"

# The kernel and initrd from the root file system the image was made of.
kernel="$(ls "$work"/rootfs/boot/vmlinuz-* | tail -1)"
initrd="$(ls "$work"/rootfs/boot/initrd.img-* | tail -1)"
# boot PHASE: boots the guest, which runs boot-check.sh PHASE and powers off; prints its report.
boot() {
  say "booting $(basename "$kernel") under qemu-system-aarch64 (TCG): $1"
  local started limit=${BOOT_TEST_SECONDS:-900}
  started=$(date +%s)
  qemu-system-aarch64 -M virt -cpu cortex-a72 -smp 2 -m 1024 -nographic -no-reboot \
    -kernel "$kernel" -initrd "$initrd" \
    -append "root=LABEL=RASPIROOT console=ttyAMA0 modules_load=snd_aloop,9pnet_virtio,9p systemd.run=\"/usr/bin/systemd-run --no-block --unit=boot-check /bin/sh /boot/firmware/boot-check.sh $1\" systemd.run_success_action=none systemd.run_failure_action=none" \
    -drive file="$run/disk.img",format=raw,if=virtio \
    -netdev user,id=net0 -device virtio-net-pci,netdev=net0 \
    -virtfs local,path="$run/share",mount_tag=results,security_model=mapped-xattr \
    > "$run/console-$1.log" 2>&1 &
  qemu_pid=$!
  while kill -0 "$qemu_pid" 2> /dev/null; do
    [ $(($(date +%s) - started)) -lt "$limit" ] || die "the guest did not finish in $limit s ($run/console-$1.log)"
    sleep 2
  done
  qemu_pid=""
  say "guest done after $(($(date +%s) - started)) s"
  [ -s "$run/share/report-$1.txt" ] || { tail -40 "$run/console-$1.log"; die "the guest wrote no report ($run/console-$1.log)"; }
  cat "$run/share/report-$1.txt"
}

boot first
python3 - "$run/share/recording.raw" << 'PY' || die "no 440 Hz tone in what the guest recorded from the loopback"
import array, sys
data = array.array("h", open(sys.argv[1], "rb").read())
left = data[0::2]
assert len(left) >= 48000, f"only {len(left)} frames recorded"
left = left[-48000:]
peak = max(abs(s) for s in left)
cycles = sum(1 for a, b in zip(left, left[1:]) if a < 0 <= b)
print(f"boot-test: recorded in the guest, last second: peak {peak}, {cycles} cycles")
assert peak > 3000 and 430 <= cycles <= 450, "not a 440 Hz tone"
PY
first="$run/share/report-first.txt"
grep -q '^failed units: 0$' "$first" || die "units failed in the guest"
grep -q '^documentation missing: none$' "$first" || die "a unit's documentation is not installed"
grep -q '^watchdog: restarted' "$first" || die "the watchdog did not restart a frozen msrecv"
grep -q '^root: read-only$' "$first" || die "the root file system is writable"
grep -q '^moosync.txt: mode 700$' "$first" || die "moosync.txt (it may hold the password) is readable by other users"

# The update: the next version onto the FAT partition, then a boot.
next="$(ls "$run"/update/moosync-audio-share_*_arm64.deb)"
mcopy -o -i "$run/disk.img@@$fat_offset" "$next" ::
boot updated
updated="$run/share/report-updated.txt"
grep -q "^updated at boot: .*$(dpkg-deb --field "$next" Version) installed" "$updated" || die "moosync-update.service did not install the next version at boot"
grep -q "^version: $(dpkg-deb --field "$next" Version)$" "$updated" || die "the next version is not the one installed"
grep -q '^status: playing' "$updated" || die "msrecv does not play after the update"
grep -q '^identity kept' "$updated" || die "the update changed the speaker's id, keys or pins"
grep -q '^root: read-only$' "$updated" || die "the update left the root writable"
grep -q '^failed units: 0$' "$updated" || die "units failed in the guest after the update"
say "PASS"
