"""Committed offsets are durable: they live in the broker's internal offsets log and are loaded
again when the broker starts, after a clean stop and after a kill -9."""
from groups_support import wait_for_values

PARTITIONS = 6
CLIENT_SECONDS_MAX = 30


def committed(broker, group, topic):
    """The group's committed offsets as a client sees them (OffsetFetch), {partition: offset}."""
    from confluent_kafka import Consumer, TopicPartition
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        partitions = consumer.committed([TopicPartition(topic, p) for p in range(PARTITIONS)],
                                        timeout=CLIENT_SECONDS_MAX)
        return {tp.partition: tp.offset for tp in partitions}
    finally:
        consumer.close()


def commit(broker, group, topic, offsets):
    """Commits `offsets` ({partition: offset}) for `group` without joining it (generation -1, as
    a client with manual assignment does)."""
    from confluent_kafka import Consumer, TopicPartition
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        results = consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()],
                                  asynchronous=False)
        assert all(tp.error is None for tp in results), results
    finally:
        consumer.close()


def test_committed_offsets_survive_a_clean_restart_and_a_kill_9(own_broker, members):
    """A group member reads 60 records (10 per partition) and commits them; after a clean broker
    restart the group's committed offsets are still 10 on every partition. Then offsets 3..8 are
    committed for partitions 0..5 and the broker is killed with SIGKILL right away; after it
    starts again those offsets are what OffsetFetch returns, and a new member of the group reads
    exactly the records at and after them."""
    broker = own_broker
    topic = broker.topic("durable")
    group = broker.group("durable")
    records = [f"durable-{i}" for i in range(60)]
    broker.produce(topic, records)
    reader = members("reader", "confluent", broker, group, topic)
    wait_for_values([reader], records)
    reader.stop()

    broker.restart()
    assert committed(broker, group, topic) == {p: 10 for p in range(PARTITIONS)}

    rewound = {p: 3 + p for p in range(PARTITIONS)}
    commit(broker, group, topic, rewound)
    broker.kill9()
    broker.start()
    assert committed(broker, group, topic) == rewound

    # Record i went to partition i % 6 at offset i // 6 (see Broker.produce).
    expected = [v for i, v in enumerate(records) if i // PARTITIONS >= rewound[i % PARTITIONS]]
    resumed = members("resumed", "confluent", broker, group, topic)
    wait_for_values([resumed], expected)
    assert sorted(resumed.values()) == sorted(expected)
    resumed.stop()
