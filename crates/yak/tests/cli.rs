//! The `yak` command-line client against a real broker: produce (MESSAGE, stdin lines, CSV),
//! consume, topics admin, and the benchmark's summaries.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Output, Stdio};
use std::time::Duration;

use common::{client, consume_all, get, kafka_partition, Broker};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

/// How long one CLI command may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `yak ARGS` with `stdin` as its input; its output, whatever the exit status.
async fn yak_output(args: &[&str], stdin: &str) -> Output {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_yak"))
        .args(args)
        .env_remove("YAK_BROKER")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn yak");
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(stdin.as_bytes())
        .await
        .expect("write stdin");
    drop(input);
    tokio::time::timeout(COMMAND_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("yak {args:?} did not finish within {COMMAND_TIMEOUT:?}"))
        .expect("wait for yak")
}

/// Runs `yak ARGS`, asserts it succeeded, and returns its stdout.
async fn yak(args: &[&str], stdin: &str) -> String {
    let output = yak_output(args, stdin).await;
    assert!(
        output.status.success(),
        "yak {args:?} failed with {}:\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 stdout")
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?} is not JSON: {e}")))
        .collect()
}

/// `yak produce … MESSAGE` prints the result JSON; JSON messages are stored as JSON, others as text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_one_message_prints_the_result() {
    let broker = Broker::start();
    let out = yak(
        &[
            "produce",
            "--broker",
            &broker.http,
            "--topic",
            "cli",
            "--key",
            "alice",
            r#"{"amount": 12.5}"#,
        ],
        "",
    )
    .await;
    let result: Value = serde_json::from_str(out.trim()).expect("one JSON object");
    assert_eq!(result["topic"], "cli");
    assert_eq!(result["partition"], kafka_partition("alice", 3));
    assert_eq!(result["offset"], 0);
    assert!(result["msg_id"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(result["timestamp"].as_i64().is_some());

    let out = yak(
        &[
            "produce",
            "--broker",
            &broker.http,
            "--topic",
            "cli",
            "--key",
            "alice",
            "hello world",
        ],
        "",
    )
    .await;
    let second: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        second["partition"], result["partition"],
        "same key, same partition"
    );
    assert_eq!(second["offset"], 1);

    let records = consume_all(&client(), &broker, "cli", kafka_partition("alice", 3)).await;
    assert_eq!(records[0]["payload"], json!({"amount": 12.5}));
    assert_eq!(records[1]["payload"], "hello world");
    assert_eq!(records[1]["key"], "alice");
}

/// Without MESSAGE, `yak produce` sends one record per stdin line, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_sends_one_record_per_stdin_line() {
    let broker = Broker::start();
    let mut input = String::new();
    let mut expected = Vec::new();
    for i in 0..1200 {
        if i % 2 == 0 {
            input.push_str(&format!("{{\"line\": {i}}}\n"));
            expected.push(json!({"line": i}));
        } else {
            input.push_str(&format!("plain line {i}\n"));
            expected.push(json!(format!("plain line {i}")));
        }
    }
    input.push_str("\n   \n"); // Blank lines are skipped.
    let output = yak_output(
        &[
            "produce",
            "--broker",
            &broker.http,
            "--topic",
            "lines",
            "--key",
            "one-key",
        ],
        &input,
    )
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary = String::from_utf8_lossy(&output.stderr);
    assert!(summary.contains("1200 records sent to lines"), "{summary}");

    let partition = kafka_partition("one-key", 3);
    let records = consume_all(&client(), &broker, "lines", partition).await;
    let payloads: Vec<Value> = records.iter().map(|r| r["payload"].clone()).collect();
    assert_eq!(payloads, expected);
    assert!(records.iter().all(|r| r["key"] == "one-key"));
}

