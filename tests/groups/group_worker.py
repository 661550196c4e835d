"""One group consumer of one Python Kafka client, run as its own process by the tests (so a test can
SIGKILL it). It prints the same JSON lines as the Java program (java/.../GroupConsumer.java):

    {"event":"started"}
    {"event":"assigned","partitions":[0,3]}     (also "revoked" and "lost")
    {"event":"record","partition":0,"offset":12,"value":"..."}
    {"event":"committed","offsets":{"0":13}}
    {"event":"error","error":"...","message":"..."}
    {"event":"closed","records":42}

Each poll's records are printed, then committed synchronously (explicit offsets), so after a clean
stop every printed record is committed. SIGTERM stops it with a clean close (which leaves the
group); so do --max-records and --idle-timeout-ms (0: never).

usage: group_worker.py --client confluent|kafka-python|aiokafka --bootstrap HOST:PORT --group G
       --topic T [--assignor range|roundrobin|cooperative-sticky] [--max-records N]
       [--idle-timeout-ms MS] [--session-timeout-ms MS] [--heartbeat-ms MS]
"""
import argparse
import json
import signal
import sys
import time

POLL_RECORDS_MAX = 50
POLL_TIMEOUT_S = 0.2
CLOSE_TIMEOUT_S = 10


def emit(event, **fields):
    print(json.dumps({"event": event, **fields}), flush=True)


def emit_partitions(event, partitions):
    emit(event, partitions=sorted(tp.partition for tp in partitions))


class Stop:
    """Set by SIGTERM, by --max-records or by --idle-timeout-ms."""

    def __init__(self, args):
        self.signalled = False
        self.args = args
        self.records = 0
        self.last_record_at = time.monotonic()

    def on_signal(self, *_):
        self.signalled = True

    def seen(self, count):
        self.records += count
        if count:
            self.last_record_at = time.monotonic()

    def __bool__(self):
        if self.signalled:
            return True
        if self.args.max_records and self.records >= self.args.max_records:
            return True
        idle_s = self.args.idle_timeout_ms / 1000
        return bool(idle_s) and time.monotonic() - self.last_record_at >= idle_s


def emit_records(records):
    """`records`: (partition, offset, value bytes) in poll order; returns {partition: next offset}."""
    next_offsets = {}
    for partition, offset, value in records:
        emit("record", partition=partition, offset=offset, value=value.decode())
        next_offsets[partition] = offset + 1
    return next_offsets


def run_confluent(args, stop):
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    consumer = Consumer({
        "bootstrap.servers": args.bootstrap,
        "group.id": args.group,
        "client.id": "yak-groups-confluent",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": args.session_timeout_ms,
        "heartbeat.interval.ms": args.heartbeat_ms,
        "partition.assignment.strategy": args.assignor,
    })
    consumer.subscribe([args.topic],
                       on_assign=lambda _, ps: emit_partitions("assigned", ps),
                       on_revoke=lambda _, ps: emit_partitions("revoked", ps),
                       on_lost=lambda _, ps: emit_partitions("lost", ps))
    emit("started")
    try:
        while not stop:
            messages = consumer.consume(num_messages=POLL_RECORDS_MAX, timeout=POLL_TIMEOUT_S)
            records = []
            for message in messages:
                if message.error():
                    # Partition EOF and transient errors are informational; fatal ones raise below.
                    if message.error().fatal():
                        raise KafkaException(message.error())
                    continue
                records.append((message.partition(), message.offset(), message.value()))
            stop.seen(len(records))
            if records:
                next_offsets = emit_records(records)
                consumer.commit(offsets=[TopicPartition(args.topic, p, o) for p, o in next_offsets.items()],
                                asynchronous=False)
                emit("committed", offsets={str(p): o for p, o in next_offsets.items()})
    finally:
        consumer.close()


