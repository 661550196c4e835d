"""kafka-python 3.x (pure Python; ApiVersions v4, idempotent producer by default) against a real
broker: produce with every codec, consume by assign/seek/poll, list offsets (earliest, latest,
by time), and the admin client's topic calls."""
import time

import kafka
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from kafka_support import wait_until

SEND_TIMEOUT_SECONDS = 30


def test_client_is_kafka_python_3():
    """The suite runs the 3.x line (idempotent by default, ApiVersions v4)."""
    assert kafka.__version__.startswith("3.")


def make_consumer(broker):
    return KafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False,
                         group_id=None, consumer_timeout_ms=1000)


def poll_exactly(consumer, count):
    """Polls until `count` records have arrived and returns them as (partition, offset, key,
    value, headers), in poll order; fails if more arrive in a further poll."""
    records = []

    def done():
        for batch in consumer.poll(timeout_ms=200).values():
            records.extend((r.partition, r.offset, r.key, r.value, r.headers) for r in batch)
        return len(records) >= count

    wait_until(done, timeout_s=30, interval_s=0, what=f"{count} records")
    assert consumer.poll(timeout_ms=300) == {}, "more records than expected"
    assert len(records) == count
    return records


@pytest.mark.parametrize("codec", [None, "gzip", "snappy", "lz4", "zstd"])
def test_idempotent_produce_each_codec_then_consume_exactly(kafka_broker, codec):
    """300 keyed records with headers over two partitions: dense offsets, batches stored with the
    codec and a producer id (idempotent by default), read back exactly with assign + poll."""
    topic = kafka_broker.topic(f"kp-{codec or 'none'}", partitions=2)
    producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap, compression_type=codec, linger_ms=5)
    assert producer.config["enable_idempotence"] is True
    sent = []
    for i in range(300):
        record = (i % 2, f"key-{i}".encode(), f"{codec} value {i} repeated repeated repeated".encode(),
                  [("seq", str(i).encode()), ("client", b"kafka-python")])
        sent.append((record, producer.send(topic, partition=record[0], key=record[1], value=record[2],
                                           headers=record[3])))
    producer.flush(SEND_TIMEOUT_SECONDS)
    metadata = [(record, future.get(SEND_TIMEOUT_SECONDS)) for record, future in sent]
    producer.close()
    expected = []
    for partition in (0, 1):
        mine = [(record, meta) for record, meta in metadata if record[0] == partition]
        assert [meta.offset for _, meta in mine] == list(range(150))
        expected += [(partition, meta.offset, record[1], record[2], record[3]) for record, meta in mine]
        batches = kafka_broker.stored_batches(topic, partition)
        assert {b.codec for b in batches} == {codec or "none"}
        assert all(b.producer_id >= 0 for b in batches)

    consumer = make_consumer(kafka_broker)
    try:
        consumer.assign([TopicPartition(topic, 0), TopicPartition(topic, 1)])
        consumer.seek_to_beginning()
        assert sorted(poll_exactly(consumer, 300)) == sorted(expected)
    finally:
        consumer.close()


def test_seek_inside_a_batch_and_list_offsets(kafka_broker):
    """seek(7) in a partition of two 5-record batches polls exactly 7..9; beginning_offsets,
    end_offsets and offsets_for_times (between, inside and after the batches) agree with Kafka."""
    topic = kafka_broker.topic("kp-seek", partitions=1)
    tp = TopicPartition(topic, 0)
    base_ms = int(time.time() * 1000) - 120_000
    producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap, linger_ms=50)
    for first in (0, 5):
        futures = [producer.send(topic, partition=0, key=f"k{i}".encode(), value=f"v{i}".encode(),
                                 timestamp_ms=base_ms + i * 1000) for i in range(first, first + 5)]
        producer.flush(SEND_TIMEOUT_SECONDS)
        assert [f.get(SEND_TIMEOUT_SECONDS).offset for f in futures] == list(range(first, first + 5))
    producer.close()
    assert [(b.base_offset, b.record_count) for b in kafka_broker.stored_batches(topic, 0)] == [(0, 5), (5, 5)]

    consumer = make_consumer(kafka_broker)
    try:
        consumer.assign([tp])
        consumer.seek(tp, 7)
        assert poll_exactly(consumer, 3) == [(0, i, f"k{i}".encode(), f"v{i}".encode(), []) for i in (7, 8, 9)]
        assert consumer.beginning_offsets([tp]) == {tp: 0}
        assert consumer.end_offsets([tp]) == {tp: 10}
        found = consumer.offsets_for_times({tp: base_ms + 4_500})[tp]
        assert (found.offset, found.timestamp) == (5, base_ms + 5_000)
        found = consumer.offsets_for_times({tp: base_ms + 6_500})[tp]
        assert (found.offset, found.timestamp) == (7, base_ms + 7_000)
        found = consumer.offsets_for_times({tp: base_ms})[tp]
        assert (found.offset, found.timestamp) == (0, base_ms)
        assert consumer.offsets_for_times({tp: base_ms + 60_000}) == {tp: None}
    finally:
        consumer.close()


def test_admin_create_list_describe_delete_topics(kafka_broker):
    """KafkaAdminClient creates a 3-partition topic (again: TopicAlreadyExistsError), lists and
    describes it, and deletes it so it leaves the metadata."""
    topic = kafka_broker.topic("kp-admin")
    admin = KafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap)
    try:
        admin.create_topics([NewTopic(topic, 3, 1)])
        with pytest.raises(TopicAlreadyExistsError):
            admin.create_topics([NewTopic(topic, 3, 1)])
        assert topic in admin.list_topics()
        [described] = admin.describe_topics([topic])
        assert described["name"] == topic and described["error_code"] == 0
        assert [(p["partition_index"], p["leader_id"], p["replica_nodes"], p["isr_nodes"])
                for p in sorted(described["partitions"], key=lambda p: p["partition_index"])] == [
            (p, 0, [0], [0]) for p in range(3)]
        admin.delete_topics([topic])
        wait_until(lambda: topic not in admin.list_topics(), what="the topic to leave metadata")
    finally:
        admin.close()
    status, _ = kafka_broker.call("GET", f"/topics/{topic}")
    assert status == 404
