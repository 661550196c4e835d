//! The HTTP API of a real standalone broker: produce in its three shapes, consume with its
//! offsets, long-poll and server-sent events, key routing, and the status endpoints.

mod common;

use std::time::{Duration, Instant};

use common::{
    assert_dense, client, consume_all, create_topic, get, kafka_partition, post, produce,
    wait_until, Broker,
};
use futures::StreamExt;
use serde_json::{json, Value};

/// A payload of every JSON kind comes back equal, with its key, msg_id and headers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_records_round_trip_every_json_kind_with_headers_and_msg_id() {
    let broker = Broker::start();
    let http = client();
    let payloads = [
        json!(null),
        json!(true),
        json!(false),
        json!(0),
        json!(-17),
        json!(3.25),
        json!(12345678901234_i64),
        json!("plain text with \"quotes\" and é ☃"),
        json!(""),
        json!([]),
        json!([1, "two", null, {"three": [3]}]),
        json!({}),
        json!({"order": {"id": 7, "items": [{"sku": "a", "qty": 2}], "paid": true, "note": null}}),
    ];
    for (i, payload) in payloads.iter().enumerate() {
        let result = produce(
            &http,
            &broker,
            &json!({"topic": "kinds", "partition": 1, "key": format!("k{i}"), "payload": payload}),
        )
        .await;
        assert_eq!(result["topic"], "kinds");
        assert_eq!(result["partition"], 1);
        assert_eq!(result["offset"], i as i64, "offsets are dense: {result}");
        assert!(result["msg_id"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(result["timestamp"].as_i64().is_some_and(|t| t > 0));
    }
    let with_meta = produce(
        &http,
        &broker,
        &json!({
            "topic": "kinds", "partition": 1, "key": "meta", "msg_id": "order-42",
            "headers": {"trace": "abc-123", "source": "test"}, "payload": {"x": 1},
        }),
    )
    .await;
    assert_eq!(with_meta["msg_id"], "order-42");

    let records = consume_all(&http, &broker, "kinds", 1).await;
    assert_eq!(records.len(), payloads.len() + 1);
    assert_dense("kinds/1", &records);
    for (i, payload) in payloads.iter().enumerate() {
        assert_eq!(&records[i]["payload"], payload, "payload {i} read back");
        assert_eq!(records[i]["key"], format!("k{i}"));
        assert!(records[i]["timestamp"].as_i64().is_some_and(|t| t > 0));
    }
    let last = &records[payloads.len()];
    assert_eq!(last["msg_id"], "order-42");
    assert_eq!(
        last["headers"],
        json!({"trace": "abc-123", "source": "test"})
    );
    assert_eq!(last["payload"], json!({"x": 1}));
    // A record without a msg_id gets a stable one, the same on produce and on consume.
    let first = produce(
        &http,
        &broker,
        &json!({"topic": "kinds", "partition": 0, "payload": 1}),
    )
    .await;
    let read = consume_all(&http, &broker, "kinds", 0).await;
    assert_eq!(read[0]["msg_id"], first["msg_id"]);
}

/// A `messages` array answers one result per record, in order, with dense offsets per partition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_array_answers_one_result_per_record_in_order() {
    let broker = Broker::start();
    let http = client();
    create_topic(&http, &broker, "batch", 3).await;
    let messages: Vec<Value> = (0..60)
        .map(|i| json!({"key": format!("user-{}", i % 7), "payload": {"n": i}}))
        .collect();
    let (status, body) = post(
        &http,
        &broker.url("/produce"),
        &json!({"topic": "batch", "messages": messages}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let results = body["results"].as_array().expect("results");
    assert_eq!(results.len(), 60);
    let mut next_offset = [0_i64; 3];
    for (i, result) in results.iter().enumerate() {
        let partition = result["partition"].as_i64().expect("partition") as usize;
        assert_eq!(
            partition as i32,
            kafka_partition(&format!("user-{}", i % 7), 3),
            "record {i} goes where Kafka's partitioner puts its key"
        );
        assert_eq!(result["offset"], next_offset[partition], "record {i}");
        next_offset[partition] += 1;
    }
    for partition in 0..3 {
        let records = consume_all(&http, &broker, "batch", partition).await;
        assert_dense("batch", &records);
        assert_eq!(records.len() as i64, next_offset[partition as usize]);
        for record in &records {
            let n = record["payload"]["n"].as_i64().expect("n");
            assert_eq!(record["key"], format!("user-{}", n % 7));
        }
    }
}

/// An NDJSON body answers NDJSON lines, one result per record, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ndjson_body_answers_one_ndjson_line_per_record() {
    let broker = Broker::start();
    let http = client();
    let mut body = String::new();
    for i in 0..500 {
        body.push_str(
            &json!({"topic": "lines", "key": format!("k{}", i % 5), "payload": {"i": i}})
                .to_string(),
        );
        body.push('\n');
    }
    let response = http
        .post(broker.url("/produce"))
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        content_type.starts_with("application/x-ndjson"),
        "{content_type}"
    );
    let text = response.text().await.expect("body");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), 500);
    let mut per_partition: std::collections::BTreeMap<i64, Vec<i64>> = Default::default();
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["topic"], "lines");
        let partition = line["partition"].as_i64().unwrap();
        assert_eq!(partition as i32, kafka_partition(&format!("k{}", i % 5), 3));
        per_partition
            .entry(partition)
            .or_default()
            .push(line["offset"].as_i64().unwrap());
    }
    for (partition, offsets) in &per_partition {
        let expected: Vec<i64> = (0..offsets.len() as i64).collect();
        assert_eq!(
            offsets, &expected,
            "partition {partition} offsets are dense and in order"
        );
        let records = consume_all(&http, &broker, "lines", *partition as i32).await;
        assert_eq!(records.len(), offsets.len());
    }
}

