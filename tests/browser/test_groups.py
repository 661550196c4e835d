"""The console's consumer-group pages against a real broker: the list with state and lag, a
group's committed offsets with its live lag chart, a reset behind a confirmation dialog that shows
the plan, and the consume page reading as a group."""
import re
import time
import uuid

from playwright.sync_api import expect

from conftest import screenshot


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def produce(broker, topic, partition, count):
    for i in range(count):
        status, body = broker.call("POST", "/produce", {"topic": topic, "partition": partition, "payload": {"i": i}})
        assert status == 200, body


def wait_until(condition, what, timeout_s=15.0):
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def committed(broker, group):
    return {o["partition"]: o["committed"] for o in broker.get(f"/groups/{group}")["offsets"]}


def test_groups_list_detail_lag_chart_and_reset_with_confirmation(page, broker):
    topic, group = unique("browser-groups"), unique("browser-group")
    status, body = broker.call("POST", "/topics", {"name": topic, "partitions": 2})
    assert status == 201, body
    produce(broker, topic, 0, 10)
    produce(broker, topic, 1, 4)
    # The group reads 3 records of partition 0 and all of partition 1: lag 7 in total.
    broker.get(f"/consume?topic={topic}&partition=0&group={group}&max=3")
    broker.get(f"/consume?topic={topic}&partition=1&group={group}")
    assert committed(broker, group) == {0: 3, 1: 4}

    page.goto("/#/groups")
    row = page.locator(f'tr[data-group="{group}"]')
    expect(row).to_be_visible()
    expect(row).to_contain_text("Empty")
    expect(row.locator("td").nth(4)).to_have_text("7")
    screenshot(page, "groups")

    row.get_by_role("link", name=group).click()
    expect(page.get_by_test_id("group-state")).to_have_text("Empty")
    expect(page.get_by_test_id("group-lag")).to_have_text("7")
    offsets = page.get_by_test_id("group-offsets")
    expect(offsets.locator('tr[data-partition="0"] td').nth(4)).to_have_text("7")
    expect(offsets.locator('tr[data-partition="1"] td').nth(4)).to_have_text("0")
    expect(page.get_by_test_id("group-members")).to_contain_text("No members")
    # The chart is read every second: its samples grow, and new records raise the lag it shows.
    chart = page.get_by_test_id("lag-chart").locator("svg")
    expect(chart).to_have_attribute("data-samples", re.compile(r"^([2-9]|\d\d+)$"))
    produce(broker, topic, 0, 5)
    expect(page.get_by_test_id("lag-chart").locator(f'[data-series="{topic}/0"]')).to_have_text("12")
    expect(page.get_by_test_id("group-lag")).to_have_text("12")
    screenshot(page, "group")

    # Reset to earliest: the dialog shows the plan; Cancel changes nothing, Reset commits it.
    form = page.get_by_role("form", name="Reset offsets")
    expect(form.get_by_role("button", name="Reset offsets…")).to_be_enabled()
    form.get_by_label("Topic").fill(topic)
    form.get_by_label("Reset to").select_option("earliest")
    form.get_by_role("button", name="Reset offsets…").click()
    dialog = page.get_by_test_id("reset-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(group)
    expect(dialog.locator("tbody tr")).to_have_count(2)
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert committed(broker, group) == {0: 3, 1: 4}, "a cancelled reset commits nothing"
    form.get_by_role("button", name="Reset offsets…").click()
    dialog.get_by_role("button", name="Reset").click()
    expect(page.get_by_role("status").filter(has_text=f"Reset 2 partition(s) of {group}")).to_be_visible()
    assert committed(broker, group) == {0: 0, 1: 0}
    expect(page.get_by_test_id("group-lag")).to_have_text("19")

    # The consume page reads as the group: from its committed offsets (now 0), committing as it goes.
    page.goto(f"/#/consume?topic={topic}")
    subscribe = page.get_by_role("form", name="Subscribe")
    subscribe.get_by_label("Partitions").fill("1")
    subscribe.get_by_label("Group").fill(group)
    subscribe.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_test_id("records").locator("article")).to_have_count(4)
    expect(page.locator(f'[data-sub="{topic}/1"]')).to_contain_text(f"group {group}")
    # The stream commits each step once it handed the records over.
    wait_until(lambda: committed(broker, group).get(1) == 4, "the stream to commit what it sent")
