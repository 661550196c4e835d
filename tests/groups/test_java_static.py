"""Static membership (group.instance.id) with the Java client: a member restarted within the
session timeout takes its partitions back without rebalancing the others (whether it follows or
leads the group), and a second live member with the same instance id fences the first
(FENCED_INSTANCE_ID)."""
import uuid

from groups_support import wait_for_split, wait_for_values, wait_until

STATIC_SESSION_TIMEOUT_MS = 30000  # a restart (JVM start + join) must fit well inside it
REJOIN_SECONDS_MAX = 25
FENCE_SECONDS_MAX = 30
REBALANCE_EVENTS = ("assigned", "revoked", "lost")


def static_pair(broker, members, prefix):
    """Two static members of a new group over a new 6-partition topic, split: `leader` joined
    first (alone, it took all 6 partitions: the group's first member leads it), then `follower`.
    Returns (topic, group, {name: (member, instance id, owned partitions)})."""
    topic = broker.topic(prefix)
    group = broker.group(prefix)
    ids = {name: f"{name}-{uuid.uuid4().hex[:6]}" for name in ("leader", "follower")}
    leader = members("leader", "java", broker, group, topic, instance_id=ids["leader"],
                     session_timeout_ms=STATIC_SESSION_TIMEOUT_MS)
    wait_until(lambda: leader.assignment() == set(range(6)), REJOIN_SECONDS_MAX,
               what="the first member to own all 6 partitions")
    follower = members("follower", "java", broker, group, topic, instance_id=ids["follower"],
                       session_timeout_ms=STATIC_SESSION_TIMEOUT_MS)
    owned = wait_for_split([leader, follower])
    return topic, group, {"leader": (leader, ids["leader"], owned[0]),
                          "follower": (follower, ids["follower"], owned[1])}


def restart_static(broker, members, group, topic, restarted, other, name):
    """Closes `restarted` (a static member sends no LeaveGroup) and starts a new process with its
    instance id; checks that the new process owns exactly the old partitions, that `other` saw
    no rebalance at all, and that records written then are read exactly once. Returns the new
    member."""
    member, instance_id, owned = restarted
    other_member = other[0]
    mark = len(other_member.snapshot())
    member.stop()
    replacement = members(name, "java", broker, group, topic, instance_id=instance_id,
                          session_timeout_ms=STATIC_SESSION_TIMEOUT_MS)
    wait_until(lambda: replacement.assignment() == owned, REJOIN_SECONDS_MAX,
               what=f"the restarted static member to get back {sorted(owned)}")
    records = [f"{name}-{i}" for i in range(60)]
    broker.produce(topic, records)
    wait_for_values([replacement, other_member], records)
    assert sorted(v for v in replacement.values() + other_member.values() if v.startswith(f"{name}-")) == sorted(records)
    rebalance = [e for e in other_member.snapshot()[mark:] if e["event"] in REBALANCE_EVENTS]
    assert not rebalance, f"the other static member was rebalanced when {name} rejoined: {rebalance}"
    return replacement


def test_static_follower_restart_keeps_partitions_and_duplicate_instance_is_fenced(broker, members):
    """Two static members split a 6-partition topic. The follower (not the group's leader)
    closes and a new process with its instance id joins within the session timeout: it is
    assigned exactly the old partitions, the leader sees no revocation or assignment at all, and
    records written then are read exactly once. Then a second live process with that instance id
    joins: the older one is fenced — its client reports FencedInstanceIdException
    (FENCED_INSTANCE_ID) and exits — while the newcomer owns the partitions and reports no
    error."""
    topic, group, pair = static_pair(broker, members, "static-follower")
    follower2 = restart_static(broker, members, group, topic, pair["follower"], pair["leader"], "follower2")

    _, instance_id, owned = pair["follower"]
    follower3 = members("follower3", "java", broker, group, topic, instance_id=instance_id,
                        session_timeout_ms=STATIC_SESSION_TIMEOUT_MS)
    wait_until(follower2.exited, FENCE_SECONDS_MAX, what="the older member with the same instance id to be fenced")
    errors = follower2.errors()
    assert errors and errors[0]["error"] == "FencedInstanceIdException", errors
    wait_until(lambda: follower3.assignment() == owned, REJOIN_SECONDS_MAX,
               what=f"the newer member with instance id {instance_id} to own {sorted(owned)}")
    assert not follower3.errors(), follower3.errors()
    for m in (follower3, pair["leader"][0]):
        m.stop()


def test_static_leader_restart_keeps_partitions_without_rebalancing_the_others(broker, members):
    """Two static members split a 6-partition topic. The group's leader closes and a new process
    with its instance id joins within the session timeout: as in Kafka since JoinGroup v9
    (KIP-814: the returning leader gets `skip_assignment`), it is assigned exactly its old
    partitions and the follower sees no revocation or assignment at all; records written then
    are read exactly once."""
    topic, group, pair = static_pair(broker, members, "static-leader")
    leader2 = restart_static(broker, members, group, topic, pair["leader"], pair["follower"], "leader2")
    for m in (leader2, pair["follower"][0]):
        m.stop()
