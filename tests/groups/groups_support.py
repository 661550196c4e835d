"""Helpers and fixtures for the consumer-group suite (conftest.py re-exports the fixtures; a module
named apart from the other suites' conftest so that `import` never picks up another folder's): a real `yak broker` on port 0 in a temporary data
directory (one shared by most tests, or a private one a test may restart and kill -9), the Java
program's class path, and `Member`: one group consumer process of any of the four clients, whose
JSON-line events (see group_worker.py) the tests follow. The broker start/stop code is a copy of
tests/kafka/conftest.py's (each suite runs in its own pytest process)."""
import itertools
import json
import os
import pathlib
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
HERE = pathlib.Path(__file__).resolve().parent
JAVA_DIR = HERE / "java"
JAVA_CLASSPATH_FILE = JAVA_DIR / "target" / "classpath.txt"
JAVA_BUILD_SECONDS_MAX = 600
BROKER_START_SECONDS_MAX = 60
BROKER_STOP_SECONDS_MAX = 10
MEMBER_STOP_SECONDS_MAX = 30
HTTP_TIMEOUT_SECONDS = 30
LISTENING = re.compile(r"listening http=(\S+) kafka=(\S+)")
# Short timeouts keep the kill test quick: a killed member is evicted after SESSION_TIMEOUT_MS.
SESSION_TIMEOUT_MS = 6000
HEARTBEAT_MS = 1000
PYTHON_CLIENTS = ["confluent", "kafka-python", "aiokafka"]
ALL_CLIENTS = ["java"] + PYTHON_CLIENTS


