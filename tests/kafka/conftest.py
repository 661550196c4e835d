"""Fixtures for the Kafka wire-protocol suites: one real `yak broker` per test session, on port 0
in a temporary data directory, with its HTTP and Kafka addresses; plus small helpers (HTTP calls,
unique topic names, polling with a deadline) shared by the client suites in this folder."""
import itertools
import json
import os
import pathlib
import queue
import re
import struct
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import namedtuple

import pytest

from kafka_support import wait_until

ROOT = pathlib.Path(__file__).resolve().parents[2]
KAFKA_BROKER_START_SECONDS_MAX = 60
KAFKA_BROKER_STOP_SECONDS_MAX = 10
HTTP_TIMEOUT_SECONDS = 30
RECORD_BATCH_HEADER_BYTES = 61
CODECS = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}
StoredBatch = namedtuple("StoredBatch", "base_offset record_count codec producer_id base_sequence")
LISTENING = re.compile(r"listening http=(\S+) kafka=(\S+)")


def yak_bin():
    path = pathlib.Path(os.environ.get("YAK_BIN", "target/debug/yak"))
    return path if path.is_absolute() else ROOT / path


class KafkaBroker:
    """A running broker as the suites see it: `bootstrap` (host:port of the Kafka listener) and a
    tiny JSON client for its HTTP API."""

    def __init__(self, http, kafka, log_path, data_dir):
        self.http = http.rstrip("/")
        self.bootstrap = kafka
        self.log_path = log_path
        self.data_dir = data_dir
        self._names = itertools.count()

    def call(self, method, path, body=None, query=None):
        url = self.http + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method, headers={
            "content-type": "application/json", "accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null")

    def topic(self, prefix, partitions=None):
        """A fresh topic name for one test; created over HTTP with `partitions` when given."""
        name = f"{prefix}-{next(self._names)}-{uuid.uuid4().hex[:8]}"
        if partitions is not None:
            status, body = self.call("POST", "/topics", {"name": name, "partitions": partitions})
            assert status == 201, f"POST /topics {name} answered {status}: {body}"
        return name

    def produce(self, record):
        """`POST /produce` of one record (a dict with topic, key, payload, headers, ...)."""
        status, body = self.call("POST", "/produce", record)
        assert status == 200, f"POST /produce answered {status}: {body}"
        return body

    def consume_all(self, topic, partition, count, offset=0, timeout_s=15.0):
        """Every record of one partition from `offset` over `GET /consume`, polling until `count`
        have arrived (and failing if more than `count` exist)."""
        messages = []
        next_offset = offset

        def more():
            nonlocal next_offset
            status, body = self.call("GET", "/consume", query={
                "topic": topic, "partition": partition, "offset": next_offset, "max": 10000, "wait_ms": 200})
            assert status == 200, f"GET /consume answered {status}: {body}"
            messages.extend(body["messages"])
            next_offset = body["next_offset"]
            return len(messages) >= count

        wait_until(more, timeout_s, interval_s=0, what=f"{count} records over HTTP from {topic}/{partition}")
        assert len(messages) == count, f"expected {count} records, got {len(messages)}"
        return messages

    def stored_batches(self, topic, partition):
        """The record-batch headers in one partition's segment files, as stored on disk (see
        docs/log-format.md): proof of what the client actually sent, e.g. its compression."""
        batches = []
        for segment in sorted((self.data_dir / f"{topic}-{partition}").glob("*.log")):
            data = segment.read_bytes()
            position = 0
            while position + RECORD_BATCH_HEADER_BYTES <= len(data):
                base_offset, length = struct.unpack_from(">qi", data, position)
                attributes, last_offset_delta = struct.unpack_from(">hi", data, position + 21)
                producer_id, producer_epoch, base_sequence, count = struct.unpack_from(">qhii", data, position + 43)
                batches.append(StoredBatch(base_offset, last_offset_delta + 1, CODECS[attributes & 7],
                                           producer_id, base_sequence))
                position += 12 + length
        return batches

    def metadata_topics(self):
        status, body = self.call("GET", "/topics")
        assert status == 200, body
        return body


class BrokerProcess:
    def __init__(self, data_dir):
        binary = yak_bin()
        if not binary.exists():
            pytest.fail(f"no broker binary at {binary}: build it with `cargo build -p yak` or set YAK_BIN")
        self.log_path = data_dir.parent / "kafka-suite-broker.log"
        self.log_file = open(self.log_path, "a")
        self.process = subprocess.Popen(
            [str(binary), "broker", "--data-dir", str(data_dir), "--http", "127.0.0.1:0",
             "--kafka", "127.0.0.1:0"],
            stdout=subprocess.PIPE, stderr=self.log_file, text=True, cwd=data_dir)
        lines = queue.Queue()
        threading.Thread(target=self._read_stdout, args=(lines,), daemon=True).start()
        deadline = time.monotonic() + KAFKA_BROKER_START_SECONDS_MAX
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                pytest.fail(f"the broker printed no `listening http=… kafka=…` line within "
                            f"{KAFKA_BROKER_START_SECONDS_MAX} s; log: {self.log_path}")
            try:
                line = lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                pytest.fail(f"the broker exited with {self.process.wait()} before listening; log: {self.log_path}")
            match = LISTENING.search(line)
            if match:
                self.http, self.kafka = match.group(1), match.group(2)
                return

    def _read_stdout(self, lines):
        for line in self.process.stdout:
            lines.put(line)
        lines.put(None)

    def kill(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=KAFKA_BROKER_STOP_SECONDS_MAX)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log_file.close()


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory):
    """One real broker for the whole Kafka suite; each test works on its own topics."""
    data_dir = tmp_path_factory.mktemp("kafka-broker") / "data"
    data_dir.mkdir()
    process = BrokerProcess(data_dir)
    try:
        yield KafkaBroker(process.http, process.kafka, process.log_path, data_dir)
    finally:
        process.kill()
