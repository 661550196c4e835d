"""The history checker of the cluster fault suite: a reduced form of the checker specified in
the reliability research (§1.6), for YAK's one-leader-for-every-partition cluster.

The test driver, never the broker, writes the history: one JSON object a line (`History`). Every
value a producer sends is globally unique and travels as the record key, so a value found in a
log names exactly one send. Event shapes (`t` is the driver's monotonic clock in nanoseconds):

- send      invoke `{"id","proc","f":"send","via":"http|kafka","topic","key","value","idem"}`
            then one of `ok {"id","offset","key","node"?}` (acknowledged; `node` is the node that
            answered when the driver knows it), `fail {"id","err"}` (an error proving nothing was
            appended) or `info {"id","err"}` (indeterminate: a timeout, a lost connection).
- poll      `ok {"f":"poll","node","topic","key","polled":[[offset,value],..],"hw","t_invoke"}`:
            what a reader saw on one node during the run (`t` when answered, `t_invoke` asked).
- state     `ok {"f":"state","node","role","epoch","hws":{"topic/partition":hw},"t_invoke",
            "t_invoke_cluster"}`: one look at a node's `/health` (asked at `t_invoke`) and
            `/cluster` (asked at `t_invoke_cluster`).
- final     `ok {"f":"final-read","source","node"?,"topic","key","polled","hw"}`: every committed
            record of one partition as one node (`source` `node:N`) or a fresh Kafka consumer
            (`source` `kafka`) serves it after the faults healed.
- nemesis   `info {"f":"kill|start|pause|resume|...","node"?,"failover"?}`: a fault; `start` of a
            node begins a new process of it (its own high watermark may restart lower); a fault
            with `"failover": true` is one whose failover time is measured.
- window    `info {"f":"forbid-acks","node"|null,"from","to","reason"}`: no send invoked at or
            after `from` and answered at or before `to` may be acknowledged by `node` (by any
            node when null): a leader that lost its lease must not acknowledge anything. (A send
            invoked before `from` may have been committed before; one answered after `to` may
            have been retried once a lease was held again.)

`check(events)` returns a `Report`: each anomaly class with its cases, the counts, and the
failover times. The history is valid iff no fatal class has a case.

Run on a saved history: `python checker.py HISTORY.jsonl` (exit status 1 when invalid).
"""
import itertools
import json
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field

# An anomaly of one of these classes makes the history invalid.
FATAL = (
    "inconsistent-offset",   # one offset of a partition holds two values (across nodes/reads)
    "lost",                  # an acknowledged value missing from a committed log
    "offset-mismatch",       # an acknowledged value found at another offset than acknowledged
    "duplicate",             # a value at two offsets although its producer never resent it
    "hole",                  # a committed log skips an offset
    "aborted-read",          # a value whose send failed (proven not appended) was read
    "phantom-read",          # a reader saw a record the final committed log does not have
    "hw-regression",         # one node process's high watermark went down
    "epoch-regression",      # one node's epoch went down, or a newer leader took an older epoch
    "two-leaders-one-epoch",  # two nodes led in the same epoch
    "forbidden-ack",         # a node acknowledged a write while it could not hold the lease
    "unknown-value",         # a log holds a value no producer of this history sent
    "unresolved-send",       # an acknowledgement without an invoke (a driver bug)
    "final-read-failed",     # a source could not be read back at the end
)
# Counted and printed, never fatal: duplicates of sends a producer may have retried without
# idempotence, and a node's high watermark restarting lower in a new process (checkpoints lag).
COUNTED = ("duplicate-retried", "hw-restart-lower")

CASES_SHOWN_MAX = 20  # cases printed per class; the report's JSON keeps the count of all


