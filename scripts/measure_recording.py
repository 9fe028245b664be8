#!/usr/bin/env python3
"""Says what a receiver recorded: the WAV ALSA's file plugin wrote (16, 24 or 32-bit, stereo
48 kHz; msrecv plays in the widest format a device takes), one summary line."""
import math
import sys
import wave

RATE, CHANNELS = 48_000, 2


def main(wav_path: str) -> int:
    try:
        with wave.open(wav_path, "rb") as w:
            width = w.getsampwidth()
            # The data chunk's length is written when the device closes; read to the end.
            w.setpos(0)
            data = w.readframes(1 << 30)
    except (OSError, EOFError, wave.Error) as e:
        print(f"demo: no recording at {wav_path}: {e}", file=sys.stderr)
        return 1
    frames = len(data) // (width * CHANNELS)
    if frames == 0:
        print(f"demo: the recording {wav_path} is empty: msrecv played nothing (see msrecv.log)", file=sys.stderr)
        return 1
    # Each sample's top 16 bits: what a 16-bit card would have played.
    samples = [int.from_bytes(data[i + width - 2:i + width], "little", signed=True) for i in range(0, frames * CHANNELS * width, width)]
    left, right = samples[0::2], samples[1::2]
    rms = math.sqrt(sum(s * s for s in left) / frames)
    level = 20 * math.log10(rms / 32768) if rms > 0 else float("-inf")
    crossings = sum(1 for a, b in zip(left, left[1:]) if (a < 0) != (b < 0))
    frequency = crossings / 2 / (frames / RATE)
    # A clean sine never steps further between samples than 2*pi*f/rate of its peak.
    peak = max(abs(s) for s in left) or 1
    limit = peak * 2 * math.pi * max(frequency, 1) / RATE * 1.5 + 2
    clicks = sum(1 for a, b in zip(left, left[1:]) if abs(b - a) > limit)
    print(f"demo: msrecv played {frames / RATE:.2f} s ({8 * width}-bit) into {wav_path}: {frequency:.0f} Hz at {level:.1f} dBFS, "
          f"channels {'identical' if left == right else 'different'}, {clicks} clicks")
    return 0 if clicks == 0 and left == right else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
