"""Group consumers of the four clients (the Java client, confluent-kafka, kafka-python, aiokafka)
against YAK's group coordinator: split, rebalance on join, eviction of a killed member after the
session timeout, resume at the committed offsets; cooperative-sticky with confluent-kafka and the
Java client. Each member is its own process (see conftest.Member) that commits after every poll."""
import collections
import time

import pytest

from groups_support import ALL_CLIENTS, SESSION_TIMEOUT_MS, wait_for_split, wait_for_values, wait_until

RECORDS_PER_PHASE = 60  # 10 per partition: enough to land on every member, quick to read
EVICTION_SECONDS_MAX = SESSION_TIMEOUT_MS / 1000 + 45


def values(tag, count=RECORDS_PER_PHASE):
    return [f"{tag}-{i}" for i in range(count)]


def assert_read_once(group_members, expected):
    """Every expected value was read by exactly one member, exactly once, from a partition that
    member owned."""
    counts = collections.Counter(v for m in group_members for v in m.values() if v in set(expected))
    duplicates = {v: n for v, n in counts.items() if n > 1}
    assert not duplicates, f"read more than once: {duplicates}"
    assert set(counts) == set(expected), f"never read: {sorted(set(expected) - set(counts))}"


@pytest.mark.parametrize("client", ALL_CLIENTS)
def test_group_splits_rebalances_survives_a_kill_and_resumes(broker, members, client):
    """One scenario in four phases, for each client:
    (a) split: two members of one group each own a non-empty, disjoint half of a 6-partition
        topic, and 60 records written then are read exactly once between them, each from a
        partition its reader owned;
    (b) join: a third member joins; all three end with non-empty disjoint assignments covering
        all 6 partitions, and 60 more records are read once by the three, nothing read twice;
    (c) kill: the third member's process is SIGKILLed; after the session timeout (6 s) the two
        survivors own all 6 partitions again, and 60 more records are read exactly once;
    (d) resume: both survivors close (committing what they read); 60 more records are written
        to the empty group; a restarted member reads exactly those 60: on every partition it
        starts at the offset committed before, nothing skipped and nothing re-read."""
    topic = broker.topic(f"split-{client}")
    group = broker.group(f"g-{client}")
    a = members("a", client, broker, group, topic)
    b = members("b", client, broker, group, topic)

    # (a) split
    wait_for_split([a, b])
    phase_a = values("a")
    broker.produce(topic, phase_a)
    wait_for_values([a, b], phase_a)
    assert_read_once([a, b], phase_a)
    for m in (a, b):
        assert m.values(), f"{m} read nothing: the group did not split the work"
        assert {r["partition"] for r in m.records()} <= m.assignment(), m

    # (b) a third member joins
    c = members("c", client, broker, group, topic)
    wait_for_split([a, b, c])
    phase_b = values("b")
    broker.produce(topic, phase_b)
    wait_for_values([a, b, c], phase_b)
    assert_read_once([a, b, c], phase_a + phase_b)

    # (c) the third member is killed: its partitions move to the survivors after the session timeout
    killed_at = time.monotonic()
    c.kill9()
    wait_for_split([a, b], timeout_s=EVICTION_SECONDS_MAX)
    print(f"{client}: the killed member's partitions moved {time.monotonic() - killed_at:.1f} s after its kill")
    phase_c = values("c")
    broker.produce(topic, phase_c)
    wait_for_values([a, b], phase_c)
    assert_read_once([a, b, c], phase_a + phase_b + phase_c)

    # (d) everyone closes; the group resumes from its committed offsets
    committed = {}
    for m in (a, b, c):
        for partition, offset in m.committed().items():
            committed[partition] = max(committed.get(partition, 0), offset)
    a.stop()
    b.stop()
    assert not a.errors() and not b.errors(), (a.errors(), b.errors())
    phase_d = values("d")
    broker.produce(topic, phase_d)
    d = members("d", client, broker, group, topic)
    wait_for_values([d], phase_d)
    assert sorted(d.values()) == sorted(phase_d), "the restarted member re-read or skipped records"
    first_offsets = {}
    for record in d.records():
        first_offsets.setdefault(record["partition"], record["offset"])
    assert first_offsets == committed, "the restarted member did not start at the committed offsets"
    d.stop()


@pytest.mark.parametrize("client", ["confluent", "java"])
def test_cooperative_sticky_moves_only_the_partitions_the_new_member_gets(broker, members, client):
    """With partition.assignment.strategy=cooperative-sticky: two members split the 6 partitions;
    when a third joins, the first two are only ever revoked partitions that they do not keep
    (no stop-the-world revocation), the three end with non-empty disjoint assignments covering
    all 6, and records written after the rebalance are read exactly once."""
    topic = broker.topic(f"coop-{client}")
    group = broker.group(f"coop-{client}")
    a = members("a", client, broker, group, topic, assignor="cooperative-sticky")
    b = members("b", client, broker, group, topic, assignor="cooperative-sticky")
    before = wait_for_split([a, b])
    marks = [len(a.snapshot()), len(b.snapshot())]

    c = members("c", client, broker, group, topic, assignor="cooperative-sticky")
    after = wait_for_split([a, b, c])
    for member, owned_before, owned_after, mark in zip((a, b), before, after[:2], marks):
        revoked = set()
        for event in member.snapshot()[mark:]:
            if event["event"] in ("revoked", "lost"):
                revoked |= set(event["partitions"])
        assert owned_after <= owned_before, f"{member} gained partitions under a sticky assignor"
        assert revoked == owned_before - owned_after, \
            f"{member} had {sorted(revoked)} revoked but only lost {sorted(owned_before - owned_after)}"
    assert after[2] == set().union(*before) - set().union(*after[:2])

    records = values("coop")
    broker.produce(topic, records)
    wait_for_values([a, b, c], records)
    assert_read_once([a, b, c], records)
    for m in (a, b, c):
        m.stop()
        assert not m.errors(), m.errors()
