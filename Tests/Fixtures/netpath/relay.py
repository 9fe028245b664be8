#!/usr/bin/env python3
"""A TCP relay that behaves like a real network path, for sync and outage tests.

Listens on 127.0.0.1:PORT and forwards every connection to --to HOST:PORT. Each direction
reads what the socket has (up to --max-chunk bytes, so the byte stream is re-segmented as a
middlebox does) and forwards each chunk after

  --delay MS ± --jitter MS   (uniform, drawn per chunk, in order: a chunk never overtakes
                              the one before it, as on a Wi-Fi hop that retries)
  --stall-percent P --stall-ms MS [--stall-until S]
                                    (P % of chunks held MS longer: a path that stalls now and then,
                                     until S seconds after the start if given)
  --rate KBIT [--rate-until S]      (a bottleneck: each direction carries at most KBIT kbit/s, until
                                     S seconds after the start if given; what it cannot carry queues,
                                     up to --queue BYTES, and then the relay stops reading, so the
                                     sender's TCP feels it: a slow Wi-Fi link)

and, at fixed times after the relay starts,

  --freeze-at S --freeze-for S   nothing passes for that long, then everything held passes at once
  --cut-at S --cut-for S         every connection is reset and new ones are refused meanwhile

--split N writes each chunk in pieces of 1..N bytes (TLS records then straddle segments).
--nodelay sets TCP_NODELAY on the relay's sockets; by default they keep Nagle's algorithm, as
a naive proxy does, so small writes can wait for an ACK.

On SIGTERM/SIGINT it prints one line of counts to stderr and exits 0. Prints "relay ready" on
stdout once listening. Only loopback (or a test's own namespace) addresses: it is a test
instrument, not a proxy.
"""
import argparse
import random
import signal
import socket
import struct
import sys
import threading
import time
from collections import deque


class Path:
    def __init__(self, args):
        self.args = args
        self.start = time.monotonic()
        self.lock = threading.Lock()
        self.connections = []
        self.counts = {"connections": 0, "refused": 0, "chunks": 0, "bytes": 0, "stalled": 0, "resets": 0}
        self.cut_done = False

    def count(self, key, n=1):
        with self.lock:
            self.counts[key] += n

    def frozen_until(self, now):
        """When a freeze that covers `now` ends, or None."""
        a = self.args
        if a.freeze_for > 0 and a.freeze_at >= 0:
            begin = self.start + a.freeze_at
            if begin <= now < begin + a.freeze_for:
                return begin + a.freeze_for
        return None

    def cut_now(self, now):
        a = self.args
        if a.cut_for <= 0 or a.cut_at < 0:
            return False
        begin = self.start + a.cut_at
        return begin <= now < begin + a.cut_for

    def shaped(self):
        a = self.args
        return a.delay > 0 or a.jitter > 0 or a.stall_percent > 0 or a.freeze_for > 0 or a.rate > 0

    def rate_now(self, now):
        """The bottleneck's bytes per second at `now`, or None when there is none."""
        a = self.args
        if a.rate <= 0 or (a.rate_until >= 0 and now >= self.start + a.rate_until):
            return None
        return a.rate * 1000 / 8


