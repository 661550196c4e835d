"""A zombie leader: the leader is stopped (SIGSTOP) past its lease, a follower takes over, and
the old leader is continued (SIGCONT). A producer writes to the old leader directly the whole
time, so every acknowledgement names the node that gave it: the old leader must acknowledge
nothing it was sent after it was stopped, and it must rejoin as a follower."""
import time
import uuid

from cluster_support import wait_until
from cluster_workload import Workload

PARTITIONS = 3
LEASE_MS = 1500


def test_a_paused_leader_acknowledges_nothing_after_its_lease(make_cluster, judge):
    cluster = make_cluster(size=3, lease_ms=LEASE_MS)
    topic = f"zombie-{uuid.uuid4().hex[:8]}"
    cluster.create_topic(topic, PARTITIONS)
    old = cluster.wait_leader()
    workload = Workload(cluster, topic, PARTITIONS, http_producers=1, kafka_producers=1, fixed_nodes=(old,))
    workload.start()
    workload.wait_flowing(0)
    workload.wait_acked_since(0, count=10, exclude_node=None, what="writes acknowledged by the leader itself",
                              via="http")

    paused = cluster.pause(old, failover=True)
    new = cluster.wait_leader(exclude=(old,))
    assert new != old
    # Keep the old leader stopped while its successor takes writes: well past its lease.
    workload.wait_acked_since(paused["t"], count=20, exclude_node=old, what="writes acknowledged by the new leader")
    assert time.monotonic_ns() - paused["t"] > LEASE_MS * 1_000_000

    resumed = cluster.resume(old)
    node = cluster.nodes[old]
    wait_until(lambda: (node.health() or {}).get("role") == "follower", 30,
               f"the old leader (node {old}) to rejoin as a follower")
    cluster.wait_isr_full(topic)
    workload.wait_flowing(resumed["t"])

    # Writes sent to the old leader after it rejoined were refused as not_leader.
    def refused_by_old_leader():
        return [e for e in list(workload.history.events)
                if e["type"] == "fail" and e.get("node") == old and "not_leader" in str(e.get("err"))
                and e["t"] > resumed["t"]]
    wait_until(refused_by_old_leader, 10, f"a write refused as not_leader by node {old} after it rejoined")

    workload.history.forbid_acks(old, paused["t"], time.monotonic_ns(),
                                 f"node {old} was stopped past its {LEASE_MS} ms lease, then rejoined as a follower")
    report = judge(workload)
    assert report.failovers[0]["new_leader"] == new, report.failovers
