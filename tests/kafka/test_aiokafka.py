"""aiokafka (asyncio; ApiVersions v0, never flexible) against a real broker: an idempotent producer
with every codec, a group-less consumer with assign + seek_to_beginning + getmany, a plain
producer (producer id -1 with sequence 0), and the admin client's create/delete topics."""
import asyncio
import time

import aiokafka
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

CONSUME_SECONDS_MAX = 30
TOPIC_ALREADY_EXISTS = 36


async def produce(broker, topic, records, **config):
    """Sends (partition, key, value, headers) records and returns their (partition, offset)."""
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, **config)
    await producer.start()
    try:
        futures = [await producer.send(topic, partition=p, key=k, value=v, headers=h) for p, k, v, h in records]
        return [((m := await f).partition, m.offset) for f in futures]
    finally:
        await producer.stop()


async def consume_exactly(broker, partitions, count):
    """Assigns `partitions`, seeks to the beginning and getmany()s until `count` records, as
    (partition, offset, key, value, headers); one more getmany must come back empty."""
    consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        records, deadline = [], time.monotonic() + CONSUME_SECONDS_MAX
        while len(records) < count:
            assert time.monotonic() < deadline, f"only {len(records)} of {count} records arrived"
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                records.extend((r.partition, r.offset, r.key, r.value, list(r.headers)) for r in batch)
        assert await consumer.getmany(timeout_ms=300) == {}, "more records than expected"
        assert len(records) == count
        return records
    finally:
        await consumer.stop()


def test_client_is_aiokafka_0x():
    """The suite runs aiokafka 0.x, the line pinned in requirements.txt."""
    assert aiokafka.__version__.startswith("0.")


@pytest.mark.parametrize("codec", [None, "gzip", "snappy", "lz4", "zstd"])
def test_idempotent_producer_100_records_read_back_exactly(kafka_broker, codec):
    """100 records from an idempotent producer land at offsets 0..99 of one partition, stored
    with the codec under one producer id, and getmany returns exactly them."""
    topic = kafka_broker.topic(f"ak-{codec or 'none'}", partitions=2)
    records = [(0, f"key-{i}".encode(), f"aiokafka {codec} value {i} repeated repeated".encode(),
                [("n", str(i).encode())]) for i in range(100)]
    placed = asyncio.run(produce(kafka_broker, topic, records, enable_idempotence=True, compression_type=codec))
    assert placed == [(0, i) for i in range(100)]
    got = asyncio.run(consume_exactly(kafka_broker, [TopicPartition(topic, 0), TopicPartition(topic, 1)], 100))
    assert got == [(0, i, k, v, h) for i, (_, k, v, h) in enumerate(records)]
    batches = kafka_broker.stored_batches(topic, 0)
    assert {b.codec for b in batches} == {codec or "none"}
    assert len({b.producer_id for b in batches}) == 1 and batches[0].producer_id >= 0
    assert kafka_broker.stored_batches(topic, 1) == []


def test_plain_producer_without_producer_id(kafka_broker):
    """A non-idempotent aiokafka producer (producer id -1, base sequence 0) is accepted, and
    null keys and empty values survive."""
    topic = kafka_broker.topic("ak-plain", partitions=1)
    records = [(0, None, b"no key", []), (0, b"empty value", b"", [("h", b"")]), (0, b"k", b"v", [])]
    assert asyncio.run(produce(kafka_broker, topic, records)) == [(0, 0), (0, 1), (0, 2)]
    got = asyncio.run(consume_exactly(kafka_broker, [TopicPartition(topic, 0)], 3))
    assert got == [(0, i, k, v, h) for i, (_, k, v, h) in enumerate(records)]
    assert all(b.producer_id == -1 for b in kafka_broker.stored_batches(topic, 0))


def test_admin_create_and_delete_topics(kafka_broker):
    """AIOKafkaAdminClient creates a 4-partition topic (a second create answers
    TOPIC_ALREADY_EXISTS), sees it listed, and deletes it so it leaves the metadata."""
    topic = kafka_broker.topic("ak-admin")

    async def scenario():
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap)
        await admin.start()
        try:
            created = await admin.create_topics([NewTopic(topic, 4, 1)])
            assert [(t[0], t[1]) for t in created.topic_errors] == [(topic, 0)]
            again = await admin.create_topics([NewTopic(topic, 4, 1)])
            assert [(t[0], t[1]) for t in again.topic_errors] == [(topic, TOPIC_ALREADY_EXISTS)]
            assert topic in await admin.list_topics()
            deleted = await admin.delete_topics([topic])
            assert [(t[0], t[1]) for t in deleted.topic_error_codes] == [(topic, 0)]
            deadline = time.monotonic() + 15
            while topic in await admin.list_topics():
                assert time.monotonic() < deadline, "the deleted topic stayed in metadata"
                await asyncio.sleep(0.05)
        finally:
            await admin.close()

    asyncio.run(scenario())
    status, _ = kafka_broker.call("GET", f"/topics/{topic}")
    assert status == 404
