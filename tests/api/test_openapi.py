"""The HTTP API against its OpenAPI document: schemathesis with every check over every endpoint
that answers and ends, and the two server-sent-event streams read here and checked against the
schemas the document gives their events."""
import json
import os
import pathlib
import subprocess
import sys
import threading
import urllib.request
import uuid

import jsonschema

HERE = pathlib.Path(__file__).resolve().parent
# Bounds that keep the run under about two minutes on two cores.
SCHEMATHESIS_EXAMPLES_MAX = int(os.environ.get("YAK_API_EXAMPLES_MAX", "40"))
SCHEMATHESIS_SECONDS_MAX = int(os.environ.get("YAK_API_SECONDS_MAX", "90"))
SCHEMATHESIS_REQUEST_SECONDS_MAX = 40
# A fixed seed makes a run of the test command repeatable (a failure found once is found again);
# YAK_API_SEED=random draws a new one, to explore.
SCHEMATHESIS_SEED = os.environ.get("YAK_API_SEED", "20261130")
# `HttpLimits::consume_wait_ms_max`, the longest `wait_ms` the document allows.
LONG_POLL_SECONDS_MAX = 30
# Streams never end, so schemathesis, which reads a whole answer, cannot test them; the tests
# below read their events and check each against the document instead.
STREAMS = ["/events", "/consume/stream"]
STREAM_SECONDS_MAX = 15


def test_schemathesis_finds_no_mismatch(broker, document, tmp_path):
    """Every check of schemathesis passes: valid requests are accepted, invalid ones refused with a
    4xx, and every answer (status, content type, headers, body) is the one documented."""
    command = [
        str(pathlib.Path(sys.executable).with_name("schemathesis")),
        "--config-file", str(HERE / "schemathesis.toml"),
        "run", f"{broker.http}/openapi.json",
        "--checks", "all",
        "--max-examples", str(SCHEMATHESIS_EXAMPLES_MAX),
        "--max-time", str(SCHEMATHESIS_SECONDS_MAX),
        "--request-timeout", str(SCHEMATHESIS_REQUEST_SECONDS_MAX),
        # A valid long-poll waits up to its `wait_ms` (at most 30 s) when no record comes.
        "--max-response-time", str(LONG_POLL_SECONDS_MAX + 5),
        # One worker: hypothesis parses lambdas' source with `ast`, which Python 3.11's parser
        # does not allow from two threads at once ("AST constructor recursion depth mismatch").
        "--workers", "1",
        "--no-color",
    ]
    if SCHEMATHESIS_SEED != "random":
        command += ["--seed", SCHEMATHESIS_SEED]
    for path in STREAMS:
        command += ["--exclude-path", path]
    env = dict(os.environ, SCHEMATHESIS_HOOKS="hooks", PYTHONPATH=str(HERE))
    # Run in a scratch directory: schemathesis keeps a cache where it runs.
    result = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True,
                            timeout=SCHEMATHESIS_SECONDS_MAX + 120)
    assert result.returncode == 0, f"schemathesis failed:\n{result.stdout}\n{result.stderr}"
    # A run that tested nothing would also exit 0: every operation but the streams was tested.
    operations = sum(len(methods) for path, methods in document["paths"].items() if path not in STREAMS)
    assert f"Tested: {operations}" in result.stdout, result.stdout


def validator(document, name):
    """A JSON Schema validator for components/schemas/NAME of the document."""
    schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    return jsonschema.Draft202012Validator(schema)


def read_events(url, wanted, on_open=None):
    """Server-sent events of URL as `{"event", "data"}` objects (data parsed as JSON), until
    `wanted(events)` is true."""
    events = []
    with urllib.request.urlopen(url, timeout=STREAM_SECONDS_MAX) as response:
        assert response.status == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        if on_open:
            on_open()
        event = {}
        for raw in response:
            line = raw.decode().rstrip("\n")
            if line.startswith(":"):
                continue  # A keep-alive comment.
            if not line:
                if event:
                    events.append(event)
                    if wanted(events):
                        return events
                event = {}
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "data":
                event["data"] = json.loads(value)
            elif field in ("event", "id"):
                event[field] = value
    raise AssertionError(f"{url} ended after {events}")


def test_events_stream_sends_only_documented_events(broker, document):
    """`GET /events` sends `stats` and `activity` events, each as the document describes."""
    topic = f"api-events-{uuid.uuid4().hex[:8]}"

    def create_topic():
        status, body = broker.call("POST", "/topics", {"name": topic, "partitions": 2})
        assert status == 201, body

    kinds = lambda events: {e.get("event") for e in events}
    events = read_events(broker.http + "/events", lambda events: {"stats", "activity"} <= kinds(events),
                         on_open=lambda: threading.Thread(target=create_topic).start())
    check = validator(document, "ConsoleEvent")
    for event in events:
        check.validate({"event": event["event"], "data": event["data"]})
    assert any(e["event"] == "activity" and topic in e["data"]["message"] for e in events), events


def test_consume_stream_sends_only_documented_events(broker, document):
    """`GET /consume/stream` sends one documented `record` event per record, its id the offset."""
    topic = f"api-stream-{uuid.uuid4().hex[:8]}"
    records = [{"key": "k", "payload": {"n": 1}}, {"key": None, "payload": "text", "headers": {"h": "v"}},
               {"key": "k", "payload": None, "msg_id": "mine"}]
    status, body = broker.call("POST", "/produce", {"topic": topic, "messages": [dict(r, partition=0) for r in records]})
    assert status == 200, body
    events = read_events(f"{broker.http}/consume/stream?topic={topic}&partition=0&offset=earliest",
                         lambda events: len(events) == len(records))
    check = validator(document, "ConsumeStreamEvent")
    for offset, event in enumerate(events):
        check.validate({"event": event["event"], "data": event["data"]})
        assert event["event"] == "record" and event["id"] == str(offset), event
        assert event["data"]["payload"] == records[offset]["payload"]


def test_document_requires_what_the_handlers_require(document):
    """The rules behind the mismatches schemathesis reported are in the document: a required
    `topic` on both consume endpoints, a non-empty `messages`, topic-name rules, partitions >= 1."""
    for path in ("/consume", "/consume/stream"):
        topic = next(p for p in document["paths"][path]["get"]["parameters"] if p["name"] == "topic")
        assert topic["required"] is True
        assert topic["schema"]["pattern"]
    schemas = document["components"]["schemas"]
    assert schemas["ProduceBatch"]["properties"]["messages"]["minItems"] == 1
    assert schemas["CreateTopicRequest"]["properties"]["partitions"]["minimum"] == 1
    assert schemas["CreateTopicRequest"]["properties"]["name"]["pattern"]
