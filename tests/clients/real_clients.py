#!/usr/bin/env python3
"""Real Kafka clients against `faultline serve`: confluent-kafka (librdkafka), kafka-python
and kcat, each feature checked end to end. Usage:

    real_clients.py BOOTSTRAP [--only FEATURE ...] [--markdown FILE]

Prints one line per (client, feature) with PASS or FAIL and why, optionally writes the
client x feature table as Markdown, and exits 1 if anything failed (or a client is
missing: nothing here is skipped). `tests/serve/real_clients.rs` runs it against
`serve --brokers 3`; see the README's table.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import traceback
import uuid

RUN = uuid.uuid4().hex[:8]
CODECS = ["gzip", "snappy", "lz4", "zstd"]
LARGE_RECORD_BYTES = 900 * 1024
LARGE_RECORDS = 12
SMALL_FETCH_BYTES = 100 * 1024
# Room for one 900 KB record batch (KIP-74) but not for all of them in one response.
RECEIVE_MAX_BYTES = 2 * 1024 * 1024
DEADLINE_S = 40


def topic(name):
    return f"{name}-{RUN}"


def wait_until(what, predicate, timeout_s=DEADLINE_S, every_s=0.2):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


# --------------------------------------------------------------------------- confluent-kafka

class Confluent:
    name = "confluent-kafka"

    def __init__(self, bootstrap):
        import confluent_kafka  # noqa: F401  (a missing client fails here)
        from confluent_kafka.admin import AdminClient

        self.bootstrap = bootstrap
        self.admin = AdminClient({"bootstrap.servers": bootstrap})

    def version(self):
        import confluent_kafka

        return f"{confluent_kafka.version()[0]} (librdkafka {confluent_kafka.libversion()[0]})"

    def create(self, name, partitions=1, configs=None):
        from confluent_kafka.admin import NewTopic

        futures = self.admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=3,
                      config=configs or {})],
            request_timeout=20,
        )
        futures[name].result(timeout=30)
        wait_until(f"{name} in metadata", lambda: self._has_topic(name, partitions))

    def _has_topic(self, name, partitions):
        metadata = self.admin.list_topics(topic=name, timeout=10)
        t = metadata.topics.get(name)
        return t is not None and t.error is None and len(t.partitions) == partitions

    def produce(self, name, records, partition=None, **conf):
        from confluent_kafka import Producer

        errors = []
        producer = Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 5, **conf})
        for key, value, headers, timestamp in records:
            kwargs = {"key": key, "value": value, "headers": headers or None}
            if timestamp is not None:
                kwargs["timestamp"] = timestamp
            if partition is not None:
                kwargs["partition"] = partition
            producer.produce(
                name, on_delivery=lambda e, m: errors.append(e) if e else None, **kwargs
            )
            producer.poll(0)
        left = producer.flush(DEADLINE_S)
        assert left == 0, f"{left} records not delivered"
        assert not errors, f"delivery errors: {errors[:3]}"

    def consume(self, name, count, partition=0, offset=None, **conf):
        from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

        consumer = Consumer({
            "bootstrap.servers": self.bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex[:6]}",
            "enable.auto.commit": False,
            **conf,
        })
        start = OFFSET_BEGINNING if offset is None else offset
        consumer.assign([TopicPartition(name, partition, start)])
        out = []
        deadline = time.time() + DEADLINE_S
        try:
            while len(out) < count and time.time() < deadline:
                message = consumer.poll(0.5)
                if message is None:
                    continue
                assert message.error() is None, f"consume error: {message.error()}"
                out.append(message)
        finally:
            consumer.close()
        assert len(out) == count, f"read {len(out)} of {count} records"
        return [(m.key(), m.value(), m.headers() or [], m.offset(), m.timestamp()[1]) for m in out]

    def offsets_for_times(self, name, timestamp_ms):
        from confluent_kafka import Consumer, TopicPartition

        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "oft"})
        try:
            [answer] = consumer.offsets_for_times(
                [TopicPartition(name, 0, timestamp_ms)], timeout=20
            )
            assert answer.error is None, answer.error
            return answer.offset
        finally:
            consumer.close()

    def delete_topic(self, name):
        self.admin.delete_topics([name], request_timeout=20)[name].result(timeout=30)
        wait_until(f"{name} gone", lambda: name not in self.admin.list_topics(timeout=10).topics)

    def describe_cluster(self):
        result = self.admin.describe_cluster(request_timeout=20).result(timeout=30)
        return result.controller.id, sorted(n.id for n in result.nodes)

    def delete_records(self, name, before_offset):
        from confluent_kafka import TopicPartition

        futures = self.admin.delete_records([TopicPartition(name, 0, before_offset)],
                                            request_timeout=20)
        for future in futures.values():
            result = future.result(timeout=30)
            return result.low_watermark

    def list_and_describe_groups(self, group):
        groups = self.admin.list_consumer_groups(request_timeout=20).result(timeout=30)
        listed = [g.group_id for g in groups.valid]
        described = self.admin.describe_consumer_groups([group], request_timeout=20)
        description = described[group].result(timeout=30)
        return listed, str(description.state), len(description.members)

    def delete_group(self, group):
        """DeleteGroups: "OK", or the error's name (NON_EMPTY_GROUP, ...)."""
        future = self.admin.delete_consumer_groups([group], request_timeout=20)[group]
        return outcome(future)

    def listed_groups(self):
        groups = self.admin.list_consumer_groups(request_timeout=20).result(timeout=30)
        return [g.group_id for g in groups.valid]

    def create_partitions(self, name, count):
        """CreatePartitions: "OK", or the error's name."""
        from confluent_kafka.admin import NewPartitions

        future = self.admin.create_partitions([NewPartitions(name, count)],
                                              request_timeout=20)[name]
        return outcome(future)

    def alter_topic_configs(self, name, configs):
        """IncrementalAlterConfigs (KIP-339), SET each: "OK", or the error's name."""
        from confluent_kafka.admin import (AlterConfigOpType, ConfigEntry, ConfigResource,
                                           ResourceType)

        entries = [ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET)
                   for k, v in configs.items()]
        resource = ConfigResource(ResourceType.TOPIC, name, incremental_configs=entries)
        future = self.admin.incremental_alter_configs([resource], request_timeout=20)[resource]
        return outcome(future)

    def partition_count(self, name):
        topic = self.admin.list_topics(topic=name, timeout=10).topics.get(name)
        return len(topic.partitions) if topic is not None and topic.error is None else 0

    def describe_configs(self, kind, name):
        """DescribeConfigs of a "topic" or "broker": {config: value}, or the error's name."""
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import ConfigResource, ResourceType

        kinds = {"topic": ResourceType.TOPIC, "broker": ResourceType.BROKER}
        resource = ConfigResource(kinds[kind], name)
        future = self.admin.describe_configs([resource], request_timeout=20)[resource]
        try:
            return {key: entry.value for key, entry in future.result(timeout=30).items()}
        except KafkaException as e:
            return e.args[0].name()

    def group_member(self, group, topics, **conf):
        from confluent_kafka import Consumer

        consumer = Consumer({
            "bootstrap.servers": self.bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 30000,
            **conf,
        })
        consumer.subscribe(topics)
        return ConfluentMember(consumer)


