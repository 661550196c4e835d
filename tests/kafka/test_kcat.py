"""kcat (Debian's, on librdkafka 2.0.2) against a real broker: metadata, produce with and without
keys and headers, every codec, acks=0, idempotence, and consume from the beginning, from an offset
inside a batch, relative to the end and to the end of the partition."""
import json
import shutil
import subprocess

import pytest

from kafka_support import assert_librdkafka_codec

KCAT_TIMEOUT_SECONDS = 30
FORMAT = "%p %o %k %s %h\\n"

pytestmark = pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat is not installed (apt-get install kcat)")


def kcat(broker, *args, stdin=None):
    result = subprocess.run(["kcat", "-b", broker.bootstrap, *args], input=stdin, capture_output=True,
                            text=True, timeout=KCAT_TIMEOUT_SECONDS)
    assert result.returncode == 0, f"kcat {' '.join(args)} exited {result.returncode}: {result.stderr}"
    return result


def consume(broker, topic, partition, offset="beginning"):
    """Every line kcat prints for one partition from `offset` until it reaches the end."""
    result = kcat(broker, "-C", "-t", topic, "-p", str(partition), "-o", str(offset), "-e", "-q",
                  "-X", "check.crcs=true", "-f", FORMAT)
    return result.stdout.splitlines()


def test_metadata_lists_the_topic_and_its_partitions(kafka_broker):
    """`kcat -L -J` shows our broker at its advertised address and the topic with its 4 partitions."""
    topic = kafka_broker.topic("kcat-meta", partitions=4)
    metadata = json.loads(kcat(kafka_broker, "-L", "-J", "-t", topic).stdout)
    host, port = kafka_broker.bootstrap.rsplit(":", 1)
    assert [(b["name"]) for b in metadata["brokers"]] == [f"{host}:{port}"]
    [listed] = metadata["topics"]
    assert listed["topic"] == topic
    assert "error" not in listed
    assert [(p["partition"], p["leader"], p["replicas"], p["isrs"]) for p in listed["partitions"]] == [
        (p, 0, [{"id": 0}], [{"id": 0}]) for p in range(4)]


def test_produce_with_and_without_keys_and_headers(kafka_broker):
    """Keyed records with headers and unkeyed records come back exactly, at offsets 0..3."""
    topic = kafka_broker.topic("kcat-keys", partitions=1)
    kcat(kafka_broker, "-P", "-t", topic, "-p", "0", "-K:", "-H", "h=v", "-H", "trace=abc",
         stdin="k1:v1\nk2:v2\n")
    kcat(kafka_broker, "-P", "-t", topic, "-p", "0", stdin="plain1\nplain2\n")
    assert consume(kafka_broker, topic, 0) == [
        "0 0 k1 v1 h=v,trace=abc",
        "0 1 k2 v2 h=v,trace=abc",
        "0 2  plain1 ",
        "0 3  plain2 ",
    ]


@pytest.mark.parametrize("codec", [
    "gzip", "snappy",
    # lz4 needs FindCoordinator v0 in range for librdkafka 2.0.2 (see docs/kafka.md).
    "lz4",
    "zstd"])
def test_each_codec_round_trips_compressed(kafka_broker, codec):
    """500 keyed records sent with `-z CODEC` are stored compressed with that codec and read back
    exactly with CRC checks on."""
    topic = kafka_broker.topic(f"kcat-{codec}", partitions=1)
    lines = "".join(f"key-{i}:{codec} value number {i} padded to compress well\n" for i in range(500))
    kcat(kafka_broker, "-P", "-t", topic, "-p", "0", "-K:", "-z", codec, stdin=lines)
    assert consume(kafka_broker, topic, 0) == [
        f"0 {i} key-{i} {codec} value number {i} padded to compress well " for i in range(500)]
    batches = kafka_broker.stored_batches(topic, 0)
    assert sum(b.record_count for b in batches) == 500
    assert_librdkafka_codec(batches, codec)


def test_consume_from_an_offset_inside_a_batch(kafka_broker):
    """`-o 7` on a partition whose records 5..9 share one batch starts exactly at offset 7."""
    topic = kafka_broker.topic("kcat-offset", partitions=1)
    # A long linger keeps each run of five lines in one batch even on a loaded machine.
    linger = ("-X", "linger.ms=1000")
    kcat(kafka_broker, "-P", "-t", topic, "-p", "0", *linger, stdin="".join(f"a{i}\n" for i in range(5)))
    kcat(kafka_broker, "-P", "-t", topic, "-p", "0", *linger, stdin="".join(f"b{i}\n" for i in range(5, 10)))
    assert [(b.base_offset, b.record_count) for b in kafka_broker.stored_batches(topic, 0)] == [(0, 5), (5, 5)]
    assert consume(kafka_broker, topic, 0, offset=7) == [f"0 {i}  b{i} " for i in (7, 8, 9)]


def test_consume_relative_to_the_end_and_at_the_end(kafka_broker):
    """`-o -2` yields the last two records; `-o end -e` yields none and exits at the end."""
    topic = kafka_broker.topic("kcat-end", partitions=1)
    kcat(kafka_broker, "-P", "-t", topic, "-p", "0", "-K:", stdin="".join(f"k{i}:v{i}\n" for i in range(6)))
    assert consume(kafka_broker, topic, 0, offset=-2) == ["0 4 k4 v4 ", "0 5 k5 v5 "]
    assert consume(kafka_broker, topic, 0, offset="end") == []


def test_acks_zero_fire_and_forget_is_stored(kafka_broker):
    """A producer with acks=0 gets no response, yet its records are stored and readable."""
    topic = kafka_broker.topic("kcat-acks0", partitions=1)
    kcat(kafka_broker, "-P", "-t", topic, "-p", "0", "-X", "acks=0", "-K:", stdin="k:fire-and-forget\nk2:second\n")
    messages = kafka_broker.consume_all(topic, 0, 2)
    assert [(m["offset"], m["key"], m["payload"]) for m in messages] == [
        (0, "k", "fire-and-forget"), (1, "k2", "second")]
    assert consume(kafka_broker, topic, 0) == ["0 0 k fire-and-forget ", "0 1 k2 second "]


def test_idempotent_producer(kafka_broker):
    """`enable.idempotence=true` obtains a producer id; the batch carries it and sequence 0."""
    topic = kafka_broker.topic("kcat-idem", partitions=1)
    kcat(kafka_broker, "-P", "-t", topic, "-p", "0", "-X", "enable.idempotence=true", "-K:",
         stdin="k1:one\nk2:two\nk3:three\n")
    assert consume(kafka_broker, topic, 0) == ["0 0 k1 one ", "0 1 k2 two ", "0 2 k3 three "]
    [batch] = kafka_broker.stored_batches(topic, 0)
    assert batch.producer_id >= 0
    assert batch.base_sequence == 0
