#!/usr/bin/env python3
"""Kafka produce and consume over SASL_SSL against PLAINTEXT, on one node, in one run.

One release broker with two Kafka listeners (PLAINTEXT and SASL_SSL with SCRAM-SHA-512, a node
certificate from a throwaway CA made with openssl), and `yak bench --protocol kafka` as the
client over both: the same code, the same batches (100-byte records, 1,000-record batches), the
only difference being the listener's TLS and SASL login. Runs alternate between the listeners
(the first listener of each run alternates too), so drift on a shared machine falls on both.

    scripts/bench_tls.py                     3 runs of 5,000,000 records per listener
    RUNS=1 COUNT=1000000 scripts/bench_tls.py
    YAK=target/release/yak scripts/bench_tls.py   skip the build

Prints one JSON line per measurement (with the 1-minute load average before it), then a table
of medians and the cost of TLS in % of PLAINTEXT's throughput. Standard library only.
"""

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = int(os.environ.get("RUNS", "3"))
COUNT = int(os.environ.get("COUNT", "5000000"))
RECORD_BYTES = 100
BATCH_RECORDS = 1000
PRODUCE_CONNECTIONS = 2
CONSUME_CONNECTIONS = 3
USER = "bench"
PASSWORD = "bench-password-not-secret"
START_TIMEOUT_S = 30
PROTOCOLS = ["PLAINTEXT", "SASL_SSL"]


def log(text):
    print(text, file=sys.stderr, flush=True)


def openssl(directory, *args):
    subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)


def make_certificates(directory):
    """A CA and a node certificate for localhost and 127.0.0.1 (ECDSA P-256)."""
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl(directory, "req", "-x509", "-days", "2", "-subj", "/CN=yak-bench-ca", *key,
            "-keyout", "ca.key", "-out", "ca.pem")
    openssl(directory, "req", "-subj", "/CN=localhost", *key,
            "-keyout", "node.key", "-out", "node.csr")
    (directory / "node.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl(directory, "x509", "-req", "-days", "2", "-in", "node.csr", "-CA", "ca.pem",
            "-CAkey", "ca.key", "-CAcreateserial", "-extfile", "node.ext", "-out", "node.pem")


def load_average():
    return float(Path("/proc/loadavg").read_text().split()[0])


def main():
    yak = os.environ.get("YAK")
    if not yak:
        subprocess.run(["cargo", "build", "--release", "-p", "yak"], cwd=ROOT, check=True)
        target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
        yak = str(target / "release" / "yak")
    with tempfile.TemporaryDirectory(prefix="yak-bench-tls-") as scratch:
        scratch = Path(scratch)
        make_certificates(scratch)
        (scratch / "password").write_text(PASSWORD + "\n")
        broker_log = open(scratch / "broker.log", "w")
        broker = subprocess.Popen(
            [yak, "broker", "--data-dir", str(scratch / "data"), "--http", "127.0.0.1:0",
             "--kafka", "127.0.0.1:0", "--flush", "always",
             "--listeners", "PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0",
             "--tls-cert-file", str(scratch / "node.pem"),
             "--tls-key-file", str(scratch / "node.key"),
             "--sasl-mechanisms", "SCRAM-SHA-512",
             "--bootstrap-user", USER,
             "--bootstrap-password-file", str(scratch / "password")],
            stdout=subprocess.PIPE, stderr=broker_log, text=True)
        try:
            http, listeners = wait_for_listeners(broker)
            log(f"broker pid {broker.pid} http {http} listeners {listeners}")
            results = run_all(yak, broker.pid, http, listeners, scratch)
        finally:
            broker.terminate()
            broker.wait(timeout=60)
            broker_log.close()
    summarize(results)


def wait_for_listeners(broker):
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        line = broker.stdout.readline()
        if not line:
            break
        if line.startswith("listening "):
            parts = dict(part.split("=", 1) for part in line.split()[1:])
            listeners = dict(item.split("://", 1) for item in parts["listeners"].split(","))
            return parts["http"], listeners
    raise SystemExit("the broker printed no listening line")


