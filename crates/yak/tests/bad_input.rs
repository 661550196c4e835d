//! Bad input to a real broker: each gets its 4xx status and stable error code, never a 500 or a
//! crash, and records written before it read back intact afterwards.

mod common;

use common::{assert_error, client, consume_all, get, post, post_raw, produce, Broker};
use serde_json::{json, Value};

/// Every bad request of the contract gets its status and code; the broker keeps serving and
/// earlier records are intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_gets_its_status_and_code() {
    let broker = Broker::start();
    let http = client();
    let produce_url = broker.url("/produce");
    let mut written = Vec::new();
    for i in 0..20 {
        let payload = json!({"i": i, "text": format!("record {i}")});
        produce(
            &http,
            &broker,
            &json!({"topic": "good", "partition": 0, "payload": payload}),
        )
        .await;
        written.push(payload);
    }
    let consume = |query: &str| broker.url(&format!("/consume?{query}"));

    // Produce bodies.
    for body in [
        "{",
        "{\"topic\": \"good\", \"payload\": }",
        "not json",
        "[1,2",
        "\u{0}",
    ] {
        let answer = post_raw(&http, &produce_url, "application/json", body).await;
        assert_error(&format!("malformed {body:?}"), &answer, 400, "invalid_json");
    }
    let answer = post_raw(
        &http,
        &produce_url,
        "application/x-ndjson",
        "{\"topic\":\"good\",\"payload\":1}\n{oops\n",
    )
    .await;
    assert_error("malformed NDJSON line", &answer, 400, "invalid_json");
    let answer = post(&http, &produce_url, &json!({"payload": 1})).await;
    assert_error("missing topic", &answer, 400, "missing_field");
    let answer = post(&http, &produce_url, &json!({"topic": "good"})).await;
    assert_error("missing payload", &answer, 400, "missing_field");
    let answer = post(
        &http,
        &produce_url,
        &json!({"topic": "good", "messages": [{"payload": 1}, {"key": "k"}]}),
    )
    .await;
    assert_error("missing payload in a batch", &answer, 400, "missing_field");
    let answer = post(
        &http,
        &produce_url,
        &json!({"topic": "good", "messages": []}),
    )
    .await;
    assert_error("empty batch", &answer, 400, "missing_field");
    let answer = post(
        &http,
        &produce_url,
        &json!({"topic": "good", "partition": -1, "payload": 1}),
    )
    .await;
    assert_error(
        "negative partition on produce",
        &answer,
        400,
        "invalid_field",
    );
    let answer = post(
        &http,
        &produce_url,
        &json!({"topic": "good", "partition": 3, "payload": 1}),
    )
    .await;
    assert_error(
        "unknown partition on produce",
        &answer,
        404,
        "unknown_partition",
    );
    let answer = post(
        &http,
        &produce_url,
        &json!({"topic": "good", "payload": 1, "timestamp": -5}),
    )
    .await;
    assert_error("negative timestamp", &answer, 400, "invalid_field");
    for name in [
        "a/b".to_string(),
        "z".repeat(250),
        "..".to_string(),
        ".".to_string(),
        String::new(),
        "spa ce".to_string(),
    ] {
        let answer = post(&http, &produce_url, &json!({"topic": name, "payload": 1})).await;
        assert_error(
            &format!("produce to {name:?}"),
            &answer,
            400,
            "invalid_topic_name",
        );
    }
    let answer = post(
        &http,
        &broker.url("/produce?acks=7"),
        &json!({"topic": "good", "payload": 1}),
    )
    .await;
    assert_error("acks=7", &answer, 400, "invalid_field");
    let too_many: Vec<Value> = (0..10_001).map(|i| json!({"payload": i})).collect();
    let answer = post(
        &http,
        &produce_url,
        &json!({"topic": "good", "messages": too_many}),
    )
    .await;
    assert_error("10,001 messages", &answer, 400, "too_many_records");
    let record_too_large = json!({"topic": "good", "payload": "r".repeat(1_100_000)});
    let answer = post(&http, &produce_url, &record_too_large).await;
    assert_error("a 1.1 MB record", &answer, 413, "record_too_large");
    // 9 MiB of JSON, over the 8 MiB body limit.
    let huge = format!(
        "{{\"topic\":\"good\",\"payload\":\"{}\"}}",
        "h".repeat(9 * 1024 * 1024)
    );
    let answer = post_raw(&http, &produce_url, "application/json", huge).await;
    assert_error("a 9 MiB body", &answer, 413, "body_too_large");

    // Consume parameters.
    let answer = get(&http, &consume("topic=nope&partition=0&offset=0")).await;
    assert_error("unknown topic", &answer, 404, "unknown_topic");
    let answer = get(&http, &consume("topic=good&partition=7")).await;
    assert_error("unknown partition", &answer, 404, "unknown_partition");
    let answer = get(&http, &consume("topic=good&partition=-1")).await;
    assert_error("negative partition", &answer, 400, "invalid_field");
    let answer = get(&http, &consume("topic=good&partition=abc")).await;
    assert_error("non-numeric partition", &answer, 400, "invalid_field");
    let answer = get(&http, &consume("topic=good&partition=99999999999")).await;
    assert_error("partition past i32", &answer, 400, "invalid_field");
    let answer = get(&http, &consume("topic=good&partition=0&offset=21")).await;
    assert_error("offset past the end", &answer, 400, "offset_out_of_range");
    let answer = get(&http, &consume("topic=good&partition=0&offset=-3")).await;
    assert_error("negative offset", &answer, 400, "offset_out_of_range");
    let answer = get(&http, &consume("topic=good&partition=0&offset=soon")).await;
    assert_error("non-numeric offset", &answer, 400, "invalid_field");
    for max in ["-1", "0", "99999999", "lots"] {
        let answer = get(
            &http,
            &consume(&format!("topic=good&partition=0&max={max}")),
        )
        .await;
        assert_error(&format!("max={max}"), &answer, 400, "invalid_field");
    }
    for wait_ms in ["-5", "99999999", "x"] {
        let answer = get(
            &http,
            &consume(&format!("topic=good&partition=0&wait_ms={wait_ms}")),
        )
        .await;
        assert_error(&format!("wait_ms={wait_ms}"), &answer, 400, "invalid_field");
    }
    let answer = get(&http, &consume("partition=0")).await;
    assert_error("consume without a topic", &answer, 400, "missing_field");
    let answer = get(&http, &consume("topic=a%2Fb&partition=0")).await;
    assert_error(
        "consume an invalid topic name",
        &answer,
        400,
        "invalid_topic_name",
    );
    let answer = get(&http, &broker.url("/consume/stream?topic=nope&partition=0")).await;
    assert_error("stream of an unknown topic", &answer, 404, "unknown_topic");
    let answer = get(
        &http,
        &broker.url("/consume/stream?topic=good&partition=0&offset=99"),
    )
    .await;
    assert_error("stream past the end", &answer, 400, "offset_out_of_range");

    // Paths.
    let answer = get(&http, &broker.url("/no/such/path")).await;
    assert_error("unknown path", &answer, 404, "not_found");
    let answer = get(&http, &broker.url("/topics/nope")).await;
    assert_error("describe an unknown topic", &answer, 404, "unknown_topic");

    // The broker still answers, and what was written before is intact.
    let (status, health) = get(&http, &broker.url("/health")).await;
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")));
    let records = consume_all(&http, &broker, "good", 0).await;
    let payloads: Vec<Value> = records.iter().map(|r| r["payload"].clone()).collect();
    assert_eq!(
        payloads, written,
        "no bad request wrote or damaged a record"
    );
    let (_, topics) = get(&http, &broker.url("/topics")).await;
    let names: Vec<&str> = topics["topics"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["good"], "no bad request created a topic");
    assert!(
        !broker.log().contains("panicked"),
        "no handler panicked:\n{}",
        broker.log()
    );
}

