//! The harness the integration tests share: a real `yak broker` process on port 0 in a temporary
//! directory, stopped with SIGTERM (and checked to exit 0), killed with SIGKILL, or restarted on
//! the same data directory; plus small HTTP helpers and Kafka's partitioner for expected partitions.
//!
//! Every child process is killed when its handle drops, so no broker outlives a failing test.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long a broker may take to print its `listening` line.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a broker may take to exit after SIGTERM.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// Per-request timeout of the test HTTP client.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A running (or stopped) broker process and the directory it keeps its data in.
pub struct Broker {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT` of the current process.
    pub http: String,
    /// `127.0.0.1:PORT` of the current process's Kafka listener.
    pub kafka: String,
    /// Every Kafka listener of the current process: `PLAINTEXT://127.0.0.1:PORT,SASL_SSL://…`.
    pub listeners: String,
    /// Extra flags given to every start of this broker.
    args: Vec<String>,
    /// Holds `data/` and one stderr log per start.
    root: tempfile::TempDir,
    starts: u32,
}

impl Broker {
    /// Starts a broker on a fresh data directory with the default flags.
    pub fn start() -> Broker {
        Broker::start_with(&[])
    }

    /// Starts a broker on a fresh data directory with extra flags (`--flush always`, …).
    pub fn start_with(args: &[&str]) -> Broker {
        let root = tempfile::tempdir().expect("create a temporary directory");
        let mut broker = Broker {
            child: None,
            http: String::new(),
            kafka: String::new(),
            listeners: String::new(),
            args: args.iter().map(|a| a.to_string()).collect(),
            root,
            starts: 0,
        };
        broker.spawn();
        broker
    }

    pub fn data_dir(&self) -> PathBuf {
        self.root.path().join("data")
    }

    fn log_path(&self, start: u32) -> PathBuf {
        self.root.path().join(format!("broker-{start}.log"))
    }

    /// The stderr of the current (or last) process, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path(self.starts)).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the broker is running").id()
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// `host:port` of the current process's listener for `protocol` (`SASL_SSL`).
    pub fn listener(&self, protocol: &str) -> String {
        self.listeners
            .split(',')
            .find_map(|l| l.strip_prefix(&format!("{protocol}://")))
            .unwrap_or_else(|| panic!("no {protocol} listener in {:?}", self.listeners))
            .to_string()
    }

    /// A URL on the current process: `url("/health")`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.http)
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none(), "the broker is already running");
        self.starts += 1;
        let log = std::fs::File::create(self.log_path(self.starts)).expect("create the log file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_yak"))
            .arg("broker")
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(["--http", "127.0.0.1:0", "--kafka", "127.0.0.1:0"])
            .args(&self.args)
            .env_remove("YAK_CONFIG")
            .env("YAK_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn the yak binary");
        let stdout = child.stdout.take().expect("piped stdout");
        // A thread reads stdout so the wait below can have a deadline; it keeps draining the
        // pipe afterwards so the broker never blocks on a full pipe.
        let (lines_tx, lines_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if lines_tx.send(line).is_err() {
                    // Nobody listens any more; keep draining.
                }
            }
        });
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines_rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix("listening ") {
                        for part in rest.split_whitespace() {
                            if let Some(http) = part.strip_prefix("http=") {
                                self.http = http.to_string();
                            } else if let Some(kafka) = part.strip_prefix("kafka=") {
                                self.kafka = kafka.to_string();
                            } else if let Some(listeners) = part.strip_prefix("listeners=") {
                                self.listeners = listeners.to_string();
                            }
                        }
                        assert!(
                            (self.http.starts_with("http://127.0.0.1:")
                                || self.http.starts_with("https://127.0.0.1:"))
                                && !self.kafka.is_empty(),
                            "unexpected listening line {line:?}"
                        );
                        return;
                    }
                }
                Err(_) => {
                    let status = self
                        .child
                        .as_mut()
                        .and_then(|c| c.try_wait().ok().flatten());
                    self.kill();
                    panic!(
                        "the broker printed no listening line within {START_TIMEOUT:?} (exit: {status:?}); its log:\n{}",
                        self.log()
                    );
                }
            }
        }
    }

    /// Sends SIGTERM without waiting.
    pub fn sigterm(&self) {
        // kill(1) rather than a libc binding: the tests need no dependency for one signal.
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill(1)");
        assert!(status.success(), "kill -TERM failed: {status}");
    }

    /// Waits for the process to exit, polling with a deadline; its exit status.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut().expect("the broker is running");
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                self.child = None;
                return status;
            }
            if Instant::now() >= deadline {
                self.kill();
                panic!(
                    "the broker did not exit within {timeout:?}; its log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Graceful stop: SIGTERM, then the process must exit with status 0.
    pub fn stop(&mut self) {
        self.sigterm();
        let status = self.wait_exit(STOP_TIMEOUT);
        assert!(
            status.success(),
            "the broker exited with {status} after SIGTERM; its log:\n{}",
            self.log()
        );
    }

    /// `kill -9`: no chance to flush anything.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the broker again on the same data directory (new ports).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop or kill the broker first");
        self.http.clear();
        self.kafka.clear();
        self.spawn();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The HTTP client every test uses.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("build the HTTP client")
}

/// A response's status and its body parsed as JSON (`Value::Null` when it is not JSON).
pub async fn json_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let bytes = response.bytes().await.expect("read the response body");
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, value)
}