def client_flags(protocol, address, scratch):
    flags = ["--protocol", "kafka", "--kafka", address, "--security-protocol", protocol]
    if protocol == "SASL_SSL":
        flags += ["--sasl-mechanism", "SCRAM-SHA-512", "--user", USER,
                  "--password-file", str(scratch / "password"),
                  "--ca-file", str(scratch / "ca.pem")]
    return flags


def bench(yak, pid, *args):
    command = [yak, "bench", *args, "--broker-pid", str(pid), "--quiet"]
    load = load_average()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    summary = json.loads(output)
    summary["load_1m_before"] = load
    # The client's own CPU: on a 2-vCPU machine client and broker share the cores, so the
    # sum of the two per million records is what bounds the rate.
    client_cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    summary["client_cpu_s_per_million_records"] = round(
        client_cpu_s / max(summary["records"], 1) * 1e6, 3)
    return summary


def delete_topic(http, topic):
    """Frees the disk a measured topic took, so long runs fit on a small disk."""
    request = urllib.request.Request(f"{http}/topics/{topic}", method="DELETE")
    with urllib.request.urlopen(request, timeout=60):
        pass


def run_all(yak, pid, http, listeners, scratch):
    results = []
    for run in range(1, RUNS + 1):
        order = PROTOCOLS if run % 2 else list(reversed(PROTOCOLS))
        for kind in ["produce", "consume"]:
            for protocol in order:
                topic = f"bench-{protocol.lower()}-{run}"
                flags = client_flags(protocol, listeners[protocol], scratch)
                if kind == "produce":
                    extra = ["--count", str(COUNT), "--record-bytes", str(RECORD_BYTES),
                             "--batch-records", str(BATCH_RECORDS), "--acks", "1",
                             "--concurrency", str(PRODUCE_CONNECTIONS)]
                else:
                    extra = ["--concurrency", str(CONSUME_CONNECTIONS)]
                summary = bench(yak, pid, kind, *flags, "--topic", topic, *extra)
                summary.update(run=run, protocol=protocol)
                if summary["errors"] or summary["records"] != COUNT:
                    raise SystemExit(f"run {run} {protocol} {kind} went wrong: {summary}")
                print(json.dumps(summary), flush=True)
                results.append(summary)
                if kind == "consume":
                    delete_topic(http, topic)
    return results


def summarize(results):
    print("\n| path | listener | records/s (median) | MB/s | broker CPU s per million records "
          "| client CPU s per million records | runs (records/s) | load before |")
    print("|---|---|---|---|---|---|---|---|")
    medians = {}
    for kind in ["kafka-produce", "kafka-consume"]:
        for protocol in PROTOCOLS:
            runs = [r for r in results if r["bench"] == kind and r["protocol"] == protocol]
            rate = statistics.median(r["records_per_s"] for r in runs)
            mb = statistics.median(r["mb_per_s"] for r in runs)
            cpu = statistics.median(r["broker_cpu_s_per_million_records"] for r in runs)
            client = statistics.median(r["client_cpu_s_per_million_records"] for r in runs)
            medians[(kind, protocol)] = (rate, cpu)
            each = ", ".join(f"{r['records_per_s']:,.0f}" for r in runs)
            loads = ", ".join(f"{r['load_1m_before']:.1f}" for r in runs)
            print(f"| {kind} | {protocol} | {rate:,.0f} | {mb:,.0f} | {cpu:.3f} | {client:.3f} "
                  f"| {each} | {loads} |")
    print()
    for kind in ["kafka-produce", "kafka-consume"]:
        plain, _ = medians[(kind, "PLAINTEXT")]
        tls, _ = medians[(kind, "SASL_SSL")]
        print(f"{kind}: SASL_SSL reaches {tls / plain:.0%} of PLAINTEXT's records/s "
              f"(TLS costs {1 - tls / plain:.0%}; target: at most 25%)")


if __name__ == "__main__":
    main()
