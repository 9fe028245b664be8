#!/usr/bin/env bash
# The package as someone installs it: builds the .deb (scripts/build-deb.sh), installs it with apt
# into a fresh Debian 12 root (mmdebstrap), boots that root under systemd (systemd-nspawn --boot,
# its own network), and checks, from the packaged units:
#   - msrecv and mshost start (Type=notify) as the moosync user, `msrecv status` says playing, and
#     the tone arrives on the speaker's card (alsa-lib's file plugin under the container's default);
#   - the sandbox leaves the state directory writable and the rest of the system read-only;
#   - the watchdog: a frozen msrecv (SIGSTOP) is killed and started again within WatchdogSec;
#   - an update (the next version) restarts msrecv, which plays on with the same key and pins;
#   - purge removes every file the package installed or made (/var/lib/moosync with the keys and
#     pins, the unit links and their state), keeping only the system user and group, as Debian does.
# Needs root. Not part of scripts/test.sh: a release build and a Debian root take minutes.
#   bash scripts/check-deb.sh            DEB_SKIP_BUILD=1: package what .build/release holds
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
say() { echo "check-deb: $*"; }
die() { echo "check-deb: FAIL: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (mmdebstrap, systemd-nspawn)"

for tool in mmdebstrap:mmdebstrap systemd-nspawn:systemd-container nsenter:util-linux; do
  command -v "${tool%%:*}" > /dev/null || { say "installing ${tool#*:}"; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${tool#*:}" > /dev/null; }
done

rm -f "$repo"/.build-deb/moosync-audio-share_*.deb
bash scripts/build-deb.sh
deb="$(ls "$repo"/.build-deb/moosync-audio-share_*.deb)"
# An update: the same binaries as the next version.
DEB_SKIP_BUILD=1 DEB_VERSION="$(dpkg-deb -f "$deb" Version).1" bash scripts/build-deb.sh > /dev/null
update="$(ls "$repo"/.build-deb/moosync-audio-share_*.1_*.deb)"
ROOT="$repo/.build-deb/root"
nspawn_pid=""
cleanup() {
  if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2> /dev/null; then
    kill -TERM "$nspawn_pid" 2> /dev/null || true
    for _ in $(seq 100); do kill -0 "$nspawn_pid" 2> /dev/null || break; sleep 0.1; done
    kill -KILL "$nspawn_pid" 2> /dev/null || true
  fi
}
trap cleanup EXIT

say "a fresh bookworm root"
rm -rf "$ROOT"
started=$(date +%s)
mmdebstrap --quiet --variant=minbase --include=systemd,systemd-sysv,dbus,python3-minimal bookworm "$ROOT" > /dev/null
say "root made in $(($(date +%s) - started)) s"
cp "$deb" "$update" "$ROOT/var/cache/"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
chroot "$ROOT" apt-get update -qq > /dev/null
chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "/var/cache/$(basename "$deb")" > "$repo/.build-deb/install.log" 2>&1 ||
  { cat "$repo/.build-deb/install.log"; die "apt-get install of the package failed"; }
chroot "$ROOT" dpkg -L moosync-audio-share > "$repo/.build-deb/installed-files"
chroot "$ROOT" id moosync | grep -q '(audio)' || die "the moosync user is not in audio"
chroot "$ROOT" id moosync | grep -q '(gpio)' || die "the moosync user is not in gpio"
[ -L "$ROOT/etc/systemd/system/multi-user.target.wants/msrecv.service" ] || die "msrecv.service is not enabled by the install"
[ ! -e "$ROOT/etc/systemd/system/multi-user.target.wants/mshost.service" ] || die "mshost.service is enabled by the install (it should be off until its owner enables it)"

# The owner's part: a host on this same machine playing a tone, and a speaker playing it into a
# file, then mshost enabled as its owner would.
cat > "$ROOT/etc/moosync.json" << 'JSON'
{
  "sharing": {"enabled": true, "device_name": "deb check host", "source": "tone:440", "port": 8080, "advertise": false},
  "receiving": {"enabled": true, "host": "127.0.0.1:8080", "client_name": "deb check speaker",
                "audio_output": {"device_id": "default", "sample_format": "S16_LE"}}
}
JSON
cat > "$ROOT/etc/asound.conf" << 'ALSA'
pcm.!default { type file slave.pcm "null" file "/var/lib/moosync/played.raw" format "raw" }
ALSA
ln -s /usr/lib/systemd/system/mshost.service "$ROOT/etc/systemd/system/multi-user.target.wants/mshost.service"

say "booting it under systemd"
systemd-nspawn --quiet --directory="$ROOT" --boot --private-network --register=no --keep-unit --console=passive > "$repo/.build-deb/nspawn.log" 2>&1 &
nspawn_pid=$!
leader=""
for _ in $(seq 300); do
  # The container's init: nspawn's child, pid 1 in its own namespace.
  for p in $(pgrep -P "$nspawn_pid"); do
    grep -qP '^NSpid:\t\d+\t1$' "/proc/$p/status" 2> /dev/null && leader="$p" && break
  done
  [ -n "$leader" ] && break
  sleep 0.1
done
[ -n "$leader" ] || die "the container's systemd did not start (.build-deb/nspawn.log)"
inside() { nsenter --target "$leader" --mount --uts --ipc --net --pid -- env PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }

status=""
for _ in $(seq 300); do
  status="$(inside msrecv status 2> /dev/null || true)"
  [[ "$status" == playing* ]] && break
  sleep 0.1
done
[[ "$status" == playing* ]] || { inside journalctl --no-pager -n 40 -u msrecv -u mshost || true; die "msrecv status never said playing: $status"; }
say "msrecv status: $(echo "$status" | head -1)"
for unit in msrecv mshost; do
  [ "$(inside systemctl is-active "$unit")" = active ] || die "$unit is not active"
  [ "$(inside stat -c %U /proc/"$(inside systemctl show -p MainPID --value "$unit")")" = moosync ] || die "$unit does not run as moosync"
done
say "both active, as moosync; systemctl status:"
inside systemctl --no-pager status msrecv | sed -n '1,6p'

# The unit's limits reach msrecv's process. Whether the kernel then grants SCHED_FIFO and the
# page lock is the machine's: this one's sandbox lacks CAP_SYS_RESOURCE (no hard limit can be
# raised, RLIMIT_RTPRIO stays 0) and refuses mlock to users inside nspawn; the emulated speaker
# (image/) has a real PID 1. So here it is reported, not required.
[ "$(inside systemctl show -p LimitRTPRIO --value msrecv)" = 50 ] || die "LimitRTPRIO=50 is not applied"
[ "$(inside systemctl show -p LimitMEMLOCK --value msrecv)" = 16777216 ] || die "LimitMEMLOCK=16M is not applied"
granted="$(inside journalctl --no-pager -o cat -u msrecv | grep -c -E "normal priority|could not be locked" || true)"
say "limits: LimitRTPRIO=50 and LimitMEMLOCK=16M applied; $([ "$granted" = 0 ] && echo "SCHED_FIFO and the page lock granted" \
  || echo "not granted in this container (its init's limits, soft and hard: $(inside sh -c "grep -E 'realtime priority|locked memory' /proc/1/limits" | tr -s ' ' | paste -sd';'); msrecv says so in the journal)")"

# The sandbox: the state directory is the daemon's, the rest is read-only.
pid="$(inside systemctl show -p MainPID --value msrecv)"
inside nsenter --target "$pid" --mount --setuid "$(inside id -u moosync)" --setgid "$(inside id -g moosync)" sh -c 'touch /var/lib/moosync/w && rm /var/lib/moosync/w' ||
  die "msrecv cannot write its state directory"
if inside nsenter --target "$pid" --mount sh -c 'touch /usr/lib/moosync-probe' 2> /dev/null; then die "msrecv's /usr is writable (ProtectSystem=strict)"; fi
inside systemd-analyze security msrecv.service > "$repo/.build-deb/security.txt" 2>&1 || true
say "sandbox: state directory writable, /usr read-only; systemd-analyze security: $(tail -1 "$repo/.build-deb/security.txt" | sed 's/^→ //')"

# The tone on the card: about 440 Hz and loud, in what msrecv wrote.
sleep 3
python3 - "$ROOT/var/lib/moosync/played.raw" << 'PY' || die "no 440 Hz tone in what msrecv played"
import array, sys
data = array.array("h", open(sys.argv[1], "rb").read())
left = data[0::2][-48000:]
assert len(left) == 48000, f"only {len(data) // 2} frames played"
peak = max(abs(s) for s in left)
crossings = sum(1 for a, b in zip(left, left[1:]) if a < 0 <= b)
print(f"check-deb: played {len(data) // 2} frames; last second: peak {peak}, {crossings} cycles")
assert peak > 3000 and 430 <= crossings <= 450, "not a 440 Hz tone"
PY

# The watchdog: frozen, msrecv misses its pings and systemd restarts it.
restarts="$(inside systemctl show -p NRestarts --value msrecv)"
inside sh -c "kill -STOP $pid"
frozen=$(date +%s%N)
for _ in $(seq 250); do
  now_pid="$(inside systemctl show -p MainPID --value msrecv)"
  [ "$now_pid" != "$pid" ] && [ "$now_pid" != 0 ] && break
  sleep 0.1
done
[ "$now_pid" != "$pid" ] && [ "$now_pid" != 0 ] || die "a frozen msrecv was not restarted within 25 s"
replaced_ms=$((($(date +%s%N) - frozen) / 1000000))
# WatchdogSec=10s from its last ping, then RestartSec=2s.
[ "$replaced_ms" -le 13000 ] || die "a frozen msrecv was replaced only after $replaced_ms ms (WatchdogSec=10s, RestartSec=2s)"
say "watchdog: frozen msrecv replaced after $replaced_ms ms (WatchdogSec=10s, RestartSec=2s); NRestarts $restarts -> $(inside systemctl show -p NRestarts --value msrecv)"
inside journalctl --no-pager -u msrecv | grep -q -i watchdog || die "the journal does not say the watchdog ended it"

# An update keeps the speaker's identity and the hosts it pinned, and msrecv plays on.
state="$ROOT/var/lib/moosync"
[ -s "$state/receiver.key" ] && [ -s "$state/known_hosts" ] || die "msrecv made no key or pin in /var/lib/moosync"
kept_before="$(cat "$state/receiver.key" "$state/receiver.crt" "$state/known_hosts" | md5sum)"
pid="$(inside systemctl show -p MainPID --value msrecv)"
inside env DEBIAN_FRONTEND=noninteractive dpkg -i "/var/cache/$(basename "$update")" > /dev/null
[ "$(inside dpkg-query -W -f '${Version}' moosync-audio-share)" = "$(dpkg-deb -f "$update" Version)" ] || die "the update did not install"
status=""
for _ in $(seq 300); do
  status="$(inside msrecv status 2> /dev/null || true)"
  [[ "$status" == playing* ]] && [ "$(inside systemctl show -p MainPID --value msrecv)" != "$pid" ] && break
  sleep 0.1
done
[[ "$status" == playing* ]] || die "msrecv does not play after the update: $status"
[ "$(cat "$state/receiver.key" "$state/receiver.crt" "$state/known_hosts" | md5sum)" = "$kept_before" ] || die "the update changed the speaker's key or its pinned hosts"
say "update: $(dpkg-deb -f "$deb" Version) -> $(dpkg-deb -f "$update" Version): msrecv restarted and playing, its key, certificate and pinned hosts unchanged"

# Purge: nothing of the package is left.
inside env DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq moosync-audio-share > /dev/null
left=()
while read -r path; do
  [ -e "$ROOT$path" ] && [ ! -d "$ROOT$path" ] && left+=("$path")
done < "$repo/.build-deb/installed-files"
for path in /var/lib/moosync /etc/moosync.json; do [ -e "$ROOT$path" ] && left+=("$path"); done
while read -r path; do left+=("${path#"$ROOT"}"); done < <(find "$ROOT/etc/systemd" "$ROOT/var/lib/systemd/deb-systemd-helper-enabled" "$ROOT/var/lib/systemd/deb-systemd-helper-masked" \
  \( -name 'msrecv*' -o -name 'mshost*' \) 2> /dev/null)
[ ${#left[@]} -eq 0 ] || die "purge left: ${left[*]}"
inside sh -c 'cat /proc/[0-9]*/comm' 2> /dev/null | grep -q -x -E 'msrecv|mshost' && die "a daemon still runs after purge"
say "purge: nothing left of the package; kept, as policy keeps system users: $(chroot "$ROOT" id moosync)"
say "PASS"
