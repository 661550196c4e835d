"""Browser tests of the web console against a real broker: every page opens, records go in through
the Produce page and come out live on the Consume page, a CSV upload lands whole, topics are
created and deleted, and errors are shown in words."""
import csv
import re
import subprocess
import threading
import time
import uuid

import pytest
from playwright.sync_api import expect

from conftest import BrokerProcess, screenshot, yak_bin


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def read_partition(broker, topic, partition):
    """Every record of one partition through GET /consume, following next_offset to the end."""
    records, offset = [], 0
    while True:
        answer = broker.get(f"/consume?topic={topic}&partition={partition}&offset={offset}&max=500&wait_ms=0")
        records.extend(answer["messages"])
        if not answer["messages"] or answer["next_offset"] >= answer["high_watermark"]:
            return records
        offset = answer["next_offset"]


def test_dashboard_shows_node_role_and_live_stats(page, broker):
    """The dashboard names this node's role, fills its counts from the live /events stream, draws
    the records-in rate while records flow, and lists the new topic's partitions."""
    topic = unique("browser-dashboard")
    page.goto("/")
    expect(page.get_by_test_id("node-role")).to_have_text(re.compile(r"^(standalone|leader|follower)$"))
    expect(page.get_by_test_id("stream-state")).to_have_text("live")
    expect(page.get_by_test_id("epoch")).to_have_text(re.compile(r"^\d"))
    expect(page.locator("#connection")).to_contain_text("Connected")

    # Keep records flowing until the chart shows them: a rate is the difference of two samples.
    flowing = threading.Event()

    def produce_until_seen():
        batch = {"topic": topic, "messages": [{"key": f"k{i}", "payload": {"i": i}} for i in range(20)]}
        while not flowing.is_set():
            status, body = broker.call("POST", "/produce", batch)
            assert status == 200, body
            flowing.wait(0.2)

    producer = threading.Thread(target=produce_until_seen, daemon=True)
    producer.start()
    try:
        records_in = page.get_by_role("region", name="Records per second").locator('.current[data-series="in"]')
        expect(records_in).to_have_text(re.compile(r"^[1-9]"))
        # A few samples make a line a reviewer can see in the screenshot.
        page.wait_for_function("document.querySelector('svg.chart').dataset.samples >= 5", timeout=15_000)
    finally:
        flowing.set()
        producer.join()
    expect(page.get_by_test_id("topic-count")).to_have_text(re.compile(r"^[1-9]"))
    expect(page.locator(f'.log li[data-kind="topic_created"]').filter(has_text=topic)).to_be_visible()
    expect(page.get_by_role("link", name=topic).first).to_be_visible()
    screenshot(page, "dashboard")


def test_dashboard_cards_count_what_the_table_lists(page, broker):
    """The Topics and Partitions cards count the topics and partitions the replication table
    lists, at the moment the table shows a new topic (they used to lag behind, at 0)."""
    page.goto("/")
    expect(page.get_by_test_id("stream-state")).to_have_text("live")
    topic = unique("browser-cards")
    status, body = broker.call("POST", "/topics", {"name": topic, "partitions": 4})
    assert status == 201, body
    expect(page.get_by_role("link", name=topic).first).to_be_visible()
    # Read the cards and the table in one step, so no update can fall between the two reads.
    shown = page.evaluate("""() => {
        const rows = [...document.querySelectorAll('section.panel table tbody tr')];
        return {
            topics: document.querySelector('[data-testid=topic-count]').textContent,
            partitions: document.querySelector('[data-testid=partition-count]').textContent,
            tableTopics: new Set(rows.map((r) => r.querySelector('a').textContent)).size,
            tableRows: rows.length,
        };
    }""")
    assert shown["tableRows"] >= 4, shown
    assert shown["topics"] == str(shown["tableTopics"]), shown
    assert shown["partitions"] == str(shown["tableRows"]), shown


