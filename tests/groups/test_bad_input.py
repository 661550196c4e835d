"""Bad input to the group coordinator over the raw Kafka protocol (kafka_wire.py): stale
generations, unknown members and groups, commits for partitions that do not exist, oversized
member metadata, a JoinGroup storm. The broker answers with Kafka's error codes and stays up,
its memory bounded."""
import pathlib

import pytest

import kafka_wire as wire
from kafka_wire import Connection

CONSUMER_GROUP_HEARTBEAT = 68
OVERSIZED_METADATA_BYTES = 2 * 1024 * 1024
STORM_JOINS = 3000
STORM_METADATA_BYTES = 4096
# The storm sends 3000 JoinGroups without a member id; Kafka answers each MEMBER_ID_REQUIRED and
# remembers only the new member id and its session deadline (tens of bytes) until it rejoins or
# the session times out, or GROUP_MAX_SIZE_REACHED once the group is full (a broker may cap
# pending members too). Even a broker that kept every request's 4 KiB metadata would grow by
# 12 MiB. 64 MiB leaves room for allocator and buffer slack in a debug build, and still fails a
# broker that keeps ~22 KiB or more per join (a task, a buffer or a held response per member).
STORM_RSS_GROWTH_BYTES_MAX = 64 * 1024 * 1024
STORM_RSS_SAMPLE_EVERY = 100