def wait_until(condition, timeout_s=15.0, interval_s=0.05, what="condition"):
    """Polls `condition` until it returns something truthy (which is returned), or fails the test
    at the deadline. This stands in for every would-be sleep."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)


def yak_bin():
    path = pathlib.Path(os.environ.get("YAK_BIN", "target/debug/yak"))
    return path if path.is_absolute() else ROOT / path


class Broker:
    """A running broker process: `bootstrap` (host:port of its Kafka listener), `http`, a tiny
    JSON client for its HTTP API; `restart()` (clean) and `kill9()` + `start()` for the durability
    tests. The data directory outlives restarts."""

    def __init__(self, data_dir, extra_args=()):
        self.data_dir = data_dir
        self.extra_args = list(extra_args)
        self.log_path = data_dir.parent / "groups-suite-broker.log"
        self.process = None
        self._names = itertools.count()
        self.start()

    def start(self):
        binary = yak_bin()
        if not binary.exists():
            pytest.fail(f"no broker binary at {binary}: build it with `cargo build -p yak` or set YAK_BIN")
        log_file = open(self.log_path, "a")
        self.process = subprocess.Popen(
            [str(binary), "broker", "--data-dir", str(self.data_dir), "--http", "127.0.0.1:0",
             "--kafka", "127.0.0.1:0", *self.extra_args],
            stdout=subprocess.PIPE, stderr=log_file, text=True, cwd=self.data_dir)
        log_file.close()
        lines = queue.Queue()
        threading.Thread(target=self._read_stdout, args=(self.process, lines), daemon=True).start()
        deadline = time.monotonic() + BROKER_START_SECONDS_MAX
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill9()
                pytest.fail(f"the broker printed no `listening http=… kafka=…` line within "
                            f"{BROKER_START_SECONDS_MAX} s; log: {self.log_path}")
            try:
                line = lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                pytest.fail(f"the broker exited with {self.process.wait()} before listening; log: {self.log_path}")
            match = LISTENING.search(line)
            if match:
                self.http, self.bootstrap = match.group(1).rstrip("/"), match.group(2)
                return

    @staticmethod
    def _read_stdout(process, lines):
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    @property
    def pid(self):
        return self.process.pid

    def alive(self):
        return self.process is not None and self.process.poll() is None

    def stop(self):
        """SIGTERM, then SIGKILL if it has not exited after BROKER_STOP_SECONDS_MAX."""
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout=BROKER_STOP_SECONDS_MAX)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill9(self):
        if self.alive():
            self.process.kill()
            self.process.wait()

    def restart(self):
        self.stop()
        self.start()

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

    def topic(self, prefix, partitions=6):
        """A fresh topic of `partitions` partitions, created over HTTP."""
        name = f"{prefix}-{next(self._names)}-{uuid.uuid4().hex[:8]}"
        status, body = self.call("POST", "/topics", {"name": name, "partitions": partitions})
        assert status == 201, f"POST /topics {name} answered {status}: {body}"
        return name

    def group(self, prefix):
        return f"{prefix}-{next(self._names)}-{uuid.uuid4().hex[:8]}"

    def produce(self, topic, values, partitions=6):
        """Writes `values` (unique strings) round-robin over the partitions with confluent-kafka,
        acks=all, and waits for every delivery."""
        from confluent_kafka import Producer
        producer = Producer({"bootstrap.servers": self.bootstrap, "acks": "all", "linger.ms": 5})
        failures = []

        def delivered(err, _msg):
            if err is not None:
                failures.append(err)

        for i, value in enumerate(values):
            producer.produce(topic, value=value.encode(), partition=i % partitions, on_delivery=delivered)
        left = producer.flush(30)
        assert left == 0 and not failures, f"{left} records undelivered, errors {failures}"


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    """One real broker for the tests that do not restart it; each test works on its own topics
    and groups."""
    data_dir = tmp_path_factory.mktemp("groups-broker") / "data"
    data_dir.mkdir()
    process = Broker(data_dir)
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def own_broker(tmp_path):
    """A broker of the test's own, which the test may restart or kill -9."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    process = Broker(data_dir)
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="session")
def java_classpath():
    """The class path of tests/groups/java (its classes, kafka-clients and kafka-tools), built with
    Maven unless scripts/test.sh already built it from the current sources."""
    sources = [JAVA_DIR / "pom.xml", *(JAVA_DIR / "src").rglob("*.java")]
    built_at = JAVA_CLASSPATH_FILE.stat().st_mtime if JAVA_CLASSPATH_FILE.exists() else 0
    if any(source.stat().st_mtime > built_at for source in sources):
        # The dependency plugin leaves an unchanged class path file untouched: remove it so its
        # time says when it was built.
        JAVA_CLASSPATH_FILE.unlink(missing_ok=True)
        result = subprocess.run(
            ["mvn", "-q", "-B", "package", "dependency:build-classpath",
             f"-Dmdep.outputFile={JAVA_CLASSPATH_FILE}"],
            cwd=JAVA_DIR, capture_output=True, text=True, timeout=JAVA_BUILD_SECONDS_MAX)
        assert result.returncode == 0, f"mvn failed:\n{result.stdout}\n{result.stderr}"
    return f"{JAVA_DIR / 'target' / 'classes'}{os.pathsep}{JAVA_CLASSPATH_FILE.read_text().strip()}"


