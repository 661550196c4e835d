//! Consumer groups over HTTP against a real broker: a group consume commits as it reads and
//! resumes where it committed; describe shows committed offsets, high watermarks and lag;
//! explicit commits; resets to earliest, latest, an offset and a time; delete; the metrics.
//! Checks that need a live Kafka member (a reset refused while it is in the group) are in
//! tests/kafka, with a real client.

mod common;

use common::{assert_error, client, create_topic, get, json_of, post, produce, Broker};
use serde_json::{json, Value};

async fn delete(http: &reqwest::Client, url: &str) -> (u16, Value) {
    json_of(http.delete(url).send().await.expect("DELETE")).await
}

async fn produce_n(http: &reqwest::Client, broker: &Broker, topic: &str, partition: i32, n: i64) {
    for i in 0..n {
        produce(
            http,
            broker,
            &json!({"topic": topic, "partition": partition, "payload": {"i": i}}),
        )
        .await;
    }
}

fn offsets_of(detail: &Value) -> Vec<(String, i64, i64, i64, i64)> {
    detail["offsets"]
        .as_array()
        .expect("offsets")
        .iter()
        .map(|o| {
            (
                o["topic"].as_str().unwrap_or_default().to_string(),
                o["partition"].as_i64().unwrap_or(-9),
                o["committed"].as_i64().unwrap_or(-9),
                o["high_watermark"].as_i64().unwrap_or(-9),
                o["lag"].as_i64().unwrap_or(-9),
            )
        })
        .collect()
}

/// A group consume starts at the earliest offset, commits `next_offset`, and the next consume
/// of the group resumes there; describe and list show the committed offset and the lag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_consume_commits_and_resumes() {
    let broker = Broker::start();
    let http = client();
    create_topic(&http, &broker, "orders", 2).await;
    produce_n(&http, &broker, "orders", 0, 10).await;

    let url = broker.url("/consume?topic=orders&partition=0&group=billing&max=4");
    let (status, first) = get(&http, &url).await;
    assert_eq!(status, 200, "{first}");
    let offsets: Vec<i64> = first["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["offset"].as_i64().unwrap())
        .collect();
    assert_eq!(offsets, vec![0, 1, 2, 3]);
    let (status, second) = get(&http, &url).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["messages"][0]["offset"], 4, "resumes at the commit");
    assert_eq!(second["next_offset"], 8);

    let (status, detail) = get(&http, &broker.url("/groups/billing")).await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["state"], "Empty");
    assert_eq!(detail["members"], json!([]));
    assert_eq!(offsets_of(&detail), vec![("orders".into(), 0, 8, 10, 2)]);
    assert_eq!(detail["lag"], 2);

    let (status, list) = get(&http, &broker.url("/groups")).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["available"], true);
    let groups = list["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{list}");
    assert_eq!(groups[0]["group_id"], "billing");
    assert_eq!(groups[0]["members"], 0);
    assert_eq!(groups[0]["lag"], 2);

    // The lag is in /metrics, as text and as JSON.
    let text = http
        .get(broker.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(
            "kafka_consumergroup_lag{group=\"billing\",topic=\"orders\",partition=\"0\"} 2"
        ),
        "{text}"
    );
    assert!(
        text.contains("kafka_consumergroup_members{group=\"billing\"} 0"),
        "{text}"
    );
    let metrics: Value = http
        .get(broker.url("/metrics"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metrics["groups"][0]["group"], "billing");
    assert_eq!(metrics["groups"][0]["lag"][0]["lag"], 2);

    // A caught-up read commits nothing new and lag reaches 0.
    let (_, third) = get(&http, &url).await;
    assert_eq!(third["next_offset"], 10);
    let (_, detail) = get(&http, &broker.url("/groups/billing")).await;
    assert_eq!(detail["lag"], 0);
}

/// Committed offsets written through HTTP survive a restart (they live in __consumer_offsets).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_offsets_survive_a_restart() {
    let mut broker = Broker::start();
    let http = client();
    create_topic(&http, &broker, "events", 1).await;
    produce_n(&http, &broker, "events", 0, 6).await;
    let (status, _) = get(
        &http,
        &broker.url("/consume?topic=events&group=audit&max=5"),
    )
    .await;
    assert_eq!(status, 200);
    broker.stop();
    broker.restart();
    let (status, resumed) = get(&http, &broker.url("/consume?topic=events&group=audit")).await;
    assert_eq!(status, 200, "{resumed}");
    assert_eq!(resumed["messages"].as_array().unwrap().len(), 1);
    assert_eq!(resumed["messages"][0]["offset"], 5);
}

