#!/usr/bin/env python3
"""Says what a receiver recorded: raw S16LE stereo 48 kHz in, a WAV beside it, one summary line."""
import math
import struct
import sys
import wave

RATE, CHANNELS = 48_000, 2


def main(raw_path: str, wav_path: str) -> int:
    try:
        data = open(raw_path, "rb").read()
    except OSError as e:
        print(f"demo: no recording at {raw_path}: {e.strerror}", file=sys.stderr)
        return 1
    frames = len(data) // (2 * CHANNELS)
    if frames == 0:
        print(f"demo: the recording {raw_path} is empty: msrecv played nothing (see msrecv.log)", file=sys.stderr)
        return 1
    samples = struct.unpack(f"<{frames * CHANNELS}h", data[: frames * CHANNELS * 2])
    left, right = samples[0::2], samples[1::2]
    with wave.open(wav_path, "wb") as w:
        w.setnchannels(CHANNELS)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(data[: frames * CHANNELS * 2])
    rms = math.sqrt(sum(s * s for s in left) / frames)
    level = 20 * math.log10(rms / 32768) if rms > 0 else float("-inf")
    crossings = sum(1 for a, b in zip(left, left[1:]) if (a < 0) != (b < 0))
    frequency = crossings / 2 / (frames / RATE)
    # A clean sine never steps further between samples than 2*pi*f/rate of its peak.
    peak = max(abs(s) for s in left) or 1
    limit = peak * 2 * math.pi * max(frequency, 1) / RATE * 1.5 + 2
    clicks = sum(1 for a, b in zip(left, left[1:]) if abs(b - a) > limit)
    print(f"demo: msrecv played {frames / RATE:.2f} s into {wav_path}: {frequency:.0f} Hz at {level:.1f} dBFS, "
          f"channels {'identical' if left == right else 'different'}, {clicks} clicks")
    return 0 if clicks == 0 and left == right else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