class ConfluentMember:
    def __init__(self, consumer):
        self.consumer = consumer

    def poll(self, seconds):
        message = self.consumer.poll(seconds)
        if message is None or message.error():
            return None
        return message.partition(), message.offset(), message.value()

    def assignment(self):
        return sorted(tp.partition for tp in self.consumer.assignment())

    def commit(self):
        self.consumer.commit(asynchronous=False)

    def committed(self, name, partitions):
        from confluent_kafka import TopicPartition

        answer = self.consumer.committed([TopicPartition(name, p) for p in partitions], timeout=20)
        return {tp.partition: tp.offset for tp in answer}

    def close(self):
        self.consumer.close()


def outcome(future):
    """A confluent-kafka admin future's result: "OK", or the error's name."""
    from confluent_kafka import KafkaException

    try:
        future.result(timeout=30)
        return "OK"
    except KafkaException as e:
        return e.args[0].name()


# ------------------------------------------------------------------------------ kafka-python

class KafkaPython:
    name = "kafka-python"

    def __init__(self, bootstrap):
        import kafka  # noqa: F401
        from kafka.admin import KafkaAdminClient

        self.bootstrap = bootstrap
        self.admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)

    def version(self):
        import kafka

        return kafka.__version__

    def create(self, name, partitions=1, configs=None):
        from kafka.admin import NewTopic

        self.admin.create_topics([NewTopic(name, partitions, 3, topic_configs=configs or {})])
        wait_until(f"{name} in metadata", lambda: self._partitions(name) == partitions)

    def _partitions(self, name):
        from kafka import KafkaConsumer

        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap)
        try:
            return len(consumer.partitions_for_topic(name) or ())
        finally:
            consumer.close()

    def produce(self, name, records, partition=None, **conf):
        from kafka import KafkaProducer

        producer = KafkaProducer(bootstrap_servers=self.bootstrap, linger_ms=5,
                                 max_request_size=4 << 20, **conf)
        futures = [
            producer.send(name, key=key, value=value, headers=headers or None,
                          timestamp_ms=timestamp, partition=partition)
            for key, value, headers, timestamp in records
        ]
        producer.flush(DEADLINE_S)
        for future in futures:
            future.get(timeout=DEADLINE_S)
        producer.close()

    def consume(self, name, count, partition=0, offset=None, **conf):
        from kafka import KafkaConsumer, TopicPartition

        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                 group_id=None, **conf)
        tp = TopicPartition(name, partition)
        consumer.assign([tp])
        if offset is None:
            consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, offset)
        out = []
        deadline = time.time() + DEADLINE_S
        try:
            while len(out) < count and time.time() < deadline:
                for records in consumer.poll(timeout_ms=500).values():
                    out.extend(records)
        finally:
            consumer.close()
        assert len(out) == count, f"read {len(out)} of {count} records"
        return [(m.key, m.value, list(m.headers or []), m.offset, m.timestamp) for m in out[:count]]

    def offsets_for_times(self, name, timestamp_ms):
        from kafka import KafkaConsumer, TopicPartition

        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap)
        try:
            tp = TopicPartition(name, 0)
            answer = consumer.offsets_for_times({tp: timestamp_ms})[tp]
            return None if answer is None else answer.offset
        finally:
            consumer.close()

    def delete_topic(self, name):
        self.admin.delete_topics([name])
        wait_until(f"{name} gone", lambda: name not in self.admin.list_topics())

    def describe_cluster(self):
        cluster = self.admin.describe_cluster()
        return cluster["controller_id"], sorted(b["broker_id"] for b in cluster["brokers"])

    def delete_records(self, name, before_offset):
        from kafka import TopicPartition

        answer = self.admin.delete_records({TopicPartition(name, 0): before_offset})
        return answer[TopicPartition(name, 0)]["low_watermark"]

    def list_and_describe_groups(self, group):
        listed = [g["group_id"] for g in self.admin.list_groups()]
        description = self.admin.describe_groups([group])[group]
        return listed, description["group_state"], len(description["members"])

    def delete_group(self, group):
        """DeleteGroups: "OK", or the error's name (NonEmptyGroupError, ...)."""
        # A dict of group id to "OK" or the error's name (kafka-python 3; 2.x gave a list
        # of pairs).
        answer = dict(self.admin.delete_groups([group]))
        assert list(answer) == [group], answer
        return answer[group]

    def listed_groups(self):
        return [g["group_id"] for g in self.admin.list_groups()]

    def create_partitions(self, name, count):
        """CreatePartitions: "OK", or the error's name."""
        from kafka.admin import NewPartitions
        from kafka.errors import KafkaError

        try:
            self.admin.create_partitions({name: NewPartitions(count)})
            return "OK"
        except KafkaError as e:
            return type(e).__name__

    def partition_count(self, name):
        return self._partitions(name)

    def alter_topic_configs(self, name, configs):
        """AlterConfigs (KIP-133; kafka-python sends the topic's other set configs along):
        "OK", or the error as kafka-python words it ("[Error 40] InvalidConfigurationError:
        ...")."""
        from kafka.admin import ConfigResource, ConfigResourceType

        # raise_on_unknown would first describe the topic at any broker, which may not have
        # applied a just-created topic yet; the broker checks the configs anyway.
        answer = self.admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name, configs=configs)], incremental=False,
            raise_on_unknown=False)
        return answer["topic"][name]

    def describe_configs(self, kind, name):
        """DescribeConfigs of a "topic" or "broker": {config: value}, or the error's name."""
        from kafka.admin import ConfigResource, ConfigResourceType
        from kafka.errors import KafkaError

        kinds = {"topic": ConfigResourceType.TOPIC, "broker": ConfigResourceType.BROKER}
        try:
            answer = self.admin.describe_configs([ConfigResource(kinds[kind], name)],
                                                 config_filter="all")
        except KafkaError as e:
            return type(e).__name__
        [by_name] = answer.values()
        configs = by_name[name]
        return {key: (data["value"] if isinstance(data, dict) else data)
                for key, data in configs.items()}

    def delete_group_offsets(self, group, name, partitions):
        """OffsetDelete (KIP-496): each partition's error name ("NoError" on success)."""
        from kafka import TopicPartition

        answer = self.admin.delete_group_offsets(group, [TopicPartition(name, p) for p in partitions])
        return {tp.partition: error.__name__ for tp, error in answer.items()}

    def group_member(self, group, topics, **conf):
        from kafka import KafkaConsumer

        consumer = KafkaConsumer(*topics, bootstrap_servers=self.bootstrap, group_id=group,
                                 auto_offset_reset="earliest", enable_auto_commit=False,
                                 session_timeout_ms=30000, heartbeat_interval_ms=1000, **conf)
        return KafkaPythonMember(consumer)


