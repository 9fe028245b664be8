#!/usr/bin/env python3
"""Helper for scripts/bench-vs-snapcast.sh (stdlib only).

Subcommands:
  gen OUT.wav OUT.raw [SECONDS]   music-like 48 kHz stereo S16LE source (WAV and raw, same samples)
  feed RAW FIFO                   write RAW into FIFO paced at real time (48 kHz stereo S16LE), looping
  snap NAME=PID...                print one JSON line: {"t": monotonic, "procs": {NAME: {pid, ticks, hwm_kb, rss_kb} or null}}
  recsize BASE                    print the bytes played and the number of device opens: of a raw S16LE
                                  recording (BASE, BASE.0001, ...) or of a vcard meter (BASE ending .meter)
  audio BASE [SKIP_BYTES]         print JSON: bytes, opens, rms, peak, nonsilent_frac of what was played
                                  after SKIP_BYTES (a meter: since the copy BASE.start taken then)
  report DIR                      print the table, ratios, verdicts and the summary line (exit 3 if invalid)
"""
import array
import json
import math
import os
import random
import sys
import time

RATE = 48000
CH = 2
BYTES_PER_FRAME = 2 * CH
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- source generation
def gen(wav_path, raw_path, seconds=8.0):
    """A chord (A minor 7 voicing) with a few harmonics per note, per-note slow vibrato, a bar-like
    amplitude envelope (attack/decay every 0.5 s), a little white noise; stereo by panning notes.
    The length is a whole number of 0.5 s beats, so it loops without a click."""
    rnd = random.Random(1234)
    n = int(RATE * seconds)
    beat = RATE // 2
    n -= n % beat
    notes = [110.0, 220.0, 261.63, 329.63, 392.0]          # A2 A3 C4 E4 G4
    pans = [0.5, 0.3, 0.7, 0.2, 0.8]
    harm = [1.0, 0.5, 0.3, 0.18, 0.1, 0.05]
    # precompute one period table per note would be faster; 8 s * 5 notes * 6 harmonics is fine
    out = array.array("h", bytes(n * BYTES_PER_FRAME))
    two_pi = 2.0 * math.pi
    # phase increments per harmonic, using a shared sin table for speed
    table_n = 4096
    table = [math.sin(two_pi * i / table_n) for i in range(table_n)]
    phases = [[0.0] * len(harm) for _ in notes]
    incs = [[f * (h + 1) * table_n / RATE for h in range(len(harm))] for f in notes]
    norm = 0.22 / sum(harm)
    for i in range(n):
        pos = i % beat
        # envelope: 10 ms attack, exponential decay to 35 %, per beat; accent on every 4th beat
        env = (pos / 480.0) if pos < 480 else 0.35 + 0.65 * math.exp(-(pos - 480) / 9000.0)
        if (i // beat) % 4 == 0:
            env *= 1.2
        left = right = 0.0
        for k in range(len(notes)):
            s = 0.0
            ph = phases[k]
            inc = incs[k]
            for h in range(len(harm)):
                p = ph[h] + inc[h]
                if p >= table_n:
                    p -= table_n
                ph[h] = p
                s += harm[h] * table[int(p)]
            left += s * (1.0 - pans[k])
            right += s * pans[k]
        noise = (rnd.random() - 0.5) * 0.02
        l = (left * norm * env + noise) * 32767.0
        r = (right * norm * env + noise) * 32767.0
        out[2 * i] = max(-32768, min(32767, int(l)))
        out[2 * i + 1] = max(-32768, min(32767, int(r)))
    if sys.byteorder != "little":
        out.byteswap()
    data = out.tobytes()
    with open(raw_path, "wb") as f:
        f.write(data)
    import wave
    with wave.open(wav_path, "wb") as w:
        w.setnchannels(CH)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(data)
    print(f"gen: {n / RATE:.1f} s, {len(data)} bytes -> {wav_path}, {raw_path}", file=sys.stderr)


# ---------------------------------------------------------------- paced feeder (snapserver pipe://)
def feed(raw_path, fifo_path, chunk_ms=20):
    with open(raw_path, "rb") as f:
        data = f.read()
    chunk = RATE * chunk_ms // 1000 * BYTES_PER_FRAME
    fd = os.open(fifo_path, os.O_WRONLY)  # blocks until snapserver opens the pipe for reading
    start = time.monotonic()
    sent = 0
    off = 0
    try:
        while True:
            piece = data[off:off + chunk]
            if len(piece) < chunk:
                piece += data[:chunk - len(piece)]
            off = (off + chunk) % len(data)
            os.write(fd, piece)
            sent += chunk
            due = start + sent / (RATE * BYTES_PER_FRAME)
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    except (BrokenPipeError, KeyboardInterrupt):
        pass


# ---------------------------------------------------------------- /proc sampling
def proc_sample(pid):
    with open(f"/proc/{pid}/stat") as f:
        st = f.read()
    fields = st[st.rindex(")") + 2:].split()
    # fields[0] is field 3 (state); utime is field 14, stime field 15
    ticks = int(fields[11]) + int(fields[12])
    hwm = rss = None
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
            elif line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return {"ticks": ticks, "hwm_kb": hwm, "rss_kb": rss}


def snap(pairs):
    """pairs: NAME=PID ... -> one JSON object, {"t": monotonic, "procs": {NAME: sample or null}}"""
    t = time.monotonic()
    procs = {}
    for p in pairs:
        name, pid = p.split("=", 1)
        try:
            procs[name] = dict(proc_sample(int(pid)), pid=int(pid))
        except (OSError, ValueError, IndexError):
            procs[name] = None
    print(json.dumps({"t": t, "procs": procs}))


# ---------------------------------------------------------------- recording check
def recording_files(base):
    """The ALSA file PCM with `truncate false` writes BASE and, each time the device is opened
    again, BASE.0001, BASE.0002, ...: the recording is their concatenation."""
    d, b = os.path.split(base)
    files = []
    try:
        names = os.listdir(d or ".")
    except OSError:
        return []
    if b in names:
        files.append(base)
    files += sorted(os.path.join(d, n) for n in names
                    if n.startswith(b + ".") and n[len(b) + 1:].isdigit())
    return files


def recsize(base):
    """print the recording's total size and how many times the device was opened"""
    if base.endswith(".meter"):
        m = _json(base) or {}
        print(m.get("frames", 0) * BYTES_PER_FRAME, m.get("opens", 0))
        return
    files = recording_files(base)
    print(sum(os.path.getsize(f) for f in files), len(files))


def metered(base):
    """the vcard meter's totals now, less those when the window started"""
    end, start = _json(base) or {}, _json(base + ".start") or {}
    blocks = end.get("blocks", 0) - start.get("blocks", 0)
    loud = end.get("loud_blocks", 0) - start.get("loud_blocks", 0)
    sumsq = end.get("sumsq", 0.0) - start.get("sumsq", 0.0)
    samples = blocks * (RATE // 100) * CH
    print(json.dumps({"bytes": end.get("frames", 0) * BYTES_PER_FRAME, "opens": end.get("opens", 0),
                      "rms": round(math.sqrt(sumsq / samples), 1) if samples else 0.0, "peak": end.get("peak", 0),
                      "nonsilent_frac": round(loud / blocks, 3) if blocks else 0.0}))


def audio(base, skip=0):
    if base.endswith(".meter"):
        metered(base)
        return
    files = recording_files(base)
    sizes = [os.path.getsize(f) for f in files]
    size = sum(sizes)
    # analyse at most the last 8 MiB written after SKIP (the recording may be huge if the sink ran unpaced)
    limit = 8 << 20
    start = max(skip, size - limit)
    start -= start % BYTES_PER_FRAME
    data = b""
    off = 0
    for f, n in zip(files, sizes):
        if off + n > start:
            with open(f, "rb") as fh:
                fh.seek(max(0, start - off))
                data += fh.read(n)
        off += n
    data = data[:len(data) - len(data) % 2]
    a = array.array("h")
    a.frombytes(data)
    if sys.byteorder != "little":
        a.byteswap()
    # blocks of 10 ms: non-silent if block RMS > -60 dBFS (~33)
    blk = RATE // 100 * CH
    loud = total = 0
    sumsq = 0
    peak = 0
    for i in range(0, len(a) - blk + 1, blk):
        b = a[i:i + blk]
        s = sum(x * x for x in b)
        sumsq += s
        m = max(max(b), -min(b))
        if m > peak:
            peak = m
        total += 1
        if s / blk > 33.0 * 33.0:
            loud += 1
    n = total * blk
    rms = math.sqrt(sumsq / n) if n else 0.0
    print(json.dumps({"bytes": size, "opens": len(files), "rms": round(rms, 1), "peak": peak,
                      "nonsilent_frac": round(loud / total, 3) if total else 0.0}))


# ---------------------------------------------------------------- report
TARGET_CPU = 0.5
TARGET_RSS = 0.7
S16_STEREO_BPS = RATE * BYTES_PER_FRAME  # 192000 B/s: real time for 48 kHz stereo S16


def _read(path, default=None):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def _json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def report(d):
    """d: the bench's temp dir with before.json, after.json, meta.env and per side (snap, ms)
    SIDE.size0, SIDE.size1 (recording size at window start/end), SIDE.audio.json."""
    before, after = _json(f"{d}/before.json"), _json(f"{d}/after.json")
    meta = {}
    for line in (_read(f"{d}/meta.env", "") or "").splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            meta[k] = v
    wall = after["t"] - before["t"]
    procs = {"snap": ("snapserver", "snapclient"), "ms": ("mshost", "msrecv")}
    rows, sides, notes = {}, {}, []
    for side, names in procs.items():
        for name in names:
            b, a = before["procs"].get(name), after["procs"].get(name)
            if b is None or a is None or b["pid"] != a["pid"]:
                rows[name] = None
            else:
                rows[name] = {"cpu_pct": 100.0 * (a["ticks"] - b["ticks"]) / CLK_TCK / wall,
                              "hwm_kb": a["hwm_kb"], "rss_kb": a["rss_kb"]}
        if meta.get(f"{side}_skipped") == "1":
            sides[side] = {"valid": False, "why": "skipped", "desc": "-"}
            continue
        s0 = int(_read(f"{d}/{side}.size0", "0") or 0)
        s1 = int(_read(f"{d}/{side}.size1", "0") or 0)
        au = _json(f"{d}/{side}.audio.json") or {}
        rate = (s1 - s0) / wall
        rt = rate / S16_STEREO_BPS
        nonsilent = au.get("nonsilent_frac", 0.0)
        why = []
        dead = [n for n in names if rows[n] is None]
        if dead:
            why.append("exited: " + ",".join(dead))
        if s1 <= s0:
            why.append("recording did not grow")
        elif rt > 4.0:
            why.append(f"sink written at {rt:.0f}x real time (unpaced spin)")
            notes.append(f"{names[1]} wrote {rate / 1e6:.0f} MB/s ({rt:.0f}x real time for 48k S16 stereo) "
                         f"into the ALSA file PCM: it spins on the unpaced device"
                         + (f" and what it wrote is {'silence' if nonsilent < 0.5 else 'audio'}"))
        elif rt < 0.5:
            why.append(f"sink written at only {rt:.2f}x real time")
        if s1 > s0 and nonsilent < 0.5:
            why.append(f"silent ({nonsilent:.0%} of 10 ms blocks above -60 dBFS)")
        if s1 > s0 and 0.5 <= rt < 0.95:
            notes.append(f"{names[1]} wrote only {rt:.2f}x real time (if it plays S16: dropouts/underruns)")
        if s1 > s0 and 1.05 < rt <= 4.0:
            notes.append(f"{names[1]} wrote {rt:.2f}x the S16 stereo rate (a wider sample format, or writing ahead)")
        if au.get("opens", 1) > 1:
            notes.append(f"{names[1]} opened the ALSA device {au['opens']} times (reopened after errors?)")
        desc = (f"{rate / 1000:.0f} kB/s ({rt:.2f}x rt), {nonsilent:.0%} non-silent, "
                f"rms {au.get('rms', 0):.0f}")
        sides[side] = {"valid": not why, "why": "; ".join(why), "desc": desc}

    def valid(name):
        side = "snap" if name.startswith("snap") else "ms"
        return rows[name] is not None and sides[side]["valid"]

    print()
    print(f"bench-vs-snapcast: window {wall:.1f} s (after {meta.get('warmup', '?')} s warm-up), "
          f"sink {meta.get('sink', '?')}, {os.cpu_count()} cores, CLK_TCK {CLK_TCK}")
    print(f"  source : {meta.get('source', '?')}")
    print(f"  snapcast: {meta.get('snap', '?')}")
    print(f"  moosync : {meta.get('ms', '?')}")
    print()
    hdr = f"  {'process':<11} {'CPU %':>7} {'peak RSS':>10} {'RSS end':>9}  {'receiver output':<48} valid"
    print(hdr)
    print("  " + "-" * (len(hdr) - 2))
    for side, names in procs.items():
        for name in names:
            r = rows[name]
            out = sides[side]["desc"] if name in ("snapclient", "msrecv") else ""
            ok = "yes" if valid(name) else "NO: " + (sides[side]["why"] or "not running")
            if r is None:
                print(f"  {name:<11} {'-':>7} {'-':>10} {'-':>9}  {out:<48} {ok}")
            else:
                print(f"  {name:<11} {r['cpu_pct']:>7.2f} {r['hwm_kb'] / 1024:>8.1f}MB "
                      f"{r['rss_kb'] / 1024:>7.1f}MB  {out:<48} {ok}")
    print()
    cpu_ratio = rss_ratio = None
    v_cpu = v_rss = "INVALID"
    if valid("msrecv") and valid("snapclient"):
        sc, mr = rows["snapclient"], rows["msrecv"]
        cpu_ratio = mr["cpu_pct"] / sc["cpu_pct"] if sc["cpu_pct"] > 0 else None
        rss_ratio = mr["hwm_kb"] / sc["hwm_kb"]
        v_cpu = "PASS" if cpu_ratio is not None and cpu_ratio <= TARGET_CPU else "MISS"
        v_rss = "PASS" if rss_ratio <= TARGET_RSS else "MISS"
    fmt = lambda x: "  n/a" if x is None else f"{x:5.3f}"
    print(f"  msrecv/snapclient CPU      = {fmt(cpu_ratio)}  (target <= {TARGET_CPU}x)  {v_cpu}")
    print(f"  msrecv/snapclient peak RSS = {fmt(rss_ratio)}  (target <= {TARGET_RSS}x)  {v_rss}")
    for n in notes:
        print(f"  note: {n}")
    summary = {"window_s": round(wall, 2), "sink": meta.get("sink"),
               "cpu_ratio": None if cpu_ratio is None else round(cpu_ratio, 3),
               "rss_ratio": None if rss_ratio is None else round(rss_ratio, 3),
               "cpu_target": TARGET_CPU, "rss_target": TARGET_RSS,
               "cpu_verdict": v_cpu, "rss_verdict": v_rss}
    for side, names in procs.items():
        for name in names:
            r = rows[name]
            summary[f"{name}_cpu_pct"] = round(r["cpu_pct"], 2) if r else None
            summary[f"{name}_peak_rss_kb"] = r["hwm_kb"] if r else None
            summary[f"{name}_valid"] = valid(name)
    print()
    print("BENCH_SUMMARY " + json.dumps(summary, sort_keys=True))
    if meta.get("ms_skipped") == "1":
        return 0 if sides["snap"]["valid"] else 3
    return 0 if v_cpu != "INVALID" else 3


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd = argv[1]
    if cmd == "gen":
        gen(argv[2], argv[3], float(argv[4]) if len(argv) > 4 else 8.0)
    elif cmd == "feed":
        feed(argv[2], argv[3])
    elif cmd == "snap":
        snap(argv[2:])
    elif cmd == "recsize":
        recsize(argv[2])
    elif cmd == "audio":
        audio(argv[2], int(argv[3]) if len(argv) > 3 else 0)
    elif cmd == "report":
        return report(argv[2])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
