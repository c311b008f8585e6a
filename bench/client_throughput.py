#!/usr/bin/env python3
"""Benchmark: confluent-kafka (librdkafka) produce and consume throughput against a
running `faultline serve`, for 100-byte and 10 KB records, uncompressed and compressed.

    target/py-clients/bin/python bench/client_throughput.py BOOTSTRAP [--codecs none,lz4,zstd]

Each case produces to a fresh auto-created topic (acks=all, linger 5 ms, one partition,
replication 3 with `serve --brokers 3`), then consumes it back from the beginning with
`assign`. Prints a Markdown table (records/s and MB/s of record values) for the README.
A case the broker refuses prints its error instead of figures.
"""

import argparse
import sys
import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

CASES = [(100, 200_000), (10 * 1024, 20_000)]


def produce(bootstrap, topic, size, count, codec):
    errors = []
    producer = Producer({
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "linger.ms": 5,
        "compression.type": codec,
        "queue.buffering.max.messages": 1_000_000,
    })
    value = (b"0123456789abcdef" * (size // 16 + 1))[:size]
    # Warm-up: the topic is auto-created and its leader found before the clock starts.
    producer.produce(topic, value=value, partition=0)
    if producer.flush(30) != 0:
        raise RuntimeError("warm-up record not delivered")
    started = time.time()
    for _ in range(count):
        while True:
            try:
                producer.produce(topic, value=value, partition=0,
                                 on_delivery=lambda e, m: errors.append(e) if e else None)
                break
            except BufferError:
                producer.poll(0.01)
        producer.poll(0)
    left = producer.flush(120)
    took = time.time() - started
    if left or errors:
        raise RuntimeError(f"{left} undelivered, errors: {errors[:1]}")
    return took


def consume(bootstrap, topic, count):
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    seen = 0
    started = time.time()
    deadline = started + 120
    while seen < count + 1 and time.time() < deadline:
        messages = consumer.consume(10_000, 1.0)
        for message in messages:
            if message.error():
                raise RuntimeError(str(message.error()))
        seen += len(messages)
    took = time.time() - started
    consumer.close()
    if seen < count + 1:
        raise RuntimeError(f"consumed {seen} of {count + 1}")
    return took


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("bootstrap")
    parser.add_argument("--codecs", default="none,lz4,zstd")
    args = parser.parse_args()
    print("| records | codec | produce records/s | produce MB/s | consume records/s | consume MB/s |")
    print("|---|---|---|---|---|---|")
    failed = False
    for codec in args.codecs.split(","):
        for size, count in CASES:
            topic = f"bench-{size}-{codec}-{uuid.uuid4().hex[:6]}"
            label = f"{count:,} x {size if size < 1024 else f'{size // 1024} KB'}{' B' if size < 1024 else ''}"
            try:
                produced = produce(args.bootstrap, topic, size, count, codec)
                consumed = consume(args.bootstrap, topic, count)
            except Exception as e:
                failed = True
                print(f"| {label} | {codec} | refused: {e} | | | |", flush=True)
                continue
            mb = count * size / 1e6
            print(f"| {label} | {codec} | {count / produced:,.0f} | {mb / produced:.1f} | "
                  f"{count / consumed:,.0f} | {mb / consumed:.1f} |", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
