"""Retention and topic configs through a real Kafka client (confluent-kafka): topics created with
small segment.bytes and retention.ms / retention.bytes, the broker's retention check deleting old
segments, ListOffsets earliest moving, fetches below it answered OFFSET_OUT_OF_RANGE (and the
client's auto.offset.reset applying), DescribeConfigs showing the values and
IncrementalAlterConfigs changing them."""
import os
import time

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource,
                                   ConfigSource, NewTopic, ResourceType)

from conftest import BrokerProcess, KafkaBroker
from kafka_support import wait_until

RETENTION_CHECK_INTERVAL_MS = 100
RETENTION_WAIT_SECONDS_MAX = 30
ADMIN_TIMEOUT_SECONDS = 30
FLUSH_SECONDS_MAX = 30
SEGMENT_BYTES = 1024
ASSIGN_ONLY_GROUP = "assign-only-unused"
HOUR_MS = 3_600_000


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    """A broker of its own whose retention check runs every 100 ms (the session broker checks
    every 30 s, the default)."""
    data_dir = tmp_path_factory.mktemp("retention-broker") / "data"
    data_dir.mkdir()
    previous = os.environ.get("YAK_RETENTION_CHECK_INTERVAL_MS")
    os.environ["YAK_RETENTION_CHECK_INTERVAL_MS"] = str(RETENTION_CHECK_INTERVAL_MS)
    try:
        process = BrokerProcess(data_dir)
    finally:
        if previous is None:
            del os.environ["YAK_RETENTION_CHECK_INTERVAL_MS"]
        else:
            os.environ["YAK_RETENTION_CHECK_INTERVAL_MS"] = previous
    try:
        yield KafkaBroker(process.http, process.kafka, process.log_path, data_dir)
    finally:
        process.kill()


def admin(broker):
    return AdminClient({"bootstrap.servers": broker.bootstrap})


def create(broker, name, config):
    # The client must outlive its futures: destroying it fails them with _DESTROY.
    client = admin(broker)
    futures = client.create_topics([NewTopic(name, 1, 1, config=config)],
                                          operation_timeout=ADMIN_TIMEOUT_SECONDS)
    futures[name].result(ADMIN_TIMEOUT_SECONDS)


def describe_entries(broker, name):
    resource = ConfigResource(ResourceType.TOPIC, name)
    client = admin(broker)
    return client.describe_configs([resource])[resource].result(ADMIN_TIMEOUT_SECONDS)


def describe(broker, name):
    return {entry_name: entry.value for entry_name, entry in describe_entries(broker, name).items()}


def produce(broker, topic, count, timestamp_ms=None):
    """`count` records of 100 bytes, one batch each (linger 0, no batching), so segments of
    1 KiB fill after a few records."""
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0,
                         "batch.num.messages": 1})
    errors = []
    for index in range(count):
        extra = {"timestamp": timestamp_ms + index} if timestamp_ms is not None else {}
        producer.produce(topic, value=b"v" * 100, key=str(index).encode(), partition=0,
                         on_delivery=lambda err, msg: err and errors.append(err), **extra)
        producer.poll(0)
    assert producer.flush(FLUSH_SECONDS_MAX) == 0
    assert not errors, errors


def watermarks(broker, topic):
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": ASSIGN_ONLY_GROUP,
                         "enable.auto.commit": False})
    try:
        return consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=ADMIN_TIMEOUT_SECONDS,
                                              cached=False)
    finally:
        consumer.close()


def wait_for_log_start_past(broker, topic, offset):
    """ListOffsets earliest, polled until it is above `offset`; returns (low, high)."""
    return wait_until(lambda: (lambda marks: marks if marks[0] > offset else None)(watermarks(broker, topic)),
                      RETENTION_WAIT_SECONDS_MAX, interval_s=0.1, what=f"log start of {topic} past {offset}")


def alter(broker, resource):
    client = admin(broker)
    client.incremental_alter_configs([resource])[resource].result(ADMIN_TIMEOUT_SECONDS)


def first_message(broker, topic, offset, reset):
    """Fetches from `offset` with `auto.offset.reset=reset`: the first message, or the error."""
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": ASSIGN_ONLY_GROUP,
                         "enable.auto.commit": False, "auto.offset.reset": reset})
    try:
        consumer.assign([TopicPartition(topic, 0, offset)])
        return wait_until(lambda: consumer.poll(0.2), RETENTION_WAIT_SECONDS_MAX, interval_s=0,
                          what=f"a message or an error from {topic}")
    finally:
        consumer.close()


