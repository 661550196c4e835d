#!/usr/bin/env python3
"""End-to-end latency at a fixed rate: a confluent-kafka producer sends 100-byte records with
acks=all at RATE records/s for SECONDS; a consumer (another process) reads them from the leader.
Prints one JSON summary: the acknowledgement latency (send -> delivery report) and the end-to-end
latency (send -> consumed) at p50/p99/p999, both in ms.

    .venv/bin/python scripts/bench_e2e_latency.py BOOTSTRAP [RATE] [SECONDS] [TOPIC]

The records carry the send time (time.time_ns) in their value; producer and consumer run on one
machine, so they read the same clock.
"""

import json
import multiprocessing
import sys
import time
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition

RECORD_BYTES = 100


def percentile(values, fraction):
    if not values:
        return None
    values = sorted(values)
    index = min(len(values) - 1, int(round(fraction * (len(values) - 1))))
    return values[index]


def consume(bootstrap, topic, expected, partitions, ready, out):
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "bench-e2e",  # unused: partitions are assigned, never subscribed
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 100,
            "fetch.min.bytes": 1,
        }
    )
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    ready.set()
    latencies_ms = []
    deadline = time.time() + 120
    while len(latencies_ms) < expected and time.time() < deadline:
        message = consumer.poll(0.5)
        if message is None or message.error():
            continue
        now = time.time_ns()
        sent = int(message.value()[:19])
        latencies_ms.append((now - sent) / 1e6)
    consumer.close()
    out.put(latencies_ms)


def main():
    bootstrap = sys.argv[1]
    rate = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    seconds = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    topic = sys.argv[4] if len(sys.argv) > 4 else f"e2e-{uuid.uuid4().hex[:8]}"
    partitions = 3
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": sys.argv[5] if len(sys.argv) > 5 else "all",
            # One batch per millisecond at most: 10 records a batch at 10,000/s. (With linger 0
            # every record is a request, and idempotence allows only 5 in flight.)
            "linger.ms": 1,
            "enable.idempotence": (sys.argv[5] if len(sys.argv) > 5 else "all") == "all",
        }
    )
    # Create the topic (auto-creation) and wait until it has a leader.
    producer.produce(topic, b"0" * 19 + b" warm-up")
    producer.flush(30)
    expected = rate * seconds
    ready = multiprocessing.Event()
    out = multiprocessing.Queue()
    reader = multiprocessing.Process(
        target=consume, args=(bootstrap, topic, expected + 1, partitions, ready, out)
    )
    reader.start()
    ready.wait(30)
    time.sleep(1)
    acks_ms = []

    def delivered(error, message, sent_ns):
        if error is None:
            acks_ms.append((time.time_ns() - sent_ns) / 1e6)

    padding = b"x" * (RECORD_BYTES - 20)
    # Sends in 1 ms ticks (RATE/1000 records each) and sleeps between them: a busy-wait
    # pacing loop would take a whole core from the brokers on a small machine.
    tick_s = 0.001
    per_tick = max(1, rate // 1000)
    ticks = expected // per_tick
    start = time.perf_counter()
    for tick in range(ticks):
        target = start + tick * tick_s
        delay = target - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        for _ in range(per_tick):
            sent = time.time_ns()
            producer.produce(
                topic,
                b"%019d " % sent + padding,
                callback=lambda e, m, s=sent: delivered(e, m, s),
            )
        producer.poll(0)
    expected = ticks * per_tick
    producer.flush(60)
    elapsed = time.perf_counter() - start
    latencies = out.get(timeout=180)
    reader.join(10)
    summary = {
        "rate_target_per_s": rate,
        "rate_sent_per_s": round(expected / elapsed),
        "records": expected,
        "acknowledged": len(acks_ms),
        "consumed": len(latencies),
        "ack_ms": {
            "p50": percentile(acks_ms, 0.5),
            "p99": percentile(acks_ms, 0.99),
            "p999": percentile(acks_ms, 0.999),
        },
        "end_to_end_ms": {
            "p50": percentile(latencies, 0.5),
            "p99": percentile(latencies, 0.99),
            "p999": percentile(latencies, 0.999),
        },
    }
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
