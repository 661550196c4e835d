"""A secure cluster: nodes replicate over a SASL_SSL inter-broker listener, logged in as the
inter-broker user with SCRAM-SHA-512 over TLS, and log in to a Redis that has no default user
(an ACL user with a password). Users are shared by the cluster through the coordinator. A node
with a wrong inter-broker password never enters the ISR; a node with a wrong Redis password
never joins. No password ever shows in a log."""
import base64
import json
import secrets
import socket
import subprocess
import urllib.error
import urllib.request
import uuid

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from cluster_support import Cluster, Node, Redis, Unreachable, log_tail, wait_until
import checker

LEASE_MS = 1500
PARTITIONS = 3
RECORDS = 300
START_SECONDS_MAX = 60
INTER_BROKER_USER = "yak-node"
REDIS_USER = "yak-cluster"


def make_certificates(directory):
    """A CA, and one certificate for every node (CN=yak-node, valid for 127.0.0.1 and
    localhost, for both server and client use), made with openssl."""
    def run(*args):
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True, timeout=60)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=yak-test-ca", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "node.key", "-out", "node.csr", "-subj", "/CN=yak-node")
    (directory / "node.ext").write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n")
    run("x509", "-req", "-in", "node.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "node.pem", "-days", "2", "-extfile", "node.ext")
    return {name: directory / f"{name}" for name in ("ca.pem", "node.pem", "node.key")}


class AclRedis(Redis):
    """A Redis whose default user is off: only `REDIS_USER` with its password gets in."""

    def __init__(self, workdir, password):
        super().__init__(workdir)
        self.password = password

    def start(self):
        # The ACL rules go in a file, not on the command line, so the password is in no `ps`.
        acl_file = self.workdir / "users.acl"
        acl_file.write_text(f"user default off\nuser {REDIS_USER} on >{self.password} ~* &* +@all\n")
        binary = "redis-server"
        self.spawn([binary, "--port", str(self.port), "--bind", self.host, "--save", "", "--appendonly", "no",
                    "--dir", str(self.workdir), "--protected-mode", "no", "--aclfile", str(acl_file)],
                   cwd=self.workdir)
        wait_until(self.ping, 10, f"redis-server on {self.host}:{self.port}")

    def command(self, *args):
        """One command with a one-line answer (a status, an error or an integer), after AUTH;
        that answer's line."""
        def encode(items):
            out = f"*{len(items)}\r\n".encode()
            for item in items:
                data = str(item).encode()
                out += f"${len(data)}\r\n".encode() + data + b"\r\n"
            return out
        with socket.create_connection((self.host, self.port), timeout=2) as conn:
            conn.sendall(encode(["AUTH", REDIS_USER, self.password]) + encode(list(args)))
            answer = b""
            while answer.count(b"\r\n") < 2:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                answer += chunk
            return answer.split(b"\r\n")[1]

    def ping(self):
        try:
            return self.command("PING") == b"+PONG"
        except OSError:
            return False


class SecureNode(Node):
    """A node whose only Kafka listener is `listener` (SASL_SSL: logins as the inter-broker
    user; SSL: client certificates required, `User:yak-node` by the certificate's CN), also the
    inter-broker listener, and whose HTTP calls carry the admin's Basic credentials (ACLs are
    on)."""

    def __init__(self, node_id, workdir, redis, cluster, files, extra_args=(), admin=None, listener="SASL_SSL"):
        login = (["--inter-broker-user", INTER_BROKER_USER] if listener == "SASL_SSL"
                 else ["--tls-client-auth", "required"])
        super().__init__(node_id, workdir, redis.url, cluster, args=[
            "--lease-ms", str(LEASE_MS), "--default-replication-factor", "3", "--min-insync-replicas", "2",
            "--listeners", f"{listener}://127.0.0.1:{{port}}",
            "--inter-broker-listener", listener,
            "--tls-cert-file", str(files["node.pem"]), "--tls-key-file", str(files["node.key"]),
            "--tls-ca-file", str(files["ca.pem"]),
            "--authorization", "true", "--super-users", f"User:{INTER_BROKER_USER},User:admin",
            *login,
            "--coordinator-user", REDIS_USER,
            *extra_args,
        ])
        self.args = [arg.replace("{port}", str(self.kafka_port)) for arg in self.args]
        self.admin = admin

    def call(self, method, path, body=None, query=None, timeout=3.0):
        url = self.http + path
        request = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(),
                                         method=method, headers={"content-type": "application/json",
                                                                 "accept": "application/json"})
        if self.admin is not None:
            token = base64.b64encode(f"admin:{self.admin}".encode()).decode()
            request.add_header("authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as err:
            return err.code, None
        except OSError as err:
            raise Unreachable(f"{method} {url}: {err!r}", sent=True) from err


def kafka_config(node_addresses, files, user, password):
    return {
        "bootstrap.servers": ",".join(node_addresses),
        "security.protocol": "SASL_SSL",
        "sasl.mechanisms": "SCRAM-SHA-512",
        "sasl.username": user,
        "sasl.password": password,
        "ssl.ca.location": str(files["ca.pem"]),
    }


def can_log_in(address, files, user, password):
    """Whether a SCRAM-SHA-512 login over SASL_SSL to this one node succeeds."""
    admin = AdminClient(kafka_config([address], files, user, password))
    try:
        admin.list_topics(timeout=5)
        return True
    except KafkaException:
        return False


@pytest.fixture
def secure(tmp_path):
    """Certificates, passwords, an ACL-only Redis and a `Cluster` of three secure nodes (not
    started); every process is killed at teardown, the logs printed if the test failed."""
    files = make_certificates(tmp_path)
    passwords = {name: f"{name}-{secrets.token_hex(12)}" for name in
                 ("inter", "admin", "alice", "wrong", "redis", "redis-wrong")}
    password_files = {}
    for name, password in passwords.items():
        password_files[name] = tmp_path / f"{name}.pw"
        password_files[name].write_text(password + "\n")
    history = checker.History(tmp_path / "history.jsonl")
    name = f"sec{uuid.uuid4().hex[:6]}"
    cluster = Cluster(tmp_path, history, size=0, lease_ms=LEASE_MS, name=name)
    cluster.name = name  # `Cluster` hands its name only to the nodes it builds; these are built here
    cluster.redis = AclRedis(tmp_path, passwords["redis"])

    def node(node_id, extra_args=(), inter="inter", redis="redis", listener="SASL_SSL"):
        return SecureNode(node_id, tmp_path, cluster.redis, cluster_name(cluster), files, admin=passwords["admin"],
                          listener=listener,
                          extra_args=["--inter-broker-password-file", str(password_files[inter]),
                                      "--coordinator-password-file", str(password_files[redis]), *extra_args])

    def three(listener):
        return {
            1: node(1, ["--bootstrap-user", "admin", "--bootstrap-password-file", str(password_files["admin"])],
                    listener=listener),
            2: node(2, listener=listener),
            3: node(3, listener=listener),
        }

    cluster.nodes = three("SASL_SSL")
    state = {"cluster": cluster, "files": files, "passwords": passwords, "password_files": password_files,
             "node": node, "three": three, "extra": []}
    yield state
    for process in [*cluster.nodes.values(), *state["extra"], cluster.redis]:
        try:
            process.kill()
        except Exception as err:  # teardown goes on whatever one process did
            print(f"teardown of {process.name}: {err!r}")
    history.close()


def cluster_name(cluster):
    return cluster.name


def start_secure(cluster):
    """Starts Redis and every node not running yet; returns the leader once every node is
    listed alive."""
    cluster.redis.start()
    for node in cluster.nodes.values():
        if not node.running:
            node.start()
    for node in cluster.nodes.values():
        wait_until(lambda: node.health() or cluster._exited(node), START_SECONDS_MAX,
                   f"node {node.node_id} to answer /health")
    leader = cluster.wait_leader()
    wait_until(lambda: {n["node_id"] for n in (cluster.nodes[leader].cluster_state() or {}).get("nodes", ())
                        if n["alive"]} >= set(cluster.nodes), START_SECONDS_MAX,
               f"node {leader} to list every node alive")
    return leader


def isr_members(cluster, topic):
    """Every node id in any ISR of `topic`, as the leader reports it (None without a leader)."""
    leader = cluster.leader()
    if leader is None:
        return None
    state = cluster.nodes[leader].cluster_state() or {}
    return {member for p in state.get("partitions", ()) if p["topic"] == topic for member in p["isr"]}


def produce(addresses, files, password, topic, values):
    producer = Producer({**kafka_config(addresses, files, "admin", password), "acks": "all",
                         "enable.idempotence": True})
    failures = []
    for value in values:
        producer.produce(topic, key=value, value=value,
                         on_delivery=lambda err, msg: err is not None and failures.append(err))
    assert producer.flush(60) == 0, "records left unsent"
    assert failures == [], f"sends failed: {failures[:3]}"


def consume_all(addresses, files, password, topic):
    consumer = Consumer({**kafka_config(addresses, files, "admin", password), "group.id": f"check-{uuid.uuid4()}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    seen = set()
    try:
        wait_until(lambda: (seen.update(m.value() for m in consumer.consume(500, timeout=1) if m.error() is None)
                            or len(seen) >= RECORDS), 60, f"{RECORDS} records read back")
    finally:
        consumer.close()
    return seen


def assert_no_password_in_logs(paths, passwords):
    """What the nodes wrote (not the harness's `===== start: COMMAND` lines) holds no password."""
    for path in paths:
        text = "".join(line for line in path.read_text(errors="replace").splitlines(keepends=True)
                       if not line.startswith("===== "))
        for name, password in passwords.items():
            assert password not in text, f"the {name} password is in {path}"


def test_secure_cluster_replicates_over_sasl_ssl_and_shares_users(secure):
    """Replication over SASL_SSL as the inter-broker user: an acks=all write reaches all three
    nodes; a user created by one node logs in on the others; a node with a wrong inter-broker
    password never enters the ISR; the leader's death loses nothing."""
    cluster, files, passwords = secure["cluster"], secure["files"], secure["passwords"]
    try:
        start_secure(cluster)
        addresses = [node.kafka for node in cluster.nodes.values()]
        topic = f"secure-{uuid.uuid4().hex[:8]}"
        admin = AdminClient(kafka_config(addresses, files, "admin", passwords["admin"]))
        admin.create_topics([NewTopic(topic, PARTITIONS, 3)])[topic].result(30)
        values = [f"v{i}-{uuid.uuid4().hex[:6]}".encode() for i in range(RECORDS)]
        produce(addresses, files, passwords["admin"], topic, values[:RECORDS // 2])
        # Every node in the ISR and holding every record: it fetched over SASL_SSL.
        wait_until(lambda: cluster.in_sync(topic), 60, f"all three nodes in sync on {topic}")
        assert isr_members(cluster, topic) == {1, 2, 3}

        # Node 4: the right Redis password, a wrong inter-broker one; it creates alice.
        fourth = secure["node"](4, ["--bootstrap-user", "alice",
                                    "--bootstrap-password-file", str(secure["password_files"]["alice"])],
                                inter="wrong")
        secure["extra"].append(fourth)
        fourth.start()
        wait_until(lambda: fourth.health() or cluster._exited(fourth), START_SECONDS_MAX, "node 4 to answer /health")
        leader = cluster.wait_leader()
        seen_isr = set()

        def refused_and_alice_everywhere():
            seen_isr.update(isr_members(cluster, topic) or ())
            refused = "refused this node's login" in fourth.log_path.read_text(errors="replace")
            return refused and all(can_log_in(node.kafka, files, "alice", passwords["alice"])
                                   for node in cluster.nodes.values())
        wait_until(refused_and_alice_everywhere, 60,
                   "node 4's login refused by the leader, and alice (created by node 4) logging in on nodes 1-3",
                   interval_s=0.5)
        assert not can_log_in(cluster.nodes[leader].kafka, files, "alice", passwords["wrong"])
        registered = {n["node_id"] for n in cluster.nodes[leader].cluster_state()["nodes"] if n["alive"]}
        assert 4 in registered, f"node 4 joined the cluster (it may reach Redis): {registered}"
        # More acks=all writes: replicated by 1-3 while node 4 stays out.
        produce(addresses, files, passwords["admin"], topic, values[RECORDS // 2:])
        wait_until(lambda: cluster.in_sync(topic), 60, f"nodes 1-3 in sync on {topic}")
        seen_isr.update(isr_members(cluster, topic) or ())
        assert 4 not in seen_isr, f"node 4 entered the ISR with a wrong inter-broker password: {seen_isr}"
        fourth.kill()

        # The leader dies: a follower takes over, and every acknowledged record is there.
        cluster.kill(leader)
        survivor = cluster.wait_leader(exclude=(leader,))
        assert survivor != leader
        remaining = [node.kafka for node in cluster.nodes.values() if node.node_id != leader]
        assert consume_all(remaining, files, passwords["admin"], topic) >= set(values)

        assert_no_password_in_logs([*(n.log_path for n in cluster.nodes.values()), fourth.log_path], passwords)
    except BaseException:
        print(f"\n===== logs\n{cluster.logs()}\n----- node4\n"
              f"{log_tail(cluster.workdir / 'node4.log')}")
        raise


def test_node_with_wrong_redis_password_never_joins(secure):
    """Redis refuses the node's login: it stops at start-up with an error naming AUTH and never
    registers. A node with the right password in the URL joins, and the URL's password is in
    no log."""
    cluster, passwords = secure["cluster"], secure["passwords"]
    cluster.redis.start()
    url_with_password = f"redis://{REDIS_USER}:{passwords['redis']}@127.0.0.1:{cluster.redis.port}/0"
    good = Node(1, cluster.workdir, url_with_password, cluster_name(cluster), args=["--lease-ms", str(LEASE_MS)])
    secure["extra"].append(good)
    good.start()
    wait_until(lambda: (good.health() or {}).get("role") == "leader" or cluster._exited(good), START_SECONDS_MAX,
               "the node with the right password to lead")

    bad = secure["node"](2, redis="redis-wrong")
    secure["extra"].append(bad)
    bad.start()
    wait_until(lambda: bad.process.poll() is not None, START_SECONDS_MAX, "the node Redis refuses to exit")
    assert bad.process.returncode != 0
    log = bad.log_path.read_text(errors="replace")
    assert "AUTH" in log, f"the start-up error does not name AUTH:\n{log_tail(bad.log_path)}"
    assert cluster.redis.command("SISMEMBER", f"{cluster_name(cluster)}:nodes", 2) == b":0", "node 2 registered"
    assert cluster.redis.command("SISMEMBER", f"{cluster_name(cluster)}:nodes", 1) == b":1", "node 1 registered"
    assert_no_password_in_logs([good.log_path, bad.log_path], passwords)


def test_ssl_cluster_replicates_by_mutual_tls(secure):
    """An SSL inter-broker listener that requires client certificates: followers present the
    node's own certificate (principal `User:yak-node`, a super user) and replicate without any
    SASL login."""
    cluster, files = secure["cluster"], secure["files"]
    cluster.nodes = secure["three"]("SSL")
    try:
        start_secure(cluster)
        addresses = [node.kafka for node in cluster.nodes.values()]
        config = {"bootstrap.servers": ",".join(addresses), "security.protocol": "SSL",
                  "ssl.ca.location": str(files["ca.pem"]), "ssl.certificate.location": str(files["node.pem"]),
                  "ssl.key.location": str(files["node.key"])}
        topic = f"mtls-{uuid.uuid4().hex[:8]}"
        admin = AdminClient(config)  # kept: a collected client ends its pending requests
        admin.create_topics([NewTopic(topic, PARTITIONS, 3)])[topic].result(30)
        producer = Producer({**config, "acks": "all"})
        failures = []
        for i in range(100):
            producer.produce(topic, value=f"m{i}".encode(),
                             on_delivery=lambda err, msg: err is not None and failures.append(err))
        assert producer.flush(60) == 0 and failures == [], f"sends failed: {failures[:3]}"
        wait_until(lambda: cluster.in_sync(topic), 60, f"all three nodes in sync on {topic} over SSL")
        assert isr_members(cluster, topic) == {1, 2, 3}
    except BaseException:
        print(f"\n===== logs\n{cluster.logs()}")
        raise


def test_users_reach_a_redis_that_was_down_at_start(secure):
    """Nodes started while Redis is down add their users (the inter-broker user among them) as
    soon as it answers, so the cluster still forms and replicates over SASL_SSL."""
    cluster, files, passwords = secure["cluster"], secure["files"], secure["passwords"]
    try:
        for node in cluster.nodes.values():
            node.start()
        for node in cluster.nodes.values():
            wait_until(lambda: node.health() or cluster._exited(node), START_SECONDS_MAX,
                       f"node {node.node_id} to answer /health without Redis")
        start_secure(cluster)
        addresses = [node.kafka for node in cluster.nodes.values()]
        topic = f"late-{uuid.uuid4().hex[:8]}"
        admin = AdminClient(kafka_config(addresses, files, "admin", passwords["admin"]))
        admin.create_topics([NewTopic(topic, PARTITIONS, 3)])[topic].result(30)
        produce(addresses, files, passwords["admin"], topic, [f"late{i}".encode() for i in range(50)])
        wait_until(lambda: cluster.in_sync(topic), 60, f"all three nodes in sync on {topic}")
    except BaseException:
        print(f"\n===== logs\n{cluster.logs()}")
        raise


class TlsProxy:
    """TLS in front of the plain Redis (Debian's redis-server is built without TLS): accepts
    TLS with the node certificate and forwards each connection's bytes to Redis."""

    def __init__(self, files, target):
        import ssl
        import threading
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(str(files["node.pem"]), str(files["node.key"]))
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.handshakes = 0
        self.threading = threading
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return  # closed
            self.threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw):
        try:
            client = self.context.wrap_socket(raw, server_side=True)
        except OSError:
            raw.close()
            return
        self.handshakes += 1
        upstream = socket.create_connection(self.target)

        def pump(source, sink):
            try:
                while data := source.recv(65536):
                    sink.sendall(data)
            except OSError:
                pass
            finally:
                for end in (source, sink):
                    try:
                        end.close()
                    except OSError:
                        pass
        self.threading.Thread(target=pump, args=(upstream, client), daemon=True).start()
        pump(client, upstream)

    def close(self):
        self.listener.close()


def test_node_logs_in_to_redis_over_tls(secure):
    """`rediss://` with `--coordinator-ca-file`: the node checks Redis's certificate against
    the CA, logs in as the ACL user, and leads a cluster of one."""
    cluster, files, password_files = secure["cluster"], secure["files"], secure["password_files"]
    cluster.redis.start()
    proxy = TlsProxy(files, (cluster.redis.host, cluster.redis.port))
    try:
        node = Node(1, cluster.workdir, f"rediss://127.0.0.1:{proxy.port}/0", cluster_name(cluster), args=[
            "--lease-ms", str(LEASE_MS), "--coordinator-ca-file", str(files["ca.pem"]),
            "--coordinator-user", REDIS_USER, "--coordinator-password-file", str(password_files["redis"])])
        secure["extra"].append(node)
        node.start()
        wait_until(lambda: (node.health() or {}).get("role") == "leader" or cluster._exited(node), START_SECONDS_MAX,
                   "the node to lead through Redis over TLS")
        assert proxy.handshakes > 0
        assert cluster.redis.command("SISMEMBER", f"{cluster_name(cluster)}:nodes", 1) == b":1"
    finally:
        proxy.close()
