#!/usr/bin/env python3
"""Benchmark (not a test): about a million hostile frames against `faultline serve`, with
its resident memory sampled throughout.

    bench/hostile_frames.py [--faultline target/debug/faultline] [--frames 1000000]

Starts `serve --brokers 1` on a loopback port, records its RSS at rest, then sends:
  bad-length    length prefixes that are negative or over socket.request.max.bytes
  slowloris     2,000 connections that send a 16 MiB length prefix and then nothing,
                held open for the whole run
  truncated     a length prefix, part of the body, then a close
  huge-count    well-formed headers whose first array claims 2^31-1 elements
  garbage       random bodies of the declared length
  big           8 MiB bodies of junk, 16 connections at a time (the memory budget)
  flood         pipelined ApiVersions requests on a few connections, answers drained
and checks that serve never dies, that RSS stays bounded (peak printed), that it still
answers ApiVersions, and that RSS returns near the baseline after every connection is
closed. Prints one Markdown table row per figure, for the README.
"""

import argparse
import asyncio
import os
import random
import socket
import struct
import subprocess
import sys
import time

SLOWLORIS = 2000
BIG_BYTES = 8 << 20


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def frame(body):
    return struct.pack(">i", len(body)) + body


def request_header(api_key, version, correlation_id, client_id=b"hostile"):
    return struct.pack(">hhih", api_key, version, correlation_id, len(client_id)) + client_id


API_VERSIONS_V0 = frame(request_header(18, 0, 7))
# Metadata v1: header, then the topics array count (2^31-1) and no elements.
HUGE_COUNT = frame(request_header(3, 1, 9) + struct.pack(">i", 0x7FFFFFFF))


async def open_conn(port):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sock = writer.get_extra_info("socket")
    # RST on close: a million closes must not exhaust the client's ports in TIME_WAIT.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    return reader, writer


async def one_shot(port, payload, read_back=True):
    try:
        reader, writer = await open_conn(port)
        writer.write(payload)
        await writer.drain()
        if read_back:
            try:
                await asyncio.wait_for(reader.read(64), 2)
            except asyncio.TimeoutError:
                pass
        writer.close()
    except (ConnectionError, OSError):
        pass


async def run_kind(port, count, make, concurrency=256, read_back=True):
    semaphore = asyncio.Semaphore(concurrency)

    async def task(i):
        async with semaphore:
            await one_shot(port, make(i), read_back)

    await asyncio.gather(*(task(i) for i in range(count)))


async def flood(port, frames, connections=50):
    """Pipelined ApiVersions v0 on `connections` connections; returns the frames the
    server answered (every answer is read and counted)."""
    per = frames // connections
    answer_bytes = len(await first_answer(port))

    async def one():
        reader, writer = await open_conn(port)
        received = 0

        async def drain():
            nonlocal received
            while received < per * answer_bytes:
                chunk = await reader.read(1 << 16)
                if not chunk:
                    return
                received += len(chunk)

        draining = asyncio.create_task(drain())
        batch = API_VERSIONS_V0 * 500
        for _ in range(per // 500):
            writer.write(batch)
            await writer.drain()
        try:
            await asyncio.wait_for(draining, 120)
        except asyncio.TimeoutError:
            pass
        writer.close()
        return received // answer_bytes

    answered = await asyncio.gather(*(one() for _ in range(connections)))
    return sum(answered)


async def first_answer(port):
    reader, writer = await open_conn(port)
    writer.write(API_VERSIONS_V0)
    length = struct.unpack(">i", await reader.readexactly(4))[0]
    body = await reader.readexactly(length)
    writer.close()
    return b"xxxx" + body


async def main_async(args, pid, port):
    rng = random.Random(1)
    counts = {}
    peak = [rss_kib(pid)]
    stop = False

    async def sample():
        while not stop:
            peak[0] = max(peak[0], rss_kib(pid))
            await asyncio.sleep(0.05)

    sampler = asyncio.create_task(sample())
    started = time.time()
    held = []
    for _ in range(SLOWLORIS):
        reader, writer = await open_conn(port)
        writer.write(struct.pack(">i", 16 << 20))
        held.append(writer)
    counts["slowloris (16 MiB prefix, no body, held open)"] = SLOWLORIS
    # Kinds that cost the server a connection each get 2.5% of the frames; the pipelined
    # flood makes up the rest.
    share = args.frames // 40
    kinds = [
        ("bad-length", lambda i: struct.pack(">i", rng.choice([-1, -(1 << 31), (100 << 20) + 1, 0x7FFFFFFF]))),
        ("truncated", lambda i: struct.pack(">i", 1000) + bytes(rng.randrange(0, 999))),
        ("huge-count", lambda i: HUGE_COUNT),
        ("garbage", lambda i: frame(os.urandom(rng.randrange(1, 256)))),
    ]
    for name, make in kinds:
        began = time.time()
        await run_kind(port, share, make, read_back=name != "truncated")
        counts[name] = share
        print(f"{name}: {share} in {time.time() - began:.1f}s", file=sys.stderr)
    big = 64
    await run_kind(port, big, lambda i: frame(b"\xff" * BIG_BYTES), concurrency=16, read_back=False)
    counts["big (8 MiB junk bodies, 16 at a time)"] = big
    began = time.time()
    flooded = await flood(port, args.frames - sum(counts.values()))
    print(f"flood: {flooded} in {time.time() - began:.1f}s", file=sys.stderr)
    counts["flood (pipelined ApiVersions, answers counted)"] = flooded
    during = rss_kib(pid)
    for writer in held:
        writer.close()
    await asyncio.sleep(0.5)
    stop = True
    await sampler
    return counts, peak[0], during, time.time() - started


def api_versions_answers(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(API_VERSIONS_V0)
        return len(sock.recv(4)) == 4


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--faultline", default="target/debug/faultline")
    parser.add_argument("--frames", type=int, default=1_000_000)
    parser.add_argument("--port", type=int, default=23900)
    args = parser.parse_args()
    serve = subprocess.Popen([args.faultline, "serve", "--listen", f"127.0.0.1:{args.port}",
                              "--brokers", "1"], stdout=subprocess.DEVNULL)
    try:
        time.sleep(1.5)
        baseline = rss_kib(serve.pid)
        counts, peak, during, took = asyncio.run(main_async(args, serve.pid, args.port))
        alive = serve.poll() is None
        answers = alive and api_versions_answers(args.port)
        time.sleep(2)
        after = rss_kib(serve.pid) if alive else -1
        total = sum(counts.values())
        for name, count in counts.items():
            print(f"| {name} | {count:,} |")
        print(f"| **total frames** | **{total:,}** in {took:.0f} s |")
        print(f"| serve alive afterwards / answers ApiVersions | {alive} / {answers} |")
        print(f"| RSS at rest before | {baseline / 1024:.1f} MiB |")
        print(f"| RSS peak during | {peak / 1024:.1f} MiB |")
        print(f"| RSS after every connection closed (+2 s) | {after / 1024:.1f} MiB |")
        sys.exit(0 if alive and answers else 1)
    finally:
        serve.kill()


if __name__ == "__main__":
    main()
