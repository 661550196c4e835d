"""The workload of the cluster fault suite: producers at a steady rate (HTTP and the Kafka
protocol, acks=all, globally unique values that are also the record key and the `msg_id`),
readers that poll every node during the run, a monitor that records every node's role, epoch and
high watermarks, and the final read of every partition from every node. All of it goes into one
history (`checker.History`) that `checker.check` judges."""
import threading
import traceback
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

import checker
from cluster_support import Unreachable, error_code, wait_until

SEND_INTERVAL_SECONDS = 0.02         # per producer: 50 writes a second
POLL_INTERVAL_SECONDS = 0.05         # a reader's pause between two consumes
MONITOR_INTERVAL_SECONDS = 0.1       # between two looks at one node's /health and /cluster
PRODUCE_TIMEOUT_SECONDS = 3.0        # an HTTP produce without an answer by then is indeterminate
CONSUME_RECORDS_MAX = 1000           # records asked for in one GET /consume
KAFKA_MESSAGE_TIMEOUT_MS = 20000     # librdkafka gives up on a message after this (then: info)
KAFKA_FLUSH_SECONDS_MAX = 30         # waiting for the Kafka producer's last answers
FINAL_READ_SECONDS_MAX = 30          # reading one partition back from one node
KAFKA_FINAL_READ_SECONDS_MAX = 15    # reading the whole topic back through a Kafka consumer
# Errors of an HTTP produce that prove nothing was appended: the node is not the leader, or it
# refused acks=all before appending (docs/REPLICATION.md, "Acks"), or the request was invalid.
HTTP_NOT_APPENDED = {"not_leader", "not_enough_replicas", "leader_not_available", "unknown_topic",
                     "unknown_partition", "invalid_json", "missing_field", "invalid_field"}


class Loop(threading.Thread):
    """A driver thread that runs `step` until stopped; an exception in it is kept and raised
    again by `stop` so a broken driver fails the test instead of silently thinning the load."""

    def __init__(self, name, interval_s):
        super().__init__(name=name, daemon=True)
        self.interval_s = interval_s
        self.stopping = threading.Event()
        self.error = None

    def run(self):
        next_at = time.monotonic()
        try:
            while not self.stopping.is_set():
                self.step()
                # A steady rate: each step starts interval_s after the previous one started.
                next_at = max(next_at + self.interval_s, time.monotonic())
                self.stopping.wait(max(0.0, next_at - time.monotonic()))
        except Exception as err:  # kept for stop(), which raises it in the test's thread
            self.error = err
            traceback.print_exc()
        finally:
            self.finish()

    def step(self):
        raise NotImplementedError

    def finish(self):
        pass

    def stop(self, timeout_s=60):
        self.stopping.set()
        self.join(timeout_s)
        if self.is_alive():
            raise AssertionError(f"driver thread {self.name} did not stop within {timeout_s} s")
        if self.error is not None:
            raise AssertionError(f"driver thread {self.name} failed: {self.error!r}") from self.error


class HttpProducer(Loop):
    """`POST /produce?acks=all`, one record a request, partitions in turn. With `node` set it
    always writes to that node (so every acknowledgement names the node that gave it); otherwise
    it follows the leader: on `not_leader` or no answer it asks any node for the leader.

    The driver never sends a value twice, so a value stored twice was duplicated by the cluster:
    its sends count as idempotent for the checker."""

    def __init__(self, cluster, history, topic, partitions, proc, node=None):
        super().__init__(f"http-{proc}", SEND_INTERVAL_SECONDS)
        self.cluster, self.history, self.topic, self.partitions = cluster, history, topic, partitions
        self.proc, self.fixed = proc, node
        self.target = node
        self.count = 0

    def find_leader(self):
        for node in self.cluster.live():
            try:
                status, body = node.call("GET", "/metadata/leader", timeout=1.0)
            except Unreachable:
                continue
            if status == 200 and body["leader_id"] in self.cluster.nodes:
                return body["leader_id"]
        return None

    def step(self):
        if self.target is None:
            self.target = self.find_leader()
            if self.target is None:
                return
        node = self.cluster.nodes[self.target]
        value = f"{self.proc}-{self.count}"
        partition = self.count % self.partitions
        self.count += 1
        op = self.history.invoke(self.proc, "send", via="http", topic=self.topic, key=partition, value=value,
                                 idem=True, target=node.node_id)
        try:
            status, body = node.call("POST", "/produce", {
                "topic": self.topic, "partition": partition, "key": value, "payload": value, "msg_id": value,
            }, query={"acks": "all"}, timeout=PRODUCE_TIMEOUT_SECONDS)
        except Unreachable as err:
            self.history.complete(op, "info" if err.sent else "fail", err=str(err), node=node.node_id)
            if self.fixed is None:
                self.target = None
            return
        if status == 200:
            self.history.complete(op, "ok", offset=body["offset"], key=body["partition"], node=node.node_id)
            return
        code = error_code(body)
        self.history.complete(op, "fail" if code in HTTP_NOT_APPENDED else "info", err=f"{status} {code}",
                              node=node.node_id)
        if self.fixed is None and code in ("not_leader", "leader_not_available", "unavailable"):
            self.target = None