/// `offset=earliest|latest|N`, `max`, `next_offset` and `high_watermark` behave as Kafka's fetch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consume_offsets_max_next_offset_and_high_watermark() {
    let broker = Broker::start();
    let http = client();
    create_topic(&http, &broker, "offsets", 1).await;
    for i in 0..10 {
        produce(&http, &broker, &json!({"topic": "offsets", "payload": i})).await;
    }
    let consume = |query: &str| {
        let url = broker.url(&format!("/consume?topic=offsets&partition=0&{query}"));
        let http = http.clone();
        async move {
            let (status, body) = get(&http, &url).await;
            assert_eq!(status, 200, "{url}: {body}");
            let offsets: Vec<i64> = body["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["offset"].as_i64().unwrap())
                .collect();
            assert_eq!(body["topic"], "offsets");
            assert_eq!(body["partition"], 0);
            (
                offsets,
                body["next_offset"].as_i64().unwrap(),
                body["high_watermark"].as_i64().unwrap(),
            )
        }
    };
    assert_eq!(
        consume("offset=earliest&max=3").await,
        (vec![0, 1, 2], 3, 10)
    );
    assert_eq!(consume("offset=5").await, ((5..10).collect(), 10, 10));
    assert_eq!(consume("offset=9&max=100").await, (vec![9], 10, 10));
    assert_eq!(consume("offset=latest").await, (vec![], 10, 10));
    assert_eq!(consume("offset=10").await, (vec![], 10, 10));
    assert_eq!(consume("offset=0&max=1").await, (vec![0], 1, 10));
    // No offset means the earliest, as `offset=earliest`.
    assert_eq!(consume("max=2").await, (vec![0, 1], 2, 10));
    let (_, body) = get(
        &http,
        &broker.url("/consume?topic=offsets&partition=0&offset=4&max=1"),
    )
    .await;
    assert_eq!(body["messages"][0]["payload"], 4);
}

/// A long-poll issued on an empty partition returns the record produced while it waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_returns_a_record_produced_while_it_waits() {
    let broker = Broker::start();
    let http = client();
    create_topic(&http, &broker, "poll", 1).await;
    let fetches = |http: reqwest::Client, url: String| async move {
        let response = http
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .ok()?;
        let body: Value = response.json().await.ok()?;
        body["counters"]["yak_server_brokertopicmetrics_total_fetch_requests_total"].as_u64()
    };
    let before = fetches(http.clone(), broker.url("/metrics"))
        .await
        .expect("fetch counter");
    let url = broker.url("/consume?topic=poll&partition=0&offset=0&wait_ms=5000");
    let waiting = tokio::spawn({
        let http = http.clone();
        async move {
            let started = Instant::now();
            let answer = get(&http, &url).await;
            (answer, started.elapsed())
        }
    });
    // The consume is in the broker once the fetch counter moved.
    wait_until(
        "the long-poll to reach the broker",
        Duration::from_secs(10),
        || {
            let (http, url) = (http.clone(), broker.url("/metrics"));
            async move { fetches(http, url).await.filter(|n| *n > before) }
        },
    )
    .await;
    produce(
        &http,
        &broker,
        &json!({"topic": "poll", "payload": {"late": true}}),
    )
    .await;
    let ((status, body), elapsed) = waiting.await.expect("consume task");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["messages"].as_array().map(Vec::len), Some(1), "{body}");
    assert_eq!(body["messages"][0]["payload"], json!({"late": true}));
    assert_eq!(body["next_offset"], 1);
    assert!(
        elapsed < Duration::from_millis(4500),
        "the long-poll returned on the record, not at its timeout ({elapsed:?})"
    );
}

