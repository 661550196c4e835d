"""Kafka-protocol load from a librdkafka client (confluent-kafka), for BENCHMARKS.md.

Produces COUNT records of RECORD_BYTES with acks=1 and reads them back with a consumer, printing
one JSON summary per phase. The producer runs in Python, so on a 2-core machine it measures the
client about as much as the broker: it is here to show YAK under a real client's batching, next
to `yak bench --protocol kafka`.

    .venv/bin/python scripts/bench_librdkafka.py HOST:PORT [COUNT] [RECORD_BYTES] [BROKER_PID]

With BROKER_PID each phase also reports the broker's CPU-seconds per million records. The consumer
is set for throughput (large fetches, a deep pre-fetch queue): with librdkafka's defaults its own
`queued.min.messages` threshold, not the broker, bounds the rate.
"""
import os

import json
import sys
import time
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def main() -> None:
    bootstrap = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 2_000_000
    record_bytes = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    broker_pid = int(sys.argv[4]) if len(sys.argv) > 4 else None
    topic = f"librdkafka-{uuid.uuid4().hex[:8]}"
    partitions = 3
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(timeout=30)

    producer = Producer({
        "bootstrap.servers": bootstrap,
        "acks": "1",
        "linger.ms": 5,
        "batch.num.messages": 10000,
        "batch.size": 1_000_000,
        "queue.buffering.max.messages": 1_000_000,
        "enable.idempotence": False,
    })
    value = b"x" * record_bytes
    cpu_at_start = cpu_seconds(broker_pid)
    delivered = 0
    failed = 0

    def on_delivery(error, _message):
        nonlocal delivered, failed
        if error is None:
            delivered += 1
        else:
            failed += 1

    started = time.perf_counter()
    for i in range(count):
        while True:
            try:
                producer.produce(topic, value, partition=i % partitions, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.001)
        if i % 10000 == 0:
            producer.poll(0)
    producer.flush(120)
    seconds = time.perf_counter() - started
    print(json.dumps({"bench": "librdkafka-produce", "records": delivered, "errors": failed,
                      "seconds": round(seconds, 3), "records_per_s": round(delivered / seconds),
                      **cpu_per_million(broker_pid, cpu_at_start, delivered)}))

    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "unused",
        "enable.auto.commit": False,
        "fetch.max.bytes": 52_428_800,
        "max.partition.fetch.bytes": 8_388_608,
        "queued.min.messages": 1_000_000,
        "queued.max.messages.kbytes": 1_048_576,
        "fetch.wait.max.ms": 100,
    })
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    received = 0
    cpu_at_start = cpu_seconds(broker_pid)
    started = time.perf_counter()
    deadline = started + 300
    while received < delivered and time.perf_counter() < deadline:
        for message in consumer.consume(num_messages=100_000, timeout=1.0):
            if message.error() is None:
                received += 1
    seconds = time.perf_counter() - started
    consumer.close()
    print(json.dumps({"bench": "librdkafka-consume", "records": received,
                      "seconds": round(seconds, 3), "records_per_s": round(received / seconds),
                      **cpu_per_million(broker_pid, cpu_at_start, received)}))


def cpu_seconds(pid):
    """User plus system CPU-seconds of process `pid` so far, or None without a pid."""
    if pid is None:
        return None
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_per_million(pid, at_start, records):
    if pid is None or not records:
        return {}
    used = cpu_seconds(pid) - at_start
    return {"broker_cpu_s": round(used, 2),
            "broker_cpu_s_per_million_records": round(used / records * 1_000_000, 3)}


if __name__ == "__main__":
    main()