/// A batch that names an unknown partition writes none of its records, even the valid ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_batch_writes_nothing() {
    let broker = Broker::start();
    let http = client();
    common::create_topic(&http, &broker, "atomic", 2).await;
    let answer = post(
        &http,
        &broker.url("/produce"),
        &json!({"topic": "atomic", "messages": [
            {"partition": 0, "payload": "fine"},
            {"partition": 5, "payload": "no such partition"},
        ]}),
    )
    .await;
    assert_error(
        "batch with an unknown partition",
        &answer,
        404,
        "unknown_partition",
    );
    let answer = post(
        &http,
        &broker.url("/produce"),
        &json!({"topic": "atomic", "messages": [
            {"partition": 0, "payload": "fine"},
            {"topic": "bad/name", "payload": 1},
        ]}),
    )
    .await;
    assert_error(
        "batch with a bad topic name",
        &answer,
        400,
        "invalid_topic_name",
    );
    assert!(consume_all(&http, &broker, "atomic", 0).await.is_empty());
}

/// Regression: the 413 for a body over the limit left the half-read connection open for reuse,
/// so the client's next request on it failed; the answer must close the connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_too_large_answer_closes_the_connection() {
    let broker = Broker::start();
    let http = client();
    let huge = format!(
        "{{\"topic\":\"big\",\"payload\":\"{}\"}}",
        "h".repeat(9 * 1024 * 1024)
    );
    for round in 0..3 {
        let response = http
            .post(broker.url("/produce"))
            .header("content-type", "application/json")
            .body(huge.clone())
            .send()
            .await
            .expect("the 413 arrives");
        assert_eq!(response.status(), 413);
        assert_eq!(
            response.headers().get("connection").map(|v| v.as_bytes()),
            Some(&b"close"[..]),
            "round {round}"
        );
        let answer = common::json_of(response).await;
        assert_error("a 9 MiB body", &answer, 413, "body_too_large");
        // The same client's next requests work.
        for _ in 0..5 {
            let (status, _) = get(&http, &broker.url("/health")).await;
            assert_eq!(status, 200);
        }
    }
}
