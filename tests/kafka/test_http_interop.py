"""Interop between YAK's HTTP API and the Kafka clients: records produced with `POST /produce` are
read by kcat, confluent-kafka, kafka-python and aiokafka (value = the payload's JSON text, key,
headers), and records each client produces (compressed too) are read with `GET /consume`."""
import asyncio
import json
import shutil
import subprocess

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka import TopicPartition as AioTopicPartition
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer
from confluent_kafka import TopicPartition as CkTopicPartition
from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KpTopicPartition

from kafka_support import wait_until

TIMEOUT_SECONDS = 30
HTTP_RECORDS = [
    {"key": "order-1", "payload": {"id": 1, "items": ["a", "b"], "total": 9.5}, "headers": {"source": "http", "v": "1"}},
    {"key": "order-2", "payload": "plain text payload", "headers": {"source": "http"}},
    {"key": None, "payload": [1, 2, 3], "headers": {}},
    {"key": "order-3", "payload": None, "headers": {"tombstone": "yes"}},
]


def json_text(payload):
    """The exact JSON text the HTTP request carried for `payload` (the fixture's encoder): YAK
    stores a payload's text as it arrived."""
    return json.dumps(payload)


# --- Readers: each returns [(offset, key bytes|None, value bytes|None, {header: value})] -----------

def read_kcat(broker, topic, count):
    if shutil.which("kcat") is None:
        pytest.skip("kcat is not installed")
    result = subprocess.run(
        ["kcat", "-b", broker.bootstrap, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-q",
         "-J", "-X", "check.crcs=true"], capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == count
    return [(m["offset"], None if m["key"] is None else m["key"].encode(),
             None if m["payload"] is None else m["payload"].encode(),
             dict(zip(m.get("headers", [])[::2], [v.encode() for v in m.get("headers", [])[1::2]])))
            for m in lines]


def read_confluent(broker, topic, count):
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "assign-only-unused",
                         "enable.auto.commit": False})
    records = []
    try:
        consumer.assign([CkTopicPartition(topic, 0, OFFSET_BEGINNING)])

        def done():
            message = consumer.poll(0.2)
            if message is not None:
                assert message.error() is None, message.error()
                records.append((message.offset(), message.key(), message.value(), dict(message.headers() or [])))
            return len(records) >= count

        wait_until(done, TIMEOUT_SECONDS, interval_s=0, what=f"{count} records via confluent-kafka")
    finally:
        consumer.close()
    return records


def read_kafka_python(broker, topic, count):
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False, group_id=None)
    records = []
    try:
        tp = KpTopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)

        def done():
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend((r.offset, r.key, r.value, dict(r.headers)) for r in batch)
            return len(records) >= count

        wait_until(done, TIMEOUT_SECONDS, interval_s=0, what=f"{count} records via kafka-python")
    finally:
        consumer.close()
    return records


def read_aiokafka(broker, topic, count):
    async def read():
        consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False)
        await consumer.start()
        records = []
        try:
            tp = AioTopicPartition(topic, 0)
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            deadline = asyncio.get_running_loop().time() + TIMEOUT_SECONDS
            while len(records) < count:
                assert asyncio.get_running_loop().time() < deadline, f"only {len(records)} records via aiokafka"
                for batch in (await consumer.getmany(timeout_ms=200)).values():
                    records.extend((r.offset, r.key, r.value, dict(r.headers)) for r in batch)
        finally:
            await consumer.stop()
        return records

    return asyncio.run(read())


READERS = {"kcat": read_kcat, "confluent-kafka": read_confluent, "kafka-python": read_kafka_python,
           "aiokafka": read_aiokafka}


@pytest.mark.parametrize("reader", READERS)
def test_http_produced_records_read_by_kafka_client(kafka_broker, reader):
    """Each Kafka client reads HTTP-produced records: the value is the payload's JSON text, key and
    headers are as sent (a null key stays null), offsets are 0..3."""
    topic = kafka_broker.topic(f"interop-http-{reader}", partitions=1)
    for i, record in enumerate(HTTP_RECORDS):
        body = {"topic": topic, "partition": 0, "payload": record["payload"], "headers": record["headers"]}
        if record["key"] is not None:
            body["key"] = record["key"]
        assert kafka_broker.produce(body)["offset"] == i
    got = READERS[reader](kafka_broker, topic, len(HTTP_RECORDS))
    assert got == [
        (i, None if r["key"] is None else r["key"].encode(), json_text(r["payload"]).encode(),
         {k: v.encode() for k, v in r["headers"].items()})
        for i, r in enumerate(HTTP_RECORDS)]