class KafkaProducer(Loop):
    """confluent-kafka with acks=all and enable.idempotence, bootstrapped on every node: it finds
    the leader through Metadata. Each message names its partition; the key and the value are the
    unique value."""

    def __init__(self, cluster, history, topic, partitions, proc, idempotent=True):
        super().__init__(f"kafka-{proc}", SEND_INTERVAL_SECONDS)
        self.cluster, self.history, self.topic, self.partitions = cluster, history, topic, partitions
        self.proc, self.idempotent = proc, idempotent
        self.count = 0
        self.fatal_errors = []
        self.producer = Producer({
            "bootstrap.servers": cluster.bootstrap, "acks": "all", "enable.idempotence": idempotent,
            "linger.ms": 5, "message.timeout.ms": KAFKA_MESSAGE_TIMEOUT_MS, "request.timeout.ms": 5000,
            "reconnect.backoff.max.ms": 500, "topic.metadata.refresh.interval.ms": 1000,
            "log.connection.close": False, "error_cb": self.on_error,
        })

    def on_error(self, err):
        if err.fatal():
            self.fatal_errors.append(str(err))
            self.history.log(type="info", proc=self.proc, f="producer-fatal", err=str(err))

    def step(self):
        value = f"{self.proc}-{self.count}"
        partition = self.count % self.partitions
        self.count += 1
        op = self.history.invoke(self.proc, "send", via="kafka", topic=self.topic, key=partition, value=value,
                                 idem=self.idempotent)

        def delivered(err, message):
            if err is None:
                self.history.complete(op, "ok", offset=message.offset(), key=message.partition())
            else:
                # librdkafka retries a message and reports only its last attempt's error, so an
                # earlier attempt may have been appended: never proof of no append.
                self.history.complete(op, "info", err=f"{err.name()}: {err.str()}")
        try:
            self.producer.produce(self.topic, key=value, value=value, partition=partition,
                                  headers={"yak.msg_id": value}, on_delivery=delivered)
        except (BufferError, KafkaException) as err:
            self.history.complete(op, "fail", err=repr(err))
        self.producer.poll(0)

    def finish(self):
        left = self.producer.flush(KAFKA_FLUSH_SECONDS_MAX)
        if left:
            # Still unanswered: the checker counts them as indeterminate.
            self.history.log(type="info", proc=self.proc, f="unflushed", count=left)
        # Dropping the last reference destroys the librdkafka instance and its connections.
        self.producer = None


class Monitor(Loop):
    """Each node's `/health` (role, epoch) and `/cluster` (its high watermark per partition of
    the topic) over time, as `state` events."""

    def __init__(self, cluster, history, topic):
        super().__init__("monitor", MONITOR_INTERVAL_SECONDS)
        self.cluster, self.history, self.topic = cluster, history, topic

    def step(self):
        for node in self.cluster.live():
            asked = time.monotonic_ns()
            health = node.health(timeout=0.5)
            if health is None:
                continue
            asked_cluster = time.monotonic_ns()
            state = node.cluster_state(timeout=0.5)
            hws = None
            if state is not None:
                hws = {f"{p['topic']}/{p['partition']}": p["high_watermark"]
                       for p in state["partitions"] if p["topic"] == self.topic}
            self.history.log(type="ok", proc="monitor", f="state", node=node.node_id, role=health["role"],
                             epoch=health["epoch"], hws=hws, t_invoke=asked, t_invoke_cluster=asked_cluster)


