//! Topic configs in Kafka's names over HTTP and the CLI, and retention on a real broker: old
//! segments go, the log start offset moves, and reads below it are refused.

mod common;

use std::time::Duration;

use common::{assert_error, client, get, post, produce, Broker};
use serde_json::{json, Value};

/// How long retention may take to act with a 50 ms check interval (generous for a loaded
/// machine; the wait ends as soon as the condition holds).
const RETENTION_WAIT: Duration = Duration::from_secs(30);

async fn patch(http: &reqwest::Client, url: &str, body: &Value) -> (u16, Value) {
    common::json_of(http.patch(url).json(body).send().await.expect("PATCH")).await
}

/// Proves topic configs round-trip over HTTP in Kafka's names: set at creation, shown with the
/// defaults, changed and reset by PATCH, kept across a restart; unknown names, bad values and
/// compaction answer 400 `invalid_config`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_topic_configs_round_trip() {
    let mut broker = Broker::start();
    let http = client();
    let (status, created) = post(
        &http,
        &broker.url("/topics"),
        &json!({"name": "configured", "partitions": 1,
                "configs": {"retention.ms": "60000", "segment.bytes": 1048576}}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["configs"]["retention.ms"], "60000");
    assert_eq!(created["configs"]["segment.bytes"], "1048576");
    assert_eq!(created["configs"]["retention.bytes"], "-1", "the default");
    assert_eq!(created["configs"]["cleanup.policy"], "delete");
    assert_eq!(created["retention_ms"], 60_000, "the older field follows");

    let url = broker.url("/topics/configured/configs");
    let (status, altered) = patch(
        &http,
        &url,
        &json!({"configs": {"retention.bytes": "4096", "retention.ms": null}}),
    )
    .await;
    assert_eq!(status, 200, "{altered}");
    assert_eq!(altered["configs"]["retention.bytes"], "4096");
    assert_eq!(
        altered["configs"]["retention.ms"], "-1",
        "reset to the default"
    );
    assert_eq!(altered["configs"]["segment.bytes"], "1048576", "left alone");

    for (body, what) in [
        (json!({"configs": {"retention.hours": "1"}}), "unknown name"),
        (json!({"configs": {"retention.ms": "soon"}}), "bad value"),
        (json!({"configs": {"retention.ms": "-2"}}), "below -1"),
        (
            json!({"configs": {"cleanup.policy": "compact"}}),
            "compaction",
        ),
    ] {
        let answer = patch(&http, &url, &body).await;
        assert_error(what, &answer, 400, "invalid_config");
    }
    let compact = patch(
        &http,
        &url,
        &json!({"configs": {"cleanup.policy": "compact"}}),
    )
    .await;
    assert!(
        compact.1["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("not supported")),
        "{}",
        compact.1
    );
    let refused = post(
        &http,
        &broker.url("/topics"),
        &json!({"name": "refused", "configs": {"segment.bytes": "10"}}),
    )
    .await;
    assert_error("create with a bad value", &refused, 400, "invalid_config");
    let missing = patch(
        &http,
        &broker.url("/topics/missing/configs"),
        &json!({"configs": {"retention.ms": "1"}}),
    )
    .await;
    assert_error("unknown topic", &missing, 404, "unknown_topic");

    broker.stop();
    broker.restart();
    let (status, after) = get(&http, &broker.url("/topics/configured")).await;
    assert_eq!(status, 200);
    assert_eq!(after["configs"]["retention.bytes"], "4096");
    assert_eq!(after["configs"]["retention.ms"], "-1");
    assert_eq!(after["configs"]["segment.bytes"], "1048576");
}

/// Proves size retention runs on its own: with small segments and `retention.bytes`, the log
/// start offset moves past 0, a consume below it answers 400 `offset_out_of_range`, and
/// `earliest` starts at the new log start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consume_below_log_start_is_offset_out_of_range() {
    let broker = Broker::start_with(&["--retention-check-interval-ms", "50"]);
    let http = client();
    let (status, created) = post(
        &http,
        &broker.url("/topics"),
        &json!({"name": "short", "partitions": 1,
                "configs": {"segment.bytes": "1024", "retention.bytes": "2048"}}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let payload = "x".repeat(200);
    for _ in 0..40 {
        produce(
            &http,
            &broker,
            &json!({"topic": "short", "partition": 0, "payload": payload}),
        )
        .await;
    }
    let log_start_offset =
        common::wait_until("retention to delete segments", RETENTION_WAIT, || {
            let http = http.clone();
            let url = broker.url("/topics/short");
            async move {
                let (_, detail) = get(&http, &url).await;
                detail["partitions"][0]["log_start_offset"]
                    .as_i64()
                    .filter(|offset| *offset > 0)
            }
        })
        .await;
    let (_, detail) = get(&http, &broker.url("/topics/short")).await;
    let size_bytes = detail["partitions"][0]["size_bytes"]
        .as_u64()
        .expect("size");
    assert!(
        size_bytes >= 2048,
        "retention keeps at least retention.bytes: {size_bytes}"
    );
    assert_eq!(detail["partitions"][0]["log_end_offset"], 40);

    let below = get(
        &http,
        &broker.url("/consume?topic=short&partition=0&offset=0"),
    )
    .await;
    assert_error(
        "consume below log start",
        &below,
        400,
        "offset_out_of_range",
    );
    let (status, earliest) = get(
        &http,
        &broker.url("/consume?topic=short&partition=0&offset=earliest&max=1"),
    )
    .await;
    assert_eq!(status, 200, "{earliest}");
    assert!(earliest["messages"][0]["offset"].as_i64() >= Some(log_start_offset));

    let text = http
        .get(broker.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        text.lines()
            .any(|l| l.starts_with("yak_log_segments_deleted_total") && !l.ends_with(" 0")),
        "{text}"
    );
    let (_, activity) = get(&http, &broker.url("/activity")).await;
    assert!(
        activity["events"]
            .as_array()
            .is_some_and(|events| events.iter().any(|e| e["kind"] == "segments_deleted")),
        "{activity}"
    );
}

async fn yak(args: &[&str]) -> Value {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_yak"))
        .args(args)
        .env_remove("YAK_BROKER")
        .kill_on_drop(true)
        .output()
        .await
        .expect("run yak");
    assert!(
        output.status.success(),
        "yak {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON output")
}

/// Proves `yak topics create --config k=v` and `yak topics alter --config/--delete-config`
/// reach the broker in Kafka's names, and a bad config fails the command with the broker's
/// `invalid_config`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_topics_create_with_config_and_alter() {
    let broker = Broker::start();
    let url = broker.http.as_str();
    let created = yak(&[
        "topics",
        "--broker",
        url,
        "create",
        "cli-configs",
        "--partitions",
        "2",
        "--config",
        "retention.ms=86400000",
        "--config",
        "segment.bytes=2097152",
    ])
    .await;
    assert_eq!(created["configs"]["retention.ms"], "86400000");
    assert_eq!(created["configs"]["segment.bytes"], "2097152");
    let altered = yak(&[
        "topics",
        "--broker",
        url,
        "alter",
        "cli-configs",
        "--config",
        "retention.bytes=1048576",
        "--delete-config",
        "retention.ms",
    ])
    .await;
    assert_eq!(altered["configs"]["retention.bytes"], "1048576");
    assert_eq!(altered["configs"]["retention.ms"], "-1");
    let described = yak(&["topics", "--broker", url, "describe", "cli-configs"]).await;
    assert_eq!(described["configs"], altered["configs"]);

    let refused = tokio::process::Command::new(env!("CARGO_BIN_EXE_yak"))
        .args([
            "topics",
            "--broker",
            url,
            "alter",
            "cli-configs",
            "--config",
            "cleanup.policy=compact",
        ])
        .env_remove("YAK_BROKER")
        .kill_on_drop(true)
        .output()
        .await
        .expect("run yak");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("invalid_config"), "{stderr}");
}