/// `/consume/stream` delivers a record produced after the stream opened as an `event: record`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_stream_delivers_a_produced_record() {
    let broker = Broker::start();
    let http = client();
    create_topic(&http, &broker, "live", 1).await;
    let response = reqwest::Client::new()
        .get(broker.url("/consume/stream?topic=live&partition=0&offset=latest"))
        .send()
        .await
        .expect("open the stream");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    produce(
        &http,
        &broker,
        &json!({"topic": "live", "key": "k", "payload": {"tail": 1}}),
    )
    .await;

    let mut stream = response.bytes_stream();
    let mut text = String::new();
    let record = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let chunk = stream
                .next()
                .await
                .expect("the stream ended")
                .expect("chunk");
            text.push_str(&String::from_utf8_lossy(&chunk));
            // An event ends at a blank line; look for a complete `event: record` one.
            for event in text.split("\n\n") {
                if event.lines().any(|l| l == "event: record") {
                    if let Some(data) = event.lines().find_map(|l| l.strip_prefix("data:")) {
                        if text.contains(&format!("{event}\n\n")) {
                            return serde_json::from_str::<Value>(data.trim())
                                .expect("data is JSON");
                        }
                    }
                }
            }
        }
    })
    .await
    .expect("an `event: record` within 10 s");
    assert_eq!(record["topic"], "live");
    assert_eq!(record["partition"], 0);
    assert_eq!(record["offset"], 0);
    assert_eq!(record["key"], "k");
    assert_eq!(record["payload"], json!({"tail": 1}));
}

/// The same key lands in the same partition across a restart, where Kafka's murmur2 puts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_key_same_partition_across_restart_and_matches_kafka() {
    let mut broker = Broker::start();
    let http = client();
    create_topic(&http, &broker, "six", 6).await;
    let kafka = produce(
        &http,
        &broker,
        &json!({"topic": "six", "key": "kafka", "payload": 1}),
    )
    .await;
    assert_eq!(kafka["partition"], 4, "murmur2(\"kafka\") % 6");
    let digits = produce(
        &http,
        &broker,
        &json!({"topic": "six", "key": "1234", "payload": 2}),
    )
    .await;
    assert_eq!(digits["partition"], 0, "murmur2(\"1234\") % 6");

    let keys: Vec<String> = (0..40).map(|i| format!("customer-{i}")).collect();
    let mut before = Vec::new();
    for key in &keys {
        // The auto-created topic (3 partitions) and the explicit one (6).
        let auto = produce(
            &http,
            &broker,
            &json!({"topic": "auto", "key": key, "payload": key}),
        )
        .await;
        let six = produce(
            &http,
            &broker,
            &json!({"topic": "six", "key": key, "payload": key}),
        )
        .await;
        assert_eq!(auto["partition"], kafka_partition(key, 3), "key {key}");
        assert_eq!(six["partition"], kafka_partition(key, 6), "key {key}");
        before.push((auto["partition"].clone(), six["partition"].clone()));
    }

    broker.stop();
    broker.restart();
    for (key, (auto, six)) in keys.iter().zip(&before) {
        let auto_after = produce(
            &http,
            &broker,
            &json!({"topic": "auto", "key": key, "payload": 0}),
        )
        .await;
        let six_after = produce(
            &http,
            &broker,
            &json!({"topic": "six", "key": key, "payload": 0}),
        )
        .await;
        assert_eq!(&auto_after["partition"], auto, "key {key} after restart");
        assert_eq!(&six_after["partition"], six, "key {key} after restart");
    }
    let again = produce(
        &http,
        &broker,
        &json!({"topic": "six", "key": "kafka", "payload": 3}),
    )
    .await;
    assert_eq!(again["partition"], 4);
    assert_eq!(
        again["offset"],
        1 + keys.iter().filter(|k| kafka_partition(k, 6) == 4).count() as i64 * 2
    );
}

