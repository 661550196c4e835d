"""TLS on every listener: clients with a certificate over SSL (`--tls-client-auth required`)
become `User:CN`; without a trusted certificate they cannot connect; plain text to any TLS
listener (Kafka or HTTPS) gets no answer."""
import socket
import ssl
import subprocess
import uuid

from confluent_kafka import Consumer, KafkaError, Producer

from security_support import (api_versions, client_tls, closed_by_server, connect, http_call, read_frame,
                              wait_until)

RECORDS = 10
KCAT_SECONDS_MAX = 60


def ssl_config(node, certs, identity="alice"):
    return {
        "bootstrap.servers": node.listeners["SSL"],
        "security.protocol": "SSL",
        "ssl.ca.location": str(certs["ca"]),
        "ssl.certificate.location": str(certs[f"{identity}_cert"]),
        "ssl.key.location": str(certs[f"{identity}_key"]),
    }


def test_kcat_over_ssl_with_a_client_certificate(tls_node, certs):
    """kcat with alice's certificate produces and consumes; the node's session is User:alice."""
    topic = f"mtls-kcat-{uuid.uuid4().hex[:8]}"
    base = ["kcat", "-b", tls_node.listeners["SSL"], "-X", "security.protocol=SSL",
            "-X", f"ssl.ca.location={certs['ca']}", "-X", f"ssl.certificate.location={certs['alice_cert']}",
            "-X", f"ssl.key.location={certs['alice_key']}"]
    lines = "".join(f"v{i}\n" for i in range(RECORDS))
    produced = subprocess.run([*base, "-P", "-t", topic, "-p", "0"], input=lines, capture_output=True,
                              text=True, timeout=KCAT_SECONDS_MAX)
    assert produced.returncode == 0, produced.stderr
    consumed = subprocess.run([*base, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e",
                               "-c", str(RECORDS)], capture_output=True, text=True, timeout=KCAT_SECONDS_MAX)
    assert consumed.returncode == 0, consumed.stderr
    assert consumed.stdout.splitlines() == lines.splitlines()
    wait_until(lambda: "principal=User:alice" in tls_node.log(), 10,
               what="a session of User:alice in the node's log")


def test_confluent_kafka_over_ssl_with_a_client_certificate(tls_node, certs):
    """confluent-kafka with alice's certificate produces and reads back over SSL."""
    topic = f"mtls-confluent-{uuid.uuid4().hex[:8]}"
    config = ssl_config(tls_node, certs)
    producer = Producer(config)
    for i in range(RECORDS):
        producer.produce(topic, value=f"v{i}", partition=0)
    assert producer.flush(30) == 0
    consumer = Consumer({**config, "group.id": f"g-{uuid.uuid4().hex[:8]}", "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    seen = []

    def more():
        message = consumer.poll(0.5)
        if message is not None:
            assert message.error() is None, message.error()
            seen.append(message.value().decode())
        return len(seen) >= RECORDS

    try:
        wait_until(more, 60, interval_s=0, what=f"{RECORDS} records over SSL")
    finally:
        consumer.close()
    assert seen == [f"v{i}" for i in range(RECORDS)]


def test_certificate_from_an_untrusted_ca_is_refused(tls_node, certs):
    """A client certificate the node's CA did not sign ends in an SSL error, not a session."""
    errors = []
    producer = Producer({**ssl_config(tls_node, certs, identity="mallory"), "error_cb": errors.append})

    def reported():
        producer.poll(0.2)
        return errors

    wait_until(reported, 30, interval_s=0, what="an SSL error")
    producer.flush(0)
    assert errors[0].code() in (KafkaError._SSL, KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN), errors
    assert "principal=User:mallory" not in tls_node.log()


def test_https_with_a_client_certificate(tls_node, certs):
    """HTTPS answers a client that trusts the CA and presents a certificate."""
    status, body = http_call(tls_node.http + "/health", context=client_tls(certs))
    assert status == 200, body
    assert tls_node.http.startswith("https://")


def test_plain_text_to_every_tls_listener_is_refused(tls_node):
    """ApiVersions in plain text to each TLS Kafka listener gets no Kafka answer and the
    connection closes; plain HTTP to the HTTPS port gets no HTTP 200."""
    for protocol in ("SSL", "SASL_SSL"):
        sock = connect(tls_node.address(protocol))
        try:
            sock.sendall(api_versions(7))
            frame = read_frame(sock)
            # A TLS alert may come back before the close; a Kafka response would start with the
            # correlation id 7.
            assert frame is None or frame[0:4] != (7).to_bytes(4, "big"), f"{protocol}: {frame!r}"
            assert frame is None or closed_by_server(sock), f"{protocol}: the connection stayed open"
        finally:
            sock.close()

    host, port = tls_node.http.removeprefix("https://").rsplit(":", 1)
    sock = connect((host, int(port)))
    try:
        sock.sendall(f"GET /health HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        received = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            received += chunk
        assert not received.startswith(b"HTTP/1.1 200"), received[:200]
    finally:
        sock.close()


def test_tls_without_a_client_certificate_is_refused(tls_node, certs):
    """With client certificates required, a TLS client without one does not get a session."""
    context = client_tls(certs, with_certificate=False)
    raw = socket.create_connection(tls_node.address("SSL"), timeout=10)
    try:
        tls = context.wrap_socket(raw, server_hostname="localhost")
    except (ssl.SSLError, ConnectionResetError):
        return  # refused during the handshake (TLS 1.2 style)
    try:
        # TLS 1.3 finishes the client's side first; the refusal arrives with the first read.
        tls.sendall(api_versions(1))
        assert read_frame(tls) is None, "a client without a certificate was answered"
    finally:
        tls.close()