@dataclass
class Report:
    anomalies: dict = field(default_factory=lambda: defaultdict(list))
    counts: dict = field(default_factory=dict)
    failovers: list = field(default_factory=list)

    @property
    def valid(self):
        return not any(self.anomalies.get(kind) for kind in FATAL)

    def fatal(self):
        return {kind: cases for kind, cases in self.anomalies.items() if kind in FATAL and cases}

    def to_json(self):
        return {
            "valid": self.valid,
            "counts": self.counts,
            "failovers": self.failovers,
            "anomalies": {kind: {"count": len(cases), "cases": cases[:CASES_SHOWN_MAX]}
                          for kind, cases in self.anomalies.items() if cases},
        }

    def summary(self):
        c = self.counts
        lines = [
            f"checker: {'VALID' if self.valid else 'INVALID'}: acknowledged={c.get('acknowledged', 0)} "
            f"lost={c.get('lost', 0)} duplicated={c.get('duplicated', 0)} "
            f"indeterminate={c.get('indeterminate', 0)} (committed {c.get('indeterminate_committed', 0)}) "
            f"failed={c.get('failed', 0)} polls={c.get('polls', 0)} states={c.get('states', 0)}",
        ]
        if self.failovers:
            lines.append("failover ms (fault -> first acknowledged write on the new leader): " + ", ".join(
                "-" if f["failover_ms"] is None else f"{f['failover_ms']:.0f}" for f in self.failovers))
        for kind, cases in sorted(self.anomalies.items()):
            if cases:
                marker = "FATAL" if kind in FATAL else "counted"
                lines.append(f"  {marker} {kind}: {len(cases)}")
                for case in cases[:CASES_SHOWN_MAX]:
                    lines.append(f"    {json.dumps(case, sort_keys=True)}")
        return "\n".join(lines)


class History:
    """The driver's JSONL history, shared by every driver thread. Each event is flushed as it is
    written, so a history survives a test that dies half-way."""

    def __init__(self, path):
        self.path = path
        self.events = []
        self._file = open(path, "w")
        self._lock = threading.Lock()
        self._ids = itertools.count()

    def log(self, **event):
        event.setdefault("t", time.monotonic_ns())
        line = json.dumps(event, sort_keys=True)
        with self._lock:
            self.events.append(event)
            self._file.write(line + "\n")
            self._file.flush()
        return event

    def invoke(self, proc, f, **fields):
        op = next(self._ids)
        self.log(type="invoke", id=op, proc=proc, f=f, **fields)
        return op

    def complete(self, op, type_, **fields):
        return self.log(type=type_, id=op, **fields)

    def nemesis(self, f, **fields):
        return self.log(type="info", proc="nemesis", f=f, **fields)

    def forbid_acks(self, node, from_t, to_t, reason):
        return self.log(type="info", proc="nemesis", f="forbid-acks", node=node, **{"from": from_t, "to": to_t},
                        reason=reason)

    def close(self):
        with self._lock:
            self._file.close()


def load(path):
    with open(path) as file:
        return [json.loads(line) for line in file if line.strip()]


def _tp(event):
    return (event["topic"], event["key"])


def _tp_name(tp):
    return f"{tp[0]}/{tp[1]}"