def test_leader_address_serves_the_console(page, broker):
    """`/leader`, the origin design's dashboard address, serves the same console."""
    page.goto("/leader")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def test_produced_record_shows_offset_and_arrives_live_on_consume_page(new_page, broker):
    """A record sent from the Produce page shows its partition and offset, and appears live on a
    Consume page that subscribed before it was sent."""
    topic = unique("browser-live")
    status, body = broker.call("POST", "/topics", {"name": topic, "partitions": 3})
    assert status == 201, body

    consume = new_page()
    consume.goto("/#/consume")
    consume.get_by_label("Topic").fill(topic)
    consume.get_by_label("Partitions").fill("all")
    consume.get_by_label("Start from").select_option("earliest")
    consume.get_by_role("button", name="Subscribe", exact=True).click()
    expect(consume.locator("[data-sub]")).to_have_count(3)
    for status_badge in consume.get_by_test_id("sub-status").all():
        expect(status_badge).to_have_text("live")

    produce = new_page()
    produce.goto("/#/produce")
    form = produce.get_by_role("form", name="Send one record")
    form.get_by_label("Topic").fill(topic)
    form.get_by_label("Key", exact=True).fill("customer-42")
    form.get_by_label("Payload (JSON)").fill('{"order": 1, "item": "yak wool", "price": 12.5}')
    form.get_by_role("button", name="Add header").click()
    form.get_by_label("Header 1 name").fill("source")
    form.get_by_label("Header 1 value").fill("browser-test")
    form.get_by_role("button", name="Send record").click()
    expect(produce.get_by_test_id("result-offset")).to_have_text("0")
    partition = int(produce.get_by_test_id("result-partition").inner_text())
    expect(produce.get_by_test_id("count-sent")).not_to_have_text("0")
    expect(produce.get_by_label("Producer activity")).to_contain_text(f"{topic}/{partition} at offset 0")
    screenshot(produce, "produce")

    record = consume.locator(f'article.record[data-partition="{partition}"][data-offset="0"]')
    expect(record).to_be_visible()
    expect(record.locator(".key")).to_have_text("customer-42")
    expect(record.locator("pre")).to_contain_text('"item": "yak wool"')
    expect(record).to_contain_text("source=browser-test")

    # Filters narrow what is shown; a key that matches nothing hides the record.
    consume.get_by_label("Filter by key").fill("nobody")
    expect(consume.locator("article.record")).to_have_count(0)
    consume.get_by_label("Filter by key").fill("customer")
    expect(consume.locator("article.record")).to_have_count(1)
    with consume.expect_download() as download:
        consume.get_by_role("button", name="Export JSON lines").click()
    exported = download.value.path().read_text().splitlines()
    assert len(exported) == 1 and '"yak wool"' in exported[0]
    screenshot(consume, "consume")


def test_csv_upload_of_1000_rows_is_counted_per_partition_and_readable(page, broker, tmp_path):
    """A 1,000-row CSV goes out in batches; the summary counts every row per partition, and the
    API then returns all 1,000 rows with their columns."""
    topic = unique("browser-csv")
    path = tmp_path / "orders.csv"
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["order_id", "customer", "amount", "note"])
        for i in range(1000):
            writer.writerow([i, f"customer-{i % 37}", f"{i * 1.5:.2f}", f'row {i}, "quoted"'])

    page.goto("/#/produce")
    form = page.get_by_role("form", name="Upload a CSV file")
    form.get_by_label("CSV file").set_input_files(str(path))
    expect(page.get_by_test_id("csv-preview")).to_contain_text("1,000 rows")
    expect(page.get_by_test_id("csv-preview").locator("tbody tr")).to_have_count(5)
    form.get_by_label("Topic").fill(topic)
    form.get_by_label("Key column").select_option("customer")
    form.get_by_role("button", name="Send every row").click()
    expect(page.get_by_test_id("csv-sent")).to_have_text("1,000 sent", timeout=60_000)
    expect(page.get_by_test_id("csv-failed")).to_have_text("0 failed")
    expect(page.locator("#csv-progress")).to_have_attribute("value", "1000")
    expect(page.get_by_test_id("count-batches")).to_have_text("2")

    shown = {int(cell.get_attribute("data-partition")): int(cell.inner_text())
             for cell in page.get_by_test_id("csv-partitions").locator("[data-partition]").all()}
    assert sum(shown.values()) == 1000
    screenshot(page, "produce-csv")

    detail = broker.get(f"/topics/{topic}")
    read = {p["partition"]: read_partition(broker, topic, p["partition"]) for p in detail["partitions"]}
    assert {p: len(records) for p, records in read.items() if records} == shown
    payloads = [r["payload"] for records in read.values() for r in records]
    assert sorted(int(p["order_id"]) for p in payloads) == list(range(1000))
    assert all(p["note"] == f'row {p["order_id"]}, "quoted"' for p in payloads)
    # The key column picks the partition: one customer never spans two partitions.
    partitions_of_key = {}
    for partition, records in read.items():
        for r in records:
            assert r["key"] == r["payload"]["customer"]
            partitions_of_key.setdefault(r["key"], set()).add(partition)
    assert all(len(parts) == 1 for parts in partitions_of_key.values())