/// Explicit commits, resets to earliest, latest, an offset (clamped into the log) and a time,
/// a dry run that changes nothing, and delete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_reset_and_delete_an_empty_group() {
    let broker = Broker::start();
    let http = client();
    create_topic(&http, &broker, "clicks", 2).await;
    produce_n(&http, &broker, "clicks", 0, 5).await;
    produce_n(&http, &broker, "clicks", 1, 3).await;

    let commit = broker.url("/groups/web/commit");
    let (status, committed) = post(
        &http,
        &commit,
        &json!({"topic": "clicks", "partition": 0, "offset": 2}),
    )
    .await;
    assert_eq!(status, 200, "{committed}");
    assert_eq!(committed["lag"], 3);
    let outside = post(
        &http,
        &commit,
        &json!({"topic": "clicks", "partition": 0, "offset": 99}),
    )
    .await;
    assert_error("commit past the log", &outside, 400, "offset_out_of_range");
    let unknown = post(
        &http,
        &commit,
        &json!({"topic": "nope", "partition": 0, "offset": 0}),
    )
    .await;
    assert_error("commit to an unknown topic", &unknown, 404, "unknown_topic");

    let reset = broker.url("/groups/web/offsets");
    let (status, latest) = post(&http, &reset, &json!({"topic": "clicks", "to": "latest"})).await;
    assert_eq!(status, 200, "{latest}");
    assert_eq!(latest["executed"], true);
    let (_, detail) = get(&http, &broker.url("/groups/web")).await;
    assert_eq!(
        offsets_of(&detail),
        vec![("clicks".into(), 0, 5, 5, 0), ("clicks".into(), 1, 3, 3, 0)]
    );

    let (status, plan) = post(
        &http,
        &reset,
        &json!({"topic": "clicks", "to": "earliest", "dry_run": true}),
    )
    .await;
    assert_eq!(status, 200, "{plan}");
    assert_eq!(plan["executed"], false);
    assert_eq!(plan["offsets"][0]["committed"], 0);
    let (_, detail) = get(&http, &broker.url("/groups/web")).await;
    assert_eq!(detail["lag"], 0, "a dry run commits nothing: {detail}");

    let (status, one) = post(
        &http,
        &reset,
        &json!({"topic": "clicks", "to": "earliest", "partitions": [1, 1, 1]}),
    )
    .await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(
        one["offsets"].as_array().map(Vec::len),
        Some(1),
        "a repeated partition is reset once: {one}"
    );
    let (_, detail) = get(&http, &broker.url("/groups/web")).await;
    assert_eq!(
        offsets_of(&detail),
        vec![("clicks".into(), 0, 5, 5, 0), ("clicks".into(), 1, 0, 3, 3)]
    );

    let (status, _) = post(
        &http,
        &reset,
        &json!({"topic": "clicks", "to": {"offset": 1000}, "partitions": [0]}),
    )
    .await;
    assert_eq!(status, 200);
    let (_, detail) = get(&http, &broker.url("/groups/web")).await;
    assert_eq!(
        offsets_of(&detail)[0],
        ("clicks".into(), 0, 5, 5, 0),
        "clamped"
    );

    // Every record has a timestamp before now; a time in the future means the end.
    let (status, by_time) = post(
        &http,
        &reset,
        &json!({"topic": "clicks", "to": {"timestamp_ms": 0}}),
    )
    .await;
    assert_eq!(status, 200, "{by_time}");
    assert_eq!(by_time["offsets"][0]["committed"], 0);
    assert_eq!(by_time["offsets"][1]["committed"], 0);

    let bad = post(&http, &reset, &json!({"topic": "clicks", "to": "sideways"})).await;
    assert_error("unknown reset target", &bad, 400, "invalid_json");
    let bad = post(
        &http,
        &reset,
        &json!({"topic": "clicks", "to": "earliest", "partitions": [7]}),
    )
    .await;
    assert_error("unknown partition", &bad, 404, "unknown_partition");

    let (status, deleted) = delete(&http, &broker.url("/groups/web")).await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(deleted, json!({"deleted": "web"}));
    let gone = get(&http, &broker.url("/groups/web")).await;
    assert_error("describe a deleted group", &gone, 404, "unknown_group");
    let again = delete(&http, &broker.url("/groups/web")).await;
    assert_error("delete a deleted group", &again, 404, "unknown_group");
}

