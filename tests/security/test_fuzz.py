"""Fuzzes the SASL exchange and the TLS handshake of a node's Kafka listeners with malformed
input from many connections for a bounded time: the node stays up, its resident memory stays
bounded, and a normal SCRAM client still produces and consumes afterwards.

The run is seeded: a failure prints the seed; `YAK_FUZZ_SEED=N` replays the same inputs."""
import os
import random
import socket
import ssl
import struct
import threading
import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer

from security_support import (ADMIN_PASSWORD, API_SASL_AUTHENTICATE, API_SASL_HANDSHAKE, Node, request,
                              sasl_authenticate, sasl_handshake, string, wait_until)

SASL_FUZZ_SECONDS = 12
TLS_FUZZ_SECONDS = 8
FUZZ_THREADS = 4
# Reads during the fuzz wait this long for an answer before the connection is dropped.
FUZZ_READ_SECONDS = 0.2
# The node's RSS may grow by this much over the whole fuzz run: connection buffers are bounded
# (64 KiB frames before login), so anything beyond this is state kept per bad connection.
RSS_GROWTH_KB_MAX = 64 * 1024
RECORDS = 10
MECHANISMS = ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]


@pytest.fixture
def fuzz_node(tmp_path, certs):
    # The abuse limits are raised so the fuzz reaches the SASL and TLS code instead of being
    # turned away at accept; the failed-login delay is held at its base (100 ms) so the run gets
    # through many exchanges.
    node = Node(tmp_path, [
        "--listeners", "SASL_PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0",
        "--sasl-mechanisms", ",".join(MECHANISMS),
        "--tls-cert-file", str(certs["node_cert"]), "--tls-key-file", str(certs["node_key"]),
        "--connections-per-address-max", "10000", "--requests-per-s-per-address", "1000000",
        "--login-failure-delay-ms-max", "100"])
    yield node
    node.stop()


def scram_client(config, topic):
    """Produces RECORDS records and reads them back: proof that logins still work."""
    producer = Producer(config)
    for i in range(RECORDS):
        producer.produce(topic, value=f"v{i}", partition=0)
    assert producer.flush(30) == 0, "records still queued after 30 s"
    consumer = Consumer({**config, "group.id": f"g-{uuid.uuid4().hex[:8]}", "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    seen = []

    def more():
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            seen.append(message.value().decode())
        return len(seen) >= RECORDS

    try:
        wait_until(more, 60, interval_s=0, what=f"{RECORDS} records after the fuzz")
    finally:
        consumer.close()
    assert seen == [f"v{i}" for i in range(RECORDS)]


def client_config(node, certs):
    return {"bootstrap.servers": node.listeners["SASL_SSL"], "security.protocol": "SASL_SSL",
            "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "admin", "sasl.password": ADMIN_PASSWORD,
            "ssl.ca.location": str(certs["ca"])}


def mutate(rng, data):
    """`data` with a few bytes flipped, cut, or repeated."""
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        choice = rng.random()
        if choice < 0.5 and data:
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        elif choice < 0.75 and data:
            data = data[:rng.randrange(len(data))]
        else:
            start = rng.randrange(len(data) + 1)
            data[start:start] = data[start:start + rng.randint(1, 64)] * rng.randint(1, 8)
    return bytes(data)


def sasl_inputs(rng):
    """One connection's worth of malformed SASL traffic, as a list of byte strings to send."""
    correlation = rng.randint(0, 1 << 30)
    mechanism = rng.choice(MECHANISMS)
    client_first = f"n,,n=admin,r={rng.getrandbits(64):x}".encode()
    garbage = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 512)))
    scenario = rng.randrange(9)
    if scenario == 0:  # an unknown or absurd mechanism name
        name = rng.choice(["", "SCRAM-SHA-1", "x" * rng.randint(1, 4000), garbage.decode("latin-1")])
        return [request(API_SASL_HANDSHAKE, 1, correlation, string(name[:30000]))]
    if scenario == 1:  # garbage SCRAM messages after a valid handshake
        return [sasl_handshake(correlation, mechanism), sasl_authenticate(correlation + 1, garbage),
                sasl_authenticate(correlation + 2, mutate(rng, client_first))]
    if scenario == 2:  # a mutated client-first, then a made-up client-final
        final = f"c=biws,r={rng.getrandbits(64):x},p={garbage[:32].hex()}".encode()
        return [sasl_handshake(correlation, "SCRAM-SHA-512"),
                sasl_authenticate(correlation + 1, mutate(rng, client_first)),
                sasl_authenticate(correlation + 2, mutate(rng, final))]
    if scenario == 3:  # a huge declared frame length, then little or nothing
        return [struct.pack(">i", rng.choice([0x7FFFFFFF, 100 << 20, 1 << 24, 65537])) + garbage[:16]]
    if scenario == 4:  # a negative or zero frame length
        return [struct.pack(">i", rng.choice([-1, -(1 << 31), 0])) + garbage[:16]]
    if scenario == 5:  # a truncated frame: declared length longer than what is sent
        frame = sasl_authenticate(correlation, garbage)
        return [frame[:rng.randrange(1, len(frame))]]
    if scenario == 6:  # SaslAuthenticate whose bytes field declares more than the frame holds
        body = struct.pack(">i", rng.choice([0x7FFFFFFF, 1 << 20, len(garbage) + 1])) + garbage
        return [sasl_handshake(correlation, mechanism), request(API_SASL_AUTHENTICATE, 1, correlation + 1, body)]
    if scenario == 7:  # a random API key and version before login
        return [request(rng.randint(-5, 100), rng.randint(-1, 20), correlation, garbage)]
    # A mutated whole exchange: any byte of any frame.
    return [mutate(rng, sasl_handshake(correlation, mechanism)),
            mutate(rng, sasl_authenticate(correlation + 1, client_first))]


