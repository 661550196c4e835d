"""Broker memory under huge fetches: several librdkafka consumers asking for the largest fetches
they can (`fetch.max.bytes` and `max.partition.fetch.bytes` near their maximum) read a partition
of a few hundred MB at once, and the broker's peak resident memory must stay within what its
configured limits allow, not grow with what the clients ask for.

This test starts its own broker (its peak RSS must not include other tests' work), with small
limits so the bound is tight: `--fetch-bytes-max` caps one response, `--queued-response-bytes-max`
caps the fetched bytes held by the whole node until they are written."""
import os
import pathlib
import re
import subprocess
import threading
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition


MIB = 1024 * 1024
PARTITION_BYTES = 256 * MIB
VALUE_BYTES = 100 * 1024
CONSUMERS = 4
FETCH_BYTES_MAX = 16 * MIB
QUEUED_RESPONSE_BYTES_MAX = 32 * MIB
# What the broker may add on top of the fetched bytes it holds: allocator slack (the log reads run
# on blocking threads, each with its own malloc arena), per-connection buffers, tasks. Runs have
# measured 64 to 98 MiB of growth in all; the code before the limits grew by 1,151 MiB, so the
# bound still fails it six times over.
RSS_SLACK_BYTES = 160 * MIB
BROKER_START_SECONDS_MAX = 60
CONSUME_SECONDS_MAX = 50
LISTENING = re.compile(r"listening http=(\S+) kafka=(\S+)")
ROOT = pathlib.Path(__file__).resolve().parents[2]


def yak_bin():
    path = pathlib.Path(os.environ.get("YAK_BIN", "target/debug/yak"))
    return path if path.is_absolute() else ROOT / path


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as status:
        match = re.search(rf"^{field}:\s+(\d+) kB", status.read(), re.MULTILINE)
    assert match, f"no {field} in /proc/{pid}/status"
    return int(match.group(1))


@pytest.fixture
def limited_broker(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    log = open(tmp_path / "broker.log", "a")
    process = subprocess.Popen(
        [str(yak_bin()), "broker", "--data-dir", str(data_dir), "--http", "127.0.0.1:0",
         "--kafka", "127.0.0.1:0", "--flush", "never",
         "--fetch-bytes-max", str(FETCH_BYTES_MAX),
         "--queued-response-bytes-max", str(QUEUED_RESPONSE_BYTES_MAX)],
        stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        deadline = time.monotonic() + BROKER_START_SECONDS_MAX
        bootstrap = None
        while bootstrap is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                pytest.fail(f"the broker exited with {process.wait()}; log: {tmp_path / 'broker.log'}")
            match = LISTENING.search(line)
            if match:
                bootstrap = match.group(2)
        assert bootstrap, "the broker never said where it listens"
        yield process.pid, bootstrap
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def fill(bootstrap, topic):
    """Writes PARTITION_BYTES into partition 0 of `topic`; returns the number of records."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "acks": 1,
                         "batch.size": 1_000_000, "message.max.bytes": 1_000_000,
                         "enable.idempotence": False})
    value = os.urandom(VALUE_BYTES)
    records = PARTITION_BYTES // VALUE_BYTES
    failures = []
    for _ in range(records):
        while True:
            try:
                producer.produce(topic, value, partition=0,
                                 on_delivery=lambda err, _msg: err and failures.append(err))
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    assert producer.flush(60) == 0, "every record is delivered"
    assert not failures, failures[:3]
    return records


def consume_all(bootstrap, topic, records, errors):
    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": f"fetch-memory-{threading.get_ident()}",
        "enable.auto.commit": False,
        # As large as librdkafka allows: the broker, not the client, must bound the response.
        "fetch.max.bytes": 2147483135, "max.partition.fetch.bytes": 1000000000,
        "receive.message.max.bytes": 2147483647,
    })
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        seen = 0
        deadline = time.monotonic() + CONSUME_SECONDS_MAX
        while seen < records and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=1000, timeout=1.0):
                if message.error():
                    errors.append(message.error())
                    return
                seen += 1
        if seen < records:
            errors.append(f"read {seen} of {records} records in {CONSUME_SECONDS_MAX} s")
    finally:
        consumer.close()


def test_huge_fetches_keep_broker_memory_within_its_limits(limited_broker):
    pid, bootstrap = limited_broker
    topic = f"fetch-memory-{os.getpid()}"
    records = fill(bootstrap, topic)
    # Measure the reading alone: reset the peak to what is resident now.
    with open(f"/proc/{pid}/clear_refs", "w") as clear_refs:
        clear_refs.write("5")
    baseline_kib = status_kib(pid, "VmRSS")
    errors = []
    consumers = [threading.Thread(target=consume_all, args=(bootstrap, topic, records, errors))
                 for _ in range(CONSUMERS)]
    for consumer in consumers:
        consumer.start()
    for consumer in consumers:
        consumer.join()
    assert not errors, errors
    peak_kib = status_kib(pid, "VmHWM")
    growth_bytes = (peak_kib - baseline_kib) * 1024
    bound_bytes = QUEUED_RESPONSE_BYTES_MAX + RSS_SLACK_BYTES
    print(f"broker RSS {baseline_kib // 1024} MiB before, peak {peak_kib // 1024} MiB while "
          f"{CONSUMERS} consumers read {PARTITION_BYTES // MIB} MiB each")
    assert growth_bytes <= bound_bytes, (
        f"the broker grew by {growth_bytes // MIB} MiB reading; its limits allow "
        f"{QUEUED_RESPONSE_BYTES_MAX // MIB} MiB of responses + {RSS_SLACK_BYTES // MIB} MiB")
