#!/usr/bin/env python3
"""A stand-in for `yak broker` that speaks the documented HTTP API from memory.

It exists so the console can be developed and its tests debugged while the real broker is being
written: `YAK_BIN=tests/browser/fake_broker.py pytest tests/browser`. It takes the same
`broker --data-dir D --http ADDR --kafka ADDR` arguments and prints the same `listening …` line.
The real suite runs against `target/debug/yak`.
"""
import json
import mimetypes
import pathlib
import sys
import threading
import time
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse

WEB = pathlib.Path(__file__).resolve().parents[2] / "web"
LOCK = threading.Condition()
TOPICS = {}  # name -> {"partitions": [[record, ...], ...], "replication_factor", "retention_ms"}
ACTIVITY = []
STATS = {"records_in_total": 0, "records_out_total": 0, "bytes_in_total": 0, "bytes_out_total": 0}
HTTP_URL = ""


def now_ms():
    return int(time.time() * 1000)


def activity(kind, message):
    with LOCK:
        ACTIVITY.append({"ts_ms": now_ms(), "kind": kind, "message": message})
        LOCK.notify_all()


def create_topic(name, partitions=3, replication_factor=1, retention_ms=None):
    TOPICS[name] = {"partitions": [[] for _ in range(partitions)], "replication_factor": replication_factor, "retention_ms": retention_ms}
    activity("topic_created", f"topic {name} created with {partitions} partitions")


class ApiError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def topic_detail(name):
    topic = TOPICS[name]
    return {"name": name, "replication_factor": topic["replication_factor"], "retention_ms": topic["retention_ms"],
            "partitions": [{"partition": i, "leader": 0, "replicas": [0], "isr": [0], "log_start_offset": 0,
                            "log_end_offset": len(log), "high_watermark": len(log),
                            "size_bytes": sum(len(json.dumps(r)) for r in log)} for i, log in enumerate(topic["partitions"])]}