def client_hello(rng):
    """The first flight of a real TLS client, captured without a network."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=rng.choice(["localhost", "x" * 63 + ".example"]))
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def tls_inputs(rng):
    hello = client_hello(rng)
    scenario = rng.randrange(5)
    if scenario == 0:  # random bytes
        return [bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 2048)))]
    if scenario == 1:  # a truncated ClientHello
        return [hello[:rng.randrange(1, len(hello))]]
    if scenario == 2:  # a mutated ClientHello
        return [mutate(rng, hello)]
    if scenario == 3:  # a record header declaring a huge record
        return [b"\x16\x03\x01" + struct.pack(">H", rng.choice([0xFFFF, 0x4001, 0x4000])) + hello[5:64]]
    return [hello, bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 512)))]


def hammer(address, make_inputs, seconds, seed, counts):
    """Sends malformed connections to `address` until `seconds` pass; counts them."""
    rng = random.Random(seed)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            sock = socket.create_connection(address, timeout=2)
        except OSError:
            counts["refused"] += 1
            continue
        sock.settimeout(FUZZ_READ_SECONDS)
        try:
            for data in make_inputs(rng):
                sock.sendall(data)
                try:
                    sock.recv(65536)
                except (socket.timeout, OSError):
                    pass
        except OSError:
            pass
        finally:
            sock.close()
        counts["connections"] += 1


def fuzz(address, make_inputs, seconds, seed):
    counts = {"connections": 0, "refused": 0, "errors": []}

    def run(thread_seed):
        try:
            hammer(address, make_inputs, seconds, thread_seed, counts)
        except Exception as error:  # a bug in the fuzzer itself must fail the test
            counts["errors"].append(repr(error))

    threads = [threading.Thread(target=run, args=(seed + i,)) for i in range(FUZZ_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 30)
    return counts


def test_fuzzed_sasl_and_tls_leave_the_node_up_with_bounded_memory(fuzz_node, certs):
    """Malformed SASL frames and TLS handshakes for SASL_FUZZ_SECONDS + TLS_FUZZ_SECONDS: the
    node stays up, grows by less than RSS_GROWTH_KB_MAX, and a SCRAM client still works."""
    seed = int(os.environ.get("YAK_FUZZ_SEED", time.time_ns() % (1 << 32)))
    # Warm up first, so the baseline includes the allocations every working node makes.
    config = client_config(fuzz_node, certs)
    scram_client(config, f"fuzz-warmup-{uuid.uuid4().hex[:8]}")
    rss_before = fuzz_node.rss_kb()

    sasl = fuzz(fuzz_node.address("SASL_PLAINTEXT"), sasl_inputs, SASL_FUZZ_SECONDS, seed)
    tls = fuzz(fuzz_node.address("SASL_SSL"), tls_inputs, TLS_FUZZ_SECONDS, seed + 1000)
    assert fuzz_node.alive(), f"the node died during the fuzz (seed {seed}):\n{fuzz_node.log()[-4000:]}"
    assert sasl["errors"] == [] and tls["errors"] == [], (sasl["errors"], tls["errors"], seed)
    assert sasl["connections"] > 100 and tls["connections"] > 100, (sasl, tls, seed)

    rss_after = fuzz_node.rss_kb()
    print(f"fuzz seed {seed}: SASL {sasl}, TLS {tls}, RSS {rss_before} kB -> {rss_after} kB")
    assert rss_after - rss_before < RSS_GROWTH_KB_MAX, (
        f"RSS grew from {rss_before} kB to {rss_after} kB (seed {seed})")
    scram_client(config, f"fuzz-after-{uuid.uuid4().hex[:8]}")
