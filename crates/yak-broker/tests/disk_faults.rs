//! Disk faults seen through the HTTP API: the broker runs on the simulated file system, which
//! can report a full disk or fail an fsync, and a client must get a 5xx with `storage_error`,
//! never an acknowledgement, while everything acknowledged before stays readable.

use std::sync::Arc;

use serde_json::{json, Value};
use yak_broker::BrokerConfig;
use yak_log::{SimulatedFileSystem, SimulatedOperation};

fn config(data_dir: &std::path::Path) -> BrokerConfig {
    BrokerConfig {
        default_partitions: 1,
        ..BrokerConfig::on_ephemeral_ports(data_dir.to_path_buf())
    }
}

async fn produce(client: &reqwest::Client, base: &str, payload: Value) -> (u16, Value) {
    let response = client
        .post(format!("{base}/produce"))
        .json(&json!({"topic": "faults", "payload": payload}))
        .send()
        .await
        .expect("the broker answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON body"))
}

async fn payloads(client: &reqwest::Client, base: &str) -> Vec<Value> {
    let body: Value = client
        .get(format!(
            "{base}/consume?topic=faults&partition=0&offset=earliest&max=100"
        ))
        .send()
        .await
        .expect("consume")
        .json()
        .await
        .expect("JSON");
    body["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("no messages in {body}"))
        .iter()
        .map(|m| m["payload"].clone())
        .collect()
}

/// A full disk fails the write with 503 storage_error and leaves the log usable; a failed
/// fsync is never acknowledged and stops the partition taking writes until a restart.
#[tokio::test]
async fn disk_full_and_failed_fsync_are_5xx_and_never_acknowledged() {
    let data = tempfile::tempdir().expect("tempdir");
    let fs = SimulatedFileSystem::new();
    let running = yak_broker::start(config(data.path()), Arc::new(fs.clone()))
        .await
        .expect("the broker starts");
    let base = format!("http://{}", running.http_addr);
    let client = reqwest::Client::new();

    let (status, body) = produce(&client, &base, json!("before")).await;
    assert_eq!(status, 200, "{body}");

    fs.set_disk_full(true);
    let (status, body) = produce(&client, &base, json!("while full")).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "storage_error");
    fs.set_disk_full(false);

    let (status, body) = produce(&client, &base, json!("after space came back")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["offset"], 1,
        "the failed write left no hole and no partial record"
    );

    fs.fail_next_sync();
    let (status, body) = produce(&client, &base, json!("fsync fails")).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "storage_error");
    let (status, body) = produce(&client, &base, json!("after a failed fsync")).await;
    assert_eq!(
        status, 503,
        "a partition whose fsync failed takes no more writes: {body}"
    );

    let refused = client
        .get(format!(
            "{base}/consume?topic=faults&partition=0&offset=earliest"
        ))
        .send()
        .await
        .expect("consume");
    assert_eq!(
        refused.status().as_u16(),
        503,
        "after a failed fsync the files may have lost pages: reads wait for recovery"
    );
    let health: Value = client
        .get(format!("{base}/health"))
        .send()
        .await
        .expect("health")
        .json()
        .await
        .expect("JSON");
    assert_eq!(health["status"], "ok", "the node keeps serving");

    // A restart recovers from what is on disk: exactly the acknowledged records.
    assert!(
        running.shutdown().await.is_err(),
        "the final flush reports the failed log"
    );
    let restarted = yak_broker::start(config(data.path()), Arc::new(fs.clone()))
        .await
        .expect("the broker restarts");
    let base = format!("http://{}", restarted.http_addr);
    assert_eq!(
        payloads(&client, &base).await,
        vec![json!("before"), json!("after space came back")],
        "consumers see exactly the acknowledged records"
    );
    let (status, body) = produce(&client, &base, json!("after recovery")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["offset"], 2,
        "the unacknowledged record's offset is reused, not skipped"
    );
    restarted.shutdown().await.expect("clean shutdown");
}

/// A batch whose records of one partition span two record batches, where the second batch's
/// fsync fails after the first was committed, answers per record: the committed record keeps
/// its offset and only the unacknowledged one carries `storage_error`, so a client retries
/// exactly what failed instead of duplicating what landed.
#[tokio::test]
async fn failure_in_a_later_chunk_reports_only_its_records_failed() {
    let data = tempfile::tempdir().expect("tempdir");
    let fs = SimulatedFileSystem::new();
    let running = yak_broker::start(config(data.path()), Arc::new(fs.clone()))
        .await
        .expect("the broker starts");
    let base = format!("http://{}", running.http_addr);
    let client = reqwest::Client::new();
    let (status, body) = produce(&client, &base, json!("creates the topic")).await;
    assert_eq!(status, 200, "{body}");

    // Each record alone is over half of a batch, so the two records become two batches, each
    // appended and fsynced before the next.
    let large = "x".repeat(600_000);
    fs.fail_nth(SimulatedOperation::SyncData, 2);
    let response = client
        .post(format!("{base}/produce"))
        .json(&json!({"topic": "faults", "messages": [
            {"payload": format!("first {large}"), "partition": 0},
            {"payload": format!("second {large}"), "partition": 0},
        ]}))
        .send()
        .await
        .expect("the broker answers");
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(
        status, 200,
        "a partial failure is not the request's failure: {body}"
    );
    let results = body["results"].as_array().expect("results");
    assert_eq!(results.len(), 2, "{body}");
    assert_eq!(
        results[0]["offset"], 1,
        "the first batch was committed: {body}"
    );
    assert_eq!(results[1]["error"]["code"], "storage_error", "{body}");

    assert!(running.shutdown().await.is_err(), "the log failed");
    let restarted = yak_broker::start(config(data.path()), Arc::new(fs.clone()))
        .await
        .expect("the broker restarts");
    let base = format!("http://{}", restarted.http_addr);
    let stored = payloads(&client, &base).await;
    assert_eq!(
        stored.len(),
        2,
        "exactly the acknowledged records are stored"
    );
    assert!(stored[1].as_str().is_some_and(|p| p.starts_with("first ")));
    restarted.shutdown().await.expect("clean shutdown");
}
