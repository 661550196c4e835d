#!/usr/bin/env python3
"""Failover time of a 3-node cluster: the time from `kill -9` of the leader to the first write
acknowledged (acks=all) by the new leader, measured by a confluent-kafka producer that keeps
writing at a steady rate, over KILLS kills (the killed node is restarted and rejoins the ISR
before the next one).

    .venv/bin/python scripts/bench_failover.py [YAK_BINARY] [KILLS] [LEASE_MS]

Starts its own redis-server and brokers on free ports in a temporary directory and prints one
JSON summary (every failover in ms, and the acknowledged/failed counts).
"""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from confluent_kafka import Producer

RATE_PER_S = 1000
NODES = 3
WAIT_S_MAX = 60


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url, timeout=1.0):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def wait_for(what, condition, timeout_s=WAIT_S_MAX):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception:
            pass
        time.sleep(0.02)
    raise SystemExit(f"timed out waiting for {what}")


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/yak"
    kills = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    lease_ms = sys.argv[3] if len(sys.argv) > 3 else "3000"
    work = tempfile.mkdtemp(prefix="yak-failover-")
    redis_port = free_port()
    redis = subprocess.Popen(
        ["redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no",
         "--dir", work],
        stdout=subprocess.DEVNULL,
    )
    nodes = {}
    for node in range(1, NODES + 1):
        nodes[node] = {"http": free_port(), "kafka": free_port(), "process": None}

    def start(node):
        ports = nodes[node]
        log = open(os.path.join(work, f"node{node}.log"), "ab")
        nodes[node]["process"] = subprocess.Popen(
            [binary, "broker", "--node-id", str(node),
             "--coordinator", f"redis://127.0.0.1:{redis_port}/0", "--cluster", "failover",
             "--data-dir", os.path.join(work, f"data{node}"),
             "--http", f"127.0.0.1:{ports['http']}", "--kafka", f"127.0.0.1:{ports['kafka']}",
             "--min-insync-replicas", "2", "--lease-ms", lease_ms],
            stdout=log, stderr=log,
        )

    def leader():
        for node, ports in nodes.items():
            if nodes[node]["process"] is None or nodes[node]["process"].poll() is not None:
                continue
            try:
                health = get_json(f"http://127.0.0.1:{ports['http']}/health", 0.3)
                if health["role"] == "leader":
                    return node
            except Exception:
                continue
        return None

    for node in nodes:
        start(node)
    try:
        wait_for("a leader", leader)
        bootstrap = ",".join(f"127.0.0.1:{p['kafka']}" for p in nodes.values())
        producer = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                             "enable.idempotence": True, "linger.ms": 1,
                             "message.timeout.ms": 60000})
        lock = threading.Lock()
        acks = []  # (sent, acknowledged) times of successful writes
        failed = [0]

        def delivered(error, message, sent):
            with lock:
                if error is None:
                    acks.append((sent, time.time()))
                else:
                    failed[0] += 1

        stop = threading.Event()

        def produce():
            i = 0
            while not stop.is_set():
                sent = time.time()
                producer.produce("failover", b"%d" % i,
                                 callback=lambda e, m, s=sent: delivered(e, m, s))
                producer.poll(0)
                i += 1
                time.sleep(1.0 / RATE_PER_S)
            producer.flush(60)

        writer = threading.Thread(target=produce)
        writer.start()
        wait_for("first acknowledgements", lambda: len(acks) > 100)
        failovers_ms = []
        for _ in range(kills):
            old = leader()
            # Let the ISR be whole before the next kill.
            wait_for("a whole ISR", lambda: all(
                len(p["isr"]) == NODES
                for p in get_json(f"http://127.0.0.1:{nodes[old]['http']}/cluster")["partitions"]))
            time.sleep(1.0)
            killed_at = time.time()
            nodes[old]["process"].send_signal(signal.SIGKILL)
            nodes[old]["process"].wait()

            def first_ack_after_kill():
                with lock:
                    later = [acked for sent, acked in acks if sent > killed_at]
                return min(later) if later else None

            first = wait_for("a write acknowledged after the kill", first_ack_after_kill)
            failovers_ms.append(round((first - killed_at) * 1000))
            start(old)
            wait_for("the killed node to rejoin", lambda: get_json(
                f"http://127.0.0.1:{nodes[old]['http']}/health")["role"] == "follower")
        stop.set()
        writer.join()
        failovers_ms_sorted = sorted(failovers_ms)
        print(json.dumps({
            "lease_ms": int(lease_ms),
            "failovers_ms": failovers_ms,
            "median_ms": failovers_ms_sorted[len(failovers_ms_sorted) // 2],
            "max_ms": failovers_ms_sorted[-1],
            "acknowledged": len(acks),
            "failed": failed[0],
        }, indent=1))
    finally:
        for node in nodes.values():
            if node["process"] is not None and node["process"].poll() is None:
                node["process"].kill()
                node["process"].wait()
        redis.kill()
        redis.wait()


if __name__ == "__main__":
    main()
