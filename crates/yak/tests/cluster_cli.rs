//! `yak cluster status` against a real standalone broker, and `yak cluster up`'s refusals of
//! arguments it cannot honour (checked before anything is started or created).

mod common;

use std::process::{Output, Stdio};
use std::time::Duration;

use common::{client, post, Broker};
use serde_json::{json, Value};

/// How long one CLI command may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

async fn yak_output_with(args: &[&str], path: Option<&str>) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_yak"));
    command
        .args(args)
        .env_remove("YAK_BROKER")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(path) = path {
        command.env("PATH", path);
    }
    let child = command.spawn().expect("spawn yak");
    tokio::time::timeout(COMMAND_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("yak {args:?} did not finish within {COMMAND_TIMEOUT:?}"))
        .expect("wait for yak")
}

async fn yak_output(args: &[&str]) -> Output {
    yak_output_with(args, None).await
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A URL where nothing listens: a port the system just handed out and took back.
fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// On a standalone node the status names it `standalone`, says there is no lease, and lists
/// the partitions with replicas, ISR and offsets; a dead node first in `--broker` is skipped.
#[tokio::test]
async fn cluster_status_on_a_standalone_broker_shows_one_standalone_node() {
    let broker = Broker::start();
    let http = client();
    let (status, body) = post(
        &http,
        &broker.url("/produce"),
        &json!({"topic": "status-topic", "partition": 1, "payload": 1}),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    let dead = dead_url();
    let brokers = format!("{dead},{}", broker.http);
    let output = yak_output(&["cluster", "status", "--broker", &brokers]).await;
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains(&format!("no answer from {dead}")),
        "{stderr}"
    );
    assert!(stdout.contains("lease: none (standalone"), "{stdout}");
    let node_line = stdout
        .lines()
        .find(|l| l.starts_with("0 "))
        .unwrap_or_else(|| panic!("no line for node 0:\n{stdout}"));
    let words: Vec<&str> = node_line.split_whitespace().collect();
    assert_eq!(
        words[..4],
        ["0", "standalone", "yes", broker.http.as_str()],
        "{node_line}"
    );
    let partition_line = stdout
        .lines()
        .find(|l| l.starts_with("status-topic-1 "))
        .unwrap_or_else(|| panic!("no line for status-topic-1:\n{stdout}"));
    // PARTITION LEADER EPOCH REPLICAS ISR LOG_END_OFFSET HIGH_WATERMARK
    let words: Vec<&str> = partition_line.split_whitespace().collect();
    assert_eq!(
        words,
        ["status-topic-1", "0", "0", "0", "0", "1", "1"],
        "{partition_line}"
    );

    let output = yak_output(&["cluster", "status", "--json", "--broker", &broker.http]).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let state: Value = serde_json::from_slice(&output.stdout).expect("--json prints JSON");
    assert_eq!(state["nodes"][0]["role"], "standalone", "{state}");
    assert!(state.get("lease").is_none(), "{state}");
}

/// When no node answers, the status fails and names every node it asked.
#[tokio::test]
async fn cluster_status_fails_naming_every_node_when_none_answers() {
    let (first, second) = (dead_url(), dead_url());
    let output = yak_output(&[
        "cluster",
        "status",
        "--broker",
        &format!("{first},{second}"),
    ])
    .await;
    let stderr = text(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("no node answered GET /cluster"), "{stderr}");
    assert!(
        stderr.contains(&first) && stderr.contains(&second),
        "{stderr}"
    );
}

/// Arguments `cluster up` cannot honour are refused with the flag's name, before any directory
/// is created or any process started.
#[tokio::test]
async fn cluster_up_refuses_arguments_it_cannot_honour() {
    let root = tempfile::tempdir().expect("temporary directory");
    let dir = root.path().join("cluster");
    let dir = dir.to_str().expect("UTF-8 path");
    let cases: [(&[&str], &str); 6] = [
        (&["--nodes", "0"], "--nodes must be between 1 and"),
        (&["--nodes", "10"], "--nodes must be between 1 and"),
        (
            &["--base-http-port", "9000", "--base-kafka-port", "9001"],
            "overlap",
        ),
        (&["--redis-port", "5002"], "--redis-port 5002 is one of"),
        (&["--base-http-port", "65534"], "runs past port 65535"),
        (
            &["--base-kafka-port", "0"],
            "--base-kafka-port must be a fixed port",
        ),
    ];
    for (flags, message) in cases {
        let mut args = vec!["cluster", "up", "--dir", dir];
        args.extend_from_slice(flags);
        let output = yak_output(&args).await;
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{flags:?}: {stderr}");
        assert!(stderr.contains(message), "{flags:?}: {stderr}");
        assert!(
            !root.path().join("cluster").exists(),
            "{flags:?} created {dir}"
        );
    }
    let output = yak_output(&["cluster", "up", "--nodes", "three"]).await;
    assert_eq!(output.status.code(), Some(2), "clap refuses a non-number");
}

/// Without redis-server on PATH, `cluster up` says how to install it and starts nothing.
#[tokio::test]
async fn cluster_up_without_redis_server_says_how_to_install_it() {
    let root = tempfile::tempdir().expect("temporary directory");
    let empty_path = root.path().join("bin");
    std::fs::create_dir(&empty_path).expect("create an empty PATH directory");
    let dir = root.path().join("cluster");
    let output = yak_output_with(
        &["cluster", "up", "--dir", dir.to_str().expect("UTF-8 path")],
        Some(empty_path.to_str().expect("UTF-8 path")),
    )
    .await;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("redis-server is not on PATH"), "{stderr}");
    assert!(stderr.contains("apt-get install redis-server"), "{stderr}");
    assert!(
        !dir.exists(),
        "nothing is created before redis-server is found"
    );
}

