//! Durability of a real broker under a stream of writes: a graceful stop (SIGTERM) and a crash
//! (SIGKILL) in the middle of the stream lose no acknowledged record, and offsets stay dense.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{assert_dense, client, consume_all, create_topic, wait_until, Broker};
use serde_json::{json, Value};

/// Concurrent producers for the stream.
const PRODUCERS: usize = 4;
/// How long the producers run at most, whether or not the broker goes away first.
const STREAM_DURATION: Duration = Duration::from_secs(2);
/// Records in each batch request.
const BATCH_RECORDS: usize = 10;

/// The topics the stream writes to: one auto-created (3 partitions), one created with 2.
const TOPICS: [&str; 2] = ["stream-auto", "stream-two"];

/// What the broker acknowledged: (topic, partition) → offset → payload.
type Acked = Arc<Mutex<BTreeMap<(String, i64), BTreeMap<i64, Value>>>>;

struct Stream {
    acked: Acked,
    count: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

fn record_ack(acked: &Acked, count: &AtomicU64, result: &Value, payload: &Value) {
    let (Some(topic), Some(partition), Some(offset)) = (
        result["topic"].as_str(),
        result["partition"].as_i64(),
        result["offset"].as_i64(),
    ) else {
        return; // An outcome with an error: not acknowledged.
    };
    let mut acked = acked.lock().unwrap();
    let previous = acked
        .entry((topic.to_string(), partition))
        .or_default()
        .insert(offset, payload.clone());
    assert!(
        previous.is_none(),
        "two acknowledged records at {topic}/{partition}@{offset}"
    );
    count.fetch_add(1, Ordering::Relaxed);
}

/// One producer: single records with keys, `messages` batches and NDJSON bodies in turn, until
/// the broker stops answering, `stop` is set, or the stream's time is up.
async fn producer(
    broker_url: String,
    id: usize,
    acked: Acked,
    count: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let deadline = Instant::now() + STREAM_DURATION;
    let url = format!("{broker_url}/produce");
    let mut sequence = 0_u64;
    let mut round = 0_usize;
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        round += 1;
        let topic = TOPICS[(round + id) % TOPICS.len()];
        let kind = round % 3;
        let key = format!("key-{}", round % 17);
        let mut next_payload = || {
            sequence += 1;
            json!({"producer": id, "sequence": sequence, "pad": "p".repeat(64)})
        };
        let payloads: Vec<Value>;
        let response = match kind {
            0 => {
                payloads = vec![next_payload()];
                http.post(&url)
                    .json(&json!({"topic": topic, "key": key, "payload": payloads[0]}))
                    .send()
                    .await
            }
            1 => {
                payloads = (0..BATCH_RECORDS).map(|_| next_payload()).collect();
                let messages: Vec<Value> = payloads.iter().map(|p| json!({"payload": p})).collect();
                http.post(&url)
                    .json(&json!({"topic": topic, "messages": messages}))
                    .send()
                    .await
            }
            _ => {
                payloads = (0..BATCH_RECORDS).map(|_| next_payload()).collect();
                let body: String = payloads
                    .iter()
                    .enumerate()
                    .map(|(i, p)| {
                        format!(
                            "{}\n",
                            json!({"topic": topic, "key": format!("n{i}"), "payload": p})
                        )
                    })
                    .collect();
                http.post(&url)
                    .header("content-type", "application/x-ndjson")
                    .body(body)
                    .send()
                    .await
            }
        };
        let Ok(response) = response else { return };
        if response.status() != 200 {
            return; // Shutting down (503) or gone: nothing in this request was acknowledged.
        }
        let Ok(text) = response.text().await else {
            return;
        };
        let results: Vec<Value> = if let Ok(value) = serde_json::from_str::<Value>(&text) {
            match value.get("results") {
                Some(results) => results.as_array().cloned().unwrap_or_default(),
                None => vec![value],
            }
        } else {
            text.lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect()
        };
        assert_eq!(
            results.len(),
            payloads.len(),
            "one result per record: {text}"
        );
        for (result, payload) in results.iter().zip(&payloads) {
            record_ack(&acked, &count, result, payload);
        }
    }
}

async fn start_stream(broker: &Broker) -> Stream {
    create_topic(&client(), broker, TOPICS[1], 2).await;
    let acked: Acked = Arc::default();
    let count = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let tasks = (0..PRODUCERS)
        .map(|id| {
            tokio::spawn(producer(
                broker.http.clone(),
                id,
                Arc::clone(&acked),
                Arc::clone(&count),
                Arc::clone(&stop),
            ))
        })
        .collect();
    Stream {
        acked,
        count,
        stop,
        tasks,
    }
}

impl Stream {
    /// Waits until the stream is well under way: at least `records` acknowledged and `elapsed`
    /// since it began, so the stop lands in the middle of it.
    async fn wait_under_way(&self, records: u64, elapsed: Duration) {
        let began = Instant::now();
        let count = Arc::clone(&self.count);
        wait_until("acknowledged records", Duration::from_secs(30), || {
            let n = count.load(Ordering::Relaxed);
            async move { (n >= records && began.elapsed() >= elapsed).then_some(()) }
        })
        .await;
    }

    async fn finish(self) -> BTreeMap<(String, i64), BTreeMap<i64, Value>> {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.expect("a producer panicked");
        }
        Arc::try_unwrap(self.acked).unwrap().into_inner().unwrap()
    }
}