def run_kafka_python(args, stop):
    from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
    from kafka.coordinator.assignors.range import RangePartitionAssignor
    from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
    from kafka.structs import OffsetAndMetadata

    assignors = {"range": RangePartitionAssignor, "roundrobin": RoundRobinPartitionAssignor}

    class Listener(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked):
            emit_partitions("revoked", revoked)

        def on_partitions_assigned(self, assigned):
            emit_partitions("assigned", assigned)

    consumer = KafkaConsumer(
        bootstrap_servers=args.bootstrap, group_id=args.group, client_id="yak-groups-kafka-python",
        enable_auto_commit=False, auto_offset_reset="earliest",
        session_timeout_ms=args.session_timeout_ms, heartbeat_interval_ms=args.heartbeat_ms,
        max_poll_records=POLL_RECORDS_MAX, partition_assignment_strategy=[assignors[args.assignor]])
    consumer.subscribe([args.topic], listener=Listener())
    emit("started")
    try:
        while not stop:
            batch = consumer.poll(timeout_ms=int(POLL_TIMEOUT_S * 1000))
            records = [(r.partition, r.offset, r.value) for rs in batch.values() for r in rs]
            stop.seen(len(records))
            if records:
                next_offsets = emit_records(records)
                consumer.commit({TopicPartition(args.topic, p): OffsetAndMetadata(o, "", -1)
                                 for p, o in next_offsets.items()})
                emit("committed", offsets={str(p): o for p, o in next_offsets.items()})
    finally:
        consumer.close()


def run_aiokafka(args, stop):
    import asyncio

    from aiokafka import AIOKafkaConsumer
    from aiokafka.abc import ConsumerRebalanceListener
    from aiokafka.coordinator.assignors.range import RangePartitionAssignor
    from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
    from aiokafka.structs import TopicPartition

    assignors = {"range": RangePartitionAssignor, "roundrobin": RoundRobinPartitionAssignor}

    class Listener(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked):
            emit_partitions("revoked", revoked)

        def on_partitions_assigned(self, assigned):
            emit_partitions("assigned", assigned)

    async def main():
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.on_signal)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=args.bootstrap, group_id=args.group, client_id="yak-groups-aiokafka",
            enable_auto_commit=False, auto_offset_reset="earliest",
            session_timeout_ms=args.session_timeout_ms, heartbeat_interval_ms=args.heartbeat_ms,
            max_poll_records=POLL_RECORDS_MAX, partition_assignment_strategy=(assignors[args.assignor],))
        consumer.subscribe([args.topic], listener=Listener())
        emit("started")
        await consumer.start()
        try:
            while not stop:
                batch = await consumer.getmany(timeout_ms=int(POLL_TIMEOUT_S * 1000), max_records=POLL_RECORDS_MAX)
                records = [(r.partition, r.offset, r.value) for rs in batch.values() for r in rs]
                stop.seen(len(records))
                if records:
                    next_offsets = emit_records(records)
                    await consumer.commit({TopicPartition(args.topic, p): o for p, o in next_offsets.items()})
                    emit("committed", offsets={str(p): o for p, o in next_offsets.items()})
        finally:
            await asyncio.wait_for(consumer.stop(), CLOSE_TIMEOUT_S)

    asyncio.run(main())


CLIENTS = {"confluent": run_confluent, "kafka-python": run_kafka_python, "aiokafka": run_aiokafka}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--client", choices=sorted(CLIENTS), required=True)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--assignor", default="range", choices=["range", "roundrobin", "cooperative-sticky"])
    parser.add_argument("--max-records", type=int, default=0)
    parser.add_argument("--idle-timeout-ms", type=int, default=0)
    parser.add_argument("--session-timeout-ms", type=int, default=6000)
    parser.add_argument("--heartbeat-ms", type=int, default=1000)
    args = parser.parse_args()
    if args.assignor == "cooperative-sticky" and args.client != "confluent":
        parser.error("cooperative-sticky is tested with confluent-kafka and the Java client only")
    stop = Stop(args)
    signal.signal(signal.SIGTERM, stop.on_signal)
    try:
        CLIENTS[args.client](args, stop)
    except Exception as err:  # reported to the test as an event, with a distinct exit code
        emit("error", error=type(err).__name__, message=str(err))
        emit("closed", records=stop.records)
        sys.exit(3)
    emit("closed", records=stop.records)


if __name__ == "__main__":
    main()