class KafkaPythonMember:
    """One kafka-python group member on its own thread, as applications run them: the
    thread polls continuously and runs every other call on the consumer (which is not
    thread-safe) between polls. Polling two members alternately from one thread with
    short timeouts makes kafka-python 3.0.12 drop a JoinGroup that completed while it was
    not waiting and send another, so that such a group never settles."""

    def __init__(self, consumer):
        import queue

        self.consumer = consumer
        self.records = queue.Queue()
        self.calls = queue.Queue()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        import queue

        while True:
            try:
                call, answer = self.calls.get_nowait()
            except queue.Empty:
                for records in self.consumer.poll(timeout_ms=100, max_records=50).values():
                    for m in records:
                        self.records.put((m.partition, m.offset, m.value))
                continue
            try:
                answer.put((True, call(self.consumer)))
            except Exception as e:  # handed back to the caller
                answer.put((False, e))
            if call is KafkaPythonMember._close:
                return

    def _call(self, call):
        import queue

        answer = queue.Queue()
        self.calls.put((call, answer))
        ok, value = answer.get(timeout=DEADLINE_S + 20)
        if not ok:
            raise value
        return value

    def poll(self, seconds):
        import queue

        try:
            return self.records.get(timeout=seconds)
        except queue.Empty:
            return None

    def assignment(self):
        return self._call(lambda c: sorted(tp.partition for tp in c.assignment()))

    def commit(self):
        self._call(lambda c: c.commit())

    def committed(self, name, partitions):
        from kafka import TopicPartition

        return self._call(lambda c: {p: c.committed(TopicPartition(name, p)) for p in partitions})

    @staticmethod
    def _close(consumer):
        consumer.close()

    def close(self):
        self._call(KafkaPythonMember._close)
        self.thread.join(10)

    def stall(self, seconds):
        """Stops polling for `seconds` (a busy application), without waiting."""
        import queue

        self.calls.put((lambda c: time.sleep(seconds), queue.Queue()))


