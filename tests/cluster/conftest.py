"""Fixtures of the cluster fault suite: `make_cluster` builds a Redis and broker nodes for one
test (every process killed at teardown, the logs printed when the test failed), `network` the
namespaces a partition test cuts, and `judge` runs the checker on a workload, prints its counts
and failover times and adds them to `target/cluster-report.json`."""
import json
import os
import shutil

import pytest

import checker
from cluster_support import ROOT, Cluster, Network

REPORT_PATH = ROOT / "target" / "cluster-report.json"
HISTORY_DIR = ROOT / "target" / "cluster-history"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


# Each judged scenario's summary, shown at the end of the run even without `pytest -s`.
SUMMARIES = {}


def pytest_terminal_summary(terminalreporter):
    if SUMMARIES:
        terminalreporter.section("cluster checker")
        for name, summary in SUMMARIES.items():
            terminalreporter.write_line(f"[{name}]")
            for line in summary.splitlines():
                terminalreporter.write_line(line)
        terminalreporter.write_line(f"report: {REPORT_PATH}")


@pytest.fixture(scope="session")
def cluster_report():
    """Every scenario's checker results, written once the session ends."""
    results = {}
    yield results
    if results:
        REPORT_PATH.parent.mkdir(parents=True, exist_ok=True)
        REPORT_PATH.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")


def _failed(request):
    return any(getattr(request.node, f"rep_{when}", None) is not None and getattr(request.node, f"rep_{when}").failed
               for when in ("setup", "call"))


@pytest.fixture
def make_cluster(request, tmp_path):
    """`make_cluster(size=3, lease_ms=1500, args=(), network=None)`: a started cluster with its
    own Redis and history; everything is killed when the test ends."""
    clusters = []

    def make(size=3, lease_ms=1500, args=(), network=None):
        workdir = tmp_path / f"cluster{len(clusters)}"
        workdir.mkdir()
        history = checker.History(workdir / "history.jsonl")
        cluster = Cluster(workdir, history, size=size, lease_ms=lease_ms, args=args, network=network,
                          name=f"c{os.getpid()}x{len(clusters)}")
        clusters.append(cluster)
        cluster.start()
        return cluster

    yield make
    failed = _failed(request)
    for cluster in clusters:
        for workload in getattr(cluster, "workloads", ()):
            workload.abort()
        if failed:
            print(f"\n===== {request.node.name}: logs of {cluster.workdir}\n{cluster.logs()}")
            print(f"history: {cluster.history.path}")
        cluster.close()
        cluster.history.close()


@pytest.fixture
def network(request):
    """Network namespaces on a bridge; skips the test, saying why, where they do not work."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root (ip netns add, iptables)")
    reason = Network.usable()
    if reason is not None:
        pytest.skip(f"network namespaces unusable here: {reason}")
    net = Network(str(os.getpid() % 10000))
    yield net
    net.teardown()


@pytest.fixture
def judge(request, cluster_report):
    """`judge(workload)` finishes the workload, prints the checker's summary, stores it in the
    session report (and the history under target/cluster-history/), and fails the test when the
    history is invalid. Returns the report for the test's own assertions."""

    def run(workload, name=None, sync_timeout_s=60):
        report = workload.finish(sync_timeout_s=sync_timeout_s)
        name = name or request.node.name
        print(f"\n[{name}]\n{report.summary()}")
        SUMMARIES[name] = report.summary()
        HISTORY_DIR.mkdir(parents=True, exist_ok=True)
        saved = HISTORY_DIR / f"{name}.jsonl"
        shutil.copyfile(workload.history.path, saved)
        cluster_report[name] = dict(report.to_json(), history=str(saved))
        assert report.valid, f"the checker found anomalies (history {saved}):\n{report.summary()}"
        return report

    return run