pub async fn get(http: &reqwest::Client, url: &str) -> (u16, Value) {
    json_of(http.get(url).send().await.expect("GET")).await
}

pub async fn post(http: &reqwest::Client, url: &str, body: &Value) -> (u16, Value) {
    json_of(http.post(url).json(body).send().await.expect("POST")).await
}

/// Posts a raw body with a content type.
pub async fn post_raw(
    http: &reqwest::Client,
    url: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, Value) {
    let response = http
        .post(url)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("POST");
    json_of(response).await
}

/// Asserts an error answer: its status and its stable `error.code`, with a message.
pub fn assert_error(what: &str, (status, body): &(u16, Value), want_status: u16, want_code: &str) {
    assert_eq!(
        (*status, body["error"]["code"].as_str()),
        (want_status, Some(want_code)),
        "{what}: got {status} {body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{what}: the error has no message: {body}"
    );
}

/// Creates a topic with a partition count through the admin API.
pub async fn create_topic(http: &reqwest::Client, broker: &Broker, name: &str, partitions: i32) {
    let answer = post(
        http,
        &broker.url("/topics"),
        &serde_json::json!({"name": name, "partitions": partitions}),
    )
    .await;
    assert_eq!(answer.0, 201, "create topic {name}: {}", answer.1);
}

/// Produces one record and returns the result object (asserting 200).
pub async fn produce(http: &reqwest::Client, broker: &Broker, record: &Value) -> Value {
    let (status, body) = post(http, &broker.url("/produce"), record).await;
    assert_eq!(status, 200, "produce {record}: {body}");
    body
}

/// Every record of a partition from its start to the high watermark, in offset order.
pub async fn consume_all(
    http: &reqwest::Client,
    broker: &Broker,
    topic: &str,
    partition: i32,
) -> Vec<Value> {
    let mut records = Vec::new();
    let mut offset = "earliest".to_string();
    loop {
        let url = broker.url(&format!(
            "/consume?topic={topic}&partition={partition}&offset={offset}&max=10000"
        ));
        let (status, body) = get(http, &url).await;
        assert_eq!(status, 200, "consume {topic}/{partition}: {body}");
        let messages = body["messages"].as_array().expect("messages").clone();
        let next = body["next_offset"].as_i64().expect("next_offset");
        let high_watermark = body["high_watermark"].as_i64().expect("high_watermark");
        records.extend(messages);
        if next >= high_watermark {
            return records;
        }
        offset = next.to_string();
    }
}

/// Asserts that records carry the offsets `0, 1, 2, …` with no gap.
pub fn assert_dense(what: &str, records: &[Value]) {
    for (i, record) in records.iter().enumerate() {
        assert_eq!(
            record["offset"].as_i64(),
            Some(i as i64),
            "{what}: offsets are not dense at position {i}"
        );
    }
}

/// The partition Kafka's default partitioner picks for a key: the broker's own partitioner,
/// which its unit tests pin to Kafka's published murmur2 vectors (and `http_api.rs` checks two of
/// them end to end).
pub fn kafka_partition(key: &str, partitions: i32) -> i32 {
    yak_broker::partitioner::partition_for_key(key.as_bytes(), partitions)
}

/// Polls `check` until it returns `Some`, or panics with `what` at the deadline.
pub async fn wait_until<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