# ------------------------------------------------------------------------------------- kcat

class Kcat:
    name = "kcat"

    def __init__(self, bootstrap):
        self.path = shutil.which("kcat") or shutil.which("kafkacat")
        assert self.path, "kcat is not installed"
        self.bootstrap = bootstrap

    def version(self):
        out = subprocess.run([self.path, "-V"], capture_output=True, text=True).stdout
        line = next((l for l in out.splitlines() if l.startswith("Version")), "Version ?")
        return line.split("(")[0].replace("Version", "").strip()

    def run(self, args, stdin=None):
        done = subprocess.run([self.path, "-b", self.bootstrap, *args], input=stdin,
                              capture_output=True, timeout=DEADLINE_S + 20)
        assert done.returncode == 0, f"kcat {args} exited {done.returncode}: {done.stderr[-500:]!r}"
        return done.stdout

    def produce(self, name, records, extra=()):
        # One kcat per record when records carry headers or timestamps (kcat sets them
        # per invocation); otherwise one run with a line per record.
        lines = b"".join(key + b"\t" + value + b"\n" for key, value, _, _ in records)
        self.run(["-P", "-t", name, "-p", "0", "-K", "\t", *extra], stdin=lines)

    def consume(self, name, count, extra=()):
        out = self.run(["-C", "-t", name, "-p", "0", "-o", "beginning", "-c", str(count), "-e",
                        "-f", "%k\t%s\t%h\t%o\t%T\n", *extra])
        rows = [line.split(b"\t") for line in out.split(b"\n") if line]
        assert len(rows) == count, f"read {len(rows)} of {count} records: {out[:200]!r}"
        return rows


# ----------------------------------------------------------------------------------- checks

def records(n, size=16, prefix=b"v"):
    return [(b"k%d" % i, prefix + b"%06d" % i + b"x" * max(0, size - 7), [], None) for i in range(n)]


def check_produce_consume(client):
    name = topic(f"pc-{client.name}")
    sent = records(50)
    if isinstance(client, Kcat):
        client.produce(name, sent)
        rows = client.consume(name, 50)
        assert [r[1] for r in rows] == [v for _, v, _, _ in sent], "values differ"
        assert [int(r[3]) for r in rows] == list(range(50)), "offsets are not 0..49"
        return "50 records, offsets 0..49 in order"
    client.produce(name, sent)
    got = client.consume(name, 50)
    assert [v for _, v, _, _, _ in got] == [v for _, v, _, _ in sent], "values differ"
    assert [o for _, _, _, o, _ in got] == list(range(50)), "offsets are not 0..49"
    return "50 records via auto-created topic, offsets 0..49 in order"


def check_compression(client):
    done = []
    for codec in CODECS:
        name = topic(f"z{codec}-{client.name}")
        sent = records(200, size=200, prefix=codec.encode())
        if isinstance(client, Kcat):
            client.produce(name, sent, extra=("-z", codec))
            rows = client.consume(name, 200)
            assert [r[1] for r in rows] == [v for _, v, _, _ in sent], f"{codec}: values differ"
        else:
            conf = ({"compression.type": codec} if isinstance(client, Confluent)
                    else {"compression_type": codec})
            client.produce(name, sent, **conf)
            got = client.consume(name, 200)
            assert [v for _, v, _, _, _ in got] == [v for _, v, _, _ in sent], f"{codec}: values differ"
            assert [o for _, _, _, o, _ in got] == list(range(200)), f"{codec}: offsets"
        done.append(codec)
    return "200 records each: " + ", ".join(done)


def check_headers(client):
    name = topic(f"hdr-{client.name}")
    headers = [("trace", b"abc"), ("tenant", b"t-1")]
    if isinstance(client, Kcat):
        client.run(["-P", "-t", name, "-p", "0", "-H", "trace=abc", "-H", "tenant=t-1"],
                   stdin=b"with-headers\n")
        [row] = client.consume(name, 1)
        assert b"trace=abc" in row[2] and b"tenant=t-1" in row[2], f"headers read back: {row[2]!r}"
        return "2 headers round-trip"
    client.produce(name, [(b"k", b"with-headers", headers, None)])
    [(_, _, got, _, _)] = client.consume(name, 1)
    got = [(k, bytes(v)) for k, v in got]
    assert got == headers, f"headers read back: {got}"
    return "2 headers round-trip"


