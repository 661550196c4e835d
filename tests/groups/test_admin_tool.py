"""Kafka's own admin tool, ConsumerGroupCommand from org.apache.kafka:kafka-tools (built into
tests/groups/java's class path), against a YAK group: list, describe (topic, partitions, committed
offsets, lag), reset offsets to earliest."""
import subprocess

from groups_support import wait_for_values

TOOL = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"
TOOL_SECONDS_MAX = 120
PARTITIONS = 6


def group_command(java_classpath, broker, *args):
    result = subprocess.run(
        ["java", "-cp", java_classpath, TOOL, "--bootstrap-server", broker.bootstrap, *args],
        capture_output=True, text=True, timeout=TOOL_SECONDS_MAX)
    assert result.returncode == 0, f"ConsumerGroupCommand {args} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    assert "Error" not in result.stdout, result.stdout
    return result.stdout


def table(output, first_column="GROUP"):
    """The rows of the tool's table as dicts keyed by its header's column names."""
    lines = [line.split() for line in output.splitlines() if line.strip()]
    header_at = next(i for i, cells in enumerate(lines) if cells and cells[0] == first_column)
    header = lines[header_at]
    return [dict(zip(header, cells)) for cells in lines[header_at + 1:] if len(cells) == len(header)]


def test_consumer_group_command_lists_describes_and_resets_a_group(broker, members, java_classpath):
    """A confluent-kafka member reads 60 records (10 per partition) of a 6-partition topic in
    group G, commits and closes; 12 more records are written (2 per partition). Then:
    `--list` names G; `--describe --group G` shows one row per partition of the topic with
    CURRENT-OFFSET 10, LOG-END-OFFSET 12 and LAG 2; `--reset-offsets --to-earliest --execute` on
    the (now empty) group sets every partition's offset to 0, which `--describe` then shows; and
    a new member of G reads all 72 records again from the start."""
    topic = broker.topic("admin")
    group = broker.group("admin")
    first = [f"admin-{i}" for i in range(60)]
    broker.produce(topic, first)
    reader = members("reader", "confluent", broker, group, topic)
    wait_for_values([reader], first)
    reader.stop()
    later = [f"admin-later-{i}" for i in range(12)]
    broker.produce(topic, later)

    listed = group_command(java_classpath, broker, "--list").split()
    assert group in listed, f"--list did not name {group}: {listed}"

    rows = table(group_command(java_classpath, broker, "--describe", "--group", group))
    by_partition = {int(r["PARTITION"]): r for r in rows if r.get("TOPIC") == topic}
    assert sorted(by_partition) == list(range(PARTITIONS)), rows
    for partition, row in by_partition.items():
        assert row["GROUP"] == group, row
        assert (row["CURRENT-OFFSET"], row["LOG-END-OFFSET"], row["LAG"]) == ("10", "12", "2"), row

    reset = table(group_command(java_classpath, broker, "--reset-offsets", "--group", group, "--topic", topic,
                                "--to-earliest", "--execute"))
    assert sorted((int(r["PARTITION"]), r["NEW-OFFSET"]) for r in reset) == [(p, "0") for p in range(PARTITIONS)], reset

    rows = table(group_command(java_classpath, broker, "--describe", "--group", group))
    described = sorted((int(r["PARTITION"]), r["CURRENT-OFFSET"], r["LAG"]) for r in rows if r.get("TOPIC") == topic)
    assert described == [(p, "0", "12") for p in range(PARTITIONS)], rows

    again = members("again", "confluent", broker, group, topic)
    wait_for_values([again], first + later)
    assert sorted(again.values()) == sorted(first + later)
    again.stop()
