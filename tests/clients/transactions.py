#!/usr/bin/env python3
"""confluent-kafka's transactional producer and read_committed consumer against
`faultline serve` (KIP-98 exactly-once, KIP-447 consume-transform-produce). Usage:

    transactions.py BOOTSTRAP [--only CHECK ...]

Prints one PASS or FAIL line per check and exits 1 if anything failed (a missing client
is a failure, never a skip). `tests/serve/transactions.rs` runs it against
`serve --brokers 3`.
"""

import argparse
import os
import sys
import time
import traceback
import uuid

from confluent_kafka import (Consumer, KafkaError, KafkaException, Producer,
                             TopicPartition)
from confluent_kafka.admin import AdminClient, NewTopic

RUN = uuid.uuid4().hex[:8]
DEADLINE_S = 40


def name(what):
    return f"{what}-{RUN}"


def create(bootstrap, topic, partitions):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(topic, partitions, 3)])
    futures[topic].result(30)
    deadline = time.time() + DEADLINE_S
    while time.time() < deadline:
        described = admin.list_topics(topic, timeout=5).topics.get(topic)
        if described and len(described.partitions) == partitions and all(
                p.leader >= 0 for p in described.partitions.values()):
            return
        time.sleep(0.2)
    raise AssertionError(f"topic {topic} has no leaders after {DEADLINE_S}s")


def producer(bootstrap, transactional_id, **conf):
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": transactional_id,
                  "transaction.timeout.ms": 30000, **conf})
    p.init_transactions(30)
    return p


def send(p, topic, values, partition=None):
    for value in values:
        if partition is None:
            p.produce(topic, value=value.encode(), key=value.encode())
        else:
            p.produce(topic, value=value.encode(), key=value.encode(), partition=partition)
    p.flush(30)


def read_all(bootstrap, topic, partitions, isolation, expected_at_least=0, idle_s=3.0):
    """Every value readable in `topic` under `isolation`, reading until nothing new came
    for `idle_s` and at least `expected_at_least` values arrived (or the deadline)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": name("reader"),
                  "isolation.level": isolation, "enable.auto.commit": False,
                  "auto.offset.reset": "earliest"})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    values = []
    last_new = time.time()
    deadline = time.time() + DEADLINE_S
    while time.time() < deadline:
        message = c.poll(0.2)
        if message is not None and message.error() is None:
            values.append(message.value().decode())
            last_new = time.time()
        elif message is not None and message.error().code() != KafkaError._PARTITION_EOF:
            raise AssertionError(f"consumer error: {message.error()}")
        if len(values) >= expected_at_least and time.time() - last_new > idle_s:
            break
    c.close()
    return values


def check_commit_and_abort(bootstrap):
    """init/begin/commit and begin/abort; read_committed sees the committed records and
    none of the aborted ones; read_uncommitted sees both (the aborted records were
    written, and filtered by the aborted-transaction list, KIP-98)."""
    topic = name("txn-basic")
    create(bootstrap, topic, 3)
    p = producer(bootstrap, name("basic"))
    p.begin_transaction()
    committed = [f"c{i}" for i in range(30)]
    send(p, topic, committed)
    p.commit_transaction(30)
    p.begin_transaction()
    aborted = [f"a{i}" for i in range(30)]
    send(p, topic, aborted)
    p.abort_transaction(30)
    p.begin_transaction()
    committed_after = [f"d{i}" for i in range(10)]
    send(p, topic, committed_after)
    p.commit_transaction(30)
    seen = read_all(bootstrap, topic, 3, "read_committed", len(committed) + len(committed_after))
    assert sorted(seen) == sorted(committed + committed_after), \
        f"read_committed saw {len(seen)} records: {sorted(seen)[:50]}"
    raw = read_all(bootstrap, topic, 3, "read_uncommitted", 70)
    assert set(aborted) <= set(raw), "the aborted records were never written"
    return f"read_committed: {len(seen)} committed, 0 of {len(aborted)} aborted; " \
           f"read_uncommitted: {len(raw)}"


def check_open_transaction_blocks_read_committed(bootstrap):
    """A read_committed consumer stops at the last stable offset: records of an open
    transaction are invisible until the commit (KIP-98)."""
    topic = name("txn-open")
    create(bootstrap, topic, 1)
    p = producer(bootstrap, name("open"))
    p.begin_transaction()
    send(p, topic, ["open0", "open1"], partition=0)
    before = read_all(bootstrap, topic, 1, "read_committed", 0, idle_s=2.0)
    assert before == [], f"read_committed saw an open transaction: {before}"
    p.commit_transaction(30)
    after = read_all(bootstrap, topic, 1, "read_committed", 2)
    assert after == ["open0", "open1"], f"after commit: {after}"
    return "nothing visible while open; both records after the commit"


def check_fencing(bootstrap):
    """A second producer with the same transactional.id fences the first: the first's
    commit fails with a fatal fencing error, its open transaction is aborted, and the
    second's transactions work (KIP-98 zombie fencing)."""
    topic = name("txn-fence")
    create(bootstrap, topic, 2)
    transactional_id = name("fence")
    first = producer(bootstrap, transactional_id)
    first.begin_transaction()
    send(first, topic, ["zombie0", "zombie1"])
    second = producer(bootstrap, transactional_id)
    fatal = None
    try:
        send(first, topic, ["zombie2"])
        first.commit_transaction(30)
    except KafkaException as e:
        fatal = e.args[0]
    assert fatal is not None, "the fenced producer's commit succeeded"
    assert fatal.fatal(), f"fencing error is not fatal: {fatal}"
    second.begin_transaction()
    # One record on every partition: a zombie write that got in (KIP-890's hanging
    # transaction) would be committed by the second producer's markers and read back.
    send(second, topic, ["live0"], partition=0)
    send(second, topic, ["live1"], partition=1)
    second.commit_transaction(30)
    seen = read_all(bootstrap, topic, 2, "read_committed", 2)
    assert sorted(seen) == ["live0", "live1"], f"read_committed saw {seen}"
    return f"first producer: {fatal.name()} (fatal); read_committed saw only the second's"


