"""Real Kafka clients over SASL: kcat and confluent-kafka with SCRAM-SHA-512 over SASL_SSL,
confluent-kafka with SCRAM-SHA-256 and PLAIN, the Java client with SCRAM-SHA-512; a wrong
password is an authentication error and the connection is closed."""
import json
import subprocess
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, Producer

from security_support import (ADMIN_PASSWORD, ERROR_NONE, ERROR_SASL_AUTHENTICATION_FAILED, api_versions,
                              closed_by_server, connect, java_classpath, metadata, read_frame,
                              sasl_authenticate, sasl_handshake, wait_until)

RECORDS = 20
KCAT_SECONDS_MAX = 60
JAVA_SECONDS_MAX = 120


def sasl_config(node, mechanism, certs, password=ADMIN_PASSWORD, protocol="SASL_SSL"):
    config = {
        "bootstrap.servers": node.listeners[protocol],
        "security.protocol": protocol,
        "sasl.mechanism": mechanism,
        "sasl.username": "admin",
        "sasl.password": password,
    }
    if protocol.endswith("SSL"):
        config["ssl.ca.location"] = str(certs["ca"])
    return config


def produce_and_consume(config, topic, count=RECORDS):
    """Produces `count` keyed records with confluent-kafka and reads them back from the start."""
    producer = Producer({**config, "acks": "all"})
    failures = []
    for i in range(count):
        producer.produce(topic, key=f"k{i}", value=f"v{i}",
                         on_delivery=lambda err, msg: err and failures.append(err))
    assert producer.flush(30) == 0, "records still queued after 30 s"
    assert failures == [], failures
    consumer = Consumer({**config, "group.id": f"g-{uuid.uuid4().hex[:8]}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    seen = []

    def more():
        message = consumer.poll(0.5)
        if message is not None:
            assert message.error() is None, message.error()
            seen.append((message.key().decode(), message.value().decode()))
        return len(seen) >= count

    try:
        wait_until(more, 60, interval_s=0, what=f"{count} records from {topic}")
    finally:
        consumer.close()
    assert sorted(seen) == sorted((f"k{i}", f"v{i}") for i in range(count))


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"])
def test_confluent_kafka_over_sasl_ssl(sasl_node, certs, mechanism):
    """confluent-kafka logs in with each mechanism over SASL_SSL, produces and consumes."""
    topic = f"sasl-{mechanism.lower()}-{uuid.uuid4().hex[:8]}"
    produce_and_consume(sasl_config(sasl_node, mechanism, certs), topic)


def kcat(node, certs, *args, stdin=None):
    command = ["kcat", "-b", node.listeners["SASL_SSL"], "-X", "security.protocol=SASL_SSL",
               "-X", "sasl.mechanism=SCRAM-SHA-512", "-X", "sasl.username=admin",
               "-X", f"sasl.password={ADMIN_PASSWORD}", "-X", f"ssl.ca.location={certs['ca']}", *args]
    return subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=KCAT_SECONDS_MAX)


def test_kcat_over_sasl_ssl_scram_sha_512(sasl_node, certs):
    """kcat produces keyed records and consumes them back over SASL_SSL with SCRAM-SHA-512."""
    topic = f"kcat-{uuid.uuid4().hex[:8]}"
    lines = "".join(f"k{i}:v{i}\n" for i in range(RECORDS))
    produced = kcat(sasl_node, certs, "-P", "-t", topic, "-K", ":", stdin=lines)
    assert produced.returncode == 0, produced.stderr
    consumed = kcat(sasl_node, certs, "-C", "-t", topic, "-o", "beginning", "-e", "-c", str(RECORDS),
                    "-f", "%k:%s\n")
    assert consumed.returncode == 0, consumed.stderr
    assert sorted(consumed.stdout.splitlines()) == sorted(lines.splitlines())


def test_java_client_over_sasl_ssl_scram_sha_512(sasl_node, certs):
    """The Java client (kafka-clients) produces and consumes with SCRAM-SHA-512 over SASL_SSL."""
    topic = f"java-{uuid.uuid4().hex[:8]}"
    result = subprocess.run(
        ["java", "-cp", java_classpath(), "yak.groups.ScramClient",
         "--bootstrap", sasl_node.listeners["SASL_SSL"], "--topic", topic,
         "--mechanism", "SCRAM-SHA-512", "--user", "admin", "--ca-file", str(certs["ca"]),
         "--records", str(RECORDS)],
        env={"PATH": "/usr/bin:/bin", "YAK_SCRAM_PASSWORD": ADMIN_PASSWORD},
        capture_output=True, text=True, timeout=JAVA_SECONDS_MAX)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary == {"produced": RECORDS, "consumed": RECORDS,
                       "values": [f"v{i}" for i in range(RECORDS)]}, summary


def test_wrong_password_is_an_authentication_error(sasl_node, certs):
    """confluent-kafka with a wrong password gets _AUTHENTICATION naming the SASL failure."""
    config = sasl_config(sasl_node, "SCRAM-SHA-512", certs, password="not-the-password")
    errors = []
    producer = Producer({**config, "error_cb": errors.append})

    def reported():
        producer.poll(0.2)
        return errors

    try:
        wait_until(reported, 30, interval_s=0, what="an authentication error")
    finally:
        producer.flush(0)
    error = errors[0]
    assert error.code() == KafkaError._AUTHENTICATION, error
    assert "SASL authentication error" in error.str() or "Authentication failed" in error.str(), error


def handshake(sock, mechanism="PLAIN"):
    sock.sendall(sasl_handshake(1, mechanism))
    frame = read_frame(sock)
    assert frame is not None, "no SaslHandshake response"
    correlation_id, error_code = frame[0:4], int.from_bytes(frame[4:6], "big", signed=True)
    assert correlation_id == (1).to_bytes(4, "big") and error_code == ERROR_NONE, frame


def test_failed_sasl_authenticate_closes_the_connection(sasl_node):
    """After the SaslAuthenticate response that says the login failed, the node closes the
    connection (Kafka's behaviour): nothing else can be sent on it."""
    sock = connect(sasl_node.address("SASL_PLAINTEXT"))
    try:
        handshake(sock, "PLAIN")
        sock.sendall(sasl_authenticate(2, b"\0admin\0wrong-password"))
        frame = read_frame(sock)
        assert frame is not None, "no SaslAuthenticate response"
        error_code = int.from_bytes(frame[4:6], "big", signed=True)
        assert error_code == ERROR_SASL_AUTHENTICATION_FAILED, frame
        assert closed_by_server(sock), "the connection stayed open after a failed login"
    finally:
        sock.close()


def test_successful_plain_login_keeps_the_connection(sasl_node):
    """The control for the test above: the right password gets NONE and the connection serves
    Metadata afterwards."""
    sock = connect(sasl_node.address("SASL_PLAINTEXT"))
    try:
        handshake(sock, "PLAIN")
        sock.sendall(sasl_authenticate(2, f"\0admin\0{ADMIN_PASSWORD}".encode()))
        frame = read_frame(sock)
        assert frame is not None and int.from_bytes(frame[4:6], "big", signed=True) == ERROR_NONE, frame
        sock.sendall(metadata(3))
        answer = read_frame(sock)
        assert answer is not None and answer[0:4] == (3).to_bytes(4, "big"), answer
    finally:
        sock.close()


def test_request_before_login_closes_the_connection(sasl_node):
    """A request other than ApiVersions/SaslHandshake/SaslAuthenticate before login gets no
    answer: the node closes the connection. ApiVersions before login is answered."""
    sock = connect(sasl_node.address("SASL_PLAINTEXT"))
    try:
        sock.sendall(api_versions(1))
        frame = read_frame(sock)
        assert frame is not None and frame[0:4] == (1).to_bytes(4, "big"), "ApiVersions unanswered"
        sock.sendall(metadata(2))
        assert read_frame(sock) is None, "Metadata before login was answered"
    finally:
        sock.close()