def test_create_and_delete_topic(page, broker):
    """A topic created on the Topics page shows its partitions, and deleting it asks first."""
    topic = unique("browser-admin")
    page.goto("/#/topics")
    form = page.get_by_role("form", name="Create a topic")
    form.get_by_label("Name").fill(topic)
    form.get_by_label("Partitions").fill("2")
    form.get_by_label("Replication factor").fill("1")
    form.get_by_label("Retention (hours)").fill("24")
    form.get_by_role("button", name="Create topic").click()
    expect(page.get_by_role("status").filter(has_text=f"Created topic {topic}")).to_be_visible()
    row = page.locator(f'tr[data-topic="{topic}"]')
    expect(row).to_be_visible()
    expect(row.locator("td").nth(1)).to_have_text("2")
    assert broker.get(f"/topics/{topic}")["retention_ms"] == 24 * 3_600_000

    # Creating it again is refused by the API, and the page says why.
    form.get_by_label("Name").fill(topic)
    form.get_by_role("button", name="Create topic").click()
    expect(page.get_by_role("alert")).to_contain_text(f"Could not create topic {topic}")
    expect(page.get_by_role("alert").locator("code")).to_have_text(re.compile(r"\(\w+\)"))

    row.get_by_role("link", name=topic).click()
    expect(page.get_by_test_id("partition-table").locator("tbody tr")).to_have_count(2)
    screenshot(page, "topic")

    page.get_by_role("link", name="All topics").click()
    row = page.locator(f'tr[data-topic="{topic}"]')
    row.get_by_role("button", name=f"Delete topic {topic}").click()
    dialog = page.get_by_test_id("delete-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(topic)
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(row).to_be_visible()
    row.get_by_role("button", name=f"Delete topic {topic}").click()
    dialog.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status").filter(has_text=f"Deleted topic {topic}")).to_be_visible()
    expect(row).to_have_count(0)
    status, body = broker.call("GET", f"/topics/{topic}")
    assert status == 404, body
    screenshot(page, "topics")


def test_bad_payload_shows_an_error_message(page, broker):
    """A payload that is not JSON, and a record the API refuses, both show an error in words."""
    topic = unique("browser-bad")
    page.goto("/#/produce")
    form = page.get_by_role("form", name="Send one record")
    form.get_by_label("Topic").fill(topic)
    form.get_by_label("Payload (JSON)").fill('{"unfinished": ')
    sent_before = page.get_by_test_id("count-sent").inner_text()
    form.get_by_role("button", name="Send record").click()
    expect(form.get_by_role("alert")).to_contain_text("The payload is not valid JSON")
    expect(form.get_by_label("Payload (JSON)")).to_have_attribute("aria-invalid", "true")
    # Nothing was sent: the counter is where it was before the click.
    expect(page.get_by_test_id("count-sent")).to_have_text(sent_before)
    status, body = broker.call("GET", f"/topics/{topic}")
    assert status == 404, f"the bad payload must not reach the broker: {body}"

    # The broker refuses a partition the topic does not have; its code and message are shown.
    status, body = broker.call("POST", "/topics", {"name": topic, "partitions": 1})
    assert status == 201, body
    form.get_by_label("Payload (JSON)").fill('{"fine": true}')
    form.get_by_label("Partition (optional)").fill("7")
    form.get_by_role("button", name="Send record").click()
    alert = form.get_by_role("alert")
    expect(alert).to_contain_text("The record was not sent")
    expect(alert.locator("code")).to_have_text(re.compile(r"^\([a-z_]+\)$"))
    expect(page.get_by_label("Producer activity")).to_contain_text("send failed")


def test_cluster_and_groups_pages(page, broker):
    """The Cluster page lists this node with its role and liveness; Groups lists the groups."""
    page.goto("/#/cluster")
    nodes = page.get_by_test_id("node-table").locator("tbody tr")
    expect(nodes.first).to_be_visible()
    expect(nodes.first).to_contain_text("alive")
    expect(page.get_by_test_id("cluster-epoch")).to_have_text(re.compile(r"^\d"))
    screenshot(page, "cluster")

    page.goto("/#/groups")
    groups = page.get_by_test_id("groups")
    expect(groups).not_to_contain_text("Loading")
    # The page says what the API says: the groups in a table, or that there are none yet.
    if broker.get("/groups")["groups"]:
        expect(groups.get_by_role("table")).to_be_visible()
    else:
        expect(groups).to_contain_text("No consumer groups yet")
    screenshot(page, "groups")


def test_phone_layout_folds_navigation_behind_menu(phone_page, broker):
    """On a phone-sized screen the pages are reachable through the Menu button, by keyboard too."""
    page = phone_page
    page.goto("/")
    expect(page.get_by_test_id("node-role")).to_have_text(re.compile(r"\w"))
    nav_link = page.get_by_role("navigation", name="Pages").get_by_role("link", name="Topics")
    expect(nav_link).to_be_hidden()
    menu = page.get_by_role("button", name="Menu")
    menu.focus()
    page.keyboard.press("Enter")
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(nav_link).to_be_visible()
    screenshot(page, "dashboard-phone")
    nav_link.click()
    expect(page.get_by_role("heading", name="Topics", exact=True)).to_be_visible()
    expect(nav_link).to_be_hidden()


def test_pages_reconnect_after_the_broker_comes_back(browser, tmp_path):
    """When the broker the page talks to dies and comes back, the console retries with backoff,
    asks /metadata/leader, logs "reconnected to leader N at URL" and resumes its live stream."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    first = BrokerProcess(data_dir)
    address = first.api.http.removeprefix("http://")
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=first.api.http)
    try:
        page = context.new_page()
        page.goto("/")
        expect(page.get_by_test_id("stream-state")).to_have_text("live")
        first.kill()
        expect(page.locator("#connection")).to_have_attribute("data-state", re.compile("reconnecting|disconnected"))
        second = BrokerProcess(data_dir, http=address)
        try:
            log = page.get_by_label("Broker activity")
            expect(log.locator('li[data-kind="reconnected"]')).to_contain_text(
                re.compile(r"reconnected to leader \d+ at http://"), timeout=30_000)
            expect(page.get_by_test_id("stream-state")).to_have_text("live", timeout=30_000)
            expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
            screenshot(page, "dashboard-reconnected")
        finally:
            second.stop()
    finally:
        context.close()
        first.stop()


def test_consume_stream_refusal_is_shown_in_words(page, broker):
    """A stream the broker refuses (an unknown topic) shows the API's message and code, and stops."""
    topic = unique("browser-missing")
    page.goto("/#/consume")
    page.get_by_label("Topic").fill(topic)
    page.get_by_label("Partitions").fill("0")
    page.get_by_role("button", name="Subscribe", exact=True).click()
    subscription = page.locator(f'[data-sub="{topic}/0"]')
    expect(subscription.get_by_role("alert")).to_contain_text(topic)
    expect(subscription.get_by_role("alert").locator("code")).to_have_text(re.compile(r"^\([a-z_]+\)$"))
    expect(subscription.get_by_test_id("sub-status")).to_have_text("stopped")

    # Asking for every partition of a topic that does not exist fails before any stream opens.
    page.get_by_label("Partitions").fill("all")
    page.get_by_role("button", name="Subscribe", exact=True).click()
    expect(page.get_by_role("form", name="Subscribe").get_by_role("alert")).to_contain_text(f"Could not read topic {topic}")


def test_consume_from_chosen_offset_pause_jump_and_unsubscribe(page, broker):
    """A subscription starts at a chosen offset, resumes after a pause where it stopped, jumps back
    to an earlier offset and ends on Unsubscribe."""
    topic = unique("browser-tail")
    status, body = broker.call("POST", "/topics", {"name": topic, "partitions": 1})
    assert status == 201, body
    status, body = broker.call("POST", "/produce", {"topic": topic, "messages": [{"payload": {"n": n}} for n in range(3)]})
    assert status == 200, body

    page.goto("/#/consume")
    page.get_by_label("Topic").fill(topic)
    page.get_by_label("Partitions").fill("0")
    page.get_by_label("Start from").select_option("offset")
    page.get_by_label("Offset", exact=True).fill("1")
    page.get_by_role("button", name="Subscribe", exact=True).click()
    records = page.locator("article.record")
    expect(records).to_have_count(2)
    expect(records.first).to_have_attribute("data-offset", "2")

    subscription = page.locator(f'[data-sub="{topic}/0"]')
    subscription.get_by_role("button", name="Pause").click()
    expect(subscription.get_by_test_id("sub-status")).to_have_text("paused")
    status, body = broker.call("POST", "/produce", {"topic": topic, "payload": {"n": 3}})
    assert status == 200, body
    subscription.get_by_role("button", name="Resume").click()
    expect(records).to_have_count(3)
    expect(records.first).to_have_attribute("data-offset", "3")

    subscription.get_by_label(f"Jump {topic}/0 to offset").fill("0")
    subscription.get_by_role("button", name=f"Jump {topic}/0").click()
    expect(records).to_have_count(4)
    expect(records.last).to_have_attribute("data-offset", "0")

    page.get_by_label("Filter by payload text").fill('"n": 2')
    expect(records).to_have_count(1)
    subscription.get_by_role("button", name=f"Unsubscribe from {topic}/0").click()
    expect(subscription).to_have_count(0)


def test_standalone_console_process_serves_pages_and_proxies_the_api(browser, broker, tmp_path):
    """`yak console --brokers URL` serves the same pages from its own process and forwards the API,
    live streams included."""
    if yak_bin().suffix == ".py":
        pytest.skip("the stand-in broker has no console command")
    process = subprocess.Popen([str(yak_bin()), "console", "--brokers", broker.http, "--listen", "127.0.0.1:0"],
                               stdout=subprocess.PIPE, stderr=open(tmp_path / "console.log", "w"), text=True)
    try:
        deadline = time.monotonic() + 30
        url = None
        while url is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            found = re.search(r"listening console=(\S+)", line)
            url = found and found.group(1)
        assert url, f"the console printed no `listening console=…` line; log: {(tmp_path / 'console.log').read_text()}"
        context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=url)
        try:
            page = context.new_page()
            page.goto("/")
            expect(page.get_by_test_id("node-role")).to_have_text(re.compile(r"^(standalone|leader|follower)$"))
            expect(page.get_by_test_id("stream-state")).to_have_text("live")
            page.goto("/#/produce")
            form = page.get_by_role("form", name="Send one record")
            form.get_by_label("Topic").fill(unique("browser-console"))
            form.get_by_role("button", name="Send record").click()
            expect(page.get_by_test_id("result-offset")).to_have_text("0")
        finally:
            context.close()
    finally:
        process.terminate()
        process.wait(timeout=10)