def reset(sock):
    """Closes with RST, as a path that drops a connection leaves it."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class Pump:
    """One direction of one connection."""

    def __init__(self, path, source, sink, rng):
        self.path, self.source, self.sink, self.rng = path, source, sink, rng
        self.queue = deque()
        self.queued_bytes = 0
        self.ready = threading.Condition()
        self.last_due = 0.0
        self.link_free = 0.0
        self.closed = False

    def start(self):
        threading.Thread(target=self.read_loop, daemon=True).start()
        if self.path.shaped():
            threading.Thread(target=self.write_loop, daemon=True).start()

    def due(self, now):
        a = self.path.args
        delay = a.delay + (self.rng.uniform(-a.jitter, a.jitter) if a.jitter > 0 else 0.0)
        stalls = a.stall_percent > 0 and (a.stall_until < 0 or now < self.path.start + a.stall_until)
        if stalls and self.rng.random() * 100 < a.stall_percent:
            delay += a.stall_ms
            self.path.count("stalled")
        due = max(self.last_due, now + max(0.0, delay) / 1000)
        self.last_due = due
        return due

    def read_loop(self):
        a = self.path.args
        while True:
            try:
                data = self.source.recv(a.max_chunk)
            except OSError:
                data = b""
            if not data:
                self.finish()
                return
            self.path.count("chunks")
            self.path.count("bytes", len(data))
            if not self.path.shaped():
                if not self.send(data):
                    return
                continue
            with self.ready:
                self.queue.append((self.due(time.monotonic()), data))
                self.queued_bytes += len(data)
                self.ready.notify()
                # A bottleneck's buffer is finite: past it the sender is held back.
                while a.rate > 0 and self.queued_bytes > a.queue and not self.closed:
                    self.ready.wait(0.05)

    def finish(self):
        if self.path.shaped():
            with self.ready:
                self.queue.append((None, None))
                self.ready.notify()
        else:
            try:
                self.sink.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def send(self, data):
        a = self.path.args
        try:
            if a.split > 0:
                at = 0
                while at < len(data):
                    n = self.rng.randint(1, a.split)
                    self.sink.sendall(data[at:at + n])
                    at += n
            else:
                self.sink.sendall(data)
            return True
        except OSError:
            return False

    def write_loop(self):
        while True:
            with self.ready:
                while not self.queue:
                    self.ready.wait()
                due, data = self.queue.popleft()
            if data is None:
                self.closed = True
                try:
                    self.sink.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            while True:
                now = time.monotonic()
                until = self.path.frozen_until(now)
                wait = (until if until is not None else due) - now
                if wait <= 0:
                    break
                time.sleep(wait)
            # Through the bottleneck a packet at a time: each arrives once it and those before it
            # have been on the wire for their length at the link's rate.
            for at in range(0, len(data), 1448):
                piece = data[at:at + 1448]
                rate = self.path.rate_now(time.monotonic())
                if rate is not None:
                    self.link_free = max(self.link_free, time.monotonic()) + len(piece) / rate
                    wait = self.link_free - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                with self.ready:
                    self.queued_bytes -= len(piece)
                    self.ready.notify()
                if not self.send(piece):
                    self.closed = True
                    return


def serve(args):
    path = Path(args)
    host, port = args.to.rsplit(":", 1)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", args.listen))
    listener.listen(64)
    listener.settimeout(0.05)
    seed = args.seed

    def stop(*_):
        c = path.counts
        print(f"relay: {c['connections']} connections, {c['refused']} refused, {c['resets']} reset, "
              f"{c['chunks']} chunks, {c['bytes']} bytes, {c['stalled']} stalled", file=sys.stderr, flush=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("relay ready", flush=True)
    while True:
        now = time.monotonic()
        if path.cut_now(now) and not path.cut_done:
            path.cut_done = True
            with path.lock:
                victims, path.connections = path.connections, []
            for s in victims:
                reset(s)
                path.count("resets")
        try:
            client, _ = listener.accept()
        except socket.timeout:
            continue
        if path.cut_now(time.monotonic()):
            reset(client)
            path.count("refused")
            continue
        try:
            upstream = socket.create_connection((host, int(port)), timeout=2)
            upstream.settimeout(None)
        except OSError:
            reset(client)
            path.count("refused")
            continue
        if args.nodelay:
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with path.lock:
            path.connections += [client, upstream]
        path.count("connections")
        seed += 2
        Pump(path, client, upstream, random.Random(seed)).start()
        Pump(path, upstream, client, random.Random(seed + 1)).start()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--listen", type=int, required=True)
    p.add_argument("--to", required=True, help="HOST:PORT")
    p.add_argument("--delay", type=float, default=0.0, help="ms")
    p.add_argument("--jitter", type=float, default=0.0, help="± ms, uniform, in order")
    p.add_argument("--max-chunk", type=int, default=65536)
    p.add_argument("--split", type=int, default=0)
    p.add_argument("--nodelay", action="store_true")
    p.add_argument("--stall-percent", type=float, default=0.0)
    p.add_argument("--stall-ms", type=float, default=0.0)
    p.add_argument("--stall-until", type=float, default=-1.0, help="s after start")
    p.add_argument("--freeze-at", type=float, default=-1.0, help="s after start")
    p.add_argument("--freeze-for", type=float, default=0.0, help="s")
    p.add_argument("--cut-at", type=float, default=-1.0, help="s after start")
    p.add_argument("--cut-for", type=float, default=0.0, help="s")
    p.add_argument("--rate", type=float, default=0.0, help="kbit/s each way")
    p.add_argument("--rate-until", type=float, default=-1.0, help="s after start")
    p.add_argument("--queue", type=int, default=65536, help="bytes the bottleneck holds")
    p.add_argument("--seed", type=int, default=1)
    serve(p.parse_args())


if __name__ == "__main__":
    main()
