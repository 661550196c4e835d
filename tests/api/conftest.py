"""Fixtures for the HTTP API suite: one real `yak broker` per session, on port 0 in a temporary
data directory, and its OpenAPI document."""
import json
import os
import pathlib
import queue
import re
import subprocess
import threading
import time
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BROKER_START_SECONDS_MAX = 60
BROKER_STOP_SECONDS_MAX = 10
HTTP_TIMEOUT_SECONDS = 30
LISTENING = re.compile(r"listening http=(\S+) kafka=(\S+)")


def yak_bin():
    path = pathlib.Path(os.environ.get("YAK_BIN", "target/debug/yak"))
    return path if path.is_absolute() else ROOT / path


class Broker:
    """A running broker: its HTTP base URL and a tiny JSON client."""

    def __init__(self, data_dir):
        binary = yak_bin()
        if not binary.exists():
            pytest.fail(f"no broker binary at {binary}: build it with `cargo build -p yak` or set YAK_BIN")
        self.log_path = data_dir.parent / "api-suite-broker.log"
        self._log = open(self.log_path, "a")
        self.process = subprocess.Popen(
            [str(binary), "broker", "--data-dir", str(data_dir), "--http", "127.0.0.1:0",
             "--kafka", "127.0.0.1:0", "--flush", "never"],
            stdout=subprocess.PIPE, stderr=self._log, text=True, cwd=data_dir)
        lines = queue.Queue()
        threading.Thread(target=self._read_stdout, args=(lines,), daemon=True).start()
        deadline = time.monotonic() + BROKER_START_SECONDS_MAX
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.stop()
                pytest.fail(f"the broker printed no `listening` line within {BROKER_START_SECONDS_MAX} s")
            try:
                line = lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                pytest.fail(f"the broker exited with {self.process.wait()} before listening; log: {self.log_path}")
            match = LISTENING.search(line)
            if match:
                self.http = match.group(1).rstrip("/")
                return

    def _read_stdout(self, lines):
        for line in self.process.stdout:
            lines.put(line)
        lines.put(None)

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.http + path, data=data, method=method,
                                         headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null")

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=BROKER_STOP_SECONDS_MAX)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("api-broker") / "data"
    data_dir.mkdir()
    running = Broker(data_dir)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def document(broker):
    status, body = broker.call("GET", "/openapi.json")
    assert status == 200, body
    return body
