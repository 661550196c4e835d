"""The Cluster page's live replication view, and the console's own failover to another node."""
import json
import os
import pathlib
import re
import shutil
import socket
import subprocess
import time
import urllib.request
import uuid

import pytest
from playwright.sync_api import expect

from conftest import BrokerProcess, screenshot, yak_bin

# Where a cluster-capable broker build is announced while replication is being built elsewhere;
# without it (or YAK_CLUSTER_BIN) the brokers run YAK_BIN itself.
CLUSTER_READY = pathlib.Path("/tmp/cluster.ready")
CLUSTER_START_SECONDS_MAX = 60


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_cluster_page_is_live_on_a_standalone_broker(page, broker):
    """On a standalone node the page says there is no lease and no follower, and it refreshes by
    itself: a topic produced after the page opened appears without a reload."""
    page.goto("/#/cluster")
    expect(page.get_by_test_id("lease-expiry")).to_have_text("no lease (standalone)")
    expect(page.get_by_test_id("lag-note")).to_contain_text("standalone")
    node = page.get_by_test_id("node-table").locator("tbody tr")
    expect(node).to_have_count(1)
    expect(node).to_contain_text("standalone")
    # A standalone node leads from its start: its one election is the whole history.
    expect(page.get_by_test_id("cluster-history").locator('tr[data-kind="election"]')).to_have_count(1)
    first_update = page.get_by_test_id("cluster-updated").text_content()

    topic = unique("cluster-live")
    status, body = broker.call("POST", "/produce", {"topic": topic, "key": "k", "payload": {"n": 1}})
    assert status == 200, body
    row = page.get_by_test_id("partition-table").locator("tbody tr", has_text=topic)
    expect(row.first).to_be_visible()
    expect(page.get_by_test_id("cluster-updated")).not_to_have_text(first_update)
    expect(page.locator("#failover-banner")).to_be_hidden()
    screenshot(page, "cluster-standalone")


def test_console_moves_to_another_node_when_its_node_stops_answering(browser, tmp_path):
    """The page learns the nodes from /cluster; when its node dies it finds one that answers and
    moves there on the same route, with a banner saying why. (Two standalone brokers stand in for
    a cluster: the first one's /cluster is made to list the second.)"""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = BrokerProcess(tmp_path / "a")
    second = BrokerProcess(tmp_path / "b")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        def list_the_second_node(route):
            try:
                response = route.fetch()
            except Exception:  # The first broker is gone: the page must see it as gone too.
                route.abort("connectionrefused")
                return
            cluster = response.json()
            cluster["nodes"].append({"node_id": 7, "http": second.api.http, "kafka": second.api.kafka,
                                     "role": "follower", "alive": True})
            route.fulfill(response=response, body=json.dumps(cluster))

        context.route(f"{first.api.http}/cluster", list_the_second_node)
        page = context.new_page()
        page.goto(f"{first.api.http}/#/cluster")
        expect(page.get_by_test_id("node-table").locator("tbody tr")).to_have_count(2)
        first.kill()
        expect(page).to_have_url(re.compile("^" + re.escape(second.api.http) + r"/#/cluster$"), timeout=20_000)
        banner = page.locator("#failover-banner")
        expect(banner).to_have_attribute("data-state", "arrived")
        expect(banner).to_contain_text(f"this page moved to {second.api.http}")
        expect(page.get_by_test_id("cluster-updated")).to_contain_text("live")
        screenshot(page, "cluster-failover-arrived")
    finally:
        context.close()
        first.stop()
        second.stop()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, seconds, what):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except OSError:
            pass
        time.sleep(0.1)
    pytest.fail(f"timed out after {seconds} s waiting for {what}")