def rss_bytes(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


def assert_alive(broker):
    """The process runs and a new connection gets an ApiVersions answer."""
    assert broker.alive(), f"the broker exited; log {broker.log_path}"
    connection = Connection(broker.bootstrap)
    try:
        assert connection.api_versions()
    finally:
        connection.close()


def join_as_leader(connection, group, topic):
    """Joins `group` as its only member over the raw protocol (JoinGroup without an id, then with
    the id MEMBER_ID_REQUIRED gave, then SyncGroup) and returns (member_id, generation)."""
    metadata = wire.consumer_metadata(topic)
    first = connection.join_group(group, "", metadata)
    assert first["error"] == wire.MEMBER_ID_REQUIRED and first["member_id"], first
    joined = connection.join_group(group, first["member_id"], metadata)
    assert joined["error"] == wire.NONE, joined
    assert joined["leader"] == joined["member_id"] == first["member_id"], joined
    error, _ = connection.sync_group(group, joined["generation"], joined["member_id"],
                                     [(joined["member_id"], b"")])
    assert error == wire.NONE, error
    return joined["member_id"], joined["generation"]


@pytest.fixture
def connection(broker):
    c = Connection(broker.bootstrap)
    yield c
    c.close()


def test_api_versions_advertise_the_classic_group_apis_but_not_consumer_group_heartbeat(connection):
    """ApiVersions advertises the versions these tests send (JoinGroup v5, SyncGroup v3,
    OffsetCommit v7) and does not advertise KIP-848's ConsumerGroupHeartbeat, so clients use the
    classic protocol."""
    versions = connection.api_versions()
    for key, version in ((wire.JOIN_GROUP, 5), (wire.SYNC_GROUP, 3), (wire.OFFSET_COMMIT, 7)):
        assert key in versions and versions[key][0] <= version <= versions[key][1], (key, versions.get(key))
    assert CONSUMER_GROUP_HEARTBEAT not in versions


def test_offset_commit_with_a_generation_for_an_unknown_group_is_refused(broker, connection):
    """An OffsetCommit with generation 5 and member `ghost` for a group that does not exist is
    refused on every partition with ILLEGAL_GENERATION (what Kafka answers; UNKNOWN_MEMBER_ID is
    accepted too), and nothing is committed: a later OffsetCommit of the same group as a simple
    (generation -1) committer still succeeds."""
    topic = broker.topic("unknown-group", partitions=2)
    group = broker.group("unknown-group")
    result = connection.offset_commit(group, 5, "ghost", {topic: {0: 1, 1: 1}})
    assert set(result) == {(topic, 0), (topic, 1)}, result
    assert set(result.values()) <= {wire.ILLEGAL_GENERATION, wire.UNKNOWN_MEMBER_ID}, result
    assert connection.offset_commit(group, -1, "", {topic: {0: 1}}) == {(topic, 0): wire.NONE}


def test_stale_generation_and_unknown_member_are_fenced(broker, connection):
    """A member that joined (and synced) generation G commits with G: NONE. A commit with
    generation G-1 gets ILLEGAL_GENERATION; one with generation G from a member id the group does
    not know gets UNKNOWN_MEMBER_ID."""
    topic = broker.topic("stale", partitions=1)
    group = broker.group("stale")
    member_id, generation = join_as_leader(connection, group, topic)
    assert connection.offset_commit(group, generation, member_id, {topic: {0: 1}}) == {(topic, 0): wire.NONE}
    assert connection.offset_commit(group, generation - 1, member_id, {topic: {0: 2}}) == \
        {(topic, 0): wire.ILLEGAL_GENERATION}
    assert connection.offset_commit(group, generation, "not-a-member", {topic: {0: 2}}) == \
        {(topic, 0): wire.UNKNOWN_MEMBER_ID}


def test_commits_for_unknown_topics_and_partitions_fail_per_partition(broker, connection):
    """One OffsetCommit (generation -1) carries a partition that exists, a partition index past the
    topic's end and a topic that does not exist: the first is NONE, the other two
    UNKNOWN_TOPIC_OR_PARTITION, each on its own partition."""
    topic = broker.topic("known", partitions=2)
    group = broker.group("unknown-partitions")
    missing = f"missing-{group}"
    result = connection.offset_commit(group, -1, "", {topic: {0: 1, 99: 1}, missing: {0: 1}})
    assert result == {(topic, 0): wire.NONE, (topic, 99): wire.UNKNOWN_TOPIC_OR_PARTITION,
                      (missing, 0): wire.UNKNOWN_TOPIC_OR_PARTITION}, result


def test_oversized_member_metadata_is_refused_and_the_broker_stays_up(broker, connection):
    """A member rejoins with 2 MiB of subscription metadata: the broker refuses it (an error code
    other than NONE and MEMBER_ID_REQUIRED, or closing that connection), and stays up: a new
    connection is answered."""
    topic = broker.topic("oversized", partitions=1)
    group = broker.group("oversized")
    first = connection.join_group(group, "", wire.consumer_metadata(topic))
    assert first["error"] == wire.MEMBER_ID_REQUIRED, first
    huge = wire.consumer_metadata(topic, padding=b"x" * OVERSIZED_METADATA_BYTES)
    try:
        answer = connection.join_group(group, first["member_id"], huge)
    except ConnectionError:
        answer = None
    if answer is not None:
        assert answer["error"] not in (wire.NONE, wire.MEMBER_ID_REQUIRED), \
            f"2 MiB member metadata was accepted: {answer['error']}, generation {answer['generation']}"
    assert_alive(broker)


def test_join_group_storm_keeps_memory_bounded(own_broker):
    """One connection sends 3000 JoinGroups without a member id (4 KiB metadata each) to one group:
    each is answered MEMBER_ID_REQUIRED with a member id never given before, or, once the group
    (with its pending members) is full, GROUP_MAX_SIZE_REACHED; the broker's RSS
    grows by less than 64 MiB over the storm (sampled every 100 requests; the bound is explained
    at STORM_RSS_GROWTH_BYTES_MAX), and afterwards it still answers and a member can join another
    group."""
    broker = own_broker
    topic = broker.topic("storm", partitions=1)
    group = broker.group("storm")
    metadata = wire.consumer_metadata(topic, padding=b"m" * STORM_METADATA_BYTES)
    connection = Connection(broker.bootstrap)
    try:
        warm = connection.join_group(group, "", metadata)  # first allocations of the coordinator
        assert warm["error"] == wire.MEMBER_ID_REQUIRED, warm
        baseline = rss_bytes(broker.pid)
        peak = baseline
        member_ids = {warm["member_id"]}
        full = 0
        for i in range(STORM_JOINS):
            answer = connection.join_group(group, "", metadata)
            if answer["error"] == wire.GROUP_MAX_SIZE_REACHED:
                full += 1
                continue
            assert answer["error"] == wire.MEMBER_ID_REQUIRED, (i, answer["error"])
            assert answer["member_id"] not in member_ids, f"member id {answer['member_id']} given twice"
            member_ids.add(answer["member_id"])
            if i % STORM_RSS_SAMPLE_EVERY == 0:
                peak = max(peak, rss_bytes(broker.pid))
        peak = max(peak, rss_bytes(broker.pid))
    finally:
        connection.close()
    print(f"JoinGroup storm: {len(member_ids)} member ids given, {full} answered GROUP_MAX_SIZE_REACHED; "
          f"broker RSS {baseline >> 20} MiB before, peak {peak >> 20} MiB")
    assert peak - baseline < STORM_RSS_GROWTH_BYTES_MAX, \
        f"RSS grew by {(peak - baseline) >> 20} MiB over {STORM_JOINS} JoinGroups"
    assert_alive(broker)
    other = Connection(broker.bootstrap)
    try:
        join_as_leader(other, broker.group("after-storm"), topic)
    finally:
        other.close()
