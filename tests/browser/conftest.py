"""Fixtures for the console's browser tests: a real `yak broker` on port 0 in a temporary data
directory, and the distribution's Chromium driven by Playwright."""
import json
import os
import pathlib
import queue
import re
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect, sync_playwright

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "target" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
BROKER_START_SECONDS_MAX = 60
LISTENING = re.compile(r"listening http=(\S+) kafka=(\S+)")

expect.set_options(timeout=15_000)


def yak_bin():
    path = pathlib.Path(os.environ.get("YAK_BIN", "target/debug/yak"))
    return path if path.is_absolute() else ROOT / path


class Broker:
    """A running broker: its HTTP URL and a tiny JSON client for checking what the console did."""

    def __init__(self, http, kafka):
        self.http = http.rstrip("/")
        self.kafka = kafka

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.http + path, data=data, method=method,
                                         headers={"content-type": "application/json", "accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null")

    def get(self, path):
        status, body = self.call("GET", path)
        assert status == 200, f"GET {path} answered {status}: {body}"
        return body


class BrokerProcess:
    """One `yak broker` process; `stop()` ends it, `kill()` ends it without warning."""

    def __init__(self, data_dir, http="127.0.0.1:0", kafka="127.0.0.1:0", extra_args=()):
        binary = yak_bin()
        if not binary.exists():
            pytest.fail(f"no broker binary at {binary}: build it with `cargo build -p yak` or set YAK_BIN")
        self.log_path = data_dir.parent / f"{data_dir.name}-broker.log"
        self.log_file = open(self.log_path, "a")
        self.process = subprocess.Popen(
            [str(binary), "broker", "--data-dir", str(data_dir), "--http", http, "--kafka", kafka,
             *extra_args],
            stdout=subprocess.PIPE, stderr=self.log_file, text=True, cwd=data_dir)
        lines = queue.Queue()
        threading.Thread(target=self._read_stdout, args=(lines,), daemon=True).start()
        deadline = time.monotonic() + BROKER_START_SECONDS_MAX
        match = None
        while match is None:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                pytest.fail(f"the broker printed no `listening http=… kafka=…` line within {BROKER_START_SECONDS_MAX} s; log: {self.log_path}")
            try:
                line = lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                self.process.wait()
                pytest.fail(f"the broker exited with status {self.process.returncode} before listening; "
                            f"log: {self.log_path}\n{self.log_path.read_text()[-3000:]}")
            match = LISTENING.search(line)
        self.api = Broker(match.group(1), match.group(2))

    def _read_stdout(self, lines):
        for line in self.process.stdout:
            lines.put(line)
            self.log_file.write(line)
            self.log_file.flush()
        lines.put(None)

    def kill(self):
        self.process.kill()
        self.process.wait()

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()
        self.log_file.close()


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    running = BrokerProcess(tmp_path_factory.mktemp("yak-data"))
    yield running.api
    running.stop()


@pytest.fixture
def start_broker(tmp_path_factory):
    """Starts brokers with extra flags (`start_broker("--authentication", "true")`); each is
    stopped when the test ends."""
    started = []

    def start(*extra_args):
        running = BrokerProcess(tmp_path_factory.mktemp("yak-data"), extra_args=extra_args)
        started.append(running)
        return running.api

    yield start
    for running in started:
        running.stop()


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _new_page(browser, broker, viewport):
    context = browser.new_context(viewport=viewport, base_url=broker.http)
    page = context.new_page()
    page.page_errors = []
    page.on("pageerror", lambda err: page.page_errors.append(str(err)))
    return context, page


@pytest.fixture
def page(browser, broker):
    context, page = _new_page(browser, broker, {"width": 1280, "height": 900})
    yield page
    errors = page.page_errors
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


@pytest.fixture
def phone_page(browser, broker):
    context, page = _new_page(browser, broker, {"width": 390, "height": 844})
    yield page
    context.close()


@pytest.fixture
def new_page(browser, broker):
    """Opens extra pages (tabs) in one context, for tests that watch two pages at once."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=broker.http)
    yield context.new_page
    context.close()


def screenshot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