def check_large_records_small_fetch(client):
    """KIP-74: a fetch returns at least one batch even when it exceeds max_bytes, so a
    consumer whose fetch limits are below the record size still makes progress."""
    name = topic(f"big-{client.name}")
    sent = [(b"k%d" % i, bytes([65 + i % 26]) * LARGE_RECORD_BYTES, [], None)
            for i in range(LARGE_RECORDS)]
    # librdkafka pipelines its requests (up to 5 in flight to the new topic's leader): one
    # refused while its leader is being elected and retried after later ones landed would
    # reorder or, without idempotence, duplicate the records (KIP-98 is what orders
    # retries), so the producer is idempotent, as the check is about the fetch side.
    producing = {"message.max.bytes": 2 << 20, "enable.idempotence": True}
    if isinstance(client, Kcat):
        Confluent(client.bootstrap).produce(name, sent, **producing)
        rows = client.consume(name, LARGE_RECORDS, extra=(
            "-X", f"fetch.max.bytes={SMALL_FETCH_BYTES}",
            "-X", f"max.partition.fetch.bytes={SMALL_FETCH_BYTES}",
            "-X", f"message.max.bytes={SMALL_FETCH_BYTES}",
            "-X", f"receive.message.max.bytes={RECEIVE_MAX_BYTES}"))
        assert all(len(r[1]) == LARGE_RECORD_BYTES for r in rows), "record sizes differ"
        return f"{LARGE_RECORDS} x 900 KB with 100 KB fetch limits"
    if isinstance(client, Confluent):
        client.produce(name, sent, **producing)
        limits = {"fetch.max.bytes": SMALL_FETCH_BYTES,
                  "max.partition.fetch.bytes": SMALL_FETCH_BYTES,
                  # librdkafka insists fetch.max.bytes >= message.max.bytes.
                  "message.max.bytes": SMALL_FETCH_BYTES,
                  # A broker ignoring the limits answers with every record at once, which
                  # librdkafka refuses above this (and then stalls, as issue #16 saw).
                  "receive.message.max.bytes": RECEIVE_MAX_BYTES}
    else:
        client.produce(name, sent)
        limits = {"fetch_max_bytes": SMALL_FETCH_BYTES,
                  "max_partition_fetch_bytes": SMALL_FETCH_BYTES}
    got = client.consume(name, LARGE_RECORDS, **limits)
    assert [v for _, v, _, _, _ in got] == [v for _, v, _, _ in sent], \
        f"values differ: keys read {[k for k, _, _, _, _ in got]} at offsets " \
        f"{[o for _, _, _, o, _ in got]}"
    return f"{LARGE_RECORDS} x 900 KB with 100 KB fetch limits"


def check_offsets_for_times(client):
    """ListOffsets by timestamp (KIP-79): the first offset whose timestamp is >= the one
    asked for."""
    name = topic(f"oft-{client.name}")
    base = int(time.time() * 1000) - 100_000
    sent = [(b"k%d" % i, b"v%d" % i, [], base + i * 1000) for i in range(10)]
    producer = client if not isinstance(client, Kcat) else Confluent(client.bootstrap)
    producer.produce(name, sent)
    if isinstance(client, Kcat):
        rows = client.run(["-C", "-t", name, "-p", "0", "-o", f"s@{base + 4500}", "-c", "1", "-e",
                           "-f", "%o\n"])
        assert rows.strip() == b"5", f"kcat -o s@ts started at {rows!r}, not 5"
        return "-o s@timestamp starts at the first later record"
    offset = client.offsets_for_times(name, base + 4500)
    assert offset == 5, f"offset for timestamp is {offset}, not 5"
    return "timestamp between records 4 and 5 -> offset 5"


def check_admin_topics(client):
    name = topic(f"adm-{client.name}")
    client.create(name, partitions=3)
    controller, nodes = client.describe_cluster()
    assert nodes == [1, 2, 3], f"brokers {nodes}"
    assert controller in nodes, f"controller id {controller} is not a broker"
    client.delete_topic(name)
    return "create 3 partitions, describe cluster (controller %d), delete" % controller


def check_metadata(client):
    out = client.run(["-L", "-J"])
    metadata = json.loads(out)
    brokers = sorted(b["id"] for b in metadata["brokers"])
    assert brokers == [1, 2, 3], f"brokers {brokers}"
    assert metadata.get("controllerid", metadata.get("controller_id", -1)) in brokers, metadata
    return "3 brokers, controller id %s" % metadata.get("controllerid")


def check_delete_records(client):
    """DeleteRecords: the log start offset moves, and reads start there."""
    name = topic(f"del-{client.name}")
    client.produce(name, records(20))
    low = client.delete_records(name, 12)
    assert low == 12, f"low watermark {low}"
    got = client.consume(name, 8)
    assert got[0][3] == 12, f"reading from the beginning starts at {got[0][3]}"
    return "delete before 12; beginning is 12"


def two_members(client, group, name):
    first = client.group_member(group, [name])
    second = client.group_member(group, [name])
    members = [first, second]
    seen = {}

    def balanced():
        for member in members:
            got = member.poll(0.2)
            if got:
                seen[(got[0], got[1])] = got[2]
        a, b = first.assignment(), second.assignment()
        return len(a) == 1 and len(b) == 1 and sorted(a + b) == [0, 1]

    wait_until("both members to own one partition each", balanced, timeout_s=60, every_s=0)
    return members, seen


