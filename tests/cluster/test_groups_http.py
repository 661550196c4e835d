"""Consumer groups over HTTP in a cluster: only the leader coordinates groups, so a follower
answers every group endpoint (and a group consume) with 421 `not_leader`; committed offsets live
in the replicated `__consumer_offsets`, so after the leader is killed the new leader should resume
the group where it committed."""
import uuid


from cluster_support import error_code, wait_until


def group_with_commit(cluster):
    """A topic of 6 records and a group that committed offset 4 on the leader."""
    topic, group = f"groups-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    cluster.create_topic(topic, 1)
    leader_id = cluster.wait_leader()
    leader = cluster.nodes[leader_id]
    for i in range(6):
        status, body = leader.call("POST", "/produce", {"topic": topic, "partition": 0, "payload": i},
                                   query={"acks": "all"})
        assert status == 200, body
    status, body = leader.call("GET", "/consume", query={"topic": topic, "group": group, "max": 4})
    assert status == 200, body
    assert body["next_offset"] == 4
    return topic, group, leader_id


def test_followers_answer_group_requests_with_not_leader(make_cluster):
    cluster = make_cluster(size=3)
    topic, group, leader_id = group_with_commit(cluster)
    follower = next(n for n in cluster.nodes.values() if n.node_id != leader_id)
    for method, path, payload, query in [
        ("GET", "/groups", None, None),
        ("GET", f"/groups/{group}", None, None),
        ("POST", f"/groups/{group}/offsets", {"topic": topic, "to": "earliest"}, None),
        ("POST", f"/groups/{group}/commit", {"topic": topic, "partition": 0, "offset": 0}, None),
        ("DELETE", f"/groups/{group}", None, None),
        ("GET", "/consume", None, {"topic": topic, "group": group}),
    ]:
        status, answer = follower.call(method, path, payload, query=query)
        assert (status, error_code(answer)) == (421, "not_leader"), (method, path, answer)
    status, detail = cluster.nodes[leader_id].call("GET", f"/groups/{group}")
    assert status == 200 and detail["offsets"][0]["committed"] == 4, detail


def test_group_offsets_committed_over_http_survive_a_leader_failover(make_cluster):
    cluster = make_cluster(size=3)
    topic, group, old = group_with_commit(cluster)
    cluster.kill(old, failover=True)
    new = cluster.wait_leader(exclude=(old,))

    def resumed():
        status, answer = cluster.nodes[new].call("GET", "/consume", query={"topic": topic, "group": group})
        return answer if status == 200 else None
    answer = wait_until(resumed, 30, "a group consume on the new leader")
    assert [m["offset"] for m in answer["messages"]] == [4, 5], answer
