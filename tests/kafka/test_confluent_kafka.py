"""confluent-kafka (librdkafka 2.16) against a real broker: produce with every codec, idempotent
and not; consume by partition and offset; the murmur2 partitioner agreeing with HTTP; the admin
client; list offsets by time; and an idempotent producer's 5,000 records without duplicates."""
import time

import pytest
from confluent_kafka import (OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition)
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic

from kafka_support import assert_librdkafka_codec, wait_until

# librdkafka (2.0.2 and 2.16 alike) enables LZ4 only when the broker advertises FindCoordinator,
# which YAK does (answering COORDINATOR_NOT_AVAILABLE until consumer groups land), so every codec,
# lz4 included, must be stored as sent.
CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
FLUSH_SECONDS_MAX = 30
# librdkafka's Consumer requires a group.id even when partitions are only assigned by hand. It then
# asks FindCoordinator once, gets COORDINATOR_NOT_AVAILABLE and keeps fetching; auto-commit stays
# off because a final commit on close() would wait for a coordinator that never comes.
ASSIGN_ONLY_GROUP = "assign-only-unused"


def producer(broker, **config):
    return Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5, **config})


def produce_all(producer_, topic, records, **extra):
    """Produces `records` (dicts of key/value/headers/partition/timestamp) and returns every
    delivery report as (error, partition, offset, key, value), in the order they arrived."""
    reports = []
    for record in records:
        producer_.produce(topic, on_delivery=lambda err, msg: reports.append(
            (err, msg.partition(), msg.offset(), msg.key(), msg.value())), **record, **extra)
        producer_.poll(0)
    assert producer_.flush(FLUSH_SECONDS_MAX) == 0, "records still undelivered after flush"
    assert len(reports) == len(records)
    return reports


def consume_exactly(broker, topic, partitions, count, start=OFFSET_BEGINNING):
    """Assigns `partitions` from `start` (no group, no commits) and returns exactly `count`
    records as (partition, offset, key, value, headers); fails on errors or extra records."""
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": ASSIGN_ONLY_GROUP,
                         "enable.auto.commit": False, "enable.auto.offset.store": False,
                         "enable.partition.eof": True})
    try:
        consumer.assign([TopicPartition(topic, p, start) for p in partitions])
        records, at_end = [], set()

        def done():
            message = consumer.poll(0.2)
            if message is not None:
                if message.error():
                    assert message.error().code() == KafkaError._PARTITION_EOF, message.error()
                    at_end.add(message.partition())
                else:
                    at_end.discard(message.partition())
                    records.append((message.partition(), message.offset(), message.key(),
                                    message.value(), message.headers()))
            return len(records) >= count and at_end == set(partitions)

        wait_until(done, timeout_s=30, interval_s=0, what=f"{count} records from {topic}")
        assert len(records) == count
        return records
    finally:
        consumer.close()


def keyed_records(count, prefix):
    return [{"key": f"{prefix}-key-{i % 37}".encode(),
             "value": f"{prefix} value {i} with enough repetition to compress".encode(),
             "headers": [("seq", str(i).encode()), ("src", b"confluent")]} for i in range(count)]


@pytest.mark.parametrize("idempotent", [False, True], ids=["plain", "idempotent"])
@pytest.mark.parametrize("codec", CODECS)
def test_produce_each_codec_then_consume_exactly(kafka_broker, codec, idempotent):
    """1,000 keyed records with headers: every delivery report is clean, offsets are dense per
    partition, the batches are stored with the codec, and a Consumer reads back the same records."""
    topic = kafka_broker.topic(f"ck-{codec}-{'idem' if idempotent else 'plain'}", partitions=3)
    records = keyed_records(1000, codec)
    reports = produce_all(producer(kafka_broker, **{"compression.type": codec,
                                                    "enable.idempotence": idempotent,
                                                    "partitioner": "murmur2_random"}), topic, records)
    assert [r[0] for r in reports] == [None] * 1000
    expected = []
    for partition in range(3):
        sent = [(r[3], r[4]) for r in reports if r[1] == partition]
        offsets = [r[2] for r in reports if r[1] == partition]
        assert offsets == list(range(len(sent))), f"partition {partition} offsets are not dense"
        by_value = {rec["value"]: rec for rec in records}
        expected += [(partition, offset, key, value, by_value[value]["headers"])
                     for offset, (key, value) in enumerate(sent)]
    assert all(len([e for e in expected if e[0] == p]) > 0 for p in range(3))
    got = consume_exactly(kafka_broker, topic, [0, 1, 2], 1000)
    assert sorted(got) == sorted(expected)
    for partition in range(3):
        batches = kafka_broker.stored_batches(topic, partition)
        assert_librdkafka_codec(batches, codec)
        assert all((b.producer_id >= 0) == idempotent for b in batches)