/// `--csv FILE --key-field COL` sends every row as a JSON object keyed by COL's value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_csv_rows_keyed_by_a_column() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orders.csv");
    let mut csv = String::from("id,user,amount,note\n");
    for i in 0..1000 {
        csv.push_str(&format!(
            "{i},user-{},{}.{:02},\"a, quoted \"\"note\"\" {i}\"\n",
            i % 13,
            i * 3,
            i % 100
        ));
    }
    std::fs::write(&path, csv).unwrap();
    let path = path.to_str().unwrap();
    let output = yak_output(
        &[
            "produce",
            "--broker",
            &broker.http,
            "--topic",
            "orders",
            "--csv",
            path,
            "--key-field",
            "user",
        ],
        "",
    )
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("1000 records sent"));

    let http = client();
    let mut seen = BTreeSet::new();
    let mut partition_of_user: BTreeMap<String, i32> = BTreeMap::new();
    for partition in 0..3 {
        for record in consume_all(&http, &broker, "orders", partition).await {
            let row = &record["payload"];
            let id: i64 = row["id"].as_str().expect("id").parse().unwrap();
            let user = format!("user-{}", id % 13);
            assert_eq!(
                row,
                &json!({"id": id.to_string(), "user": user, "amount": format!("{}.{:02}", id * 3, id % 100), "note": format!("a, quoted \"note\" {id}")}),
            );
            assert_eq!(record["key"], user);
            assert_eq!(
                partition,
                kafka_partition(&user, 3),
                "{user} is where murmur2 puts it"
            );
            if let Some(previous) = partition_of_user.insert(user.clone(), partition) {
                assert_eq!(
                    previous, partition,
                    "every row of {user} is in one partition"
                );
            }
            assert!(seen.insert(id), "row {id} read twice");
        }
    }
    assert_eq!(seen.len(), 1000, "every row is readable");
}