def check(events):
    """Checks one history (a list of event dicts, in any order) and returns a `Report`."""
    report = Report()
    bad = report.anomalies
    events = sorted(events, key=lambda e: e["t"])

    # --- Sends: pair each completion with its invoke ------------------------------------------
    sends = {}  # op id -> merged send: invoke fields + "type"/"offset"/"node"/"err"/"t_done"
    for event in events:
        if event.get("f") == "send" and event["type"] == "invoke":
            sends[event["id"]] = dict(event, type="pending", t_invoke=event["t"])
    for event in events:
        if event["type"] in ("ok", "fail", "info") and "id" in event and event.get("proc") != "nemesis" \
                and event.get("f") in (None, "send"):
            send = sends.get(event["id"])
            if send is None:
                bad["unresolved-send"].append({"id": event["id"], "event": event})
                continue
            send.update({k: v for k, v in event.items() if k not in ("t", "id", "proc", "f")})
            send["type"] = event["type"]
            send["t_done"] = event["t"]
    by_value = {}
    for send in sends.values():
        by_value[send["value"]] = send
    acked = [s for s in sends.values() if s["type"] == "ok"]
    failed = [s for s in sends.values() if s["type"] == "fail"]
    indeterminate = [s for s in sends.values() if s["type"] in ("info", "pending")]

    # --- Reads: final committed logs per source, and every poll -------------------------------
    finals = defaultdict(dict)  # tp -> source -> {"log": {offset: value}, "end": int, "node": n}
    polls = [e for e in events if e.get("f") == "poll" and e["type"] == "ok"]
    for event in events:
        if event.get("f") == "final-read" and event["type"] == "ok":
            log = {}
            for offset, value in event["polled"]:
                log[offset] = value
            end = event.get("hw")
            if end is None:
                end = max(log, default=-1) + 1
            finals[_tp(event)][event["source"]] = {"log": log, "end": end, "node": event.get("node"),
                                                   "polled": event["polled"]}

    for event in events:
        if event.get("f") == "final-read" and event["type"] == "fail":
            bad["final-read-failed"].append({"source": event["source"], "err": event.get("err")})

    # One offset holding two values: across final reads, polls and acknowledgements.
    seen = defaultdict(lambda: defaultdict(set))  # tp -> offset -> {values}
    where = defaultdict(list)  # (tp, offset) -> [(what, value)] for the report
    for tp, sources in finals.items():
        for source, final in sources.items():
            for offset, value in final["log"].items():
                seen[tp][offset].add(value)
                where[(tp, offset)].append((source, value))
    for poll in polls:
        for offset, value in poll["polled"]:
            seen[_tp(poll)][offset].add(value)
            where[(_tp(poll), offset)].append((f"poll node:{poll['node']}", value))
    for send in acked:
        tp = (send["topic"], send["key"])
        seen[tp][send["offset"]].add(send["value"])
        where[(tp, send["offset"])].append((f"ack node:{send.get('node')}", send["value"]))
    for tp in sorted(seen, key=str):
        for offset in sorted(seen[tp]):
            if len(seen[tp][offset]) > 1:
                bad["inconsistent-offset"].append({"partition": _tp_name(tp), "offset": offset,
                                                   "values": sorted(set(map(tuple, where[(tp, offset)])))})

    # Holes: every final read and every poll must be contiguous; a final read starts at 0 (the
    # suite never deletes records) and reaches the end it reported.
    for tp, sources in finals.items():
        for source, final in sources.items():
            offsets = [o for o, _ in final["polled"]]
            expected = list(range(0, final["end"]))
            if offsets != expected:
                missing = sorted(set(expected) - set(offsets))
                bad["hole"].append({"partition": _tp_name(tp), "source": source, "end": final["end"],
                                    "missing": missing[:CASES_SHOWN_MAX],
                                    "out_of_order": offsets != sorted(offsets)})
    for poll in polls:
        offsets = [o for o, _ in poll["polled"]]
        if offsets and offsets != list(range(offsets[0], offsets[0] + len(offsets))):
            bad["hole"].append({"partition": _tp_name(_tp(poll)), "source": f"poll node:{poll['node']}",
                                "offsets": offsets[:CASES_SHOWN_MAX]})

    # Duplicates: a value at two offsets of one committed log.
    duplicated = set()
    for tp, sources in finals.items():
        for source, final in sources.items():
            positions = defaultdict(list)
            for offset, value in final["polled"]:
                positions[value].append(offset)
            for value, offsets in positions.items():
                if len(offsets) > 1 and value not in duplicated:
                    duplicated.add(value)
                    send = by_value.get(value)
                    kind = "duplicate" if send is None or send.get("idem", True) else "duplicate-retried"
                    bad[kind].append({"partition": _tp_name(tp), "source": source, "value": value,
                                      "offsets": offsets})

    # Lost and misplaced acknowledged writes: a committed log that reaches an acknowledged
    # offset must hold the value there; and some committed log must reach it.
    lost = set()
    for send in acked:
        tp = (send["topic"], send["key"])
        sources = finals.get(tp, {})
        reached = False
        for source, final in sorted(sources.items()):
            if send["offset"] >= final["end"]:
                continue
            reached = True
            found = final["log"].get(send["offset"])
            if found == send["value"]:
                continue
            elsewhere = [o for o, v in final["polled"] if v == send["value"]]
            case = {"partition": _tp_name(tp), "source": source, "value": send["value"],
                    "acked_offset": send["offset"], "acked_by": send.get("node"), "via": send.get("via"),
                    "found": found}
            if elsewhere:
                bad["offset-mismatch"].append(dict(case, found_at=elsewhere))
            else:
                lost.add(send["value"])
                bad["lost"].append(case)
        if not reached:
            lost.add(send["value"])
            bad["lost"].append({"partition": _tp_name(tp), "value": send["value"], "acked_offset": send["offset"],
                                "acked_by": send.get("node"), "via": send.get("via"),
                                "final_ends": {s: f["end"] for s, f in sources.items()}})

    # Aborted reads: a value whose send provably appended nothing was read.
    failed_values = {s["value"]: s for s in failed}
    read_values = defaultdict(set)
    for tp, sources in finals.items():
        for source, final in sources.items():
            for _, value in final["polled"]:
                read_values[value].add(source)
    for poll in polls:
        for _, value in poll["polled"]:
            read_values[value].add(f"poll node:{poll['node']}")
    for value, send in failed_values.items():
        if value in read_values:
            bad["aborted-read"].append({"value": value, "err": send.get("err"), "read_by": sorted(read_values[value])})

    # Values nobody sent: the suite's topics are its own, so every record comes from a send.
    for value, readers in sorted(read_values.items(), key=lambda item: str(item[0])):
        if value not in by_value:
            bad["unknown-value"].append({"value": value, "read_by": sorted(readers)})

    # Phantom reads: what a reader saw must be in the final committed log at that offset.
    for poll in polls:
        tp = _tp(poll)
        sources = finals.get(tp)
        if not sources:
            continue
        longest = max(sources.values(), key=lambda f: f["end"])
        for offset, value in poll["polled"]:
            if offset >= longest["end"] or longest["log"].get(offset) != value:
                bad["phantom-read"].append({"partition": _tp_name(tp), "node": poll["node"], "offset": offset,
                                            "value": value, "final": longest["log"].get(offset),
                                            "final_end": longest["end"]})

    # High watermarks and epochs, per node process.
    starts = defaultdict(list)  # node -> [t of each start]
    for event in events:
        if event.get("proc") == "nemesis" and event.get("f") == "start":
            starts[event["node"]].append(event["t"])

    def process_of(node, t):
        return sum(1 for start in starts.get(node, ()) if start <= t)

    t0 = events[0]["t"] if events else 0

    def regressions(series):
        """Pairs (earlier, later) of one node's observations where `later` was asked for after
        `earlier` was answered and holds a lower value. An answer may be delayed (a request
        stuck behind a lost coordinator), so observations are ordered by when they were asked
        for, against everything answered before that."""
        answered = sorted(series, key=lambda o: o["t"])
        found, highest, i = [], None, 0
        for later in sorted(series, key=lambda o: o["t_invoke"]):
            while i < len(answered) and answered[i]["t"] < later["t_invoke"]:
                if highest is None or answered[i]["value"] > highest["value"]:
                    highest = answered[i]
                i += 1
            if highest is not None and later["value"] < highest["value"]:
                found.append((highest, later))
        return found

    def observation(event, value, what):
        return {"t": event["t"], "t_invoke": event.get("t_invoke", event["t"]), "value": value, "seen_by": what}

    hw_series = defaultdict(list)  # (node, partition) -> observations
    epoch_series = defaultdict(list)  # node -> observations
    for event in events:
        if event["type"] != "ok":
            continue
        if event.get("f") == "poll" and event.get("hw") is not None:
            hw_series[(event["node"], _tp_name(_tp(event)))].append(observation(event, event["hw"], "poll"))
        elif event.get("f") == "state":
            for name, hw in (event.get("hws") or {}).items():
                hw_series[(event["node"], name)].append(
                    dict(observation(event, hw, "state"), t_invoke=event.get("t_invoke_cluster", event["t"])))
            if event.get("epoch") is not None:
                epoch_series[event["node"]].append(observation(event, event["epoch"], "state"))
    for (node, name), series in sorted(hw_series.items(), key=str):
        for earlier, later in regressions(series):
            case = {"node": node, "partition": name, "from": earlier["value"], "to": later["value"],
                    "from_seen_by": earlier["seen_by"], "to_seen_by": later["seen_by"],
                    "from_at_ms": round((earlier["t"] - t0) / 1e6), "to_asked_at_ms": round((later["t_invoke"] - t0) / 1e6)}
            same = process_of(node, earlier["t"]) == process_of(node, later["t_invoke"])
            bad["hw-regression" if same else "hw-restart-lower"].append(case)
    for node, series in sorted(epoch_series.items()):
        for earlier, later in regressions(series):
            # The epoch floor is kept on disk, so not even a restart may lower it.
            bad["epoch-regression"].append({
                "node": node, "from": earlier["value"], "to": later["value"],
                "same_process": process_of(node, earlier["t"]) == process_of(node, later["t_invoke"]),
                "to_asked_at_ms": round((later["t_invoke"] - t0) / 1e6)})

    leaders_by_epoch = defaultdict(set)
    first_seen = []  # (t, epoch, leader) of each epoch some node led in, in order of first sight
    for event in events:
        if event.get("f") != "state" or event["type"] != "ok" or event.get("epoch") is None:
            continue
        node, epoch = event["node"], event["epoch"]
        if event.get("role") == "leader":
            if epoch not in leaders_by_epoch:
                first_seen.append((event["t"], epoch, node))
            leaders_by_epoch[epoch].add(node)
    for epoch, leaders in sorted(leaders_by_epoch.items()):
        if len(leaders) > 1:
            bad["two-leaders-one-epoch"].append({"epoch": epoch, "leaders": sorted(leaders)})
    highest = None
    for t, epoch, node in first_seen:
        if highest is not None and epoch < highest[0]:
            bad["epoch-regression"].append({"leader": node, "epoch": epoch,
                                            "after_leader": highest[1], "after_epoch": highest[0]})
        if highest is None or epoch > highest[0]:
            highest = (epoch, node)

    # Acknowledgements a node gave while it could not hold the lease.
    for window in (e for e in events if e.get("f") == "forbid-acks"):
        for send in acked:
            if not (window["from"] <= send["t_invoke"] and send["t_done"] <= window["to"]):
                continue
            if window["node"] is not None and send.get("node") != window["node"]:
                continue
            bad["forbidden-ack"].append({"reason": window["reason"], "node": send.get("node"), "value": send["value"],
                                         "offset": send["offset"], "via": send.get("via"),
                                         "invoked_ms_into_window": (send["t_invoke"] - window["from"]) / 1e6})

    # Failover times: from the fault to the first acknowledgement of a write invoked after it,
    # given by another node than the faulted one. Only a killed node surely acknowledges
    # nothing afterwards, so after other faults an acknowledgement counts only when its node
    # is known (HTTP).
    for fault in (e for e in events if e.get("proc") == "nemesis" and e.get("failover")):
        first = None
        for send in acked:
            if send["t_invoke"] < fault["t"] or send.get("node") == fault.get("node"):
                continue
            if send.get("node") is None and fault["f"] != "kill":
                continue
            if first is None or send["t_done"] < first["t_done"]:
                first = send
        report.failovers.append({"fault": fault["f"], "node": fault.get("node"),
                                 "failover_ms": None if first is None else (first["t_done"] - fault["t"]) / 1e6,
                                 "new_leader": None if first is None else first.get("node")})

    committed_values = set(read_values)
    report.counts = {
        "sends": len(sends),
        "acknowledged": len(acked),
        "failed": len(failed),
        "indeterminate": len(indeterminate),
        "indeterminate_committed": sum(1 for s in indeterminate if s["value"] in committed_values),
        "lost": len(lost),
        "duplicated": len(duplicated),
        "polls": len(polls),
        "states": sum(1 for e in events if e.get("f") == "state"),
        "final_records": {_tp_name(tp): max((f["end"] for f in s.values()), default=0)
                          for tp, s in sorted(finals.items(), key=str)},
    }
    return report


def main(argv):
    if len(argv) != 2:
        print(f"usage: {argv[0]} HISTORY.jsonl", file=sys.stderr)
        return 2
    report = check(load(argv[1]))
    print(report.summary())
    return 0 if report.valid else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
