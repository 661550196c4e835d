"""ACLs end to end on a node with `--authorization true --super-users User:admin`: confluent-kafka
as alice is refused with TOPIC_AUTHORIZATION_FAILED / GROUP_AUTHORIZATION_FAILED until the admin
adds ACLs (Kafka's CreateAcls through AdminClient, or `yak acls add`); prefixed patterns; a DENY
wins over an ALLOW."""
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import (AclBinding, AclOperation, AclPermissionType, AdminClient, NewTopic,
                                   ResourcePatternType, ResourceType)

from security_support import ADMIN_PASSWORD, as_admin, wait_until, yak

ALICE_PASSWORD = "alice-secret"
RECORDS = 5
ADMIN_SECONDS_MAX = 30
# Short, so a refused record fails fast instead of being retried for librdkafka's 5 minutes.
MESSAGE_TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")
def alice(acl_node):
    """The user alice, added by the admin with `yak users add` (password on standard input)."""
    flags, env = as_admin(acl_node)
    yak("users", "add", "alice", *flags, env=env, stdin=ALICE_PASSWORD + "\n")
    return "User:alice"


def config(node, user, password):
    return {"bootstrap.servers": node.listeners["SASL_PLAINTEXT"], "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": user, "sasl.password": password}


def admin_client(node):
    return AdminClient(config(node, "admin", ADMIN_PASSWORD))


def create_topic(node, name, partitions=1):
    # The client must outlive its futures: a destroyed handle fails them with _DESTROY.
    admin = admin_client(node)
    admin.create_topics([NewTopic(name, num_partitions=partitions)])[name].result(ADMIN_SECONDS_MAX)


def create_acls(node, *bindings):
    """Adds ACLs as the admin over Kafka's CreateAcls."""
    admin = admin_client(node)
    for future in admin.create_acls(list(bindings)).values():
        future.result(ADMIN_SECONDS_MAX)


def allow(resource_type, name, operation, pattern=ResourcePatternType.LITERAL, principal="User:alice",
          permission=AclPermissionType.ALLOW):
    return AclBinding(resource_type, name, pattern, principal, "*", operation, permission)


def produce(node, topic, user="alice", password=ALICE_PASSWORD, count=RECORDS):
    """Produces `count` records as `user`; the delivery errors (an empty list when all landed)."""
    producer = Producer({**config(node, user, password), "message.timeout.ms": MESSAGE_TIMEOUT_MS})
    errors = []
    for i in range(count):
        producer.produce(topic, value=f"v{i}", on_delivery=lambda err, msg: err and errors.append(err))
    producer.flush(MESSAGE_TIMEOUT_MS / 1000 + 10)
    return errors


def assert_refused_with(errors, code):
    assert errors, "the records were accepted"
    assert {e.code() for e in errors} == {code}, errors


def test_produce_needs_write_on_the_topic(acl_node, alice):
    """Without WRITE alice's records fail with TOPIC_AUTHORIZATION_FAILED; after the admin adds
    WRITE with CreateAcls they land."""
    topic = f"acl-write-{uuid.uuid4().hex[:8]}"
    create_topic(acl_node, topic)
    assert_refused_with(produce(acl_node, topic), KafkaError.TOPIC_AUTHORIZATION_FAILED)
    create_acls(acl_node, allow(ResourceType.TOPIC, topic, AclOperation.WRITE))
    assert produce(acl_node, topic) == []


def consume_errors_or_records(node, topic, group, want):
    """Reads as alice in `group` until `want` records arrive or an error is reported; returns
    (records, errors)."""
    consumer = Consumer({**config(node, "alice", ALICE_PASSWORD), "group.id": group,
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    records, errors = [], []

    def done():
        message = consumer.poll(0.5)
        if message is not None:
            if message.error():
                errors.append(message.error())
            else:
                records.append(message.value().decode())
        return errors or len(records) >= want

    try:
        wait_until(done, 60, interval_s=0, what=f"records or an error from {topic} in {group}")
    finally:
        consumer.close()
    return records, errors


def test_consume_needs_read_on_the_group(acl_node, alice):
    """With READ on the topic but not on the group, alice's group consumer gets
    GROUP_AUTHORIZATION_FAILED; after READ on the group (`yak acls add`) it reads every record."""
    topic = f"acl-read-{uuid.uuid4().hex[:8]}"
    group = f"acl-group-{uuid.uuid4().hex[:8]}"
    create_topic(acl_node, topic)
    assert produce(acl_node, topic, user="admin", password=ADMIN_PASSWORD) == []
    flags, env = as_admin(acl_node)
    yak("acls", "add", "--principal", "alice", "--topic", topic, "--operation", "read", *flags, env=env)

    records, errors = consume_errors_or_records(acl_node, topic, group, RECORDS)
    assert errors and errors[0].code() == KafkaError.GROUP_AUTHORIZATION_FAILED, (records, errors)

    yak("acls", "add", "--principal", "alice", "--group", group, "--operation", "read", *flags, env=env)
    records, errors = consume_errors_or_records(acl_node, topic, group, RECORDS)
    assert errors == [] and sorted(records) == [f"v{i}" for i in range(RECORDS)], (records, errors)


def test_prefixed_acl_covers_every_topic_with_the_prefix(acl_node, alice):
    """WRITE on the prefix `team-a.` lets alice write to `team-a.*` and nowhere else."""
    prefix = f"team-a-{uuid.uuid4().hex[:6]}."
    inside, outside = prefix + "orders", f"team-b-{uuid.uuid4().hex[:6]}.orders"
    create_topic(acl_node, inside)
    create_topic(acl_node, outside)
    create_acls(acl_node, allow(ResourceType.TOPIC, prefix, AclOperation.WRITE,
                                pattern=ResourcePatternType.PREFIXED))
    assert produce(acl_node, inside) == []
    assert_refused_with(produce(acl_node, outside), KafkaError.TOPIC_AUTHORIZATION_FAILED)


def test_deny_wins_over_allow(acl_node, alice):
    """An ALLOW on a prefix and a DENY on one topic under it: the DENY wins there, the ALLOW
    everywhere else."""
    prefix = f"deny-{uuid.uuid4().hex[:6]}-"
    open_topic, secret_topic = prefix + "open", prefix + "secret"
    create_topic(acl_node, open_topic)
    create_topic(acl_node, secret_topic)
    create_acls(acl_node,
                allow(ResourceType.TOPIC, prefix, AclOperation.WRITE, pattern=ResourcePatternType.PREFIXED),
                allow(ResourceType.TOPIC, secret_topic, AclOperation.WRITE,
                      permission=AclPermissionType.DENY))
    assert produce(acl_node, open_topic) == []
    assert_refused_with(produce(acl_node, secret_topic), KafkaError.TOPIC_AUTHORIZATION_FAILED)
