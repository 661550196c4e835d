//! The data directory as the binary guards it: a second broker on a directory in use refuses
//! to start, and a log damaged where recovery must not repair it stops the broker with its own
//! exit status.

mod common;

use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::Broker;
use serde_json::json;

/// How long a broker that must refuse to start may take to exit.
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);
/// The exit statuses `yak broker` documents (crates/yak/src/main.rs).
const EXIT_CORRUPT_LOG: i32 = 3;
const EXIT_DATA_DIR_IN_USE: i32 = 4;

/// Runs `yak broker` on `data_dir` until it exits; its status and stderr. Kills it and fails
/// the test if it is still running after [`EXIT_TIMEOUT`].
fn broker_until_exit(data_dir: &Path) -> (ExitStatus, String) {
    let stderr_path = data_dir.with_extension("stderr");
    let stderr = std::fs::File::create(&stderr_path).expect("create the stderr file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_yak"))
        .arg("broker")
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--http", "127.0.0.1:0", "--kafka", "127.0.0.1:0"])
        .env_remove("YAK_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(stderr))
        .spawn()
        .expect("spawn the yak binary");
    let deadline = Instant::now() + EXIT_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the broker kept running on {}; its log:\n{}",
                data_dir.display(),
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    (
        status,
        std::fs::read_to_string(&stderr_path).unwrap_or_default(),
    )
}

/// A second broker pointed at a data directory in use exits with its own status and says the
/// directory is in use, and the first broker keeps working, its data untouched.
#[tokio::test]
async fn second_broker_on_a_data_directory_in_use_refuses_to_start() {
    let mut first = Broker::start();
    let http = common::client();
    let before = common::produce(
        &http,
        &first,
        &json!({"topic": "t", "payload": 1, "partition": 0}),
    )
    .await;

    let (status, stderr) = broker_until_exit(&first.data_dir());
    assert_eq!(status.code(), Some(EXIT_DATA_DIR_IN_USE), "{stderr}");
    assert!(
        stderr.contains("is in use by another yak broker"),
        "the message names the problem: {stderr}"
    );

    let after = common::produce(
        &http,
        &first,
        &json!({"topic": "t", "payload": 2, "partition": 0}),
    )
    .await;
    assert_eq!(after["partition"], before["partition"], "{after}");
    assert_eq!(
        after["offset"].as_i64(),
        before["offset"].as_i64().map(|o| o + 1),
        "the first broker still owns its log: {after}"
    );
    first.stop();
}

/// A sealed segment whose first batch header is wiped (damage below the durable point, which
/// recovery must not repair by truncating) stops the broker at start-up with the corrupt-log
/// status and the file's name. The start-up sanity check of a segment the recovery point vouches
/// for reads that header, so the damage is found even after a clean shutdown.
#[tokio::test]
async fn corrupt_sealed_segment_exits_with_the_corrupt_log_status() {
    let mut broker = Broker::start_with(&["--segment-bytes-max", "1048576"]);
    let http = common::client();
    // Three records of 500 kB land in three batches; the third does not fit the first 1 MiB
    // segment, which rolls and is sealed.
    let large = "x".repeat(500_000);
    let messages: Vec<_> = (0..3)
        .map(|i| json!({"payload": format!("{i}{large}"), "partition": 0}))
        .collect();
    let (status, body) = common::post(
        &http,
        &broker.url("/produce"),
        &json!({"topic": "damaged", "messages": messages}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    broker.stop();

    let partition_dir = broker.data_dir().join("damaged-0");
    let mut segments: Vec<_> = std::fs::read_dir(&partition_dir)
        .expect("the partition directory")
        .map(|entry| entry.expect("an entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "log"))
        .collect();
    segments.sort();
    assert!(segments.len() >= 2, "the log rolled: {segments:?}");
    let sealed = &segments[0];
    let mut bytes = std::fs::read(sealed).expect("read the sealed segment");
    bytes[..yak_log::BATCH_HEADER_BYTES].fill(0);
    std::fs::write(sealed, &bytes).expect("damage the sealed segment");

    let (status, stderr) = broker_until_exit(&broker.data_dir());
    assert_eq!(status.code(), Some(EXIT_CORRUPT_LOG), "{stderr}");
    assert!(
        stderr.contains("log corrupt") && stderr.contains("00000000000000000000.log"),
        "the message names the damaged file: {stderr}"
    );
}