def check_groups(client):
    """Two members split two partitions, consume everything, commit; a new member of the
    group then sees the commits; ListGroups and DescribeGroups show the group."""
    name = topic(f"grp-{client.name}")
    group = f"g-{client.name}-{RUN}"
    client.create(name, partitions=2)
    for partition in (0, 1):
        client.produce(name, records(10, prefix=b"p%d-" % partition), partition=partition)
    members, seen = two_members(client, group, name)

    def consumed_all():
        for member in members:
            got = member.poll(0.2)
            if got:
                seen[(got[0], got[1])] = got[2]
        return len(seen) == 20

    wait_until("all 20 records consumed", consumed_all, timeout_s=40, every_s=0)
    for member in members:
        member.commit()
    listed, state, count = client.list_and_describe_groups(group)
    assert group in listed, f"{group} not listed in {listed}"
    assert "stable" in state.lower(), f"state {state}"
    assert count == 2, f"{count} members described"
    for member in members:
        member.close()
    reader = client.group_member(group, [name])
    committed = reader.committed(name, [0, 1])
    reader.close()
    assert committed == {0: 10, 1: 10}, f"committed {committed}"
    return "2 members x 1 partition, 20 records, commits 10/10 seen by a new member; listed, Stable, 2 members"


def check_member_closes_during_first_join(client):
    """KIP-394: a member that closes while its first JoinGroup is pending leaves at once
    (it knows its member id), so the remaining member gets every partition back well
    before the 30 s session timeout."""
    name = topic(f"join-{client.name}")
    group = f"j-{client.name}-{RUN}"
    client.create(name, partitions=2)
    first = client.group_member(group, [name])
    wait_until("the first member to own both partitions",
               lambda: first.poll(0.2) is not None or first.assignment() == [0, 1])
    wait_until("the first member to own both partitions", lambda: first.assignment() == [0, 1])
    if hasattr(first, "stall"):
        # kafka-python's member polls on its own thread: make it busy, so that it does
        # not rejoin while the late member's first JoinGroup is pending.
        first.stall(10.0)
        time.sleep(0.3)
    late = client.group_member(group, [name])
    # One short poll sends its JoinGroup, which waits: the rebalance needs the first
    # member to rejoin, and it is not polling.
    late.poll(0.5)
    late.close()
    closed = time.time()

    def first_owns_all():
        first.poll(0.2)
        return first.assignment() == [0, 1] and time.time() - closed > 1

    wait_until("the first member to own both partitions again", first_owns_all, timeout_s=60,
               every_s=0)
    took = time.time() - closed
    first.close()
    # Without KIP-394 the closed member stays in the generation until its 30 s session
    # times out; with it, the partitions come back as soon as the first member rejoins
    # (kafka-python's first member is kept busy for 10 s to hold the join pending).
    assert took < 20, f"took {took:.1f}s: the closed member held a partition"
    return f"remaining member owns both partitions {took:.1f}s after the close"


def error_is(name, wanted):
    """Whether client error `name` ("NON_EMPTY_GROUP", "NonEmptyGroupError") is `wanted`."""
    # librdkafka's shortened names for Kafka's.
    aliases = {"UNKNOWNTOPICORPART": "UNKNOWNTOPICORPARTITION"}

    def plain(text):
        text = text.upper().replace("_", "").removesuffix("ERROR")
        return aliases.get(text, text)

    return isinstance(name, str) and plain(name) == plain(wanted)


def check_delete_groups(client):
    """KIP-229: a group with a member is not deleted (NON_EMPTY_GROUP); once the member
    leaves, it is, with its offsets: not listed any more, and a new member of the same
    group id finds no commit."""
    name = topic(f"dg-{client.name}")
    group = f"dg-{client.name}-{RUN}"
    client.create(name)
    client.produce(name, records(5))
    member = client.group_member(group, [name])
    got = []

    def consumed_all():
        record = member.poll(0.2)
        if record:
            got.append(record)
        return len(got) == 5

    wait_until("all 5 records consumed", consumed_all, timeout_s=40, every_s=0)
    member.commit()
    refused = client.delete_group(group)
    assert error_is(refused, "NON_EMPTY_GROUP"), f"deleting a live group: {refused}"
    member.close()
    deleted = client.delete_group(group)
    assert deleted == "OK", f"deleting the empty group: {deleted}"
    listed = client.listed_groups()
    assert group not in listed, f"{group} still listed after its deletion"
    again = client.delete_group(group)
    assert error_is(again, "GROUP_ID_NOT_FOUND"), f"deleting it again: {again}"
    reader = client.group_member(group, [name])
    committed = reader.committed(name, [0])
    reader.close()
    assert committed[0] in (None, -1001), f"a deleted group's commit came back: {committed}"
    return f"live group {refused}; after leaving deleted, unlisted, again {again}, no commit left"


