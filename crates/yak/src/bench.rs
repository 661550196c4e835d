//! `yak bench produce|consume`: a load generator over the HTTP API (or, with `--protocol kafka`,
//! over the Kafka protocol: see `bench_kafka`), with a progress bar and a JSON summary
//! (records/s, MB/s, request latency p50/p99/p999, and the broker's RSS when `--broker-pid`
//! names it).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;
use yak_api::{Acks, CreateTopicRequest};
use yak_client::Client;

/// Longest latency the histograms record, in microseconds (larger values are clamped).
pub const LATENCY_US_MAX: u64 = 60_000_000;
/// Records per consume request.
pub const CONSUME_REQUEST_RECORDS_MAX: i64 = 10_000;
/// How often the broker's RSS is sampled.
pub const RSS_SAMPLE_MS: u64 = 1000;
/// Pause of a produce worker whose request failed before the leader is looked up again, so a
/// failover is waited out instead of being hammered.
pub const LEADER_LOOKUP_PAUSE_MS: u64 = 100;

/// `host:port` of an HTTP URL.
fn socket_address(url: &str) -> anyhow::Result<String> {
    let target = reqwest::Url::parse(url).with_context(|| format!("invalid broker URL {url:?}"))?;
    Ok(format!(
        "{}:{}",
        target.host_str().unwrap_or("127.0.0.1"),
        target.port_or_known_default().unwrap_or(80)
    ))
}

/// Where the produce workers send: the leader, looked up again when a request fails, so the
/// bench keeps going through a failover (failed requests count as errors).
struct LeaderTarget {
    client: Arc<Client>,
    /// The lookup generation and the leader's `host:port`.
    current: std::sync::Mutex<(u64, String)>,
    /// One worker looks the leader up; the others wait for its answer.
    lookup: tokio::sync::Mutex<()>,
}

impl LeaderTarget {
    async fn new(client: Arc<Client>) -> anyhow::Result<LeaderTarget> {
        let url = match client.leader().await {
            Ok(leader) if !leader.leader_http.is_empty() => leader.leader_http,
            _ => client.current(),
        };
        Ok(LeaderTarget {
            current: std::sync::Mutex::new((0, socket_address(&url)?)),
            client,
            lookup: tokio::sync::Mutex::new(()),
        })
    }

    fn get(&self) -> (u64, String) {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// A request to the leader of generation `seen` failed: look the leader up again, unless
    /// another worker already did.
    async fn failed(&self, seen: u64) {
        let _lookup = self.lookup.lock().await;
        if self.get().0 != seen {
            return;
        }
        tokio::time::sleep(Duration::from_millis(LEADER_LOOKUP_PAUSE_MS)).await;
        let address = match self.client.leader().await {
            Ok(leader) => socket_address(&leader.leader_http).ok(),
            Err(_) => None,
        };
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        current.0 += 1;
        if let Some(address) = address {
            current.1 = address;
        }
    }
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub command: BenchCommand,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Produce records as fast as the broker takes them.
    Produce(ProduceBench),
    /// Read a topic from its start to its high watermark.
    Consume(ConsumeBench),
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ProduceMode {
    /// One record per POST /produce.
    Single,
    /// A `messages` array per request.
    Batch,
    /// An application/x-ndjson body per request.
    Ndjson,
}

/// Which front-end of the broker the load goes through.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Protocol {
    /// The HTTP API at --broker.
    Http,
    /// The Kafka protocol at --kafka, batching and pipelining like Kafka's own clients.
    Kafka,
}

#[derive(Debug, Args)]
pub struct Common {
    #[arg(long, env = "YAK_BROKER", default_value = "http://127.0.0.1:5001")]
    pub broker: String,
    #[arg(long, value_enum, default_value = "http")]
    pub protocol: Protocol,
    /// The broker's Kafka listener, used with --protocol kafka.
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub kafka: String,
    /// Pipelined requests per connection with --protocol kafka.
    #[arg(long, default_value_t = 5)]
    pub in_flight: usize,
    #[arg(long, default_value = "bench")]
    pub topic: String,
    /// Concurrent requests in flight (HTTP), or connections (Kafka).
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Sample this process's resident memory (the broker's pid) during the run.
    #[arg(long)]
    pub broker_pid: Option<u32>,
    /// Only print the summary (no progress bar).
    #[arg(long)]
    pub quiet: bool,
    /// TLS and SASL towards the Kafka listener (--protocol kafka).
    #[command(flatten)]
    pub kafka_security: crate::bench_kafka::KafkaSecurityArgs,
}

