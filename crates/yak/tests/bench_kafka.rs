//! `yak bench --protocol kafka` against a real broker process.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Broker;
use serde_json::Value;

/// How long one bench run may take in a debug build.
const BENCH_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `yak bench ARGS --quiet` and returns its JSON summary; kills it past the deadline.
fn bench(args: &[&str]) -> Value {
    let mut child = Command::new(env!("CARGO_BIN_EXE_yak"))
        .arg("bench")
        .args(args)
        .arg("--quiet")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start yak bench");
    let deadline = Instant::now() + BENCH_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll yak bench") {
            break status;
        }
        if Instant::now() >= deadline {
            child.kill().ok();
            child.wait().ok();
            panic!("yak bench {args:?} ran past {BENCH_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (mut stdout, mut stderr) = (String::new(), String::new());
    if let Some(mut out) = child.stdout.take() {
        out.read_to_string(&mut stdout).expect("read stdout");
    }
    if let Some(mut err) = child.stderr.take() {
        err.read_to_string(&mut stderr).expect("read stderr");
    }
    assert!(status.success(), "yak bench {args:?} failed: {stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("summary is not JSON ({e}): {stdout}"))
}

/// Proves the Kafka producer writes exactly --count records (a short last batch included) and
/// the Kafka consumer reads every one of them back.
#[test]
fn kafka_bench_produces_count_and_consumes_them_all() {
    let broker = Broker::start();
    let count = 123_457;
    let produced = bench(&[
        "produce",
        "--protocol",
        "kafka",
        "--kafka",
        &broker.kafka,
        "--topic",
        "kafka-bench",
        "--count",
        &count.to_string(),
        "--concurrency",
        "4",
        "--batch-records",
        "1000",
    ]);
    assert_eq!(produced["bench"], "kafka-produce");
    assert_eq!(produced["records"], count, "{produced}");
    assert_eq!(produced["errors"], 0, "{produced}");

    let consumed = bench(&[
        "consume",
        "--protocol",
        "kafka",
        "--kafka",
        &broker.kafka,
        "--topic",
        "kafka-bench",
        "--concurrency",
        "2",
    ]);
    assert_eq!(consumed["bench"], "kafka-consume");
    assert_eq!(consumed["records"], count, "{consumed}");
    assert_eq!(consumed["errors"], 0, "{consumed}");
}
