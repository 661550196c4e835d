"""Failover under load: three nodes, producers over HTTP and Kafka at a steady rate, the leader
killed with SIGKILL and restarted, again and again. Every acknowledged write must survive, in
place, on every node; each failover is timed (kill -> first write acknowledged by the new
leader)."""
import time
import uuid

from cluster_workload import Workload

KILLS = 5
PARTITIONS = 3


def kill_leader_repeatedly(cluster, workload, kills):
    for _ in range(kills):
        leader = cluster.wait_leader()
        kill = cluster.kill(leader, failover=True)
        new_leader = cluster.wait_leader(exclude=(leader,))
        assert new_leader != leader
        workload.wait_acked_since(kill["t"], exclude_node=leader, what="writes acknowledged by the new leader")
        restarted = time.monotonic_ns()
        cluster.restart(leader)
        # The old leader rejoins as a follower and catches up before the next round, so the
        # next kill never leaves the cluster without an in-sync replica to elect; and both
        # kinds of producer write again, so the next kill happens under load.
        cluster.wait_isr_full(workload.topic)
        workload.wait_flowing(restarted)


def run_failovers(make_cluster, judge, lease_ms, kills):
    cluster = make_cluster(size=3, lease_ms=lease_ms)
    topic = f"failover-{uuid.uuid4().hex[:8]}"
    cluster.create_topic(topic, PARTITIONS)
    workload = Workload(cluster, topic, PARTITIONS, http_producers=1, kafka_producers=1)
    workload.start()
    workload.wait_flowing(0)
    kill_leader_repeatedly(cluster, workload, kills)
    report = judge(workload)
    assert len(report.failovers) == kills
    assert all(f["failover_ms"] is not None for f in report.failovers), report.failovers
    assert report.counts["acknowledged"] > 0


def test_kill_the_leader_five_times_under_load(make_cluster, judge):
    run_failovers(make_cluster, judge, lease_ms=1500, kills=KILLS)


def test_kill_the_leader_with_the_default_lease(make_cluster, judge):
    run_failovers(make_cluster, judge, lease_ms=None, kills=1)
