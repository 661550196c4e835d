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


def assert_librdkafka_codec(batches, codec):
    """librdkafka sends a batch uncompressed when compressing it did not make it smaller
    (`rd_kafka_msgset_writer_compress`), which happens to a lone record sent before the rest
    arrive. So every multi-record batch must carry `codec`, a single-record batch may be `none`,
    and at least one batch must carry `codec`."""
    codecs = {b.codec for b in batches}
    assert codec in codecs, batches
    assert codecs <= {codec, "none"}, batches
    assert all(b.codec == codec for b in batches if b.record_count > 1), batches