def get_json(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def cluster_broker_bin():
    if os.environ.get("YAK_CLUSTER_BIN"):
        return pathlib.Path(os.environ["YAK_CLUSTER_BIN"])
    if CLUSTER_READY.exists():
        return pathlib.Path(CLUSTER_READY.read_text().strip())
    return yak_bin()


@pytest.mark.skipif(shutil.which("redis-server") is None,
                    reason="redis-server is not installed (apt-get install redis-server): the 3-node cluster needs it")
def test_cluster_page_follows_a_real_failover(browser, tmp_path):
    """Three nodes and a Redis started by `yak cluster up`: the page on the leader shows the lease
    and its followers' lag; when the leader is killed the page moves to a live node, which shows
    a new leader at a higher epoch and the election in the history."""
    redis_port = free_port()
    # Three consecutive free ports each: retry a few bases rather than trusting one guess.
    for _ in range(20):
        base_http, base_kafka = free_port(), free_port()
        ports = [base_http + i for i in range(3)] + [base_kafka + i for i in range(3)]
        if len(set(ports)) == 6 and redis_port not in ports and all(port_free(p) for p in ports):
            break
    log = open(tmp_path / "up.log", "w")
    up = subprocess.Popen([str(yak_bin()), "cluster", "up", "--nodes", "3", "--dir", str(tmp_path / "cluster"),
                           "--redis-port", str(redis_port), "--base-http-port", str(base_http),
                           "--base-kafka-port", str(base_kafka), "--lease-ms", "1500",
                           "--broker-bin", str(cluster_broker_bin())],
                          stdout=log, stderr=subprocess.STDOUT)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    if cluster_broker_bin().resolve() != yak_bin().resolve():
        # The brokers are another build: serve this tree's console in their place.
        web = pathlib.Path(__file__).resolve().parents[2] / "web"
        context.route(re.compile(r"^http://127\.0\.0\.1:\d+/ui/"),
                      lambda route: route.fulfill(path=str(web / route.request.url.split("/ui/", 1)[1].split("?")[0])))
    try:
        urls = [f"http://127.0.0.1:{base_http + i}" for i in range(3)]
        leader = wait_for(lambda: next((l for l in (leader_of(u) for u in urls) if l), None),
                          CLUSTER_START_SECONDS_MAX, "a leader")
        leader_url = leader["leader_http"].rstrip("/")
        status = urllib.request.urlopen(urllib.request.Request(
            leader_url + "/produce", data=json.dumps({"topic": "fo", "key": "k", "payload": 1}).encode(),
            headers={"content-type": "application/json"}, method="POST"), timeout=10).status
        assert status == 200
        page = context.new_page()
        page.goto(f"{leader_url}/#/cluster")
        expect(page.get_by_test_id("lease-expiry")).to_have_text(re.compile(r"^\d+\.\d s$"))
        expect(page.get_by_test_id("lag-chart")).to_be_visible(timeout=20_000)
        # The epoch shows "–" until the page's first /cluster answer has arrived.
        expect(page.get_by_test_id("cluster-epoch")).to_have_text(re.compile(r"^\d+$"), timeout=20_000)
        epoch = int(page.get_by_test_id("cluster-epoch").text_content())
        pid = pid_of_node(tmp_path / "up.log", leader["leader_id"])
        os.kill(pid, 9)
        expect(page).not_to_have_url(re.compile("^" + re.escape(leader_url)), timeout=20_000)
        expect(page.locator("#failover-banner")).to_have_attribute("data-state", "arrived")
        expect(page.get_by_test_id("cluster-leader")).not_to_have_text(
            re.compile(rf"^({leader['leader_id']}|none.*)$"), timeout=20_000)
        expect(page.get_by_test_id("cluster-epoch")).to_have_text(re.compile(r"^\d+$"), timeout=20_000)
        new_epoch = int(page.get_by_test_id("cluster-epoch").text_content())
        assert new_epoch > epoch
        expect(page.get_by_test_id("cluster-history").locator('tr[data-kind="election"]').first).to_be_visible()
        screenshot(page, "cluster-real-failover")
    finally:
        context.close()
        up.terminate()
        try:
            up.wait(timeout=30)
        except subprocess.TimeoutExpired:
            up.kill()
        log.close()


def port_free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def leader_of(url):
    try:
        leader = get_json(url + "/metadata/leader")
    except (OSError, ValueError):
        return None
    return leader if leader.get("leader_id", -1) >= 0 and leader.get("leader_http") else None


def pid_of_node(log_path, node_id):
    match = re.search(rf"^node {node_id}  pid (\d+)", log_path.read_text(), re.MULTILINE)
    assert match, f"`cluster up` printed no pid for node {node_id}:\n{log_path.read_text()}"
    return int(match.group(1))
