"""Helpers shared by the Kafka suites, in a module named apart from tests/browser's so that
`import` never picks up the other folder's conftest."""
import time

import pytest


def wait_until(condition, timeout_s=15.0, interval_s=0.05, what="condition"):
    """Polls `condition` until it returns something truthy (which is returned), or fails the test
    at the deadline. This stands in for every would-be sleep."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)
