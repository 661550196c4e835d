//! The topics admin API of a real broker: create, duplicate, list, describe, delete, and topic
//! metadata across a restart.

mod common;

use common::{assert_error, client, consume_all, get, post, produce, Broker};
use serde_json::json;

/// Create answers 201 with the topic, a duplicate 409, list and describe show it with offsets,
/// delete removes it and its records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_list_describe_delete() {
    let broker = Broker::start();
    let http = client();
    let (status, created) = post(
        &http,
        &broker.url("/topics"),
        &json!({"name": "orders", "partitions": 4, "retention_ms": 86_400_000}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["name"], "orders");
    assert_eq!(created["replication_factor"], 1);
    assert_eq!(created["retention_ms"], 86_400_000);
    assert_eq!(created["partitions"].as_array().map(Vec::len), Some(4));

    let duplicate = post(&http, &broker.url("/topics"), &json!({"name": "orders"})).await;
    assert_error("duplicate topic", &duplicate, 409, "topic_already_exists");

    for i in 0..5 {
        produce(
            &http,
            &broker,
            &json!({"topic": "orders", "partition": 2, "payload": i}),
        )
        .await;
    }
    produce(
        &http,
        &broker,
        &json!({"topic": "other", "payload": "auto-created"}),
    )
    .await;

    let (status, list) = get(&http, &broker.url("/topics")).await;
    assert_eq!(status, 200);
    let topics = list["topics"].as_array().expect("topics");
    let names: Vec<&str> = topics.iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(names, ["orders", "other"], "sorted by name");
    assert_eq!(topics[0]["partitions"], 4);
    assert_eq!(topics[0]["records"], 5);
    assert_eq!(topics[1]["partitions"], 3, "the default partition count");

    let (status, detail) = get(&http, &broker.url("/topics/orders")).await;
    assert_eq!(status, 200);
    let partitions = detail["partitions"].as_array().expect("partitions");
    assert_eq!(partitions.len(), 4);
    for partition in partitions {
        let expected = if partition["partition"] == 2 { 5 } else { 0 };
        assert_eq!(partition["log_start_offset"], 0);
        assert_eq!(partition["log_end_offset"], expected, "{partition}");
        assert_eq!(partition["high_watermark"], expected, "{partition}");
        assert_eq!(partition["leader"], 0);
        assert_eq!(partition["isr"], json!([0]));
    }

    let (status, deleted) = json_delete(&http, &broker.url("/topics/orders")).await;
    assert_eq!(status, 200);
    assert_eq!(deleted, json!({"deleted": "orders"}));
    let gone = get(
        &http,
        &broker.url("/consume?topic=orders&partition=2&offset=0"),
    )
    .await;
    assert_error("consume a deleted topic", &gone, 404, "unknown_topic");
    let gone = get(&http, &broker.url("/topics/orders")).await;
    assert_error("describe a deleted topic", &gone, 404, "unknown_topic");
    let again = json_delete(&http, &broker.url("/topics/orders")).await;
    assert_error("delete a deleted topic", &again, 404, "unknown_topic");
    assert!(
        !broker.data_dir().join("orders-2").exists(),
        "the deleted topic's files are gone"
    );

    // A topic created again under the same name starts empty.
    let (status, _) = post(
        &http,
        &broker.url("/topics"),
        &json!({"name": "orders", "partitions": 4}),
    )
    .await;
    assert_eq!(status, 201);
    assert!(consume_all(&http, &broker, "orders", 2).await.is_empty());
}

async fn json_delete(http: &reqwest::Client, url: &str) -> (u16, serde_json::Value) {
    common::json_of(http.delete(url).send().await.expect("DELETE")).await
}

/// Topics, their partition counts and records survive a restart; a deleted topic stays deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_metadata_survives_a_restart() {
    let mut broker = Broker::start();
    let http = client();
    let (status, _) = post(
        &http,
        &broker.url("/topics"),
        &json!({"name": "kept", "partitions": 5, "retention_ms": 60_000}),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _) = post(
        &http,
        &broker.url("/topics"),
        &json!({"name": "dropped", "partitions": 2}),
    )
    .await;
    assert_eq!(status, 201);
    produce(
        &http,
        &broker,
        &json!({"topic": "kept", "partition": 4, "payload": "stays"}),
    )
    .await;
    let (status, _) = json_delete(&http, &broker.url("/topics/dropped")).await;
    assert_eq!(status, 200);
    let (_, before) = get(&http, &broker.url("/topics/kept")).await;

    broker.stop();
    broker.restart();

    let (status, after) = get(&http, &broker.url("/topics/kept")).await;
    assert_eq!(status, 200);
    assert_eq!(after["partitions"].as_array().map(Vec::len), Some(5));
    assert_eq!(after["retention_ms"], 60_000);
    assert_eq!(after["partitions"], before["partitions"]);
    let records = consume_all(&http, &broker, "kept", 4).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["payload"], "stays");
    let (_, list) = get(&http, &broker.url("/topics")).await;
    let names: Vec<&str> = list["topics"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["kept"]);
}

/// Creating a topic with a bad name, partition count or replication factor is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_refuses_bad_requests() {
    let broker = Broker::start();
    let http = client();
    let url = broker.url("/topics");
    for name in ["a/b", "..", ".", "", "with space", &"x".repeat(250)] {
        let answer = post(&http, &url, &json!({"name": name})).await;
        assert_error(
            &format!("create {name:?}"),
            &answer,
            400,
            "invalid_topic_name",
        );
    }
    for partitions in [0, -1, 1_000_000] {
        let answer = post(&http, &url, &json!({"name": "p", "partitions": partitions})).await;
        assert_error(
            &format!("partitions {partitions}"),
            &answer,
            400,
            "invalid_field",
        );
    }
    let answer = post(&http, &url, &json!({"name": "r", "replication_factor": 3})).await;
    assert_error(
        "replication_factor 3 on one node",
        &answer,
        400,
        "invalid_field",
    );
    let answer = common::post_raw(&http, &url, "application/json", "{\"name\":").await;
    assert_error("malformed JSON", &answer, 400, "invalid_json");
    let answer = post(&http, &url, &json!({"partitions": 3})).await;
    assert_eq!(answer.0, 400, "a create without a name: {}", answer.1);
    // A 249-character name is the longest allowed.
    let (status, _) = post(&http, &url, &json!({"name": "y".repeat(249)})).await;
    assert_eq!(status, 201);
    let (_, list) = get(&http, &url).await;
    assert_eq!(list["topics"].as_array().map(Vec::len), Some(1));
}
