#!/usr/bin/env python3
"""Consumer-group benchmark (confluent-kafka against a running broker).

    .venv/bin/python scripts/bench_groups.py BOOTSTRAP BROKER_PID [RECORDS] [TOPIC]

The topic must exist with 12 partitions and hold RECORDS 100-byte records (produce them first,
e.g. `yak bench produce --protocol kafka --topic T --partitions 12 --count 10000000`). Prints one
JSON summary:

- `group_read`: 4 consumers in one group read the whole topic: records/s.
- `failover`: with a producer writing 1,000 records/s to a second 12-partition topic, one of 4
  members is killed (SIGKILL); the time until a record of one of its partitions, written after
  the kill, is consumed by another member.
- `commits`: one member commits synchronously in a loop: latency p50/p99 and the broker's CPU
  per million commits (from /proc/BROKER_PID/stat).
"""

import json
import multiprocessing
import os
import signal
import sys
import time
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition

MEMBERS = 4
COMMITS = 3000


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def reader(bootstrap, group, topic, counts, index, stop):
    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
        "enable.auto.commit": True, "fetch.max.bytes": 52428800,
        "max.partition.fetch.bytes": 4194304, "queued.min.messages": 200000,
    })
    consumer.subscribe([topic])
    seen = 0
    while not stop.is_set():
        batch = consumer.consume(10000, 0.2)
        seen += sum(1 for m in batch if not m.error())
        counts[index] = seen
    consumer.close()


def group_read(bootstrap, topic, records):
    group = f"bench-read-{uuid.uuid4().hex[:6]}"
    counts = multiprocessing.Array("q", MEMBERS)
    stop = multiprocessing.Event()
    workers = [multiprocessing.Process(target=reader, args=(bootstrap, group, topic, counts, i, stop))
               for i in range(MEMBERS)]
    start = time.time()
    for w in workers:
        w.start()
    deadline = start + 600
    while sum(counts) < records and time.time() < deadline:
        time.sleep(0.05)
    elapsed = time.time() - start
    total = sum(counts)
    stop.set()
    for w in workers:
        w.join(30)
    return {"records": total, "seconds": round(elapsed, 2), "records_per_s": round(total / elapsed)}


def member(bootstrap, group, topic, index, events, stop):
    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "latest",
        "session.timeout.ms": 6000, "heartbeat.interval.ms": 1000,
        "fetch.wait.max.ms": 50,
    })

    def assigned(c, partitions):
        events.put(("assigned", index, [p.partition for p in partitions], time.time()))

    consumer.subscribe([topic], on_assign=assigned)
    while not stop.is_set():
        message = consumer.poll(0.1)
        if message is not None and not message.error():
            sent = float(message.value().decode())
            events.put(("read", index, message.partition(), sent, time.time()))
    consumer.close()


def failover(bootstrap):
    topic = f"bench-failover-{uuid.uuid4().hex[:6]}"
    group = f"bench-failover-{uuid.uuid4().hex[:6]}"
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 12, 1)])[topic].result(30)
    events = multiprocessing.Queue()
    stops = [multiprocessing.Event() for _ in range(MEMBERS)]
    procs = [multiprocessing.Process(target=member, args=(bootstrap, group, topic, i, events, stops[i]))
             for i in range(MEMBERS)]
    for p in procs:
        p.start()
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 1})
    assignment = {}
    deadline = time.time() + 60
    # Write 1,000 records/s, round-robin over the partitions, until all 4 members hold some.
    i = 0

    def write_for(seconds):
        nonlocal i
        until = time.time() + seconds
        while time.time() < until:
            producer.produce(topic, str(time.time()).encode(), partition=i % 12)
            i += 1
            producer.poll(0)
            time.sleep(0.001)

    while time.time() < deadline:
        write_for(0.2)
        while not events.empty():
            event = events.get()
            if event[0] == "assigned":
                assignment[event[1]] = event[2]
        if len(assignment) == MEMBERS and sum(len(v) for v in assignment.values()) == 12:
            break
    write_for(2.0)
    while not events.empty():
        event = events.get()
        if event[0] == "assigned":
            assignment[event[1]] = event[2]
    victim = 0
    victim_partitions = set(assignment.get(victim, []))
    killed_at = time.time()
    os.kill(procs[victim].pid, signal.SIGKILL)
    moved_at = None
    deadline = time.time() + 60
    while moved_at is None and time.time() < deadline:
        write_for(0.05)
        while not events.empty():
            event = events.get()
            if event[0] == "read" and event[1] != victim and event[2] in victim_partitions \
                    and event[3] > killed_at:
                moved_at = event[4]
                break
    for s in stops:
        s.set()
    for p in procs[1:]:
        p.join(30)
    producer.flush(10)
    return {"victim_partitions": sorted(victim_partitions),
            "kill_to_consumed_again_ms": round((moved_at - killed_at) * 1000) if moved_at else None}


def commits(bootstrap, topic, broker_pid):
    group = f"bench-commit-{uuid.uuid4().hex[:6]}"
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    while not consumer.assignment():
        consumer.poll(0.2)
    partitions = consumer.assignment()
    latencies = []
    cpu_before = cpu_s(broker_pid)
    for n in range(COMMITS):
        offsets = [TopicPartition(tp.topic, tp.partition, n + 1) for tp in partitions]
        started = time.perf_counter()
        consumer.commit(offsets=offsets, asynchronous=False)
        latencies.append((time.perf_counter() - started) * 1000)
    cpu_after = cpu_s(broker_pid)
    consumer.close()
    latencies.sort()
    offsets_committed = COMMITS * len(partitions)
    return {
        "commits": COMMITS, "partitions_per_commit": len(partitions),
        "p50_ms": round(latencies[len(latencies) // 2], 3),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)], 3),
        "broker_cpu_s_per_million_commits": round((cpu_after - cpu_before) / COMMITS * 1e6, 1),
    }


def main():
    bootstrap = sys.argv[1]
    broker_pid = int(sys.argv[2])
    records = int(sys.argv[3]) if len(sys.argv) > 3 else 10_000_000
    topic = sys.argv[4] if len(sys.argv) > 4 else "bench-groups"
    summary = {"group_read": group_read(bootstrap, topic, records)}
    summary["failover"] = failover(bootstrap)
    summary["commits"] = commits(bootstrap, topic, broker_pid)
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
