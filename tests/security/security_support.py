"""Helpers of the security suite, in a module named apart from the other suites' so that `import`
never picks up another folder's conftest: test certificates, a `yak broker` process with security
flags, the `yak` CLI, HTTP calls with or without TLS, and raw Kafka frames for the SASL phase."""
import datetime
import ipaddress
import json
import os
import pathlib
import queue
import re
import socket
import ssl
import struct
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT = pathlib.Path(__file__).resolve().parents[2]
HERE = pathlib.Path(__file__).resolve().parent
JAVA_DIR = ROOT / "tests" / "groups" / "java"
JAVA_CLASSPATH_FILE = JAVA_DIR / "target" / "classpath.txt"
JAVA_BUILD_SECONDS_MAX = 600
NODE_START_SECONDS_MAX = 60
NODE_STOP_SECONDS_MAX = 10
HTTP_TIMEOUT_SECONDS = 30
CLI_SECONDS_MAX = 60
SOCKET_TIMEOUT_SECONDS = 10
LISTENING = re.compile(r"listening http=(\S+) kafka=(\S+)(?: listeners=(\S+))?")
ADMIN_PASSWORD = "admin-secret"
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")

# Kafka API keys and the versions the raw-frame tests use (non-flexible versions: plain headers).
API_METADATA = 3
API_SASL_HANDSHAKE = 17
API_API_VERSIONS = 18
API_SASL_AUTHENTICATE = 36
ERROR_NONE = 0
ERROR_SASL_AUTHENTICATION_FAILED = 58


def yak_bin():
    path = pathlib.Path(os.environ.get("YAK_BIN", "target/debug/yak"))
    return path if path.is_absolute() else ROOT / path


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


# --- Certificates ---------------------------------------------------------------------------

def _write_key(path, key):
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))