def test_murmur2_random_partitioner_agrees_with_http(kafka_broker):
    """On 6 partitions, key `kafka` goes to partition 4 with `partitioner=murmur2_random` and over
    HTTP `POST /produce`; librdkafka's default (CRC32) puts it on 5."""
    topic = kafka_broker.topic("ck-murmur2", partitions=6)
    [murmur] = produce_all(producer(kafka_broker, partitioner="murmur2_random"), topic,
                           [{"key": b"kafka", "value": b"from librdkafka murmur2"}])
    [crc32] = produce_all(producer(kafka_broker), topic, [{"key": b"kafka", "value": b"from librdkafka crc32"}])
    over_http = kafka_broker.produce({"topic": topic, "key": "kafka", "payload": "from http"})
    assert (murmur[0], murmur[1], murmur[2]) == (None, 4, 0)
    assert over_http["partition"] == 4 and over_http["offset"] == 1
    assert (crc32[0], crc32[1], crc32[2]) == (None, 5, 0)
    assert consume_exactly(kafka_broker, topic, [4], 2) == [
        (4, 0, b"kafka", b"from librdkafka murmur2", None),
        (4, 1, b"kafka", b'"from http"', None)]


def test_admin_create_list_grow_and_delete_topics(kafka_broker):
    """AdminClient creates a topic (a second create fails with TOPIC_ALREADY_EXISTS), lists it,
    grows it from 2 to 5 partitions, and deletes it so it leaves the metadata."""
    admin = AdminClient({"bootstrap.servers": kafka_broker.bootstrap})
    topic = kafka_broker.topic("ck-admin")
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])[topic].result(30)
    with pytest.raises(Exception) as again:
        admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])[topic].result(30)
    assert again.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS

    def partitions():
        listed = admin.list_topics(topic, timeout=10).topics.get(topic)
        return None if listed is None or listed.error else sorted(listed.partitions)

    assert wait_until(lambda: partitions() == [0, 1], what="the topic in metadata")
    admin.create_partitions([NewPartitions(topic, 5)])[topic].result(30)
    wait_until(lambda: partitions() == [0, 1, 2, 3, 4], what="5 partitions in metadata")
    assert topic in admin.list_topics(timeout=10).topics
    admin.delete_topics([topic])[topic].result(30)
    wait_until(lambda: topic not in admin.list_topics(timeout=10).topics, what="the topic to leave metadata")
    status, _ = kafka_broker.call("GET", f"/topics/{topic}")
    assert status == 404


def test_offsets_for_times_finds_the_first_record_at_or_after(kafka_broker):
    """ListOffsets by time: a timestamp between two batches gives the second batch's first offset,
    one before everything gives 0, one after everything gives the end (-1)."""
    topic = kafka_broker.topic("ck-times", partitions=1)
    base_ms = int(time.time() * 1000) - 60_000
    early = [{"key": b"early", "value": f"e{i}".encode(), "partition": 0, "timestamp": base_ms + i} for i in range(3)]
    late = [{"key": b"late", "value": f"l{i}".encode(), "partition": 0, "timestamp": base_ms + 10_000 + i}
            for i in range(4)]
    plain = producer(kafka_broker)
    assert [r[2] for r in produce_all(plain, topic, early)] == [0, 1, 2]
    assert [r[2] for r in produce_all(plain, topic, late)] == [3, 4, 5, 6]
    consumer = Consumer({"bootstrap.servers": kafka_broker.bootstrap, "group.id": ASSIGN_ONLY_GROUP,
                         "enable.auto.commit": False})
    try:
        def offset_at(ms):
            [found] = consumer.offsets_for_times([TopicPartition(topic, 0, ms)], timeout=10)
            assert found.error is None
            return found.offset

        assert offset_at(base_ms + 5_000) == 3
        assert offset_at(base_ms + 10_002) == 5
        assert offset_at(base_ms - 1) == 0
        assert offset_at(base_ms + 1) == 1
        assert offset_at(base_ms + 20_000) == -1
        assert consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10) == (0, 7)
    finally:
        consumer.close()
    assert consume_exactly(kafka_broker, topic, [0], 4, start=3) == [
        (0, 3 + i, b"late", f"l{i}".encode(), None) for i in range(4)]


def test_idempotent_producer_5000_records_no_duplicates(kafka_broker):
    """An idempotent producer with many batches in flight stores 5,000 records once each, at
    dense offsets 0..4999, in send order."""
    topic = kafka_broker.topic("ck-idem-5000", partitions=1)
    records = [{"key": f"k{i}".encode(), "value": f"record {i}".encode(), "partition": 0} for i in range(5000)]
    reports = produce_all(producer(kafka_broker, **{"enable.idempotence": True, "batch.num.messages": 100,
                                                    "linger.ms": 0}), topic, records)
    assert [r[0] for r in reports] == [None] * 5000
    assert sorted(r[2] for r in reports) == list(range(5000))
    got = consume_exactly(kafka_broker, topic, [0], 5000)
    assert got == [(0, i, f"k{i}".encode(), f"record {i}".encode(), None) for i in range(5000)]
    batches = kafka_broker.stored_batches(topic, 0)
    assert len(batches) > 1
    assert len({b.producer_id for b in batches}) == 1
    assert [b.base_sequence for b in batches] == [b.base_offset for b in batches]
