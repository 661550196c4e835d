"""Processes of the cluster fault suite: a real `redis-server` as the coordinator, `yak broker`
nodes with their own data directories and fixed ports (so a restarted node comes back where
clients look for it), the faults (kill -9, SIGSTOP/SIGCONT, restart), and waits on the
cluster's own reports (`/health`, `/cluster`) with deadlines. Optionally every process lives in
its own network namespace on a bridge (`Network`), so links can be cut with iptables.

Named apart from the other suites' helper modules so that `import` never picks up theirs."""
import http.client
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[2]
HTTP_TIMEOUT_SECONDS = 3.0
NODE_START_SECONDS_MAX = 60
PROCESS_STOP_SECONDS_MAX = 10
REDIS_START_SECONDS_MAX = 10
POLL_INTERVAL_SECONDS = 0.05
LOG_TAIL_LINES = 60


class WaitTimeout(AssertionError):
    pass


def wait_until(condition, timeout_s, what, interval_s=POLL_INTERVAL_SECONDS):
    """Polls `condition` until it returns something truthy (returned), or raises at the
    deadline. This stands in for every would-be sleep."""
    deadline = time.monotonic() + timeout_s
    last = None
    while True:
        last = condition()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)


def yak_bin():
    path = pathlib.Path(os.environ.get("YAK_BIN", "target/debug/yak"))
    return path if path.is_absolute() else ROOT / path


def free_port(host="127.0.0.1"):
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class Unreachable(Exception):
    """No HTTP answer: `sent` is False when the request provably never reached the node (the
    connection was refused), True when it may have (a timeout, a reset)."""

    def __init__(self, message, sent):
        super().__init__(message)
        self.sent = sent


def http_call(base, method, path, body=None, query=None, timeout=HTTP_TIMEOUT_SECONDS):
    """One JSON call; returns (status, body) for any HTTP answer, raises `Unreachable` without
    one."""
    url = base.rstrip("/") + path
    if query:
        url += "?" + urllib.parse.urlencode(query)
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={
        "content-type": "application/json", "accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as err:
        raw = err.read()
        try:
            return err.code, json.loads(raw or b"null")
        except ValueError:
            return err.code, {"error": {"code": "not_json", "message": raw[:200].decode(errors="replace")}}
    except urllib.error.URLError as err:
        raise Unreachable(f"{method} {url}: {err.reason}", sent=not isinstance(err.reason, ConnectionRefusedError)) \
            from err
    except ConnectionRefusedError as err:
        raise Unreachable(f"{method} {url}: {err}", sent=False) from err
    except (OSError, ValueError, http.client.HTTPException) as err:  # timeouts, resets, a body cut short
        raise Unreachable(f"{method} {url}: {err!r}", sent=True) from err


def error_code(body):
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body["error"].get("code")
    return None


def log_tail(path, lines=LOG_TAIL_LINES):
    try:
        with open(path, errors="replace") as file:
            return "".join(file.readlines()[-lines:])
    except OSError as err:
        return f"(no log: {err})"


class Network:
    """A bridge and one network namespace per process, all on a private /24 made up by this
    test; the test driver stays in the root namespace and reaches every process through the
    bridge. `cut(a, b)` drops every packet between two namespaces (both directions, in both),
    `heal()` removes every rule."""

    def __init__(self, tag):
        self.tag = tag
        self.bridge = f"yk{tag}br"
        self.prefix = f"10.{100 + int(tag) % 100}.213"
        self.namespaces = {}  # name -> address
        self._created = []

    @staticmethod
    def usable():
        """Why namespaces cannot be used here, or None when they can."""
        for tool in ("ip", "iptables"):
            if shutil.which(tool) is None:
                return f"`{tool}` is not installed (Debian iproute2 / iptables)"
        probe = f"ykprobe{os.getpid()}"
        try:
            result = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True, timeout=10)
            if result.returncode != 0:
                return f"`ip netns add` failed: {result.stderr.strip()}"
            result = subprocess.run(["ip", "netns", "exec", probe, "iptables", "-S"], capture_output=True,
                                    text=True, timeout=10)
            if result.returncode != 0:
                return f"iptables does not work inside a namespace: {result.stderr.strip()}"
        finally:
            subprocess.run(["ip", "netns", "del", probe], capture_output=True, timeout=10)
        return None

    def _run(self, *args):
        subprocess.run(list(args), check=True, capture_output=True, text=True, timeout=10)

    def setup(self):
        self._run("ip", "link", "add", self.bridge, "type", "bridge")
        self._created.append(("link", self.bridge))
        self._run("ip", "addr", "add", f"{self.prefix}.1/24", "dev", self.bridge)
        self._run("ip", "link", "set", self.bridge, "up")
        return f"{self.prefix}.1"

    def add(self, name):
        """A namespace `name` on the bridge; returns its address."""
        index = len(self.namespaces) + 2
        namespace = f"yk{self.tag}{name}"
        veth = f"yk{self.tag}v{index}"
        address = f"{self.prefix}.{index}"
        self._run("ip", "netns", "add", namespace)
        self._created.append(("netns", namespace))
        self._run("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", namespace)
        self._created.append(("link", veth))
        self._run("ip", "link", "set", veth, "master", self.bridge, "up")
        self._run("ip", "-n", namespace, "addr", "add", f"{address}/24", "dev", "eth0")
        self._run("ip", "-n", namespace, "link", "set", "eth0", "up")
        self._run("ip", "-n", namespace, "link", "set", "lo", "up")
        self.namespaces[namespace] = address
        return namespace, address

    def cut(self, namespace_a, namespace_b):
        address_a, address_b = self.namespaces[namespace_a], self.namespaces[namespace_b]
        for namespace, peer in ((namespace_a, address_b), (namespace_b, address_a)):
            self._run("ip", "netns", "exec", namespace, "iptables", "-A", "INPUT", "-s", peer, "-j", "DROP")
            self._run("ip", "netns", "exec", namespace, "iptables", "-A", "OUTPUT", "-d", peer, "-j", "DROP")

    def heal(self):
        for namespace in self.namespaces:
            self._run("ip", "netns", "exec", namespace, "iptables", "-F")

    def teardown(self):
        for kind, name in reversed(self._created):
            args = ["ip", "link", "del", name] if kind == "link" else ["ip", "netns", "del", name]
            subprocess.run(args, capture_output=True, timeout=10)
        self._created.clear()


