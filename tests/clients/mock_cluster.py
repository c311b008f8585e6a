"""librdkafka's mock cluster as a long-running certification target.

librdkafka (the C client inside confluent-kafka) ships a mock Kafka cluster: N brokers in
the client's own process, on real TCP, that serve Produce, Fetch, ListOffsets, Metadata,
idempotent and transactional producers and classic consumer groups (librdkafka
`src/rdkafka_mock.c`; `test.mock.num.brokers` in CONFIGURATION.md). Its brokers listen on
ephemeral ports, which a target file cannot name, so this launcher:

1. creates the cluster through librdkafka's mock API (`rd_kafka_mock_cluster_new`), called
   with ctypes on the librdkafka that the confluent-kafka wheel bundles;
2. creates the certification topic (`rd_kafka_mock_topic_create`; the mock has no
   CreateTopics handler of its own in every version);
3. forwards a fixed loopback port per broker (`--port`, `--port + 1`, ...) to that broker's
   ephemeral port and makes the mock advertise the fixed ports in Metadata
   (`rd_kafka_mock_broker_set_host_port`), so faultline's fault proxies sit in front of
   each broker;
4. prints one line per broker and runs until SIGTERM/SIGINT.

    target/py-clients/bin/python tests/clients/mock_cluster.py --port 29591 --brokers 3 \
        --topic certify:3

Everything lives in this one process: a kill -9 loses the whole cluster (it is in memory),
and SIGSTOP freezes every broker at once.
"""

import argparse
import ctypes
import glob
import os
import signal
import socket
import sys
import threading

RD_KAFKA_PRODUCER = 0


def load_librdkafka():
    """The librdkafka the confluent-kafka wheel bundles (or the system's)."""
    import confluent_kafka

    here = os.path.dirname(confluent_kafka.__file__)
    candidates = glob.glob(os.path.join(here, "..", "confluent_kafka.libs", "librdkafka*.so*"))
    candidates += ["librdkafka.so.1"]
    for path in candidates:
        try:
            return ctypes.CDLL(path)
        except OSError:
            continue
    sys.exit("librdkafka not found (pip install confluent-kafka)")


def declare(lib):
    lib.rd_kafka_conf_new.restype = ctypes.c_void_p
    lib.rd_kafka_conf_set.argtypes = [
        ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t]
    lib.rd_kafka_new.restype = ctypes.c_void_p
    lib.rd_kafka_new.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
    lib.rd_kafka_mock_cluster_new.restype = ctypes.c_void_p
    lib.rd_kafka_mock_cluster_new.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.rd_kafka_mock_cluster_bootstraps.restype = ctypes.c_char_p
    lib.rd_kafka_mock_cluster_bootstraps.argtypes = [ctypes.c_void_p]
    lib.rd_kafka_mock_topic_create.restype = ctypes.c_int
    lib.rd_kafka_mock_topic_create.argtypes = [
        ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_int]
    lib.rd_kafka_mock_broker_set_host_port.restype = ctypes.c_int
    lib.rd_kafka_mock_broker_set_host_port.argtypes = [
        ctypes.c_void_p, ctypes.c_int32, ctypes.c_char_p, ctypes.c_int]
    lib.rd_kafka_version_str.restype = ctypes.c_char_p


def pump(source, sink):
    """Copies bytes one way until either side closes, then closes both."""
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            sink.sendall(data)
    except OSError:
        pass
    for s in (source, sink):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()


def forward(listener, upstream):
    """Accepts on `listener` forever; each connection is piped to `upstream`."""
    while True:
        client, _ = listener.accept()
        try:
            broker = socket.create_connection(upstream, timeout=10)
        except OSError:
            client.close()
            continue
        broker.settimeout(None)
        for s in (client, broker):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=pump, args=(client, broker), daemon=True).start()
        threading.Thread(target=pump, args=(broker, client), daemon=True).start()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="broker 1's fixed port")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--brokers", type=int, default=3)
    parser.add_argument("--topic", action="append", default=[], help="NAME:PARTITIONS")
    parser.add_argument("--replication-factor", type=int, default=3)
    args = parser.parse_args()

    lib = load_librdkafka()
    declare(lib)
    conf = lib.rd_kafka_conf_new()
    errstr = ctypes.create_string_buffer(512)
    # The handle only hosts the cluster; it connects nowhere.
    lib.rd_kafka_conf_set(conf, b"bootstrap.servers", b"", errstr, 512)
    lib.rd_kafka_conf_set(conf, b"log_level", b"3", errstr, 512)
    handle = lib.rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, 512)
    if not handle:
        sys.exit(f"rd_kafka_new: {errstr.value.decode()}")
    cluster = lib.rd_kafka_mock_cluster_new(handle, args.brokers)
    if not cluster:
        sys.exit("rd_kafka_mock_cluster_new failed")
    ephemeral = lib.rd_kafka_mock_cluster_bootstraps(cluster).decode().split(",")
    for spec in args.topic:
        name, _, partitions = spec.partition(":")
        err = lib.rd_kafka_mock_topic_create(
            cluster, name.encode(), int(partitions or 1),
            min(args.replication_factor, args.brokers))
        if err:
            sys.exit(f"rd_kafka_mock_topic_create({name}): error {err}")
    # Broker ids are 1..N in bootstrap order (rd_kafka_mock_cluster_new).
    for index, address in enumerate(ephemeral):
        broker_id = index + 1
        host, port = address.rsplit(":", 1)
        fixed = args.port + index
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((args.host, fixed))
        listener.listen(128)
        threading.Thread(
            target=forward, args=(listener, (host, int(port))), daemon=True).start()
        err = lib.rd_kafka_mock_broker_set_host_port(
            cluster, broker_id, args.host.encode(), fixed)
        if err:
            sys.exit(f"rd_kafka_mock_broker_set_host_port({broker_id}): error {err}")
        print(f"mock broker {broker_id} on {args.host}:{fixed} (mock port {port})", flush=True)
    print(f"librdkafka {lib.rd_kafka_version_str().decode()} mock cluster up", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()


if __name__ == "__main__":
    main()