def check_offset_delete(client):
    """KIP-496: offsets of a topic the group's member subscribes to stay
    (GROUP_SUBSCRIBED_TO_TOPIC); those of a topic it does not go."""
    live = topic(f"odl-{client.name}")
    old = topic(f"odo-{client.name}")
    group = f"od-{client.name}-{RUN}"
    client.create(live)
    client.create(old)
    client.produce(live, records(3))
    client.produce(old, records(3))
    # A member of `old` first commits there, then a member of `live` only.
    first = client.group_member(group, [old])
    wait_until("a record of the old topic", lambda: first.poll(0.2) is not None, every_s=0)
    first.commit()
    first.close()
    member = client.group_member(group, [live])
    wait_until("a record of the live topic", lambda: member.poll(0.2) is not None, every_s=0)
    member.commit()
    answers = {
        live: client.delete_group_offsets(group, live, [0]),
        old: client.delete_group_offsets(group, old, [0]),
    }
    member.close()
    assert error_is(answers[live][0], "GROUP_SUBSCRIBED_TO_TOPIC"), answers
    assert error_is(answers[old][0], "NO_ERROR"), answers
    reader = client.group_member(group, [live, old])
    committed = {t: reader.committed(t, [0])[0] for t in (live, old)}
    reader.close()
    assert committed[old] in (None, -1001), f"deleted offset came back: {committed}"
    assert committed[live] not in (None, -1001), f"subscribed offset deleted: {committed}"
    return f"subscribed topic {answers[live][0]}, other topic {answers[old][0]}, deleted for good"


def described_topic(client, name):
    """DescribeConfigs of a topic just created. The admin client asks any broker, which may
    not have applied the topic's metadata yet (UNKNOWN_TOPIC_OR_PARTITION, as from a
    lagging Kafka broker; kafka-python drops that error and answers no configs), so it asks
    until one answers with configs."""
    answers = []

    def described():
        answers.append(client.describe_configs("topic", name))
        return isinstance(answers[-1], dict) and len(answers[-1]) > 0

    wait_until(f"{name} described", described)
    return answers[-1]


def check_describe_configs(client):
    """KIP-133: a topic's and a broker's configs are described with the values the broker
    runs with; an unknown topic is UNKNOWN_TOPIC_OR_PARTITION."""
    name = topic(f"cfg-{client.name}")
    client.create(name)
    configs = described_topic(client, name)
    assert configs.get("message.timestamp.type") == "CreateTime", configs
    assert configs.get("cleanup.policy") == "delete", configs
    isr = configs.get("min.insync.replicas")
    assert isr is not None and int(isr) >= 1, configs
    controller, brokers = client.describe_cluster()
    broker = client.describe_configs("broker", str(brokers[0]))
    assert isinstance(broker, dict), f"describing broker {brokers[0]}: {broker}"
    assert broker.get("node.id") == str(brokers[0]), broker
    assert broker.get("min.insync.replicas") == isr, (broker, isr)
    missing = client.describe_configs("topic", topic("no-such-topic"))
    # librdkafka names the error UNKNOWN_TOPIC_OR_PART; kafka-python 3.0.12 drops a
    # resource's error code and answers no configs.
    assert missing == {} or error_is(missing, "UNKNOWN_TOPIC_OR_PARTITION"), \
        f"unknown topic: {missing}"
    return (f"topic: {len(configs)} configs (min.insync.replicas={isr}, CreateTime); "
            f"broker {brokers[0]}: {len(broker)} configs; unknown topic {missing}")


def check_topic_configs(client):
    """A topic created with configs runs with them and describes them; a config Kafka does
    not define is INVALID_CONFIG and creates nothing (`LogConfig.validate`)."""
    name = topic(f"tcfg-{client.name}")
    client.create(name, configs={"cleanup.policy": "compact", "min.insync.replicas": "3",
                                 "message.timestamp.type": "LogAppendTime"})
    configs = described_topic(client, name)
    wanted = {"cleanup.policy": "compact", "min.insync.replicas": "3",
              "message.timestamp.type": "LogAppendTime"}
    assert all(configs.get(k) == v for k, v in wanted.items()), configs
    client.produce(name, records(3))
    stamped = client.consume(name, 3)
    assert stamped, "no records"
    bad = topic(f"tbad-{client.name}")
    try:
        client.create(bad, configs={"no.such.config": "1"})
        refused = "created"
    except Exception as e:  # the client's error for INVALID_CONFIG
        refused = str(e)
    # confluent-kafka: KafkaError{code=INVALID_CONFIG,...}; kafka-python:
    # InvalidConfigurationError.
    assert "INVALID_CONFIG" in refused or "InvalidConfiguration" in refused, \
        f"unknown config: {refused}"
    return "compact, min.insync.replicas=3, LogAppendTime described; unknown config refused"