/// Three ports in a row that nothing listens on now, none of them in `avoid`.
fn free_port_run(avoid: &[u16]) -> u16 {
    for _ in 0..100 {
        let base = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind")
            .port();
        let run: Vec<u16> = (0..3).filter_map(|i| base.checked_add(i)).collect();
        if run.len() == 3
            && run.iter().all(|p| !avoid.contains(p))
            && run
                .iter()
                .all(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        {
            return base;
        }
    }
    panic!("found no three free ports in a row");
}

/// The broker build `cluster up` runs: `YAK_CLUSTER_BIN`, the one `/tmp/cluster.ready` names
/// while replication is built on another branch, or this one.
fn cluster_broker_bin() -> String {
    if let Ok(path) = std::env::var("YAK_CLUSTER_BIN") {
        return path;
    }
    match std::fs::read_to_string("/tmp/cluster.ready") {
        Ok(path) if !path.trim().is_empty() => path.trim().to_string(),
        _ => env!("CARGO_BIN_EXE_yak").to_string(),
    }
}

fn redis_server_installed() -> bool {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .any(|dir| dir.join("redis-server").is_file())
}

/// `cluster up` starts three nodes; `yak produce` against all three keeps going while the
/// leader is killed with SIGKILL, reports no failed record, and every record is read back once.
#[tokio::test]
async fn cli_producer_loses_no_record_when_cluster_up_leader_is_killed() {
    if !redis_server_installed() {
        eprintln!("skipped: redis-server is not installed (apt-get install redis-server)");
        return;
    }
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let root = tempfile::tempdir().expect("temporary directory");
    let http = free_port_run(&[]);
    let kafka = free_port_run(&[http, http + 1, http + 2]);
    let redis = free_port_run(&[http, http + 1, http + 2, kafka, kafka + 1, kafka + 2]);
    let mut up = tokio::process::Command::new(env!("CARGO_BIN_EXE_yak"))
        .args(["cluster", "up", "--nodes", "3", "--lease-ms", "1500"])
        .arg("--dir")
        .arg(root.path().join("cluster"))
        .args(["--redis-port", &redis.to_string()])
        .args(["--base-http-port", &http.to_string()])
        .args(["--base-kafka-port", &kafka.to_string()])
        .args(["--broker-bin", &cluster_broker_bin()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn yak cluster up");
    let mut lines = BufReader::new(up.stdout.take().expect("stdout")).lines();
    let mut printed = String::new();
    let leader_pid = tokio::time::timeout(COMMAND_TIMEOUT, async {
        while let Some(line) = lines.next_line().await.expect("read cluster up") {
            printed.push_str(&line);
            printed.push('\n');
            if let Some(rest) = line.split_once(" leads (pid ").map(|(_, r)| r) {
                return rest.trim_end_matches(").").parse::<u32>().ok();
            }
            if line.starts_with("no leader elected yet") {
                return None;
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .unwrap_or_else(|| panic!("cluster up named no leader:\n{printed}"));
    // Keep draining its output so it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let brokers = (0..3)
        .map(|i| format!("http://127.0.0.1:{}", http + i))
        .collect::<Vec<_>>()
        .join(",");
    const RECORDS: u32 = 30_000;
    let mut producer = tokio::process::Command::new(env!("CARGO_BIN_EXE_yak"))
        .args(["produce", "--broker", &brokers, "--topic", "failover"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn yak produce");
    let mut stdin = producer.stdin.take().expect("stdin");
    // Half the records, then the kill, then the rest: the failover lands mid-stream whatever
    // the machine's speed.
    let input: Vec<String> = (1..=RECORDS).map(|n| format!("{n}\n")).collect();
    let (first, second) = input.split_at(input.len() / 2);
    stdin
        .write_all(first.concat().as_bytes())
        .await
        .expect("write");
    let status = std::process::Command::new("kill")
        .args(["-KILL", &leader_pid.to_string()])
        .status()
        .expect("run kill(1)");
    assert!(status.success());
    stdin
        .write_all(second.concat().as_bytes())
        .await
        .expect("write");
    drop(stdin);
    let output = tokio::time::timeout(COMMAND_TIMEOUT, producer.wait_with_output())
        .await
        .expect("the producer finished")
        .expect("wait for yak produce");
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("{RECORDS} records sent to failover (0 failed)")),
        "{stderr}"
    );

    let output = yak_output(&["consume", "--broker", &brokers, "--topic", "failover"]).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let mut payloads: Vec<u32> = text(&output.stdout)
        .lines()
        .map(|l| {
            let record: Value = serde_json::from_str(l).expect("JSON record");
            record["payload"].as_u64().expect("numeric payload") as u32
        })
        .collect();
    payloads.sort_unstable();
    // Every record once: a resend after the kill may store a copy, with the same msg_id.
    let mut ids: Vec<String> = text(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON")["msg_id"].to_string())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), RECORDS as usize, "records missing");
    payloads.dedup();
    assert_eq!(payloads, (1..=RECORDS).collect::<Vec<_>>());

    let pid = up.id().expect("cluster up is running").to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("run kill(1)");
    let status = tokio::time::timeout(COMMAND_TIMEOUT, up.wait())
        .await
        .expect("cluster up stopped")
        .expect("wait");
    assert!(status.success(), "cluster up exited with {status}");
}