def _certificate(subject_cn, issuer_name, issuer_key, public_key, ca=False, san=None):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
               .issuer_name(issuer_name)
               .public_key(public_key)
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(hours=1))
               .not_valid_after(now + datetime.timedelta(days=2))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
    if san is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_certificates(directory):
    """A CA, a node certificate for localhost/127.0.0.1 and client certificates CN=alice and
    CN=mallory (the latter signed by a CA the node does not trust); returns their paths."""
    directory = pathlib.Path(directory)
    paths = {}

    def issue(name, cn, issuer_name, issuer_key, san=None):
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = _certificate(cn, issuer_name, issuer_key, key.public_key(), san=san)
        (directory / f"{name}.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        _write_key(directory / f"{name}.key", key)
        paths[f"{name}_cert"] = directory / f"{name}.pem"
        paths[f"{name}_key"] = directory / f"{name}.key"

    for ca_name in ("ca", "rogue_ca"):
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"yak-test-{ca_name}")])
        certificate = _certificate(f"yak-test-{ca_name}", name, key, key.public_key(), ca=True)
        (directory / f"{ca_name}.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        paths[ca_name] = directory / f"{ca_name}.pem"
        paths[f"{ca_name}_name"], paths[f"{ca_name}_signing_key"] = name, key
    ca_name, ca_key = paths.pop("ca_name"), paths.pop("ca_signing_key")
    rogue_name, rogue_key = paths.pop("rogue_ca_name"), paths.pop("rogue_ca_signing_key")
    issue("node", "localhost", ca_name, ca_key,
          san=[x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    issue("alice", "alice", ca_name, ca_key)
    issue("mallory", "mallory", rogue_name, rogue_key)
    return paths


# --- A node ---------------------------------------------------------------------------------

class Node:
    """A running `yak broker` with security flags: `http` (its URL), `listeners` (protocol →
    host:port), `pid`, and its log."""

    def __init__(self, directory, args, env=None, log_filter="info"):
        binary = yak_bin()
        if not binary.exists():
            pytest.fail(f"no broker binary at {binary}: build it with `cargo build -p yak` or set YAK_BIN")
        directory = pathlib.Path(directory)
        data_dir = directory / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        password_file = directory / "admin-password"
        password_file.write_text(ADMIN_PASSWORD + "\n")
        self.log_path = directory / "node.log"
        self._log = open(self.log_path, "a")
        environment = {k: v for k, v in os.environ.items() if not k.startswith("YAK_")}
        environment["YAK_LOG"] = log_filter
        environment.update(env or {})
        argv = [str(binary), "broker", "--data-dir", str(data_dir), "--http", "127.0.0.1:0",
                "--bootstrap-user", "admin", "--bootstrap-password-file", str(password_file), *args]
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self._log, text=True,
                                        cwd=directory, env=environment)
        self.pid = self.process.pid
        lines = queue.Queue()
        threading.Thread(target=self._read_stdout, args=(lines,), daemon=True).start()
        deadline = time.monotonic() + NODE_START_SECONDS_MAX
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.stop()
                pytest.fail(f"the node printed no listening line within {NODE_START_SECONDS_MAX} s; "
                            f"log: {self.log_path}")
            try:
                line = lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                code = self.process.wait()
                pytest.fail(f"the node exited with {code} before listening:\n{self.log()}")
            match = LISTENING.search(line)
            if match:
                self.http = match.group(1).rstrip("/")
                self.listeners = {}
                for listener in (match.group(3) or f"PLAINTEXT://{match.group(2)}").split(","):
                    protocol, _, address = listener.partition("://")
                    self.listeners[protocol] = address
                return

    def _read_stdout(self, lines):
        for line in self.process.stdout:
            lines.put(line)
        lines.put(None)

    def log(self):
        """The node's log without colours, so `principal=User:alice` can be searched for."""
        self._log.flush()
        return ANSI_ESCAPE.sub("", self.log_path.read_text(errors="replace"))

    def alive(self):
        return self.process.poll() is None

    def rss_kb(self):
        """VmRSS of the node, from /proc."""
        for line in pathlib.Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError(f"no VmRSS for pid {self.pid}")

    def address(self, protocol):
        host, _, port = self.listeners[protocol].rpartition(":")
        return host, int(port)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=NODE_STOP_SECONDS_MAX)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


# --- Clients --------------------------------------------------------------------------------

def yak(*args, env=None, stdin="", check=True):
    """Runs the `yak` CLI; returns the CompletedProcess (asserting success when `check`)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("YAK_")}
    environment.update(env or {})
    result = subprocess.run([str(yak_bin()), *args], input=stdin, capture_output=True, text=True,
                            env=environment, timeout=CLI_SECONDS_MAX)
    if check:
        assert result.returncode == 0, f"yak {args} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result


def as_admin(node):
    """The CLI flags and environment of the admin user."""
    return ["--broker", node.http, "--user", "admin"], {"YAK_PASSWORD": ADMIN_PASSWORD}


def http_call(url, method="GET", body=None, headers=None, context=None):
    """One HTTP request; (status, parsed JSON body or raw text)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"content-type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS, context=context) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        raw, status = error.read(), error.code
    try:
        return status, json.loads(raw or b"null")
    except ValueError:
        return status, raw.decode(errors="replace")


def basic(user, password):
    import base64
    return {"authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def client_tls(certs, with_certificate=True):
    """An ssl context that trusts the test CA and presents alice's certificate."""
    context = ssl.create_default_context(cafile=str(certs["ca"]))
    if with_certificate:
        context.load_cert_chain(str(certs["alice_cert"]), str(certs["alice_key"]))
    return context


# --- Raw Kafka frames -----------------------------------------------------------------------

def string(text):
    data = text.encode()
    return struct.pack(">h", len(data)) + data


def request(api_key, api_version, correlation_id, body=b"", client_id="yak-security-test"):
    """A size-prefixed request with header v1 (the header of every non-flexible version)."""
    payload = struct.pack(">hhi", api_key, api_version, correlation_id) + string(client_id) + body
    return struct.pack(">i", len(payload)) + payload


def sasl_handshake(correlation_id, mechanism, version=1):
    return request(API_SASL_HANDSHAKE, version, correlation_id, string(mechanism))


def sasl_authenticate(correlation_id, auth_bytes, version=1):
    return request(API_SASL_AUTHENTICATE, version, correlation_id,
                   struct.pack(">i", len(auth_bytes)) + auth_bytes)


def api_versions(correlation_id):
    return request(API_API_VERSIONS, 0, correlation_id)


def metadata(correlation_id):
    return request(API_METADATA, 0, correlation_id, struct.pack(">i", 0))


def read_frame(sock):
    """The next response frame (its bytes after the size), or None when the server closed the
    connection (or reset it) before a whole frame arrived."""
    def exactly(n):
        data = b""
        while len(data) < n:
            try:
                chunk = sock.recv(n - len(data))
            except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
                return None
            if not chunk:
                return None
            data += chunk
        return data
    head = exactly(4)
    if head is None:
        return None
    (size,) = struct.unpack(">i", head)
    return exactly(size)


def closed_by_server(sock, timeout_s=SOCKET_TIMEOUT_SECONDS):
    """True when the server closes the connection within `timeout_s` with nothing more to say
    (a frame arriving instead is returned for the assertion message)."""
    sock.settimeout(timeout_s)
    try:
        data = sock.recv(65536)
    except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
        return True
    except socket.timeout:
        return False
    return data == b""


def connect(address, timeout_s=SOCKET_TIMEOUT_SECONDS):
    sock = socket.create_connection(address, timeout=timeout_s)
    sock.settimeout(timeout_s)
    return sock


# --- Java -----------------------------------------------------------------------------------

def java_classpath():
    """The class path of tests/groups/java (its classes and kafka-clients), built with Maven
    unless scripts/test.sh already built it from the current sources."""
    sources = [JAVA_DIR / "pom.xml", *(JAVA_DIR / "src").rglob("*.java")]
    built_at = JAVA_CLASSPATH_FILE.stat().st_mtime if JAVA_CLASSPATH_FILE.exists() else 0
    if any(source.stat().st_mtime > built_at for source in sources):
        JAVA_CLASSPATH_FILE.unlink(missing_ok=True)
        result = subprocess.run(
            ["mvn", "-q", "-B", "package", "dependency:build-classpath",
             f"-Dmdep.outputFile={JAVA_CLASSPATH_FILE}"],
            cwd=JAVA_DIR, capture_output=True, text=True, timeout=JAVA_BUILD_SECONDS_MAX)
        assert result.returncode == 0, f"mvn failed:\n{result.stdout}\n{result.stderr}"
    return f"{JAVA_DIR / 'target' / 'classes'}{os.pathsep}{JAVA_CLASSPATH_FILE.read_text().strip()}"