#[derive(Debug, Args)]
pub struct ProduceBench {
    #[command(flatten)]
    pub common: Common,
    #[arg(long, value_enum, default_value = "single")]
    pub mode: ProduceMode,
    /// Bytes of each record's value.
    #[arg(long, default_value_t = 100)]
    pub record_bytes: usize,
    /// Records per request in batch and ndjson modes; records per batch with --protocol kafka.
    #[arg(long, default_value_t = 1000)]
    pub batch_records: usize,
    /// Records to send in all (the run stops at whichever of --count and --duration-s comes first).
    #[arg(long)]
    pub count: Option<u64>,
    #[arg(long)]
    pub duration_s: Option<u64>,
    /// Partitions of the topic, created if absent.
    #[arg(long, default_value_t = 3)]
    pub partitions: i32,
    /// 0, 1 or all (-1); the default is all over HTTP and 1 over Kafka, as in Kafka's clients
    /// before 3.0 and librdkafka's benchmarks.
    #[arg(long)]
    pub acks: Option<String>,
}

#[derive(Debug, Args)]
pub struct ConsumeBench {
    #[command(flatten)]
    pub common: Common,
}

/// Figures shared by every worker.
pub(crate) struct Totals {
    pub(crate) records: AtomicU64,
    pub(crate) bytes: AtomicU64,
    pub(crate) requests: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) stop: AtomicBool,
}

impl Totals {
    pub(crate) fn new() -> Arc<Totals> {
        Arc::new(Totals {
            records: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        })
    }
}

fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time a process has used, from `/proc/PID/stat` (user + system), in seconds. Linux
/// reports it in USER_HZ ticks, which is 100 per second on every mainstream configuration.
fn cpu_s(pid: u32) -> Option<f64> {
    const USER_HZ: f64 = 100.0;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name in parentheses may hold spaces; the fields after it are fixed.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let user: f64 = fields.get(11)?.parse().ok()?;
    let system: f64 = fields.get(12)?.parse().ok()?;
    Some((user + system) / USER_HZ)
}

/// What the broker used during a run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BrokerUsage {
    rss_kb_start: u64,
    rss_kb_end: u64,
    rss_kb_max: u64,
    cpu_s: f64,
}

/// Samples a pid's RSS every second and its CPU time at both ends, until stopped.
pub(crate) fn sample_rss(
    pid: Option<u32>,
    totals: Arc<Totals>,
) -> tokio::task::JoinHandle<Option<BrokerUsage>> {
    tokio::spawn(async move {
        let pid = pid?;
        let first = rss_kb(pid)?;
        let cpu_start = cpu_s(pid)?;
        let (mut last, mut max) = (first, first);
        while !totals.stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(RSS_SAMPLE_MS)).await;
            if let Some(now) = rss_kb(pid) {
                last = now;
                max = max.max(now);
            }
        }
        let cpu_end = cpu_s(pid).unwrap_or(cpu_start);
        Some(BrokerUsage {
            rss_kb_start: first,
            rss_kb_end: last,
            rss_kb_max: max,
            cpu_s: cpu_end - cpu_start,
        })
    })
}