class Process:
    """One child process with its log file; signals go to its pid only."""

    def __init__(self, name, log_path):
        self.name = name
        self.log_path = log_path
        self.process = None
        self.paused = False
        self.stopped_by_test = False

    def spawn(self, argv, cwd):
        # The child dies with the test process even when the test process itself is killed
        # (no teardown runs then): util-linux's setpriv sets the parent-death signal and execs.
        if shutil.which("setpriv"):
            argv = ["setpriv", "--pdeathsig", "KILL", *argv]
        self.log_file = open(self.log_path, "a")
        self.log_file.write(f"===== {time.strftime('%H:%M:%S')} start: {' '.join(argv)}\n")
        self.log_file.flush()
        self.process = subprocess.Popen(argv, stdout=self.log_file, stderr=subprocess.STDOUT, cwd=cwd)
        self.paused = False
        self.stopped_by_test = False

    @property
    def running(self):
        return self.process is not None and self.process.poll() is None

    def signal(self, signum):
        if self.running:
            os.kill(self.process.pid, signum)

    def kill(self):
        """kill -9, and reap it."""
        if self.process is None:
            return
        self.stopped_by_test = True
        if self.running:
            self.process.kill()
        self.process.wait(timeout=PROCESS_STOP_SECONDS_MAX)
        self.paused = False
        self.log_file.close()

    def pause(self):
        self.signal(signal.SIGSTOP)
        self.paused = True

    def resume(self):
        self.signal(signal.SIGCONT)
        self.paused = False