# --- Writers: each sends [(key, value, headers)] to partition 0 with a codec ---------------------

def write_kcat(broker, topic, records, codec):
    if shutil.which("kcat") is None:
        pytest.skip("kcat is not installed")
    # kcat gives every record of a run the same headers, so consecutive records with equal
    # headers share a run (and a batch big enough to be worth compressing).
    runs = []
    for key, value, headers in records:
        if runs and runs[-1][0] == headers:
            runs[-1][1].append((key, value))
        else:
            runs.append((headers, [(key, value)]))
    for headers, run in runs:
        args = ["kcat", "-b", broker.bootstrap, "-P", "-t", topic, "-p", "0", "-K", "\t", "-z", codec]
        for name, header_value in headers:
            args += ["-H", f"{name}={header_value.decode()}"]
        lines = "".join(f"{key.decode()}\t{value.decode()}\n" for key, value in run)
        result = subprocess.run(args, input=lines, capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
        assert result.returncode == 0, result.stderr


def write_confluent(broker, topic, records, codec):
    producer = Producer({"bootstrap.servers": broker.bootstrap, "compression.type": codec,
                         "enable.idempotence": True})
    errors = []
    for key, value, headers in records:
        producer.produce(topic, value=value, key=key, headers=headers, partition=0,
                         on_delivery=lambda err, msg: errors.append(err))
    assert producer.flush(TIMEOUT_SECONDS) == 0
    assert errors == [None] * len(records)


def write_kafka_python(broker, topic, records, codec):
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, compression_type=codec)
    futures = [producer.send(topic, key=k, value=v, headers=h, partition=0) for k, v, h in records]
    producer.flush(TIMEOUT_SECONDS)
    assert [f.get(TIMEOUT_SECONDS).offset for f in futures] == list(range(len(records)))
    producer.close()


def write_aiokafka(broker, topic, records, codec):
    async def write():
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, compression_type=codec,
                                    enable_idempotence=True)
        await producer.start()
        try:
            batch = [await producer.send(topic, key=k, value=v, headers=h, partition=0) for k, v, h in records]
            assert [(await f).offset for f in batch] == list(range(len(records)))
        finally:
            await producer.stop()

    asyncio.run(write())


WRITERS = {"kcat": (write_kcat, ["gzip", "snappy", "lz4", "zstd"]),
           "confluent-kafka": (write_confluent, ["gzip", "snappy", "lz4", "zstd"]),
           "kafka-python": (write_kafka_python, ["gzip", "snappy", "lz4", "zstd"]),
           "aiokafka": (write_aiokafka, ["gzip", "snappy", "lz4", "zstd"])}
CLIENT_RECORDS = [
    (b"json-object", b'{"id":7,"tags":["x","y"],"ok":true}', [("source", b"client"), ("n", b"0")]),
    (b"text", b"not json at all", [("source", b"client")]),
    (b"json-number", b"42", []),
] + [(f"bulk-{i}".encode(), f'{{"bulk":{i},"pad":"compress compress compress"}}'.encode(), [("bulk", b"yes")])
     for i in range(40)]


@pytest.mark.parametrize("writer,codec", [(w, c) for w, (_, codecs) in WRITERS.items() for c in codecs])
def test_kafka_client_records_read_over_http(kafka_broker, writer, codec):
    """`GET /consume` decodes client-produced (compressed) batches: JSON text comes back as the JSON
    value, other text as a string, with key and headers, at offsets 0..n-1."""
    topic = kafka_broker.topic(f"interop-{writer}-{codec}", partitions=1)
    WRITERS[writer][0](kafka_broker, topic, CLIENT_RECORDS, codec)
    messages = kafka_broker.consume_all(topic, 0, len(CLIENT_RECORDS))

    def payload(value):
        try:
            return json.loads(value)
        except ValueError:
            return value.decode()

    assert [(m["offset"], m["key"], m["payload"], m.get("headers", {})) for m in messages] == [
        (i, k.decode(), payload(v), {name: hv.decode() for name, hv in h}) for i, (k, v, h) in enumerate(CLIENT_RECORDS)]
    assert [m["payload"] for m in messages[:3]] == [{"id": 7, "tags": ["x", "y"], "ok": True}, "not json at all", 42]
    assert codec in {b.codec for b in kafka_broker.stored_batches(topic, 0)}
