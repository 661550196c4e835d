"""The HTTP side of consumer groups while a real Kafka consumer (confluent-kafka) is a member:
`GET /groups/{g}` shows the member with its assignment and the offsets it commits, and every
change from outside is refused with `group_not_empty` (409), as Kafka refuses a reset of an active
group; once the member leaves, the reset goes through and the consumer's next run starts there."""
from confluent_kafka import Consumer

from kafka_support import wait_until


def member_consumer(broker, group):
    return Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group,
                     "auto.offset.reset": "earliest", "enable.auto.commit": False,
                     "session.timeout.ms": 6000, "heartbeat.interval.ms": 500})


def test_http_sees_a_kafka_member_and_refuses_changes_while_it_is_in_the_group(kafka_broker):
    broker = kafka_broker
    topic = broker.topic("groups-http", partitions=2)
    group = f"{topic}-g"
    for i in range(6):
        broker.produce({"topic": topic, "partition": i % 2, "payload": {"i": i}})

    consumer = member_consumer(broker, group)
    try:
        consumer.subscribe([topic])
        read = []

        def six_read():
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                read.append(message)
            return len(read) >= 6
        wait_until(six_read, timeout_s=30, what="the member to read six records")
        consumer.commit(asynchronous=False)

        def described():
            status, body = broker.call("GET", f"/groups/{group}")
            return body if status == 200 and body["state"] == "Stable" and body["offsets"] and all(
                o["committed"] == 3 for o in body["offsets"]) else None
        detail = wait_until(described, what="the group to be Stable with its commits")
        [member] = detail["members"]
        assert member["client_id"]
        assert member["assignment"] == [{"topic": topic, "partitions": [0, 1]}], member
        assert [(o["partition"], o["committed"], o["high_watermark"], o["lag"], o["member_id"])
                for o in detail["offsets"]] == [(0, 3, 3, 0, member["member_id"]),
                                                (1, 3, 3, 0, member["member_id"])]
        status, listed = broker.call("GET", "/groups")
        assert status == 200
        [line] = [g for g in listed["groups"] if g["group_id"] == group]
        assert (line["state"], line["protocol_type"], line["members"], line["lag"]) == (
            "Stable", "consumer", 1, 0)

        for method, path, body, query in [
            ("POST", f"/groups/{group}/offsets", {"topic": topic, "to": "earliest"}, None),
            ("POST", f"/groups/{group}/offsets", {"topic": topic, "to": "earliest", "dry_run": True}, None),
            ("POST", f"/groups/{group}/commit", {"topic": topic, "partition": 0, "offset": 0}, None),
            ("DELETE", f"/groups/{group}", None, None),
            ("GET", "/consume", None, {"topic": topic, "partition": 0, "group": group}),
        ]:
            status, answer = broker.call(method, path, body, query=query)
            assert (status, answer["error"]["code"]) == (409, "group_not_empty"), (method, path, answer)
    finally:
        consumer.close()

    # The member left: the reset is allowed, and the group's next member starts where it says.
    def reset():
        status, body = broker.call("POST", f"/groups/{group}/offsets",
                                   {"topic": topic, "to": {"offset": 1}})
        return body if status == 200 else None
    wait_until(reset, what="the reset once the member left")
    consumer = member_consumer(broker, group)
    try:
        consumer.subscribe([topic])
        again = []

        def four_read():
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                again.append((message.partition(), message.offset()))
            return len(again) >= 4
        wait_until(four_read, timeout_s=30, what="the new member to read from the reset offsets")
        assert sorted(again) == [(0, 1), (0, 2), (1, 1), (1, 2)]
    finally:
        consumer.close()