class Member:
    """One group consumer process (`client` one of ALL_CLIENTS) and the events it printed."""

    def __init__(self, name, client, broker, group, topic, log_dir, java_classpath=None,
                 assignor="range", instance_id=None, max_records=0,
                 session_timeout_ms=SESSION_TIMEOUT_MS, heartbeat_ms=HEARTBEAT_MS):
        self.name = name
        self.client = client
        common = ["--bootstrap", broker.bootstrap, "--group", group, "--topic", topic,
                  "--assignor", assignor, "--max-records", str(max_records),
                  "--session-timeout-ms", str(session_timeout_ms), "--heartbeat-ms", str(heartbeat_ms)]
        if client == "java":
            assert java_classpath, "the Java member needs the java_classpath fixture"
            argv = ["java", "-cp", java_classpath, "yak.groups.GroupConsumer", *common,
                    "--client-id", f"yak-groups-{name}"]
            if instance_id:
                argv += ["--instance-id", instance_id]
        else:
            assert instance_id is None, "static membership is tested with the Java client"
            argv = [sys.executable, str(HERE / "group_worker.py"), "--client", client, *common]
        self.log_path = log_dir / f"member-{name}.log"
        self._log = open(self.log_path, "w")
        self.events = []
        self._cond = threading.Condition()
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self._log, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.process.stdout:
            line = line.strip()
            if not line.startswith("{"):
                continue
            event = json.loads(line)
            with self._cond:
                self.events.append(event)
                self._cond.notify_all()
        with self._cond:
            self.events.append({"event": "exited"})
            self._cond.notify_all()

    def snapshot(self):
        with self._cond:
            return list(self.events)

    def assignment(self):
        """The partitions this member owns now, replayed from its assigned/revoked/lost events
        (eager clients revoke everything, then assign the new set; cooperative ones send
        increments: the same replay serves both)."""
        owned = set()
        for event in self.snapshot():
            if event["event"] == "assigned":
                owned |= set(event["partitions"])
            elif event["event"] in ("revoked", "lost"):
                owned -= set(event["partitions"])
            elif event["event"] == "exited":
                owned = set()
        return owned

    def records(self):
        return [e for e in self.snapshot() if e["event"] == "record"]

    def values(self):
        return [e["value"] for e in self.records()]

    def committed(self):
        """{partition: next offset} as committed so far by this member."""
        offsets = {}
        for event in self.snapshot():
            if event["event"] == "committed":
                offsets.update({int(p): o for p, o in event["offsets"].items()})
        return offsets

    def settled(self):
        """True when every record it printed has been committed (its last record event is
        followed by a committed event)."""
        events = [e["event"] for e in self.snapshot() if e["event"] in ("record", "committed")]
        return not events or events[-1] == "committed"

    def errors(self):
        return [e for e in self.snapshot() if e["event"] == "error"]

    def exited(self):
        return self.process.poll() is not None

    def stop(self):
        """SIGTERM: a clean close (commit done per poll, then leave the group)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=MEMBER_STOP_SECONDS_MAX)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                pytest.fail(f"member {self.name} did not close within {MEMBER_STOP_SECONDS_MAX} s; log {self.log_path}")
        self._reader.join(MEMBER_STOP_SECONDS_MAX)

    def kill9(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._reader.join(MEMBER_STOP_SECONDS_MAX)

    def close_log(self):
        self._log.close()

    def __repr__(self):
        return f"<{self.client} member {self.name}: owns {sorted(self.assignment())}, {len(self.records())} records>"


@pytest.fixture
def members(tmp_path, java_classpath_if_needed):
    """A factory of Member processes; every one still running at the end of the test is killed."""
    started = []

    def start(name, client, broker, group, topic, **kwargs):
        member = Member(name, client, broker, group, topic, tmp_path,
                        java_classpath=java_classpath_if_needed(client), **kwargs)
        started.append(member)
        return member

    yield start
    for member in started:
        member.kill9()
        member.close_log()


@pytest.fixture
def java_classpath_if_needed(request):
    """Builds the Java class path lazily: only tests that start a Java member pay for it."""
    def get(client):
        return request.getfixturevalue("java_classpath") if client == "java" else None
    return get


def assert_running(group_members):
    """Fails at once, with the end of its log, when a member that should be running has exited."""
    for m in group_members:
        if m.exited():
            tail = m.log_path.read_text(errors="replace").splitlines()[-20:]
            pytest.fail(f"member {m.name} ({m.client}) exited with {m.process.returncode}; "
                        f"events {m.snapshot()[-5:]}; log {m.log_path}:\n" + "\n".join(tail))


def wait_for_split(group_members, partitions=6, timeout_s=60):
    """Waits until the members' current assignments are non-empty, disjoint and cover all
    `partitions` partitions, and returns them."""
    def split():
        assert_running(group_members)
        owned = [m.assignment() for m in group_members]
        union = set().union(*owned)
        disjoint = sum(len(o) for o in owned) == len(union)
        if all(owned) and disjoint and union == set(range(partitions)):
            return owned
        return None
    return wait_until(split, timeout_s, interval_s=0.1,
                      what=f"a split of {partitions} partitions over {group_members}")


def wait_for_values(group_members, expected, timeout_s=60):
    """Waits until the members together have read every value in `expected` and committed all
    they read."""
    expected = set(expected)

    def done():
        assert_running(group_members)
        seen = set()
        for m in group_members:
            seen.update(m.values())
        return expected <= seen and all(m.settled() for m in group_members)
    wait_until(done, timeout_s, interval_s=0.1,
               what=f"{len(expected)} records read and committed by {group_members}")