class Reader(Loop):
    """Consumes every partition from every node in turn over `GET /consume`, from where it left
    off on that node: what readers see (records and high watermarks) during the faults."""

    def __init__(self, cluster, history, topic, partitions):
        super().__init__("reader", POLL_INTERVAL_SECONDS)
        self.cluster, self.history, self.topic, self.partitions = cluster, history, topic, partitions
        self.positions = {}
        self.turn = 0

    def step(self):
        live = self.cluster.live()
        if not live:
            return
        node = live[self.turn % len(live)]
        partition = (self.turn // len(live)) % self.partitions
        self.turn += 1
        offset = self.positions.get((node.node_id, partition), 0)
        asked = time.monotonic_ns()
        try:
            status, body = node.call("GET", "/consume", query={
                "topic": self.topic, "partition": partition, "offset": offset, "max": CONSUME_RECORDS_MAX},
                timeout=1.0)
        except Unreachable:
            return
        if status != 200:
            # A restarted node may not have the topic yet, or hold fewer records than the
            # reader got from its last process (offset_out_of_range): start over there.
            if error_code(body) == "offset_out_of_range":
                self.positions[(node.node_id, partition)] = 0
            return
        self.history.log(type="ok", proc="reader", f="poll", node=node.node_id, topic=self.topic, key=partition,
                         polled=[[m["offset"], m["key"]] for m in body["messages"]], hw=body["high_watermark"],
                         t_invoke=asked)
        self.positions[(node.node_id, partition)] = body["next_offset"]


def read_node(node, topic, partition):
    """Every committed record of one partition as `node` serves it: [[offset, value]], and the
    high watermark it reported."""
    records, offset, hw = [], 0, None
    deadline = time.monotonic() + FINAL_READ_SECONDS_MAX
    while time.monotonic() < deadline:
        status, body = node.call("GET", "/consume", query={
            "topic": topic, "partition": partition, "offset": offset, "max": CONSUME_RECORDS_MAX}, timeout=5)
        assert status == 200, f"GET /consume on node {node.node_id} answered {status}: {body}"
        records.extend([m["offset"], m["key"]] for m in body["messages"])
        hw = body["high_watermark"]
        offset = body["next_offset"]
        if not body["messages"] or offset >= hw:
            return records, hw
    raise AssertionError(f"reading {topic}/{partition} from node {node.node_id} took over {FINAL_READ_SECONDS_MAX} s")


def read_kafka(bootstrap, topic, partitions):
    """Every record of every partition through a brand-new Kafka consumer (it reads from the
    leader): {partition: ([[offset, value]], high watermark)}."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "cluster-suite-final-read",
                         "enable.auto.commit": False, "enable.auto.offset.store": False,
                         "enable.partition.eof": True})
    try:
        ends = {}
        for partition in range(partitions):
            _low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            ends[partition] = high
        consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        records = {p: [] for p in range(partitions)}
        done = {p for p, end in ends.items() if end == 0}
        deadline = time.monotonic() + KAFKA_FINAL_READ_SECONDS_MAX
        while len(done) < partitions:
            assert time.monotonic() < deadline, (
                f"a Kafka consumer read nothing past {[(p, len(records[p])) for p in range(partitions)]} "
                f"of {topic} (ends {ends}) in {KAFKA_FINAL_READ_SECONDS_MAX} s")
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error():
                if message.error().code() == KafkaError._PARTITION_EOF:
                    if message.offset() >= ends[message.partition()]:
                        done.add(message.partition())
                    continue
                raise AssertionError(f"Kafka consumer error on {topic}/{message.partition()}: {message.error()}")
            records[message.partition()].append([message.offset(), message.key().decode()])
            if message.offset() + 1 >= ends[message.partition()]:
                done.add(message.partition())
        return {p: (records[p], ends[p]) for p in range(partitions)}
    finally:
        consumer.close()


class Workload:
    """Producers, a reader and a monitor on one topic of a cluster; `finish` stops the load,
    waits until every node is in sync, reads everything back and runs the checker."""

    def __init__(self, cluster, topic, partitions=3, http_producers=1, kafka_producers=1, fixed_nodes=(),
                 kafka_idempotent=True):
        self.cluster, self.history, self.topic, self.partitions = cluster, cluster.history, topic, partitions
        self.producers = [HttpProducer(cluster, self.history, topic, partitions, f"h{i}")
                          for i in range(http_producers)]
        self.producers += [HttpProducer(cluster, self.history, topic, partitions, f"n{node}", node=node)
                           for node in fixed_nodes]
        self.kafka = [KafkaProducer(cluster, self.history, topic, partitions, f"k{i}", kafka_idempotent)
                      for i in range(kafka_producers)]
        self.observers = [Monitor(cluster, self.history, topic), Reader(cluster, self.history, topic, partitions)]
        cluster.workloads.append(self)

    def start(self):
        for thread in [*self.observers, *self.producers, *self.kafka]:
            thread.start()

    def acked_since(self, t, exclude_node=None, via=None):
        """Sends invoked after `t` that were acknowledged (by another node than exclude_node;
        through `via` only, when given)."""
        events = list(self.history.events)
        invoked = {e["id"]: e for e in events if e["type"] == "invoke" and e["t"] >= t
                   and (via is None or e.get("via") == via)}
        return [e for e in events
                if e["type"] == "ok" and e.get("id") in invoked and (exclude_node is None or e.get("node") != exclude_node)]

    def check_drivers(self):
        """Fails at once when a driver thread died or a process exited by itself: a wait for
        acknowledgements would otherwise run into its deadline and hide why."""
        self.cluster.check_exits()
        for thread in [*self.producers, *self.kafka, *self.observers]:
            if thread.error is not None:
                raise AssertionError(f"driver thread {thread.name} failed: {thread.error!r}") from thread.error

    def wait_acked_since(self, t, count=10, exclude_node=None, via=None, timeout_s=30, what="writes acknowledged"):
        def enough():
            self.check_drivers()
            return len(self.acked_since(t, exclude_node, via)) >= count
        return wait_until(enough, timeout_s, f"{count} {what} (via {via or 'any client'}) since t={t}")

    def wait_flowing(self, t, count=10, timeout_s=30):
        """Every kind of producer of this workload has writes acknowledged since `t`."""
        for via, producers in (("http", self.producers), ("kafka", self.kafka)):
            if producers:
                self.wait_acked_since(t, count=count, via=via, timeout_s=timeout_s, what="writes acknowledged")

    def stop_load(self):
        errors = []
        for thread in [*self.producers, *self.kafka]:
            try:
                thread.stop()
            except AssertionError as err:
                errors.append(str(err))
        assert not errors, errors

    def finish(self, sync_timeout_s=60):
        """Stops the producers, waits for quiet, does the final reads, stops the observers and
        returns the checker's report."""
        self.stop_load()
        leader = self.cluster.wait_in_sync(self.topic, timeout_s=sync_timeout_s)
        for node in self.cluster.nodes.values():
            for partition in range(self.partitions):
                records, hw = read_node(node, self.topic, partition)
                self.history.log(type="ok", proc="final", f="final-read", source=f"node:{node.node_id}",
                                 node=node.node_id, topic=self.topic, key=partition, polled=records, hw=hw)
        try:
            kafka_reads = read_kafka(self.cluster.nodes[leader].kafka, self.topic, self.partitions)
        except (AssertionError, KafkaException) as err:
            # Recorded, not raised: the checker still judges the nodes' own reads.
            self.history.log(type="fail", proc="final", f="final-read", source="kafka", topic=self.topic,
                             err=str(err))
            kafka_reads = {}
        for partition, (records, hw) in kafka_reads.items():
            self.history.log(type="ok", proc="final", f="final-read", source="kafka", topic=self.topic,
                             key=partition, polled=records, hw=hw)
        for thread in self.observers:
            thread.stop()
        return checker.check(list(self.history.events))

    def abort(self):
        """Stops every thread without checking (teardown after a failure)."""
        for thread in [*self.producers, *self.kafka, *self.observers]:
            thread.stopping.set()
        for thread in [*self.producers, *self.kafka, *self.observers]:
            thread.join(KAFKA_FLUSH_SECONDS_MAX + 5)
