"""The checker on synthetic histories: a clean one passes, and each anomaly it exists for is
reported under its class (and makes the history invalid when the class is fatal)."""
import json

import pytest

import checker

TOPIC = "t"
NODES = (1, 2, 3)


class Synth:
    """Builds a history by hand; `t` advances by one millisecond an event."""

    def __init__(self):
        self.events = []
        self.t = 0
        self.ids = 0

    def log(self, **event):
        self.t += 1_000_000
        event.setdefault("t", self.t)
        self.events.append(event)
        return event

    def send(self, value, partition=0, outcome="ok", offset=None, node=1, idem=True, via="http"):
        self.ids += 1
        op = self.ids
        self.log(type="invoke", id=op, proc="p0", f="send", via=via, topic=TOPIC, key=partition, value=value, idem=idem)
        if outcome == "ok":
            self.log(type="ok", id=op, offset=offset, key=partition, node=node)
        elif outcome is not None:
            self.log(type=outcome, id=op, err="request_timed_out" if outcome == "info" else "not_enough_replicas")
        return op

    def final(self, values, partition=0, nodes=NODES, kafka=True, end=None):
        """Every node (and a Kafka consumer) reads `values` at offsets 0, 1, ..."""
        polled = [[o, v] for o, v in enumerate(values)]
        for node in nodes:
            self.log(type="ok", f="final-read", source=f"node:{node}", node=node, topic=TOPIC, key=partition,
                     polled=polled, hw=len(values) if end is None else end)
        if kafka:
            self.log(type="ok", f="final-read", source="kafka", topic=TOPIC, key=partition, polled=polled,
                     hw=len(values) if end is None else end)

    def final_on(self, node, polled, partition=0):
        self.log(type="ok", f="final-read", source=f"node:{node}", node=node, topic=TOPIC, key=partition,
                 polled=polled, hw=len(polled))

    def state(self, node, role, epoch, hw):
        self.log(type="ok", f="state", node=node, role=role, epoch=epoch, hws={f"{TOPIC}/0": hw})

    def nemesis(self, f, node=None, **extra):
        return self.log(type="info", proc="nemesis", f=f, node=node, **extra)

    def check(self):
        report = checker.check(self.events)
        print(report.summary())
        return report


def clean_history():
    h = Synth()
    for offset, value in enumerate(["a", "b", "c"]):
        h.state(1, "leader", 1, offset)
        h.send(value, offset=offset)
    h.send("d", outcome="info")          # indeterminate, and it did land
    h.send("e", outcome="info")          # indeterminate, and it did not
    h.send("f", outcome="fail")          # refused before appending
    h.log(type="ok", f="poll", node=2, topic=TOPIC, key=0, polled=[[0, "a"], [1, "b"]], hw=2)
    h.state(1, "leader", 1, 4)
    h.state(2, "follower", 1, 4)
    h.final(["a", "b", "c", "d"])
    return h


def assert_reported(report, kind, fatal=True):
    assert report.anomalies.get(kind), f"{kind} not reported: {report.summary()}"
    assert report.valid is (not fatal), report.summary()


def test_a_clean_history_is_valid_and_counted():
    report = clean_history().check()
    assert report.valid, report.summary()
    assert report.counts["acknowledged"] == 3
    assert report.counts["failed"] == 1
    assert report.counts["indeterminate"] == 2
    assert report.counts["indeterminate_committed"] == 1
    assert report.counts["lost"] == 0
    assert report.counts["duplicated"] == 0
    assert report.counts["final_records"] == {f"{TOPIC}/0": 4}
    json.dumps(report.to_json())


def test_a_history_read_back_from_its_jsonl_file_is_the_same(tmp_path):
    history = checker.History(tmp_path / "h.jsonl")
    op = history.invoke("p0", "send", via="http", topic=TOPIC, key=0, value="a", idem=True)
    history.complete(op, "ok", offset=0, key=0, node=1)
    history.log(type="ok", f="final-read", source="node:1", node=1, topic=TOPIC, key=0, polled=[[0, "a"]], hw=1)
    history.close()
    report = checker.check(checker.load(tmp_path / "h.jsonl"))
    assert report.valid and report.counts["acknowledged"] == 1, report.summary()
    assert checker.main(["checker.py", str(tmp_path / "h.jsonl")]) == 0


def test_an_acknowledged_record_missing_from_every_node_is_lost():
    h = Synth()
    h.send("a", offset=0)
    h.send("b", offset=1)
    h.final(["a"])
    report = h.check()
    assert_reported(report, "lost")
    assert report.counts["lost"] == 1
    assert report.anomalies["lost"][0]["value"] == "b"


def test_an_acknowledged_record_missing_from_one_node_below_its_end_is_lost():
    h = Synth()
    h.send("a", offset=0)
    h.send("b", offset=1)
    h.final(["a", "b"], nodes=(1, 2))
    h.final_on(3, [[0, "a"], [1, "x"]])
    h.send("x", outcome="info")
    report = h.check()
    assert_reported(report, "lost")
    assert {c["source"] for c in report.anomalies["lost"]} == {"node:3"}
    assert_reported(report, "inconsistent-offset")