/// `yak consume --partition P --offset earliest --max N` prints N JSON lines; without
/// --partition it reads every partition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consume_prints_json_lines() {
    let broker = Broker::start();
    let http = client();
    let messages: Vec<Value> = (0..30)
        .map(|i| json!({"partition": i % 3, "key": format!("k{i}"), "payload": {"n": i}}))
        .collect();
    let (status, _) = common::post(
        &http,
        &broker.url("/produce"),
        &json!({"topic": "reads", "messages": messages}),
    )
    .await;
    assert_eq!(status, 200);
    let base = [
        "consume",
        "--broker",
        broker.http.as_str(),
        "--topic",
        "reads",
    ];

    let out = yak(
        &[
            &base[..],
            &["--partition", "1", "--offset", "earliest", "--max", "4"],
        ]
        .concat(),
        "",
    )
    .await;
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 4);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["topic"], "reads");
        assert_eq!(line["partition"], 1);
        assert_eq!(line["offset"], i as i64);
        assert_eq!(line["payload"]["n"], 3 * i as i64 + 1);
        assert_eq!(line["key"], format!("k{}", 3 * i + 1));
    }
    let out = yak(
        &[&base[..], &["--partition", "2", "--offset", "7"]].concat(),
        "",
    )
    .await;
    let offsets: Vec<i64> = json_lines(&out)
        .iter()
        .map(|l| l["offset"].as_i64().unwrap())
        .collect();
    assert_eq!(offsets, [7, 8, 9]);
    let out = yak(
        &[&base[..], &["--partition", "0", "--offset", "latest"]].concat(),
        "",
    )
    .await;
    assert!(json_lines(&out).is_empty());
    let out = yak(&base, "").await;
    let mut all: Vec<i64> = json_lines(&out)
        .iter()
        .map(|l| l["payload"]["n"].as_i64().unwrap())
        .collect();
    all.sort();
    assert_eq!(all, (0..30).collect::<Vec<_>>());

    let output = yak_output(
        &[
            "consume",
            "--broker",
            &broker.http,
            "--topic",
            "missing",
            "--partition",
            "0",
        ],
        "",
    )
    .await;
    assert!(!output.status.success(), "consuming an unknown topic fails");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("unknown_topic"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `yak topics list|create|describe|delete` print the API's JSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_commands() {
    let broker = Broker::start();
    let topics = |rest: &[&str]| {
        let mut args = vec!["topics", "--broker", broker.http.as_str()];
        args.extend_from_slice(rest);
        args.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let run = |args: Vec<String>| async move {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        serde_json::from_str::<Value>(&yak(&args, "").await).expect("JSON output")
    };
    let created = run(topics(&[
        "create",
        "cli-topic",
        "--partitions",
        "4",
        "--retention-ms",
        "3600000",
    ]))
    .await;
    assert_eq!(created["name"], "cli-topic");
    assert_eq!(created["partitions"].as_array().map(Vec::len), Some(4));
    assert_eq!(created["retention_ms"], 3_600_000);

    let listed = run(topics(&["list"])).await;
    let names: Vec<&str> = listed["topics"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["cli-topic"]);

    common::produce(
        &client(),
        &broker,
        &json!({"topic": "cli-topic", "partition": 3, "payload": 1}),
    )
    .await;
    let described = run(topics(&["describe", "cli-topic"])).await;
    assert_eq!(described["partitions"][3]["high_watermark"], 1);
    assert_eq!(described["partitions"][0]["high_watermark"], 0);

    let duplicate = yak_output(
        &topics(&["create", "cli-topic"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        "",
    )
    .await;
    assert!(!duplicate.status.success());
    assert!(String::from_utf8_lossy(&duplicate.stderr).contains("topic_already_exists"));

    let deleted = run(topics(&["delete", "cli-topic"])).await;
    assert_eq!(deleted["deleted"], "cli-topic");
    let (status, _) = get(&client(), &broker.url("/topics/cli-topic")).await;
    assert_eq!(status, 404);
    let listed = run(topics(&["list"])).await;
    assert_eq!(listed["topics"], json!([]));
}

/// `yak bench produce --count 2000` sends exactly 2,000 records and `yak bench consume` reads
/// them all back; both print a JSON summary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_produce_then_consume() {
    let broker = Broker::start();
    let common_args = [
        "--broker",
        broker.http.as_str(),
        "--topic",
        "benchy",
        "--quiet",
    ];
    let produce: Value = serde_json::from_str(
        &yak(
            &[
                &["bench", "produce"][..],
                &common_args,
                &["--count", "2000", "--concurrency", "4"],
            ]
            .concat(),
            "",
        )
        .await,
    )
    .expect("a JSON summary");
    assert_eq!(produce["records"], 2000, "{produce}");
    assert_eq!(produce["errors"], 0, "{produce}");
    assert!(
        produce["records_per_s"].as_f64().is_some_and(|r| r > 0.0),
        "{produce}"
    );
    assert!(produce["latency_ms"]["p99"].is_number(), "{produce}");

    let (_, topic) = get(&client(), &broker.url("/topics/benchy")).await;
    let stored: i64 = topic["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["high_watermark"].as_i64().unwrap())
        .sum();
    assert_eq!(stored, 2000);

    let consume: Value =
        serde_json::from_str(&yak(&[&["bench", "consume"][..], &common_args].concat(), "").await)
            .expect("a JSON summary");
    assert_eq!(consume["records"], 2000, "{consume}");
    assert_eq!(consume["errors"], 0, "{consume}");
}

/// Keyless stdin lines spread over every partition: `seq 1 1000 | yak produce --topic numbers`
/// used to put 500 records on each of two partitions and none on the third.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyless_stdin_lines_spread_over_every_partition() {
    let broker = Broker::start();
    let input: String = (1..=1000).map(|i| format!("{i}\n")).collect();
    yak(
        &["produce", "--broker", &broker.http, "--topic", "numbers"],
        &input,
    )
    .await;
    let http = client();
    let mut counts = Vec::new();
    for partition in 0..3 {
        counts.push(
            consume_all(&http, &broker, "numbers", partition)
                .await
                .len(),
        );
    }
    assert_eq!(counts.iter().sum::<usize>(), 1000, "{counts:?}");
    assert!(
        counts.iter().all(|&n| n > 0),
        "every partition gets keyless records: {counts:?}"
    );
}

/// The cluster flags without `--coordinator` are refused with a message naming the flag,
/// instead of a standalone broker that starts and ignores them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_broker_refuses_cluster_flags() {
    // A refusal comes at once; a broker that accepted the flag would run until killed.
    const REFUSAL_TIMEOUT: Duration = Duration::from_secs(30);
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().join("data");
    for (flag, value) in [
        ("--lease-ms", "3000"),
        ("--min-insync-replicas", "2"),
        ("--default-replication-factor", "3"),
        ("--replica-lag-ms", "1000"),
    ] {
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_yak"))
            .args(["broker", "--data-dir"])
            .arg(&data_dir)
            .args([
                "--http",
                "127.0.0.1:0",
                "--kafka",
                "127.0.0.1:0",
                flag,
                value,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn yak broker");
        let output = tokio::time::timeout(REFUSAL_TIMEOUT, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("yak broker {flag} {value} started instead of refusing"))
            .expect("wait for yak broker");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{flag}: {stderr}");
        assert!(
            stderr.contains(&format!("{flag} {value}:")) && stderr.contains("--coordinator"),
            "{flag}: {stderr}"
        );
    }
}