def check_create_partitions(client):
    """KIP-195: a topic grows to more partitions, which take records; shrinking it is
    INVALID_PARTITIONS."""
    name = topic(f"grow-{client.name}")
    client.create(name)
    grown = client.create_partitions(name, 3)
    assert grown == "OK", f"growing to 3: {grown}"
    wait_until(f"{name} with 3 partitions", lambda: client.partition_count(name) == 3)

    # A producer may read metadata from a broker that has not applied the growth yet (it
    # lags by a heartbeat, as KRaft brokers do): librdkafka then fails the records at once
    # with "Local: Unknown partition", kafka-python with "Unrecognized partition", nothing
    # sent, and an application sends them again.
    def produced():
        try:
            client.produce(name, records(2), partition=2)
            return True
        except (AssertionError, ValueError):
            return False

    wait_until("2 records produced to the new partition 2", produced)
    got = client.consume(name, 2, partition=2)
    assert len(got) == 2, got
    shrunk = client.create_partitions(name, 2)
    assert error_is(shrunk, "INVALID_PARTITIONS"), f"shrinking to 2: {shrunk}"
    return f"1 -> 3 partitions, partition 2 takes records; shrinking {shrunk}"


def check_alter_configs(client):
    """KIP-339 / KIP-133: a topic's configs altered after creation are described back (and
    run with, by every broker once it replays the topic's record); a bad value is
    INVALID_CONFIG."""
    name = topic(f"alter-{client.name}")
    client.create(name)
    described_topic(client, name)
    altered = client.alter_topic_configs(name, {"retention.ms": "86400000",
                                                "message.timestamp.type": "LogAppendTime"})
    assert altered == "OK", f"altering: {altered}"
    answers = []

    def shows_it():
        answers.append(client.describe_configs("topic", name))
        got = answers[-1]
        return isinstance(got, dict) and got.get("retention.ms") == "86400000" \
            and got.get("message.timestamp.type") == "LogAppendTime"

    wait_until(f"{name}'s altered configs described", shows_it)
    refused = client.alter_topic_configs(name, {"min.insync.replicas": "0"})
    assert error_is(refused, "INVALID_CONFIG") or "InvalidConfiguration" in refused, \
        f"min.insync.replicas=0: {refused}"
    return f"retention.ms and LogAppendTime altered and described; a bad value {refused}"


CHECKS = {
    "produce/consume": check_produce_consume,
    "compression gzip/snappy/lz4/zstd": check_compression,
    "record headers": check_headers,
    "large records, small fetch limits": check_large_records_small_fetch,
    "offsets for times": check_offsets_for_times,
    "admin: create/delete topics, describe cluster": check_admin_topics,
    "metadata (kcat -L)": check_metadata,
    "delete records": check_delete_records,
    "groups: two members, commits, list/describe": check_groups,
    "member closing during its first join": check_member_closes_during_first_join,
    "delete groups (KIP-229)": check_delete_groups,
    "offset delete (KIP-496)": check_offset_delete,
    "describe configs (KIP-133)": check_describe_configs,
    "topic configs on create": check_topic_configs,
    "create partitions (KIP-195)": check_create_partitions,
    "alter topic configs (KIP-339, KIP-133)": check_alter_configs,
}

SUPPORTED = {
    # confluent-kafka's AdminClient has no OffsetDelete call.
    "confluent-kafka": [c for c in CHECKS
                        if c not in ("metadata (kcat -L)", "offset delete (KIP-496)")],
    "kafka-python": [c for c in CHECKS if c != "metadata (kcat -L)"],
    "kcat": ["produce/consume", "compression gzip/snappy/lz4/zstd", "record headers",
             "large records, small fetch limits", "offsets for times", "metadata (kcat -L)"],
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("bootstrap")
    parser.add_argument("--only", action="append", default=[])
    parser.add_argument("--client", action="append", default=[],
                        help="run only this client (confluent-kafka, kafka-python, kcat); repeatable")
    parser.add_argument("--markdown")
    args = parser.parse_args()
    results = {}
    failed = False
    for cls in (Confluent, KafkaPython, Kcat):
        if args.client and cls.name not in args.client:
            continue
        try:
            client = cls(args.bootstrap)
            label = f"{cls.name} {client.version()}"
        except Exception as e:  # a missing client is a failure, never a skip
            print(f"FAIL {cls.name}: client unavailable: {e}", flush=True)
            failed = True
            continue
        print(f"== {label}", flush=True)
        for feature in SUPPORTED[cls.name]:
            if args.only and not any(o in feature for o in args.only):
                continue
            started = time.time()
            try:
                detail = CHECKS[feature](client)
                outcome = "PASS"
            except Exception as e:
                detail = f"{type(e).__name__}: {e}"
                if os.environ.get("REAL_CLIENTS_TRACE"):
                    traceback.print_exc()
                outcome = "FAIL"
                failed = True
            results[(cls.name, feature)] = (outcome, detail)
            print(f"{outcome} {cls.name} | {feature} | {time.time() - started:.1f}s | {detail}",
                  flush=True)
    if args.markdown:
        with open(args.markdown, "w") as out:
            clients = [c.name for c in (Confluent, KafkaPython, Kcat)
                       if not args.client or c.name in args.client]
            out.write("| feature | " + " | ".join(clients) + " |\n")
            out.write("|---|" + "---|" * len(clients) + "\n")
            for feature in CHECKS:
                cells = []
                for c in clients:
                    outcome = results.get((c, feature), ("n/a", ""))[0]
                    cells.append({"PASS": "pass", "FAIL": "FAIL"}.get(outcome, "n/a"))
                out.write(f"| {feature} | " + " | ".join(cells) + " |\n")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