def test_an_acknowledged_record_at_another_offset_is_reported():
    h = Synth()
    h.send("x", outcome="info")
    h.send("a", offset=0)
    h.final(["x", "a"])
    report = h.check()
    assert_reported(report, "offset-mismatch")
    assert report.anomalies["offset-mismatch"][0]["found_at"] == [1]


def test_two_values_at_one_offset_across_nodes_are_inconsistent():
    h = Synth()
    h.send("a", offset=0)
    h.send("b", outcome="info")
    h.final(["a"], nodes=(1, 2))
    h.final_on(3, [[0, "b"]])
    report = h.check()
    assert_reported(report, "inconsistent-offset")
    case = report.anomalies["inconsistent-offset"][0]
    assert case["offset"] == 0 and {v for _, v in case["values"]} == {"a", "b"}


def test_two_nodes_acknowledging_one_offset_is_inconsistent():
    h = Synth()
    h.send("a", offset=0, node=1)
    h.send("b", offset=0, node=2)
    h.final(["b"])
    report = h.check()
    assert_reported(report, "inconsistent-offset")
    assert_reported(report, "lost")


def test_a_hole_in_a_committed_log_is_reported():
    h = Synth()
    h.send("a", offset=0)
    h.send("b", offset=2)
    for source in ("node:1", "kafka"):
        h.log(type="ok", f="final-read", source=source, node=1, topic=TOPIC, key=0, polled=[[0, "a"], [2, "b"]], hw=3)
    report = h.check()
    assert_reported(report, "hole")
    assert report.anomalies["hole"][0]["missing"] == [1]


def test_a_hole_inside_one_poll_is_reported():
    h = clean_history()
    h.log(type="ok", f="poll", node=3, topic=TOPIC, key=0, polled=[[0, "a"], [2, "c"]], hw=3)
    assert_reported(h.check(), "hole")


def test_a_value_at_two_offsets_is_a_duplicate_fatal_for_an_idempotent_producer():
    h = Synth()
    h.send("a", offset=0, idem=True)
    h.final(["a", "a"])
    report = h.check()
    assert_reported(report, "duplicate")
    assert report.counts["duplicated"] == 1


def test_a_duplicate_of_a_retrying_producer_without_idempotence_is_only_counted():
    h = Synth()
    h.send("a", offset=0, idem=False)
    h.final(["a", "a"])
    report = h.check()
    assert_reported(report, "duplicate-retried", fatal=False)
    assert report.counts["duplicated"] == 1


def test_a_failed_send_that_was_read_is_an_aborted_read():
    h = Synth()
    h.send("a", offset=0)
    h.send("f", outcome="fail")
    h.final(["a", "f"])
    assert_reported(h.check(), "aborted-read")


def test_a_record_read_during_the_run_but_not_committed_is_a_phantom_read():
    h = Synth()
    h.send("a", offset=0)
    h.send("b", outcome="info")
    h.log(type="ok", f="poll", node=1, topic=TOPIC, key=0, polled=[[0, "a"], [1, "b"]], hw=2)
    h.final(["a"])
    assert_reported(h.check(), "phantom-read")


def test_a_value_nobody_sent_is_reported():
    h = Synth()
    h.send("a", offset=0)
    h.final(["a", "zz"])
    assert_reported(h.check(), "unknown-value")


def test_a_high_watermark_going_down_in_one_process_is_fatal():
    h = clean_history()
    h.state(2, "follower", 1, 3)
    report = h.check()
    assert_reported(report, "hw-regression")
    case = report.anomalies["hw-regression"][0]
    assert (case["node"], case["partition"], case["from"], case["to"]) == (2, f"{TOPIC}/0", 4, 3)


def test_a_high_watermark_a_reader_saw_going_down_is_fatal():
    h = clean_history()
    h.log(type="ok", f="poll", node=2, topic=TOPIC, key=0, polled=[], hw=1)
    assert_reported(h.check(), "hw-regression")


def test_a_high_watermark_restarting_lower_in_a_new_process_is_only_counted():
    h = clean_history()
    h.nemesis("kill", node=2)
    h.nemesis("start", node=2)
    h.state(2, "follower", 1, 3)
    assert_reported(h.check(), "hw-restart-lower", fatal=False)


def test_an_epoch_going_down_on_one_node_is_fatal():
    h = clean_history()
    h.state(2, "follower", 0, 4)
    assert_reported(h.check(), "epoch-regression")


def test_a_new_leader_with_an_older_epoch_is_fatal():
    h = clean_history()
    h.state(2, "leader", 3, 4)
    h.state(3, "leader", 2, 4)
    report = h.check()
    assert_reported(report, "epoch-regression")
    assert report.anomalies["epoch-regression"][0]["leader"] == 3


