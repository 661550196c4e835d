"""A minimal Kafka wire client for the bad-input tests: it builds the few non-flexible request
versions these tests send (ApiVersions v0, JoinGroup v5, SyncGroup v3, OffsetCommit v7) by hand with
`struct`, so a test controls every field, including ones a real client would never send."""
import socket
import struct

API_VERSIONS, JOIN_GROUP, SYNC_GROUP, OFFSET_COMMIT = 18, 11, 14, 8
SOCKET_TIMEOUT_SECONDS = 60
RESPONSE_BYTES_MAX = 64 * 1024 * 1024

# Kafka's error codes as the tests name them.
NONE = 0
UNKNOWN_TOPIC_OR_PARTITION = 3
ILLEGAL_GENERATION = 22
UNKNOWN_MEMBER_ID = 25
REBALANCE_IN_PROGRESS = 27
MEMBER_ID_REQUIRED = 79
GROUP_MAX_SIZE_REACHED = 81


def string(value):
    if value is None:
        return struct.pack(">h", -1)
    data = value.encode()
    return struct.pack(">h", len(data)) + data


def byte_string(value):
    return struct.pack(">i", len(value)) + value


def array(items):
    return struct.pack(">i", len(items)) + b"".join(items)


class Reader:
    def __init__(self, data):
        self.data = data
        self.at = 0

    def take(self, fmt):
        values = struct.unpack_from(fmt, self.data, self.at)
        self.at += struct.calcsize(fmt)
        return values if len(values) > 1 else values[0]

    def string(self):
        length = self.take(">h")
        if length < 0:
            return None
        value = self.data[self.at:self.at + length].decode()
        self.at += length
        return value

    def bytes(self):
        length = self.take(">i")
        if length < 0:
            return None
        value = self.data[self.at:self.at + length]
        self.at += length
        return value

    def array(self, item):
        return [item() for _ in range(self.take(">i"))]


def consumer_metadata(topic, padding=b""):
    """A ConsumerProtocolSubscription v0 (version, topics, user data), as clients put in JoinGroup."""
    return struct.pack(">h", 0) + array([string(topic)]) + byte_string(padding)


class Connection:
    """One TCP connection speaking request header v1 / response header v0."""

    def __init__(self, bootstrap, client_id="yak-groups-wire"):
        host, port = bootstrap.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=SOCKET_TIMEOUT_SECONDS)
        self.client_id = client_id
        self.correlation = 0

    def close(self):
        self.sock.close()

    def request(self, api_key, version, body):
        """Sends one request and returns a Reader over the response body (header stripped).
        Raises ConnectionError if the broker closes the connection instead of answering."""
        self.correlation += 1
        header = struct.pack(">hhi", api_key, version, self.correlation) + string(self.client_id)
        frame = header + body
        self.sock.sendall(struct.pack(">i", len(frame)) + frame)
        size = struct.unpack(">i", self._read_exactly(4))[0]
        assert 4 <= size <= RESPONSE_BYTES_MAX, f"response size {size}"
        response = Reader(self._read_exactly(size))
        assert response.take(">i") == self.correlation
        return response

    def _read_exactly(self, count):
        chunks = []
        while count:
            chunk = self.sock.recv(min(count, 1 << 20))
            if not chunk:
                raise ConnectionError("the broker closed the connection")
            chunks.append(chunk)
            count -= len(chunk)
        return b"".join(chunks)

    def api_versions(self):
        """{api_key: (min, max)} from ApiVersions v0."""
        r = self.request(API_VERSIONS, 0, b"")
        error = r.take(">h")
        assert error == NONE, f"ApiVersions error {error}"
        return {key: (low, high) for key, low, high in r.array(lambda: r.take(">hhh"))}

    def join_group(self, group, member_id, metadata, instance_id=None, topic_protocol="range",
                   session_timeout_ms=10000, rebalance_timeout_ms=10000):
        """JoinGroup v5; returns a dict of the response's fields."""
        body = (string(group) + struct.pack(">ii", session_timeout_ms, rebalance_timeout_ms)
                + string(member_id) + string(instance_id) + string("consumer")
                + array([string(topic_protocol) + byte_string(metadata)]))
        r = self.request(JOIN_GROUP, 5, body)
        throttle, error, generation = r.take(">ihi")
        protocol, leader, member = r.string(), r.string(), r.string()
        members = r.array(lambda: (r.string(), r.string(), r.bytes()))
        return {"error": error, "generation": generation, "protocol": protocol, "leader": leader,
                "member_id": member, "members": members}

    def sync_group(self, group, generation, member_id, assignments):
        """SyncGroup v3; `assignments` is [(member_id, bytes)]; returns (error, assignment)."""
        body = (string(group) + struct.pack(">i", generation) + string(member_id) + string(None)
                + array([string(m) + byte_string(a) for m, a in assignments]))
        r = self.request(SYNC_GROUP, 3, body)
        r.take(">i")
        return r.take(">h"), r.bytes()

    def offset_commit(self, group, generation, member_id, offsets, instance_id=None):
        """OffsetCommit v7; `offsets` is {topic: {partition: offset}}; returns
        {(topic, partition): error code}."""
        topics = [string(topic) + array([struct.pack(">iqi", p, o, -1) + string("") for p, o in parts.items()])
                  for topic, parts in offsets.items()]
        body = string(group) + struct.pack(">i", generation) + string(member_id) + string(instance_id) + array(topics)
        r = self.request(OFFSET_COMMIT, 7, body)
        r.take(">i")
        result = {}
        for topic, partitions in r.array(lambda: (r.string(), r.array(lambda: r.take(">ih")))):
            for partition, error in partitions:
                result[(topic, partition)] = error
        return result