/// The `.log` segment files of one partition on disk.
fn segment_files(broker: &Broker, topic: &str, partition: i32) -> usize {
    std::fs::read_dir(broker.data_dir().join(format!("{topic}-{partition}")))
        .expect("partition directory")
        .filter(|entry| {
            entry
                .as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "log"))
        })
        .count()
}

/// Proves an altered `segment.bytes` applies to the topic's existing partitions at once: the
/// next appends roll segments at the new size, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn altered_segment_bytes_applies_at_once() {
    let broker = Broker::start();
    let http = client();
    let (status, body) = post(
        &http,
        &broker.url("/topics"),
        &json!({"name": "rolling", "partitions": 1}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let payload = "y".repeat(300);
    let record = json!({"topic": "rolling", "partition": 0, "payload": payload});
    for _ in 0..5 {
        produce(&http, &broker, &record).await;
    }
    assert_eq!(segment_files(&broker, "rolling", 0), 1);
    let (status, altered) = patch(
        &http,
        &broker.url("/topics/rolling/configs"),
        &json!({"configs": {"segment.bytes": 1024}}),
    )
    .await;
    assert_eq!(status, 200, "{altered}");
    for _ in 0..10 {
        produce(&http, &broker, &record).await;
    }
    assert!(segment_files(&broker, "rolling", 0) >= 3);
}
