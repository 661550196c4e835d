"""Network partitions, each process in its own network namespace on a bridge, links cut with
iptables inside the namespaces (the test driver keeps reaching every node through the bridge).

- The leader cut off from its followers but not from Redis: it keeps its lease, the followers
  leave the ISR (after --replica-lag-ms), and it goes on alone; healed, they catch up.
- The leader cut off from Redis but not from its followers: its lease lapses, it must stop
  acknowledging, a follower takes over; healed, the old leader rejoins as a follower.

The checker judges each scenario on its own topic."""
import time
import uuid

from cluster_support import wait_until
from cluster_workload import Workload

PARTITIONS = 3
LEASE_MS = 1500
REPLICA_LAG_MS = 1500


def isr_of(cluster, node_id, topic):
    state = cluster.nodes[node_id].cluster_state()
    if state is None:
        return None
    return {p["partition"]: sorted(p["isr"]) for p in state["partitions"] if p["topic"] == topic}


def new_workload(cluster, scenario):
    topic = f"{scenario}-{uuid.uuid4().hex[:8]}"
    cluster.create_topic(topic, PARTITIONS)
    leader = cluster.wait_leader()
    workload = Workload(cluster, topic, PARTITIONS, http_producers=1, kafka_producers=1, fixed_nodes=(leader,))
    workload.start()
    workload.wait_flowing(0)
    cluster.wait_isr_full(topic)
    return leader, workload


def test_leader_cut_off_from_its_followers_but_not_from_redis(network, make_cluster, judge):
    cluster = make_cluster(size=3, lease_ms=LEASE_MS, network=network,
                           args=["--replica-lag-ms", str(REPLICA_LAG_MS)])
    leader, workload = new_workload(cluster, "cut-followers")
    followers = [n for n in cluster.nodes if n != leader]
    cut = cluster.history.nemesis("cut-leader-from-followers", node=leader)
    for follower in followers:
        network.cut(cluster.namespaces[leader], cluster.namespaces[follower])
    # The leader keeps its lease and shrinks the ISR to itself; writes go on.
    wait_until(lambda: (isr := isr_of(cluster, leader, workload.topic)) and
               all(members == [leader] for members in isr.values()), 30,
               f"the ISR to shrink to the leader {leader} alone")
    shrunk = time.monotonic_ns()
    workload.wait_acked_since(shrunk, count=20, exclude_node=None, via="http",
                              what="writes acknowledged by the leader alone")
    healed = cluster.history.nemesis("heal")
    network.heal()
    cluster.wait_isr_full(workload.topic)
    workload.wait_flowing(time.monotonic_ns())
    report = judge(workload)
    # The leader kept its lease all along: no other node led meanwhile.
    others = {e["node"] for e in list(workload.history.events)
              if e.get("f") == "state" and e["role"] == "leader" and cut["t"] <= e["t"] <= healed["t"]}
    assert others <= {leader}, f"nodes {others - {leader}} led while node {leader} held the lease"
    assert report.counts["acknowledged"] > 0


def test_leader_cut_off_from_redis_but_not_from_its_followers(network, make_cluster, judge):
    cluster = make_cluster(size=3, lease_ms=LEASE_MS, network=network,
                           args=["--replica-lag-ms", str(REPLICA_LAG_MS)])
    old, workload = new_workload(cluster, "cut-redis")
    cut = cluster.history.nemesis("cut-leader-from-redis", node=old, failover=True)
    network.cut(cluster.namespaces[old], cluster.namespaces["redis"])
    new = cluster.wait_leader(exclude=(old,))
    assert new != old
    workload.wait_acked_since(cut["t"], count=20, exclude_node=old, what="writes acknowledged by the new leader")
    healed = cluster.history.nemesis("heal")
    network.heal()
    # Cut off from Redis, the old leader may not acknowledge anything once its lease lapsed.
    workload.history.forbid_acks(old, cut["t"] + LEASE_MS * 1_000_000, healed["t"],
                                 f"node {old} cut off from Redis for longer than its {LEASE_MS} ms lease")
    node = cluster.nodes[old]
    wait_until(lambda: (node.health() or {}).get("role") == "follower", 30,
               f"the old leader (node {old}) to rejoin as a follower")
    cluster.wait_isr_full(workload.topic)
    workload.wait_flowing(time.monotonic_ns())
    report = judge(workload)
    assert report.failovers[0]["failover_ms"] is not None, report.failovers
