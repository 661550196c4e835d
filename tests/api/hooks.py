"""Schemathesis hooks for test_openapi.py: how to send and read `application/x-ndjson` (the API
document describes it as an array of records, one per line), and one extra check."""
import json

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson_body(ctx, value):
    # An array becomes one line per item. Anything else (negative tests) goes out as one line of
    # JSON inside a string, which no record parses from.
    if isinstance(value, list):
        lines = [json.dumps(item) for item in value]
    else:
        lines = [json.dumps(json.dumps(value))]
    return ("\n".join(lines) + "\n").encode()


@schemathesis.deserializer("application/x-ndjson")
def ndjson_answer(ctx, response):
    return [json.loads(line) for line in response.content.splitlines() if line.strip()]


@schemathesis.check
def only_offsets_outside_the_log_refuse_valid_consumes(ctx, response, case):
    """schemathesis.toml lets a valid `GET /consume` be answered 400, because an offset can lie
    outside the log; this check holds that to `offset_out_of_range` only."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return None
    if not case.operation.path.startswith("/consume") or response.status_code != 400:
        return None
    code = json.loads(response.content)["error"]["code"]
    if code != "offset_out_of_range":
        raise AssertionError(f"a valid consume request was refused with {code}: {response.content!r}")
    return None