def test_two_leaders_in_one_epoch_are_fatal():
    h = clean_history()
    h.state(2, "leader", 1, 4)
    assert_reported(h.check(), "two-leaders-one-epoch")


def test_an_acknowledgement_from_a_node_in_a_forbidden_window_is_fatal():
    h = Synth()
    h.send("a", offset=0, node=1)
    paused = h.nemesis("pause", node=1)
    h.send("b", offset=1, node=1)        # the paused leader acknowledged after losing its lease
    h.send("c", offset=2, node=2)        # the new leader may
    h.log(type="info", proc="nemesis", f="forbid-acks", node=1, reason="paused past its lease",
          **{"from": paused["t"], "to": h.t + 1})
    h.final(["a", "b", "c"])
    report = h.check()
    assert_reported(report, "forbidden-ack")
    assert [c["value"] for c in report.anomalies["forbidden-ack"]] == ["b"]


def test_a_window_for_any_node_covers_acknowledgements_of_unknown_nodes():
    h = Synth()
    start = h.t
    h.send("a", offset=0, node=None, via="kafka")
    h.log(type="info", proc="nemesis", f="forbid-acks", node=None, reason="coordinator unreachable",
          **{"from": start, "to": h.t + 1})
    h.final(["a"])
    assert_reported(h.check(), "forbidden-ack")


def test_failover_time_runs_from_the_fault_to_the_first_acknowledgement_on_another_node():
    h = Synth()
    h.send("a", offset=0, node=1)
    h.nemesis("kill", node=1, failover=True)
    h.send("b", outcome="info", node=1)
    h.send("c", offset=1, node=2)
    h.final(["a", "c"])
    report = h.check()
    assert report.valid, report.summary()
    [failover] = report.failovers
    assert failover["new_leader"] == 2
    # Events are 1 ms apart: the kill, b's invoke and info, c's invoke and ok.
    assert failover["failover_ms"] == pytest.approx(4.0)


def test_a_fault_nobody_recovered_from_has_no_failover_time():
    h = Synth()
    h.send("a", offset=0, node=1)
    h.nemesis("kill", node=1, failover=True)
    h.final(["a"])
    report = h.check()
    assert report.failovers == [{"fault": "kill", "node": 1, "failover_ms": None, "new_leader": None}]


def test_an_acknowledgement_without_an_invoke_is_a_driver_bug():
    h = clean_history()
    h.log(type="ok", id=999, offset=9, key=0, node=1)
    assert_reported(h.check(), "unresolved-send")


def test_a_source_that_could_not_be_read_back_is_fatal():
    h = clean_history()
    h.log(type="fail", f="final-read", source="kafka", topic=TOPIC, err="FENCED_LEADER_EPOCH")
    report = h.check()
    assert_reported(report, "final-read-failed")
    assert report.anomalies["final-read-failed"][0]["source"] == "kafka"


def test_an_acknowledgement_answered_after_the_window_is_not_forbidden():
    h = Synth()
    start = h.t
    op = h.send("a", outcome=None, node=None, via="kafka")
    h.log(type="info", proc="nemesis", f="forbid-acks", node=None, reason="coordinator unreachable",
          **{"from": start, "to": h.t + 1})
    h.log(type="ok", id=op, offset=0, key=0)   # retried and acknowledged once a lease was held again
    h.final(["a"])
    report = h.check()
    assert report.valid, report.summary()


def test_after_a_pause_only_acknowledgements_of_known_nodes_end_the_failover():
    h = Synth()
    h.send("a", offset=0, node=1)
    h.nemesis("pause", node=1, failover=True)
    h.send("b", offset=1, node=None, via="kafka")   # may still be the paused node's, before its lease ran out
    h.send("c", offset=2, node=2)
    h.final(["a", "b", "c"])
    [failover] = h.check().failovers
    assert failover["new_leader"] == 2
    assert failover["failover_ms"] == pytest.approx(4.0)


def test_a_lower_high_watermark_in_an_answer_asked_for_before_a_higher_one_arrived_is_no_regression():
    h = clean_history()
    asked = h.t + 1
    h.log(type="ok", f="poll", node=2, topic=TOPIC, key=0, polled=[], hw=5)
    # A /cluster answer that was stuck: asked for before the poll above was answered.
    h.log(type="ok", f="state", node=2, role="follower", epoch=1, hws={f"{TOPIC}/0": 4}, t_invoke=asked,
          t_invoke_cluster=asked)
    report = h.check()
    assert not report.anomalies.get("hw-regression"), report.summary()
    h.log(type="ok", f="state", node=2, role="follower", epoch=1, hws={f"{TOPIC}/0": 4})
    assert_reported(h.check(), "hw-regression")


def test_an_epoch_going_down_across_a_restart_is_fatal():
    h = clean_history()
    h.nemesis("kill", node=2)
    h.nemesis("start", node=2)
    h.state(2, "follower", 0, 4)
    report = h.check()
    assert_reported(report, "epoch-regression")
    assert report.anomalies["epoch-regression"][0]["same_process"] is False