/// Runs `yak ARGS` to the end; its exit status, stdout and stderr.
async fn yak(args: &[&str]) -> (bool, String, String) {
    let output = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_yak"))
            .args(args)
            .env_remove("YAK_BROKER")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("yak finished in time")
    .expect("run yak");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `yak consume --group` reads from and commits the group's offsets; `yak groups list`,
/// `describe`, `reset-offsets` (a plan without --execute, a commit with it) and `delete`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_groups_consume_describe_reset_delete() {
    let broker = Broker::start();
    let http = client();
    create_topic(&http, &broker, "jobs", 1).await;
    produce_n(&http, &broker, "jobs", 0, 5).await;
    let url = broker.url("");
    let url = url.trim_end_matches('/');
    let base = ["--broker", url];

    let (ok, out, err) = yak(&[
        &["consume", "--topic", "jobs", "--group", "cli", "--max", "3"][..],
        &base,
    ]
    .concat())
    .await;
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), 3, "{out}");
    let (ok, out, err) =
        yak(&[&["consume", "--topic", "jobs", "--group", "cli"][..], &base].concat()).await;
    assert!(ok, "{err}");
    let offsets: Vec<i64> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["offset"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(offsets, vec![3, 4], "the second run resumes at the commit");

    let (ok, out, err) = yak(&[&["groups", "list"][..], &base].concat()).await;
    assert!(ok, "{err}");
    let list: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(list["groups"][0]["group_id"], "cli");
    let (ok, out, err) = yak(&[&["groups", "describe", "cli"][..], &base].concat()).await;
    assert!(ok, "{err}");
    let detail: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(offsets_of(&detail), vec![("jobs".into(), 0, 5, 5, 0)]);

    let reset = [
        "groups",
        "reset-offsets",
        "cli",
        "--topic",
        "jobs",
        "--to-offset",
        "1",
    ];
    let (ok, out, err) = yak(&[&reset[..], &base].concat()).await;
    assert!(ok, "{err}");
    assert!(
        out.contains("NEW-OFFSET")
            && out
                .lines()
                .nth(1)
                .is_some_and(|l| l.trim_end().ends_with(" 1")),
        "{out}"
    );
    assert!(err.contains("--execute"), "{err}");
    let (_, detail) = get(&http, &broker.url("/groups/cli")).await;
    assert_eq!(
        detail["offsets"][0]["committed"], 5,
        "a plan commits nothing"
    );
    let (ok, _, err) = yak(&[&reset[..], &["--execute"], &base].concat()).await;
    assert!(ok, "{err}");
    let (_, detail) = get(&http, &broker.url("/groups/cli")).await;
    assert_eq!(detail["offsets"][0]["committed"], 1);
    let (ok, _, err) = yak(&[
        &[
            "groups",
            "reset-offsets",
            "cli",
            "--topic",
            "jobs",
            "--to-datetime",
            "2000-01-01T00:00:00Z",
            "--execute",
        ][..],
        &base,
    ]
    .concat())
    .await;
    assert!(ok, "{err}");
    let (_, detail) = get(&http, &broker.url("/groups/cli")).await;
    assert_eq!(detail["offsets"][0]["committed"], 0);
    let (ok, _, err) = yak(&[
        &["groups", "reset-offsets", "cli", "--topic", "jobs"][..],
        &base,
    ]
    .concat())
    .await;
    assert!(!ok && err.contains("--to-earliest"), "no target: {err}");

    let (ok, _, err) = yak(&[&["groups", "delete", "cli"][..], &base].concat()).await;
    assert!(ok, "{err}");
    let (ok, _, err) = yak(&[&["groups", "describe", "cli"][..], &base].concat()).await;
    assert!(!ok && err.contains("unknown_group"), "{err}");
}