pub(crate) fn progress(quiet: bool, length: Option<u64>, unit: &str) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = match length {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::new_spinner(),
    };
    let template = format!("{{bar:40}} {{pos}}/{{len}} {unit} {{per_sec}} {{elapsed}}");
    bar.set_style(
        ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

pub(crate) fn summary(
    what: &str,
    totals: &Totals,
    latency: &Histogram<u64>,
    elapsed: Duration,
    usage: Option<BrokerUsage>,
    payload_bytes: u64,
) -> serde_json::Value {
    let seconds = elapsed.as_secs_f64().max(1e-9);
    let records = totals.records.load(Ordering::Relaxed);
    let ms = |q: f64| latency.value_at_quantile(q) as f64 / 1000.0;
    serde_json::json!({
        "bench": what,
        "records": records,
        "requests": totals.requests.load(Ordering::Relaxed),
        "errors": totals.errors.load(Ordering::Relaxed),
        "seconds": (seconds * 1000.0).round() / 1000.0,
        "records_per_s": (records as f64 / seconds).round(),
        "requests_per_s": (totals.requests.load(Ordering::Relaxed) as f64 / seconds).round(),
        "mb_per_s": ((payload_bytes as f64 / seconds / 1e6) * 100.0).round() / 100.0,
        "latency_ms": { "p50": ms(0.5), "p99": ms(0.99), "p999": ms(0.999), "max": latency.max() as f64 / 1000.0 },
        "broker_rss_kb": usage.map(|u| serde_json::json!({"start": u.rss_kb_start, "end": u.rss_kb_end, "max": u.rss_kb_max})),
        "broker_cpu_s": usage.map(|u| (u.cpu_s * 100.0).round() / 100.0),
        "broker_cpu_s_per_million_records": usage
            .filter(|_| records > 0)
            .map(|u| (u.cpu_s / records as f64 * 1e6 * 1000.0).round() / 1000.0),
    })
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.command {
        BenchCommand::Produce(bench) => match bench.common.protocol {
            Protocol::Http => produce(bench).await,
            Protocol::Kafka => crate::bench_kafka::produce(bench).await,
        },
        BenchCommand::Consume(bench) => match bench.common.protocol {
            Protocol::Http => consume(bench).await,
            Protocol::Kafka => crate::bench_kafka::consume(bench).await,
        },
    }
}

/// Stops the RSS sampler, clears the progress bar and prints the JSON summary: the end of every
/// bench, whatever its protocol.
pub(crate) async fn finish(
    what: &str,
    totals: &Totals,
    latency: &Histogram<u64>,
    elapsed: Duration,
    bar: &ProgressBar,
    rss: tokio::task::JoinHandle<Option<BrokerUsage>>,
    payload_bytes: u64,
) -> anyhow::Result<()> {
    totals.stop.store(true, Ordering::Relaxed);
    bar.finish_and_clear();
    let rss = rss.await.ok().flatten();
    println!(
        "{}",
        serde_json::to_string_pretty(&summary(what, totals, latency, elapsed, rss, payload_bytes))?
    );
    Ok(())
}

fn produce_body(bench: &ProduceBench) -> anyhow::Result<Vec<u8>> {
    // The value is a JSON string, so the stored value is exactly --record-bytes long.
    let value = serde_json::Value::String("x".repeat(bench.record_bytes.saturating_sub(2)));
    let topic = &bench.common.topic;
    Ok(match bench.mode {
        ProduceMode::Single => {
            serde_json::to_vec(&serde_json::json!({"topic": topic, "payload": value}))?
        }
        ProduceMode::Batch => {
            let messages: Vec<_> = (0..bench.batch_records)
                .map(|_| serde_json::json!({"payload": value}))
                .collect();
            serde_json::to_vec(&serde_json::json!({"topic": topic, "messages": messages}))?
        }
        ProduceMode::Ndjson => {
            let line = serde_json::to_vec(&serde_json::json!({"topic": topic, "payload": value}))?;
            let mut body = Vec::with_capacity((line.len() + 1) * bench.batch_records);
            for _ in 0..bench.batch_records {
                body.extend_from_slice(&line);
                body.push(b'\n');
            }
            body
        }
    })
}

async fn produce(bench: ProduceBench) -> anyhow::Result<()> {
    if bench.count.is_none() && bench.duration_s.is_none() {
        bail!("give --count or --duration-s");
    }
    let acks = crate::produce::parse_acks(bench.acks.as_deref().unwrap_or("all"))?;
    let common = &bench.common;
    let client = Arc::new(Client::new(&[common.broker.as_str()])?);
    if client.describe_topic(&common.topic).await.is_err() {
        client
            .create_topic(&CreateTopicRequest {
                name: common.topic.clone(),
                partitions: Some(bench.partitions),
                ..Default::default()
            })
            .await
            .context("cannot create the bench topic")?;
    }
    let per_request = if bench.mode == ProduceMode::Single {
        1
    } else {
        bench.batch_records as u64
    };
    let body = Arc::new(produce_body(&bench)?);
    let content_type = if bench.mode == ProduceMode::Ndjson {
        "application/x-ndjson"
    } else {
        "application/json"
    };
    let path_and_query = format!(
        "/produce?acks={}",
        match acks {
            Acks::None => "0",
            Acks::Leader => "1",
            Acks::All => "all",
        }
    );
    let leader = Arc::new(LeaderTarget::new(Arc::clone(&client)).await?);
    let body = bytes::Bytes::from(Arc::unwrap_or_clone(body));
    let totals = Totals::new();
    let bar = progress(common.quiet, bench.count, "records");
    let rss = sample_rss(common.broker_pid, Arc::clone(&totals));
    let deadline = bench
        .duration_s
        .map(|s| Instant::now() + Duration::from_secs(s));
    let count = bench.count.unwrap_or(u64::MAX);
    let claimed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..common.concurrency.max(1) {
        let (leader, path_and_query, body, totals, bar, claimed) = (
            Arc::clone(&leader),
            path_and_query.clone(),
            body.clone(),
            Arc::clone(&totals),
            bar.clone(),
            Arc::clone(&claimed),
        );
        workers.push(tokio::spawn(async move {
            let mut latency = Histogram::<u64>::new_with_max(LATENCY_US_MAX, 3).ok()?;
            let mut connection = None;
            let mut generation = 0;
            loop {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                if claimed.fetch_add(per_request, Ordering::Relaxed) >= count {
                    break;
                }
                let sent = Instant::now();
                if connection.is_none() {
                    let (seen, address) = leader.get();
                    generation = seen;
                    connection = BenchConnection::open(&address).await.ok();
                }
                let ok = match connection.as_mut() {
                    Some(c) => c.post(&path_and_query, content_type, body.clone()).await,
                    None => false,
                };
                if !ok {
                    // Reconnect for the next request, to the leader as it is known by then.
                    connection = None;
                    leader.failed(generation).await;
                }
                let _ = latency.record((sent.elapsed().as_micros() as u64).min(LATENCY_US_MAX));
                totals.requests.fetch_add(1, Ordering::Relaxed);
                if ok {
                    totals.records.fetch_add(per_request, Ordering::Relaxed);
                    bar.inc(per_request);
                } else {
                    totals.errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            Some(latency)
        }));
    }
    let mut latency = Histogram::<u64>::new_with_max(LATENCY_US_MAX, 3)?;
    for worker in workers {
        if let Some(h) = worker.await? {
            latency.add(h)?;
        }
    }
    let elapsed = started.elapsed();
    let payload_bytes = totals.records.load(Ordering::Relaxed) * bench.record_bytes as u64;
    let mode = format!("produce-{:?}", bench.mode).to_lowercase();
    finish(&mode, &totals, &latency, elapsed, &bar, rss, payload_bytes).await
}

/// One HTTP/1.1 connection of a produce worker. The bench drives hyper's connection directly
/// rather than a pooled client, so the load generator spends as little of the shared CPU per
/// request as it can and the figures describe the broker more than the client.
struct BenchConnection {
    sender: hyper::client::conn::http1::SendRequest<http_body_util::Full<bytes::Bytes>>,
}

impl BenchConnection {
    async fn open(address: &str) -> anyhow::Result<BenchConnection> {
        let stream = tokio::net::TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        Ok(BenchConnection { sender })
    }

    /// Whether the broker accepted the request.
    async fn post(&mut self, path: &str, content_type: &str, body: bytes::Bytes) -> bool {
        use http_body_util::BodyExt;
        let request = hyper::Request::post(path)
            .header(hyper::header::HOST, "yak")
            .header(hyper::header::CONTENT_TYPE, content_type)
            .body(http_body_util::Full::new(body));
        let Ok(request) = request else { return false };
        match self.sender.send_request(request).await {
            Ok(response) => {
                let success = response.status().is_success();
                response.into_body().collect().await.is_ok() && success
            }
            Err(_) => false,
        }
    }
}

/// Only what the consume bench needs of a response.
#[derive(Deserialize)]
struct ConsumeCount {
    messages: Vec<serde::de::IgnoredAny>,
    next_offset: i64,
}

async fn consume(bench: ConsumeBench) -> anyhow::Result<()> {
    let common = &bench.common;
    let client = Arc::new(Client::new(&[common.broker.as_str()])?);
    let topic = client
        .describe_topic(&common.topic)
        .await
        .context("the bench topic must exist: run `yak bench produce` first")?;
    let targets: Vec<(i32, i64, i64)> = topic
        .partitions
        .iter()
        .map(|p| (p.partition, p.log_start_offset, p.high_watermark))
        .collect();
    let total: i64 = targets.iter().map(|(_, start, end)| end - start).sum();
    let totals = Totals::new();
    let bar = progress(common.quiet, Some(total as u64), "records");
    let rss = sample_rss(common.broker_pid, Arc::clone(&totals));
    let started = Instant::now();
    // Each partition is read by `concurrency / partitions` workers over disjoint offset ranges.
    let workers_per_partition = (common.concurrency / targets.len().max(1)).max(1) as i64;
    let mut workers = Vec::new();
    for (partition, start, end) in targets {
        let span = ((end - start) + workers_per_partition - 1) / workers_per_partition;
        for w in 0..workers_per_partition {
            let from = start + w * span;
            let to = (from + span).min(end);
            if from >= to {
                continue;
            }
            let (client, totals, bar, topic) = (
                Arc::clone(&client),
                Arc::clone(&totals),
                bar.clone(),
                common.topic.clone(),
            );
            workers.push(tokio::spawn(async move {
                let mut latency = Histogram::<u64>::new_with_max(LATENCY_US_MAX, 3).ok()?;
                let mut offset = from;
                while offset < to {
                    let max = (to - offset).min(CONSUME_REQUEST_RECORDS_MAX);
                    let sent = Instant::now();
                    let result = client.consume_raw(&topic, partition, offset, max).await;
                    let _ = latency.record((sent.elapsed().as_micros() as u64).min(LATENCY_US_MAX));
                    totals.requests.fetch_add(1, Ordering::Relaxed);
                    let Ok(bytes) = result else {
                        totals.errors.fetch_add(1, Ordering::Relaxed);
                        break;
                    };
                    let Ok(parsed) = serde_json::from_slice::<ConsumeCount>(&bytes) else {
                        totals.errors.fetch_add(1, Ordering::Relaxed);
                        break;
                    };
                    if parsed.messages.is_empty() {
                        break;
                    }
                    let n = parsed.messages.len() as u64;
                    totals.records.fetch_add(n, Ordering::Relaxed);
                    totals
                        .bytes
                        .fetch_add(bytes.len() as u64, Ordering::Relaxed);
                    bar.inc(n);
                    offset = parsed.next_offset;
                }
                Some(latency)
            }));
        }
    }
    let mut latency = Histogram::<u64>::new_with_max(LATENCY_US_MAX, 3)?;
    for worker in workers {
        if let Some(h) = worker.await? {
            latency.add(h)?;
        }
    }
    let elapsed = started.elapsed();
    let bytes = totals.bytes.load(Ordering::Relaxed);
    finish("consume", &totals, &latency, elapsed, &bar, rss, bytes).await
}