def produce_one(message, default_topic=None):
    name = message.get("topic") or default_topic
    if not name:
        raise ApiError(400, "missing_topic", "a record needs a topic")
    if "payload" not in message:
        raise ApiError(400, "missing_payload", "a record needs a payload")
    if name not in TOPICS:
        create_topic(name)
    partitions = TOPICS[name]["partitions"]
    if message.get("partition") is not None:
        p = message["partition"]
        if not isinstance(p, int) or not 0 <= p < len(partitions):
            raise ApiError(400, "unknown_partition", f"topic {name} has no partition {p}")
    elif message.get("key") is not None:
        p = zlib.crc32(str(message["key"]).encode()) % len(partitions)
    else:
        p = STATS["records_in_total"] % len(partitions)
    record = {"topic": name, "partition": p, "offset": len(partitions[p]), "msg_id": str(uuid.uuid4()),
              "key": message.get("key"), "payload": message["payload"], "timestamp": now_ms(), "headers": message.get("headers") or {}}
    partitions[p].append(record)
    STATS["records_in_total"] += 1
    STATS["bytes_in_total"] += len(json.dumps(message["payload"]))
    return {k: record[k] for k in ("msg_id", "topic", "partition", "offset", "timestamp")}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_json(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        try:
            return json.loads(raw or b"null")
        except ValueError as err:
            raise ApiError(400, "invalid_json", f"body is not JSON: {err}")

    def handle_api(self, method):
        url = urlparse(self.path)
        path, query = url.path, {k: v[0] for k, v in parse_qs(url.query).items()}
        if method == "GET" and path in ("/", "/leader"):
            return self.send_file(WEB / "index.html")
        if method == "GET" and path.startswith("/ui/"):
            return self.send_file(WEB / path[4:])
        with LOCK:
            if path == "/health":
                return self.send_json(200, {"status": "ok", "node_id": 0, "role": "standalone", "epoch": 1})
            if path == "/metadata/leader":
                return self.send_json(200, {"leader_id": 0, "leader_http": HTTP_URL, "leader_kafka": "127.0.0.1:9092", "epoch": 1})
            if path == "/groups":
                return self.send_json(200, {"available": False, "groups": []})
            if path == "/activity":
                return self.send_json(200, {"events": ACTIVITY[-200:]})
            if path == "/cluster":
                parts = [{"topic": n, **{k: p[k] for k in ("partition", "leader", "replicas", "isr", "log_end_offset", "high_watermark")}}
                         for n in TOPICS for p in topic_detail(n)["partitions"]]
                return self.send_json(200, {"cluster": "yak", "node_id": 0, "leader_id": 0, "epoch": 1,
                                            "nodes": [{"node_id": 0, "http": HTTP_URL, "kafka": "127.0.0.1:9092", "role": "standalone", "alive": True}],
                                            "partitions": parts, "elections": []})
            if path == "/topics" and method == "GET":
                return self.send_json(200, {"topics": [{"name": n, "partitions": len(t["partitions"]), "replication_factor": t["replication_factor"],
                                                        "records": sum(len(l) for l in t["partitions"]), "size_bytes": 0, "retention_ms": t["retention_ms"]}
                                                       for n, t in TOPICS.items()]})
            if path == "/topics" and method == "POST":
                body = self.body()
                if body.get("name") in TOPICS:
                    raise ApiError(409, "topic_exists", f"topic {body['name']} already exists")
                create_topic(body["name"], body.get("partitions") or 3, body.get("replication_factor") or 1, body.get("retention_ms"))
                return self.send_json(201, topic_detail(body["name"]))
            if path.startswith("/topics/"):
                name = unquote(path[len("/topics/"):])
                if name not in TOPICS:
                    raise ApiError(404, "unknown_topic", f"topic {name} does not exist")
                if method == "DELETE":
                    del TOPICS[name]
                    activity("topic_deleted", f"topic {name} deleted")
                    return self.send_json(200, {"deleted": name})
                return self.send_json(200, topic_detail(name))
            if path == "/produce" and method == "POST":
                body = self.body()
                if isinstance(body, dict) and "messages" in body:
                    results = []
                    for message in body["messages"]:
                        try:
                            results.append(produce_one(message, body.get("topic")))
                        except ApiError as err:
                            results.append({"error": {"code": err.code, "message": err.message}})
                    LOCK.notify_all()
                    return self.send_json(200, {"results": results})
                result = produce_one(body)
                LOCK.notify_all()
                return self.send_json(200, result)
            if path == "/consume":
                log, start = self.partition_log(query)
                messages = log[start:start + int(query.get("max", 100))]
                STATS["records_out_total"] += len(messages)
                return self.send_json(200, {"topic": query["topic"], "partition": int(query["partition"]), "messages": messages,
                                            "next_offset": start + len(messages), "high_watermark": len(log)})
        if path == "/consume/stream":
            with LOCK:
                log, position = self.partition_log(query)
            return self.sse(lambda: self.stream_records(query, position))
        if path == "/events":
            return self.sse(self.stream_events)
        raise ApiError(404, "not_found", f"no route for {method} {path}")

    def partition_log(self, query):
        name = query.get("topic")
        if name not in TOPICS:
            raise ApiError(404, "unknown_topic", f"topic {name} does not exist")
        partitions = TOPICS[name]["partitions"]
        p = int(query.get("partition", 0))
        if not 0 <= p < len(partitions):
            raise ApiError(404, "unknown_partition", f"topic {name} has no partition {p}")
        offset = query.get("offset", "earliest")
        start = 0 if offset == "earliest" else len(partitions[p]) if offset == "latest" else int(offset)
        return partitions[p], start

    def sse(self, generator):
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.end_headers()
        self.close_connection = True
        try:
            for event, data in generator():
                chunk = f"event: {event}\ndata: {json.dumps(data)}\n\n" if event else ": keep-alive\n\n"
                self.wfile.write(chunk.encode())
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def stream_records(self, query, position):
        name, p = query["topic"], int(query["partition"])
        while True:
            with LOCK:
                if name not in TOPICS:
                    yield "error", {"error": {"code": "unknown_topic", "message": f"topic {name} was deleted"}}
                    return
                log = TOPICS[name]["partitions"][p]
                batch = log[position:]
                if not batch:
                    LOCK.wait(1.0)
                    batch = log[position:]
            for record in batch:
                STATS["records_out_total"] += 1
                yield "record", record
            position += len(batch)
            if not batch:
                yield None, None

    def stream_events(self):
        seen = len(ACTIVITY)
        next_stats = 0
        while True:
            with LOCK:
                LOCK.wait(0.25)
                fresh, seen = ACTIVITY[seen:], len(ACTIVITY)
                snapshot = {"ts_ms": now_ms(), "node_id": 0, "role": "standalone", "leader_id": 0, "epoch": 1, "topics": len(TOPICS),
                            "partitions": sum(len(t["partitions"]) for t in TOPICS.values()), **STATS}
            for entry in fresh:
                yield "activity", entry
            if time.time() >= next_stats:
                next_stats = time.time() + 1
                yield "stats", snapshot

    def send_file(self, file):
        if not file.resolve().is_relative_to(WEB) or not file.is_file():
            raise ApiError(404, "not_found", f"no file {file.name}")
        data = file.read_bytes()
        self.send_response(200)
        kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        self.send_header("content-type", "text/javascript" if file.suffix == ".js" else kind)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def dispatch(self, method):
        try:
            self.handle_api(method)
        except ApiError as err:
            self.send_json(err.status, {"error": {"code": err.code, "message": err.message}})
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_DELETE(self):
        self.dispatch("DELETE")


def main():
    args = sys.argv[1:]
    http = args[args.index("--http") + 1] if "--http" in args else "127.0.0.1:5001"
    host, port = http.rsplit(":", 1)
    server = ThreadingHTTPServer((host, int(port)), Handler)
    server.daemon_threads = True
    global HTTP_URL
    HTTP_URL = f"http://{host}:{server.server_address[1]}"
    activity("broker_started", "fake broker started")
    print(f"listening http={HTTP_URL} kafka=127.0.0.1:9092", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
