"""A follower whose log ends below the leader's log start (retention deleted what it would copy
next, while it was down) cannot catch up by fetching. Regression: it asked again at once, for
ever, hammering the leader with fetches; now it says so once in its log and leaves the
partition alone (it stays out of the ISR)."""
import json
import time
import urllib.request
import uuid

from cluster_support import wait_until


def fetch_requests(node):
    with urllib.request.urlopen(f"{node.http}/metrics", timeout=2) as response:
        text = response.read().decode()
    for line in text.splitlines():
        if line.startswith("yak_server_brokertopicmetrics_total_fetch_requests_total "):
            return int(float(line.split()[1]))
    raise AssertionError("no yak_server_brokertopicmetrics_total_fetch_requests_total in /metrics")


def test_a_follower_below_the_leaders_log_start_does_not_spin(make_cluster):
    cluster = make_cluster(size=2, args=("--retention-check-interval-ms", "200"))
    leader_id = cluster.wait_leader()
    follower_id = next(n for n in cluster.nodes if n != leader_id)
    leader, follower = cluster.nodes[leader_id], cluster.nodes[follower_id]
    cluster.kill(follower_id)
    topic = f"behind-{uuid.uuid4().hex[:8]}"
    status, body = leader.call("POST", "/topics", {
        "name": topic, "partitions": 1, "replication_factor": 1,
        "configs": {"segment.bytes": "1048576", "retention.bytes": "1048576"}})
    assert status == 201, body
    payload = "x" * 1000
    for _ in range(4):
        records = [{"topic": topic, "partition": 0, "payload": payload} for _ in range(1000)]
        status, body = leader.call("POST", "/produce", {"messages": records}, query={"acks": "1"})
        assert status == 200, body

    def log_start():
        status, detail = leader.call("GET", f"/topics/{topic}")
        return status == 200 and detail["partitions"][0]["log_start_offset"] > 0

    wait_until(log_start, 30, "retention to delete the oldest segments on the leader")
    cluster.restart(follower_id)
    wait_until(lambda: "below the leader's log start" in follower.log_path.read_text(errors="replace"),
               30, "the follower to see it is below the leader's log start")
    before = fetch_requests(leader)
    time.sleep(2)  # A window to count requests in, not a synchronisation.
    after = fetch_requests(leader)
    # The follower still long-polls its other partitions (500 ms each); a spinning one sent
    # thousands of requests a second.
    assert after - before < 100, f"{after - before} fetches in 2 s"