/// Every acknowledged record is in the restarted broker at its offset with its payload, and
/// every partition's offsets are dense.
async fn assert_all_acknowledged_present(
    broker: &Broker,
    acked: &BTreeMap<(String, i64), BTreeMap<i64, Value>>,
) {
    let http = client();
    let mut checked = 0;
    for ((topic, partition), records) in acked {
        let stored = consume_all(&http, broker, topic, *partition as i32).await;
        assert_dense(&format!("{topic}/{partition}"), &stored);
        for (offset, payload) in records {
            let Some(found) = stored.get(*offset as usize) else {
                panic!(
                    "{topic}/{partition}@{offset} was acknowledged but the log ends at {}",
                    stored.len()
                );
            };
            assert_eq!(&found["payload"], payload, "{topic}/{partition}@{offset}");
            checked += 1;
        }
    }
    assert!(checked > 0);
    eprintln!(
        "{checked} acknowledged records checked in {} partitions",
        acked.len()
    );
}

/// SIGTERM while produces are in flight: the broker finishes them, exits 0, and every
/// acknowledged record is there after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_under_load_exits_zero_and_keeps_every_acknowledged_record() {
    let mut broker = Broker::start();
    let stream = start_stream(&broker).await;
    stream.wait_under_way(200, Duration::from_millis(500)).await;
    broker.sigterm();
    let status = broker.wait_exit(common::STOP_TIMEOUT);
    assert!(
        status.success(),
        "exit status {status} after SIGTERM; log:\n{}",
        broker.log()
    );
    let acked = stream.finish().await;
    let total: usize = acked.values().map(BTreeMap::len).sum();
    assert!(total >= 200, "only {total} records were acknowledged");

    broker.restart();
    assert_all_acknowledged_present(&broker, &acked).await;
}

/// `kill -9` in the middle of a stream of `--flush always` writes: after a restart every
/// acknowledged record is at its offset with its payload, and offsets are dense.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_under_load_loses_no_acknowledged_record() {
    let mut broker = Broker::start_with(&["--flush", "always"]);
    let stream = start_stream(&broker).await;
    stream.wait_under_way(200, Duration::from_secs(1)).await;
    broker.kill();
    let acked = stream.finish().await;
    let total: usize = acked.values().map(BTreeMap::len).sum();
    assert!(total >= 200, "only {total} records were acknowledged");

    broker.restart();
    assert_all_acknowledged_present(&broker, &acked).await;
    // The restarted broker takes writes again, after the recovered records.
    let http = client();
    let ((topic, partition), records) = acked.iter().next().unwrap();
    let (status, result) = common::post(
        &http,
        &broker.url("/produce"),
        &json!({"topic": topic, "partition": partition, "payload": "after the crash"}),
    )
    .await;
    assert_eq!(status, 200, "{result}");
    assert!(result["offset"].as_i64().unwrap() > *records.keys().last().unwrap());
    let stored = consume_all(&http, &broker, topic, *partition as i32).await;
    assert_dense("after the crash", &stored);
}

/// SIGTERM with an open server-sent-event stream and a pending long-poll: both end, and the
/// broker exits 0 well before the long-poll's own timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_ends_open_streams_and_long_polls() {
    let mut broker = Broker::start();
    let http = client();
    create_topic(&http, &broker, "idle", 1).await;
    let stream = reqwest::Client::new()
        .get(broker.url("/consume/stream?topic=idle&partition=0"))
        .send()
        .await
        .expect("open the stream");
    assert_eq!(stream.status(), 200);
    let poll_url = broker.url("/consume?topic=idle&partition=0&offset=0&wait_ms=30000");
    let poll = tokio::spawn(async move { reqwest::Client::new().get(poll_url).send().await });
    // The long-poll is inside the broker once the fetch counter counts it.
    let metrics = broker.url("/metrics");
    wait_until(
        "the long-poll to reach the broker",
        Duration::from_secs(10),
        || {
            let (http, metrics) = (http.clone(), metrics.clone());
            async move {
                let body: Value = http
                    .get(metrics)
                    .header("accept", "application/json")
                    .send()
                    .await
                    .ok()?
                    .json()
                    .await
                    .ok()?;
                let fetches = body["counters"]
                    ["yak_server_brokertopicmetrics_total_fetch_requests_total"]
                    .as_u64()?;
                (fetches >= 1).then_some(())
            }
        },
    )
    .await;

    let began = Instant::now();
    broker.sigterm();
    let status = broker.wait_exit(common::STOP_TIMEOUT);
    assert!(
        status.success(),
        "exit status {status}; log:\n{}",
        broker.log()
    );
    assert!(
        began.elapsed() < Duration::from_secs(20),
        "the stop did not wait for the 30 s long-poll ({:?})",
        began.elapsed()
    );
    // The long-poll got an answer or a closed connection, not a hang.
    let answered = tokio::time::timeout(Duration::from_secs(5), poll).await;
    assert!(
        answered.is_ok(),
        "the long-poll still hangs after the broker exited"
    );
    let body = tokio::time::timeout(Duration::from_secs(5), stream.bytes()).await;
    assert!(
        body.is_ok(),
        "the event stream still hangs after the broker exited"
    );
}