def test_size_retention_moves_earliest_and_refuses_older_fetches(broker):
    topic = broker.topic("size-retention")
    create(broker, topic, {"segment.bytes": str(SEGMENT_BYTES), "retention.bytes": "2048"})
    produce(broker, topic, 60)
    low, high = wait_for_log_start_past(broker, topic, 0)
    assert high == 60
    status, detail = broker.call("GET", f"/topics/{topic}")
    assert status == 200
    partition = detail["partitions"][0]
    assert partition["log_start_offset"] >= low
    assert partition["size_bytes"] >= 2048

    # auto.offset.reset=error: the client sees the broker's OFFSET_OUT_OF_RANGE as an error.
    failed = first_message(broker, topic, 0, "error")
    assert failed.error() is not None, f"got offset {failed.offset()}"
    assert failed.error().code() in (KafkaError._AUTO_OFFSET_RESET, KafkaError.OFFSET_OUT_OF_RANGE)
    assert "out of range" in str(failed.error()).lower(), failed.error()

    # auto.offset.reset=earliest: the client moves to the new log start and reads from there.
    reset = first_message(broker, topic, 0, "earliest")
    assert reset.error() is None, reset.error()
    assert reset.offset() >= low

    status, body = broker.call("GET", "/consume", query={"topic": topic, "partition": 0, "offset": 0})
    assert (status, body["error"]["code"]) == (400, "offset_out_of_range"), body


def test_time_retention_uses_the_largest_timestamp_of_a_segment(broker):
    topic = broker.topic("time-retention")
    create(broker, topic, {"segment.bytes": str(SEGMENT_BYTES), "retention.ms": str(HOUR_MS)})
    now_ms = int(time.time() * 1000)
    produce(broker, topic, 30, timestamp_ms=now_ms - 2 * HOUR_MS)
    produce(broker, topic, 30)
    low, high = wait_for_log_start_past(broker, topic, 0)
    assert high == 60
    assert low <= 30, "segments holding recent records stay"
    reset = first_message(broker, topic, 0, "earliest")
    assert reset.error() is None and reset.offset() == low


def test_describe_and_incremental_alter_configs(broker):
    topic = broker.topic("alter-configs")
    create(broker, topic, {"segment.bytes": str(SEGMENT_BYTES), "retention.ms": "-1"})
    entries = describe_entries(broker, topic)
    assert entries["segment.bytes"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert entries["retention.bytes"].source == ConfigSource.DEFAULT_CONFIG.value
    configs = describe(broker, topic)
    assert configs["segment.bytes"] == str(SEGMENT_BYTES)
    assert configs["retention.ms"] == "-1"
    assert configs["retention.bytes"] == "-1"
    assert configs["cleanup.policy"] == "delete"

    produce(broker, topic, 30, timestamp_ms=int(time.time() * 1000) - 2 * HOUR_MS)
    resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("retention.ms", str(HOUR_MS), incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("retention.bytes", "1048576", incremental_operation=AlterConfigOpType.SET),
    ])
    alter(broker, resource)
    configs = describe(broker, topic)
    assert configs["retention.ms"] == str(HOUR_MS)
    assert configs["retention.bytes"] == "1048576"
    wait_for_log_start_past(broker, topic, 0)

    reset = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("retention.bytes", None, incremental_operation=AlterConfigOpType.DELETE)])
    alter(broker, reset)
    assert describe(broker, topic)["retention.bytes"] == "-1"


@pytest.mark.parametrize("config", [{"retention.hours": "1"}, {"retention.ms": "soon"},
                                    {"cleanup.policy": "compact"}])
def test_bad_configs_are_invalid_config(broker, config):
    topic = broker.topic("bad-config")
    with pytest.raises(KafkaException) as created:
        create(broker, topic, config)
    assert created.value.args[0].code() == KafkaError.INVALID_CONFIG
    good = broker.topic("good-config")
    create(broker, good, {})
    resource = ConfigResource(ResourceType.TOPIC, good, incremental_configs=[
        ConfigEntry(name, value, incremental_operation=AlterConfigOpType.SET)
        for name, value in config.items()])
    with pytest.raises(KafkaException) as altered:
        alter(broker, resource)
    assert altered.value.args[0].code() == KafkaError.INVALID_CONFIG