def check_send_offsets_to_transaction(bootstrap):
    """Consume-transform-produce (KIP-447): the group's offsets are committed with the
    transaction, and not at all when it aborts."""
    source, sink = name("ctp-in"), name("ctp-out")
    create(bootstrap, source, 1)
    create(bootstrap, sink, 1)
    plain = Producer({"bootstrap.servers": bootstrap})
    for i in range(20):
        plain.produce(source, value=f"in{i}".encode(), partition=0)
    plain.flush(30)
    group = name("ctp")
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                         "enable.auto.commit": False, "auto.offset.reset": "earliest",
                         "isolation.level": "read_committed"})
    consumer.subscribe([source])
    p = producer(bootstrap, name("ctp"))

    def take(count):
        got = []
        deadline = time.time() + DEADLINE_S
        while len(got) < count and time.time() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                got.append(message)
        assert len(got) == count, f"consumed {len(got)} of {count}"
        return got

    def committed():
        [tp] = consumer.committed([TopicPartition(source, 0)], timeout=10)
        return tp.offset

    # Round 1: transform 10 records, commit with the offsets.
    batch = take(10)
    p.begin_transaction()
    send(p, sink, [m.value().decode().replace("in", "out") for m in batch], partition=0)
    p.send_offsets_to_transaction(consumer.position(consumer.assignment()),
                                  consumer.consumer_group_metadata(), 30)
    p.commit_transaction(30)
    after_commit = committed()
    assert after_commit == 10, f"committed offset {after_commit} after the commit, not 10"
    # Round 2: transform 10 more, abort: the offsets must stay.
    batch = take(10)
    p.begin_transaction()
    send(p, sink, [m.value().decode().replace("in", "lost") for m in batch], partition=0)
    p.send_offsets_to_transaction(consumer.position(consumer.assignment()),
                                  consumer.consumer_group_metadata(), 30)
    p.abort_transaction(30)
    after_abort = committed()
    assert after_abort == 10, f"committed offset {after_abort} after the abort, not 10"
    consumer.close()
    outputs = read_all(bootstrap, sink, 1, "read_committed", 10)
    assert sorted(outputs) == sorted(f"out{i}" for i in range(10)), f"sink holds {outputs}"
    return "offset 10 after the commit, still 10 after the abort; sink holds the 10 committed"


CHECKS = {
    "init/begin/commit/abort, read_committed": check_commit_and_abort,
    "open transaction invisible to read_committed": check_open_transaction_blocks_read_committed,
    "fencing by a second producer (same transactional.id)": check_fencing,
    "send_offsets_to_transaction (consume-transform-produce)": check_send_offsets_to_transaction,
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("bootstrap")
    parser.add_argument("--only", action="append", default=[])
    args = parser.parse_args()
    import confluent_kafka
    print(f"== confluent-kafka {confluent_kafka.version()[0]} "
          f"(librdkafka {confluent_kafka.libversion()[0]})", flush=True)
    failed = False
    for check, run in CHECKS.items():
        if args.only and not any(o in check for o in args.only):
            continue
        started = time.time()
        try:
            detail = run(args.bootstrap)
            outcome = "PASS"
        except Exception as e:
            detail = f"{type(e).__name__}: {e}"
            if os.environ.get("REAL_CLIENTS_TRACE"):
                traceback.print_exc()
            outcome = "FAIL"
            failed = True
        print(f"{outcome} confluent-kafka | {check} | {time.time() - started:.1f}s | {detail}",
              flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
