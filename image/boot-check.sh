#!/bin/sh
# Runs in the booted speaker once it is up (image/boot-test.sh puts it on the FAT partition and
# starts it from the kernel command line), writes what it finds to the host's 9p share (the host
# judges) and powers off.
#   boot-check.sh first     the first boot: waits for msrecv to play, records the loopback card's
#                           other end, freezes msrecv for the watchdog, keeps the identity's hashes
#   boot-check.sh updated   the boot after the next package was copied onto the FAT partition:
#                           what moosync-update.service installed, msrecv playing on it, the
#                           identity unchanged
# systemd.run boots to kernel-command-line.target: the speaker's own boot is asked for here.
systemctl start --no-block multi-user.target
out=/run/results
mkdir -p "$out"
mount -t 9p -o trans=virtio,version=9p2000.L results "$out" || { systemctl poweroff; exit 1; }
phase="${1:-first}"
r="$out/report-$phase.txt"
: > "$r"
report() { echo "$*" >> "$r"; }
root_state() { if touch /moosync-probe 2> /dev/null; then rm -f /moosync-probe; echo writable; else echo read-only; fi; }
identity() { (cd /var/lib/moosync && find . -type f | sort | xargs sha256sum); }
failed_units() {
    report "failed units: $(systemctl --failed --no-legend | wc -l)"
    for unit in $(systemctl --failed --no-legend --plain | cut -d' ' -f1); do
        report "  $unit: $(journalctl -o cat -u "$unit" --no-pager | tail -2 | tr '\n' ' ')"
    done
}
if [ "$phase" = updated ]; then
    # msrecv starts beside the update, whose package restarts it: its answer counts after that.
    for _ in $(seq 600); do
        journalctl -o cat -u moosync-update --no-pager | grep -q '^moosync-update: .*\(installed;\|error\)' && break
        sleep 0.5
    done
fi
for _ in $(seq 600); do
    msrecv status 2> /dev/null | grep -q '^playing' && break
    sleep 0.5
done
report "status: $(msrecv status 2>&1 | head -1)"
if [ "$phase" = updated ]; then
    report "updated at boot: $(journalctl -o cat -u moosync-update --no-pager | grep -m1 '^moosync-update: .*\(installed;\|error\)')"
    report "version: $(dpkg-query -W -f '${Version}' moosync-audio-share)"
    if [ "$(identity)" = "$(cat "$out/identity.txt")" ]; then report "identity kept ($(wc -l < "$out/identity.txt") files)"; else report "identity changed"; fi
    report "root: $(root_state)"
    failed_units
    journalctl -o short-monotonic --no-pager -u moosync-update -u msrecv | tail -30 > "$out/journal-$phase.txt"
    sync
    umount "$out"
    systemctl poweroff
    exit 0
fi
report "first sound: $(journalctl -o short-monotonic -u msrecv --no-pager | grep -m1 ' stream ' | sed 's/^\[ *\([0-9.]*\)\].*/\1 s after the kernel started/')"
report "setup: $(journalctl -o cat -u moosync-setup --no-pager | tail -1)"
arecord -q -D plughw:Loopback,1,0 -f S16_LE -c 2 -r 48000 -d 3 -t raw "$out/recording.raw" 2>> "$r"
sleep 20
pid="$(systemctl show -p MainPID --value msrecv)"
# CPU from /proc (no procps in the image): user + system ticks over the process's life.
ticks="$(awk '{print $14 + $15, $22}' "/proc/$pid/stat")"
report "msrecv: peak RSS $(awk '/^VmHWM/ {print $2, $3}' "/proc/$pid/status"), $(awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" '{split(t, a, " "); life = $1 - a[2] / hz; printf "CPU %.2f s over %.0f s (%.1f %%)", a[1] / hz, life, 100 * a[1] / hz / life}' /proc/uptime)"
report "audio thread: $(journalctl -o cat -u msrecv --no-pager | grep -c -E 'normal priority|could not be locked') refusals of SCHED_FIFO or the page lock"
failed_units
report "identity: speaker id $(cat /var/lib/moosync/speaker_id), $(ls /var/lib/moosync | tr '\n' ' ')"
report "root: $(root_state)"
report "moosync.txt: mode $(stat -c %a /boot/firmware/moosync.txt)"
missing=""
for unit in msrecv mshost moosync-setup moosync-update; do
    for doc in $(systemctl show -p Documentation --value "$unit"); do
        case "$doc" in
            file:*) path="${doc#file:}" ;;
            man:*) page="${doc#man:}" && path="/usr/share/man/man${page#*(}" && path="${path%)}/${page%(*}.${page#*(}" && path="${path%)}.gz" ;;
            *) continue ;;
        esac
        [ -e "$path" ] || missing="$missing $path"
    done
done
report "documentation missing:${missing:- none}"
systemctl --no-pager status msrecv | head -5 >> "$r"
kill -STOP "$pid"
frozen=$(date +%s)
while [ $(($(date +%s) - frozen)) -lt 40 ]; do
    now="$(systemctl show -p MainPID --value msrecv)"
    if [ "$now" != "$pid" ] && [ "$now" != 0 ]; then
        report "watchdog: restarted a frozen msrecv after $(($(date +%s) - frozen)) s (WatchdogSec=10s, RestartSec=2s)"
        break
    fi
    sleep 1
done
identity > "$out/identity.txt"
journalctl -o short-monotonic --no-pager -u msrecv -u moosync-setup | tail -30 > "$out/journal-$phase.txt"
sync
umount "$out"
systemctl poweroff
