"""Faults of the coordinator. Redis restarted empty mid-run: no node's epoch goes backwards and
the next leader's epoch is higher than any before (each node keeps the highest epoch it saw in
its data directory). Redis unreachable for longer than the lease: no write is acknowledged while
nobody can hold a lease, and nothing acknowledged is lost."""
import time
import uuid

from cluster_support import wait_until
from cluster_workload import Workload

PARTITIONS = 3
LEASE_MS = 1500


def highest_epoch(cluster):
    return max((h or {}).get("epoch", -1) for h in cluster.healths().values())


def test_redis_restarted_empty_mid_run(make_cluster, judge):
    cluster = make_cluster(size=3, lease_ms=LEASE_MS)
    topic = f"redis-empty-{uuid.uuid4().hex[:8]}"
    cluster.create_topic(topic, PARTITIONS)
    workload = Workload(cluster, topic, PARTITIONS, http_producers=1, kafka_producers=1)
    workload.start()
    workload.wait_flowing(0)
    # One failover first, so the epoch Redis forgets is above the first one.
    first = cluster.wait_leader()
    kill = cluster.kill(first, failover=True)
    cluster.wait_leader(exclude=(first,))
    workload.wait_acked_since(kill["t"], exclude_node=first, what="writes acknowledged by the new leader")
    cluster.restart(first)
    cluster.wait_isr_full(topic)
    before = highest_epoch(cluster)

    restart = cluster.history.nemesis("redis-restart")
    cluster.redis.kill()
    cluster.redis.start()
    # The leader's lease went with Redis: some node takes a new one, at an epoch above every
    # epoch granted before (the empty Redis knows none of them).
    retaken = wait_until(lambda: (leader := cluster.leader()) and
                         cluster.nodes[leader].health()["epoch"] > before and leader, 10 * LEASE_MS / 1000,
                         f"a lease taken on the empty Redis at an epoch above {before}")
    reelected = cluster.nodes[retaken].health()["epoch"]
    workload.wait_flowing(restart["t"])
    cluster.wait_isr_full(topic)

    # A failover on the empty Redis: the new leader's epoch comes from the nodes' floors.
    leader = cluster.wait_leader()
    kill = cluster.kill(leader, failover=True)
    successor = cluster.wait_leader(exclude=(leader,))
    workload.wait_acked_since(kill["t"], exclude_node=leader, what="writes acknowledged by the new leader")
    after = cluster.nodes[successor].health()["epoch"]
    assert after > reelected, f"epoch {after} after the failover on the empty Redis, {reelected} before it"
    cluster.restart(leader)
    cluster.wait_isr_full(topic)

    report = judge(workload)
    assert report.counts["states"] > 0


def test_redis_unreachable_longer_than_the_lease(make_cluster, judge):
    cluster = make_cluster(size=3, lease_ms=LEASE_MS)
    topic = f"redis-away-{uuid.uuid4().hex[:8]}"
    cluster.create_topic(topic, PARTITIONS)
    workload = Workload(cluster, topic, PARTITIONS, http_producers=1, kafka_producers=1)
    workload.start()
    workload.wait_flowing(0)

    cluster.redis.pause()
    paused = cluster.history.nemesis("redis-pause")
    lapsed = paused["t"] + LEASE_MS * 1_000_000
    # Stay away well past the lease, while producers keep trying.
    wait_until(lambda: time.monotonic_ns() > lapsed and [
        e for e in list(workload.history.events)
        if e["type"] == "invoke" and e["t"] > lapsed + LEASE_MS * 1_000_000], 30,
        "producers to keep trying a lease length after the lease lapsed")
    resumed = cluster.history.nemesis("redis-resume")
    cluster.redis.resume()
    workload.history.forbid_acks(None, lapsed, resumed["t"],
                                 f"Redis unreachable: no lease past {LEASE_MS} ms after it went away")
    workload.wait_flowing(resumed["t"])
    cluster.wait_isr_full(topic)

    report = judge(workload)
    refused = [e for e in list(workload.history.events)
               if e["type"] in ("fail", "info") and "id" in e and lapsed <= e["t"] <= resumed["t"]]
    assert refused, "no write was refused or left in doubt while Redis was away"
    assert report.counts["acknowledged"] > 0