/// `/openapi.json` documents every endpoint of the contract.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_lists_the_api_paths() {
    let broker = Broker::start();
    let (status, document) = get(&client(), &broker.url("/openapi.json")).await;
    assert_eq!(status, 200);
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with('3')),
        "{document}"
    );
    let paths = document["paths"].as_object().expect("paths");
    for path in [
        "/produce",
        "/consume",
        "/consume/stream",
        "/topics",
        "/topics/{name}",
        "/health",
        "/cluster",
        "/metadata/leader",
        "/metrics",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} is documented; have {:?}",
            paths.keys()
        );
    }
    assert!(paths["/produce"]["post"].is_object());
    assert!(paths["/topics"]["post"].is_object() && paths["/topics"]["get"].is_object());
    assert!(paths["/topics/{name}"]["delete"].is_object());
}

/// `/metrics` is Prometheus text whose messages-in counter grows with produced records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_produced_records() {
    let broker = Broker::start();
    let http = client();
    let messages_in = |text: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix("yak_server_brokertopicmetrics_messages_in_total "))
            .unwrap_or_else(|| panic!("no messages_in counter in:\n{text}"))
            .trim()
            .parse()
            .expect("a counter value")
    };
    let scrape = || async {
        let response = http
            .get(broker.url("/metrics"))
            .send()
            .await
            .expect("GET /metrics");
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(content_type.starts_with("text/plain"), "{content_type}");
        response.text().await.expect("text")
    };
    let before = scrape().await;
    assert!(
        before.contains("# TYPE yak_server_brokertopicmetrics_messages_in_total counter"),
        "{before}"
    );
    let (status, _) = post(
        &http,
        &broker.url("/produce"),
        &json!({"topic": "metered", "messages": [{"payload": 1}, {"payload": 2}, {"payload": 3}]}),
    )
    .await;
    assert_eq!(status, 200);
    let after = scrape().await;
    assert_eq!(messages_in(&after), messages_in(&before) + 3);
    // The JSON form carries the same counter.
    let json_form: Value = http
        .get(broker.url("/metrics"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .expect("JSON metrics");
    assert_eq!(
        json_form["counters"]["yak_server_brokertopicmetrics_messages_in_total"].as_u64(),
        Some(messages_in(&after))
    );
}

/// `/health`, `/metadata/leader` and `/cluster` have the contract's shapes on a standalone node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_leader_and_cluster_shapes() {
    let broker = Broker::start();
    let http = client();
    let (status, health) = get(&http, &broker.url("/health")).await;
    assert_eq!(status, 200);
    assert_eq!(health["status"], "ok");
    assert_eq!(health["node_id"], 0);
    assert!(health["role"].is_string(), "{health}");
    assert!(health["epoch"].is_i64(), "{health}");

    let (status, leader) = get(&http, &broker.url("/metadata/leader")).await;
    assert_eq!(status, 200);
    assert_eq!(leader["leader_id"], 0);
    assert_eq!(leader["leader_http"], broker.http.as_str(), "{leader}");
    assert_eq!(leader["leader_kafka"], broker.kafka.as_str(), "{leader}");
    assert!(leader["epoch"].is_i64());

    produce(
        &http,
        &broker,
        &json!({"topic": "c", "partition": 2, "payload": 1}),
    )
    .await;
    let (status, cluster) = get(&http, &broker.url("/cluster")).await;
    assert_eq!(status, 200);
    assert_eq!(cluster["leader_id"], 0);
    assert_eq!(
        cluster["nodes"].as_array().map(Vec::len),
        Some(1),
        "{cluster}"
    );
    let partitions = cluster["partitions"].as_array().expect("partitions");
    assert_eq!(partitions.len(), 3);
    let p2 = partitions
        .iter()
        .find(|p| p["partition"] == 2)
        .expect("partition 2");
    assert_eq!(p2["topic"], "c");
    assert_eq!(p2["log_end_offset"], 1);
    assert_eq!(p2["high_watermark"], 1);
    assert_eq!(p2["isr"], json!([0]));
}

/// Regression: `"payload": null` was answered 400 missing_field; null is a JSON payload like any other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn null_payload_is_stored_not_rejected_as_missing() {
    let broker = Broker::start();
    let http = client();
    let single = produce(
        &http,
        &broker,
        &json!({"topic": "nulls", "partition": 0, "payload": null}),
    )
    .await;
    assert_eq!(single["offset"], 0);
    let (status, body) = post(
        &http,
        &broker.url("/produce"),
        &json!({"topic": "nulls", "messages": [{"partition": 0, "payload": null}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let records = consume_all(&http, &broker, "nulls", 0).await;
    assert_eq!(records.len(), 2);
    assert!(records
        .iter()
        .all(|r| r["payload"].is_null() && r.get("payload_base64").is_none()));
}