class Redis(Process):
    def __init__(self, workdir, host="127.0.0.1", port=None, netns=None):
        super().__init__("redis", workdir / "redis.log")
        self.workdir = workdir
        self.host = host
        self.port = port or free_port(host if netns is None else "127.0.0.1")
        self.netns = netns

    @property
    def url(self):
        return f"redis://{self.host}:{self.port}/0"

    def start(self):
        """A fresh, empty Redis that keeps nothing on disk (a restart comes back empty)."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (Debian redis-server)")
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        self.spawn(prefix + [binary, "--port", str(self.port), "--bind", self.host, "--save", "",
                             "--appendonly", "no", "--dir", str(self.workdir), "--protected-mode", "no"],
                   cwd=self.workdir)
        wait_until(self.ping, REDIS_START_SECONDS_MAX, f"redis-server on {self.host}:{self.port}")

    def ping(self):
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(64).startswith(b"+PONG")
        except OSError:
            return False


class Node(Process):
    """One `yak broker` of the cluster. Its ports are fixed at creation and kept across restarts;
    its data directory too."""

    def __init__(self, node_id, workdir, coordinator, cluster, host="127.0.0.1", netns=None, args=()):
        super().__init__(f"node{node_id}", workdir / f"node{node_id}.log")
        self.node_id = node_id
        self.data_dir = workdir / f"node{node_id}"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.coordinator = coordinator
        self.cluster = cluster
        self.host = host
        self.netns = netns
        bind_probe = host if netns is None else "127.0.0.1"
        self.http_port = free_port(bind_probe) if netns is None else 8080
        self.kafka_port = free_port(bind_probe) if netns is None else 9092
        self.args = list(args)
        self.starts = 0

    @property
    def http(self):
        return f"http://{self.host}:{self.http_port}"

    @property
    def kafka(self):
        return f"{self.host}:{self.kafka_port}"

    def start(self):
        binary = yak_bin()
        if not binary.exists():
            raise RuntimeError(f"no broker binary at {binary}: build it with `cargo build -p yak` or set YAK_BIN")
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        self.spawn(prefix + [
            str(binary), "broker", "--node-id", str(self.node_id), "--coordinator", self.coordinator,
            "--cluster", self.cluster, "--data-dir", str(self.data_dir),
            "--http", f"{self.host}:{self.http_port}", "--kafka", f"{self.host}:{self.kafka_port}",
            "--advertise-http", self.http, "--advertise-kafka", self.kafka, *self.args,
        ], cwd=self.data_dir)
        self.starts += 1

    def call(self, method, path, body=None, query=None, timeout=HTTP_TIMEOUT_SECONDS):
        return http_call(self.http, method, path, body, query, timeout)

    def look(self, path, timeout=1.0):
        """GET `path`; None when the node does not answer 200."""
        if not self.running or self.paused:
            return None
        try:
            status, body = self.call("GET", path, timeout=timeout)
        except Unreachable:
            return None
        return body if status == 200 else None

    def health(self, timeout=1.0):
        return self.look("/health", timeout)

    def cluster_state(self, timeout=1.0):
        return self.look("/cluster", timeout)


class Cluster:
    """Redis and `size` nodes, every fault logged in `history` (a `checker.History`) as a
    nemesis event, every wait bounded."""

    def __init__(self, workdir, history, size=3, lease_ms=1500, args=(), network=None, name="yak"):
        self.workdir = workdir
        self.history = history
        self.lease_ms = lease_ms
        self.network = network
        self.namespaces = {}
        self.workloads = []  # the workloads on this cluster, stopped at teardown
        redis_host, redis_ns = "127.0.0.1", None
        if network is not None:
            network.setup()
            redis_ns, redis_host = network.add("r")
            self.namespaces["redis"] = redis_ns
        self.redis = Redis(workdir, host=redis_host, port=6379 if network else None, netns=redis_ns)
        lease_args = [] if lease_ms is None else ["--lease-ms", str(lease_ms)]
        self.nodes = {}
        for node_id in range(1, size + 1):
            host, netns = "127.0.0.1", None
            if network is not None:
                netns, host = network.add(f"n{node_id}")
                self.namespaces[node_id] = netns
            self.nodes[node_id] = Node(node_id, workdir, self.redis.url, name, host=host, netns=netns,
                                       args=[*lease_args, "--default-replication-factor", str(size), *args])

    @property
    def effective_lease_ms(self):
        return 3000 if self.lease_ms is None else self.lease_ms

    @property
    def bootstrap(self):
        return ",".join(node.kafka for node in self.nodes.values())

    def start(self, timeout_s=NODE_START_SECONDS_MAX):
        self.redis.start()
        for node in self.nodes.values():
            self._start_node(node)
        for node in self.nodes.values():
            wait_until(lambda: node.health() or self._exited(node), timeout_s, f"node {node.node_id} to answer /health")
        leader = self.wait_leader()
        # A topic may have as many replicas as nodes the leader knows of: wait until it knows
        # every node.
        wait_until(lambda: {n["node_id"] for n in (self.nodes[leader].cluster_state() or {}).get("nodes", ())
                            if n["alive"]} == set(self.nodes), timeout_s, f"node {leader} to list every node alive")
        return leader

    def _exited(self, node):
        if node.process is not None and node.process.poll() is not None:
            raise AssertionError(f"node {node.node_id} exited with {node.process.returncode}:\n"
                                 f"{log_tail(node.log_path)}")
        return False

    def _start_node(self, node):
        self.history.nemesis("start", node=node.node_id)
        node.start()

    # --- Faults ----------------------------------------------------------------------------
    def kill(self, node_id, failover=False):
        event = self.history.nemesis("kill", node=node_id, failover=failover)
        self.nodes[node_id].kill()
        return event

    def restart(self, node_id, timeout_s=NODE_START_SECONDS_MAX):
        node = self.nodes[node_id]
        self._start_node(node)
        wait_until(lambda: node.health() or self._exited(node), timeout_s, f"node {node_id} to answer /health")

    def pause(self, node_id, failover=False):
        self.nodes[node_id].pause()
        # Logged once the signal is sent: every send invoked after this event reaches a
        # stopped process.
        return self.history.nemesis("pause", node=node_id, failover=failover)

    def resume(self, node_id):
        event = self.history.nemesis("resume", node=node_id)
        self.nodes[node_id].resume()
        return event

    # --- What the cluster reports ----------------------------------------------------------
    def live(self):
        self.check_exits()
        return [node for node in self.nodes.values() if node.running and not node.paused]

    def check_exits(self):
        """Fails at once when a process the test did not stop has exited: every wait would
        otherwise run into its deadline and hide why."""
        for process in [self.redis, *self.nodes.values()]:
            if process.process is not None and not process.stopped_by_test and process.process.poll() is not None:
                raise AssertionError(f"{process.name} exited by itself with status {process.process.returncode} "
                                     f"(negative: killed by that signal); its log ends with:\n"
                                     f"{log_tail(process.log_path, 20)}")

    def healths(self):
        return {node.node_id: node.health() for node in self.live()}

    def leader(self, exclude=()):
        """The node id every live node agrees leads (it says `leader`, every other live node
        names it in `/cluster`), or None."""
        states = {node.node_id: node.cluster_state() for node in self.live() if node.node_id not in exclude}
        if not states or any(state is None for state in states.values()):
            return None
        leaders = {state["leader_id"] for state in states.values()}
        if len(leaders) != 1:
            return None
        [leader] = leaders
        if leader not in states:
            return None
        health = self.nodes[leader].health()
        if not health or health["role"] != "leader":
            return None
        return leader

    def wait_leader(self, exclude=(), timeout_s=30):
        return wait_until(lambda: self.leader(exclude), timeout_s,
                          f"one leader every live node agrees on (not {list(exclude)})")

    def isr_full(self, topic):
        """The leader's id when every node runs and is in the ISR of every partition of
        `topic` as the leader reports it; None otherwise."""
        leader = self.leader()
        if leader is None or len(self.live()) != len(self.nodes):
            return None
        state = self.nodes[leader].cluster_state()
        partitions = [p for p in (state or {}).get("partitions", ()) if p["topic"] == topic]
        if not partitions or any(sorted(p["isr"]) != sorted(self.nodes) for p in partitions):
            return None
        return leader

    def wait_isr_full(self, topic, timeout_s=30):
        return wait_until(lambda: self.isr_full(topic), timeout_s,
                          f"every node back in the ISR of every partition of {topic}", interval_s=0.1)

    def in_sync(self, topic):
        """True when a leader leads, every node runs, every partition of `topic` has every node
        in its ISR, and every node's high watermark and log end equal the leader's log end."""
        leader = self.leader()
        if leader is None or len(self.live()) != len(self.nodes):
            return False
        states = {node.node_id: node.cluster_state() for node in self.nodes.values()}
        if any(state is None for state in states.values()):
            return False
        leading = {p["partition"]: p for p in states[leader]["partitions"] if p["topic"] == topic}
        if not leading:
            return False
        for partition in leading.values():
            if sorted(partition["isr"]) != sorted(self.nodes):
                return False
            if partition["high_watermark"] != partition["log_end_offset"]:
                return False
        for state in states.values():
            mine = {p["partition"]: p for p in state["partitions"] if p["topic"] == topic}
            if mine.keys() != leading.keys():
                return False
            for number, partition in mine.items():
                end = leading[number]["log_end_offset"]
                if partition["high_watermark"] != end or partition["log_end_offset"] != end:
                    return False
        return leader

    def wait_in_sync(self, topic, timeout_s=30):
        return wait_until(lambda: self.in_sync(topic), timeout_s,
                          f"every node in sync on {topic} (ISR full, high watermarks equal)", interval_s=0.1)

    def create_topic(self, name, partitions):
        leader = self.nodes[self.wait_leader()]
        status, body = leader.call("POST", "/topics", {"name": name, "partitions": partitions,
                                                       "replication_factor": len(self.nodes)})
        assert status == 201, f"POST /topics on the leader answered {status}: {body}"

        def everywhere():
            for node in self.live():
                state = node.cluster_state()
                if state is None or len([p for p in state["partitions"] if p["topic"] == name]) != partitions:
                    return False
            return True
        wait_until(everywhere, 30, f"topic {name} on every node")

    # --- Teardown --------------------------------------------------------------------------
    def logs(self):
        parts = []
        for process in [self.redis, *self.nodes.values()]:
            parts.append(f"----- {process.name} ({process.log_path}), last {LOG_TAIL_LINES} lines\n"
                         f"{log_tail(process.log_path)}")
        return "\n".join(parts)

    def close(self):
        for process in [*self.nodes.values(), self.redis]:
            try:
                if process.paused:
                    process.resume()
                process.kill()
            except Exception as err:  # teardown goes on whatever one process did
                print(f"teardown of {process.name}: {err!r}")
        if self.network is not None:
            self.network.teardown()
