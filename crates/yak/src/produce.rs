//! `yak produce`: one MESSAGE, one record per stdin line, or one per CSV row.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use yak_api::{Acks, ProduceBatch, ProduceOutcome, ProduceRecord};
use yak_client::Client;

/// Records per request when sending many (stdin lines, CSV rows).
pub const PRODUCE_BATCH_RECORDS_MAX: usize = 500;

#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// Broker URLs, comma-separated; the client finds the leader.
    #[arg(long, env = "YAK_BROKER", default_value = "http://127.0.0.1:5001")]
    pub broker: String,
    #[command(flatten)]
    pub connection: crate::connection::Connection,
    #[arg(long)]
    pub topic: String,
    /// Key of every record (picks the partition).
    #[arg(long)]
    pub key: Option<String>,
    /// Send to this partition instead of the key's.
    #[arg(long)]
    pub partition: Option<i32>,
    /// 0, 1 or all.
    #[arg(long, default_value = "all")]
    pub acks: String,
    /// Send each row of this CSV file as a JSON object keyed by the header row.
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// CSV column whose value is the record key.
    #[arg(long, requires = "csv")]
    pub key_field: Option<String>,
    /// The record; JSON, or else sent as a string. Without it, one record per stdin line.
    pub message: Option<String>,
}

pub fn parse_acks(text: &str) -> anyhow::Result<Acks> {
    match text {
        "0" => Ok(Acks::None),
        "1" => Ok(Acks::Leader),
        "all" | "-1" => Ok(Acks::All),
        other => bail!("--acks must be 0, 1 or all, got {other:?}"),
    }
}

/// A line's payload: its JSON value, or the line as a string.
fn payload(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.to_string()))
}

/// Names every record this run sends: `<run>-<n>`, the run unique by process id and start time.
///
/// A record with a `msg_id` may be resent when a failover leaves its outcome unknown (a broken
/// connection, `request_timed_out`; see `yak_client`'s docs), and a copy that lands twice is then
/// recognisable by its `msg_id`. Without one the client would have to give up on such records.
struct MessageIds {
    run: String,
    next: u64,
}

impl MessageIds {
    fn new() -> MessageIds {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        MessageIds {
            run: format!("yak-{:x}-{:x}", std::process::id(), nanos),
            next: 0,
        }
    }

    fn next(&mut self) -> Option<String> {
        self.next += 1;
        Some(format!("{}-{}", self.run, self.next))
    }
}

/// Counts of what was sent, printed at the end.
#[derive(Default)]
struct Summary {
    sent: u64,
    failed: u64,
    per_partition: BTreeMap<i32, u64>,
    first_error: Option<String>,
}

impl Summary {
    fn add(&mut self, outcomes: &[ProduceOutcome]) {
        for outcome in outcomes {
            match outcome {
                ProduceOutcome::Ok(result) => {
                    self.sent += 1;
                    *self.per_partition.entry(result.partition).or_default() += 1;
                }
                ProduceOutcome::Err { error } => {
                    self.failed += 1;
                    self.first_error.get_or_insert_with(|| error.to_string());
                }
            }
        }
    }

    fn print(&self, topic: &str, started: Instant) {
        let elapsed = started.elapsed().as_secs_f64();
        let partitions: Vec<String> = self
            .per_partition
            .iter()
            .map(|(p, n)| format!("{p}:{n}"))
            .collect();
        eprintln!(
            "{} records sent to {topic} ({} failed) in {:.2}s, {:.0} records/s; per partition {}",
            self.sent,
            self.failed,
            elapsed,
            self.sent as f64 / elapsed.max(1e-9),
            if partitions.is_empty() {
                "-".into()
            } else {
                partitions.join(" ")
            }
        );
        if let Some(error) = &self.first_error {
            eprintln!("first error: {error}");
        }
    }
}

pub async fn run(args: ProduceArgs) -> anyhow::Result<()> {
    let client = args.connection.client(&args.broker)?;
    let acks = parse_acks(&args.acks)?;
    let mut ids = MessageIds::new();
    if let Some(path) = &args.csv {
        return produce_csv(&client, &args, path, acks, &mut ids).await;
    }
    if let Some(message) = &args.message {
        let record = ProduceRecord {
            topic: Some(args.topic.clone()),
            key: args.key.clone(),
            partition: args.partition,
            payload: payload(message),
            msg_id: ids.next(),
            ..ProduceRecord::default()
        };
        let result = client.produce(&record, acks).await?;
        println!("{}", serde_json::to_string(&result)?);
        return Ok(());
    }
    // One record per stdin line, sent in batches.
    let started = Instant::now();
    let mut summary = Summary::default();
    let mut batch = Vec::with_capacity(PRODUCE_BATCH_RECORDS_MAX);
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let line = line.context("cannot read stdin")?;
        if line.trim().is_empty() {
            continue;
        }
        batch.push(ProduceRecord {
            key: args.key.clone(),
            partition: args.partition,
            payload: payload(&line),
            msg_id: ids.next(),
            ..ProduceRecord::default()
        });
        if batch.len() == PRODUCE_BATCH_RECORDS_MAX {
            send(&client, &args.topic, &mut batch, acks, &mut summary).await?;
        }
    }
    send(&client, &args.topic, &mut batch, acks, &mut summary).await?;
    summary.print(&args.topic, started);
    if summary.failed > 0 {
        bail!("{} records failed", summary.failed);
    }
    Ok(())
}

async fn send(
    client: &Client,
    topic: &str,
    batch: &mut Vec<ProduceRecord>,
    acks: Acks,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let request = ProduceBatch {
        topic: Some(topic.to_string()),
        messages: std::mem::take(batch),
    };
    let outcomes = client.produce_batch(&request, acks).await?;
    summary.add(&outcomes);
    Ok(())
}

async fn produce_csv(
    client: &Client,
    args: &ProduceArgs,
    path: &PathBuf,
    acks: Acks,
    ids: &mut MessageIds,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let open =
        || csv::Reader::from_path(path).with_context(|| format!("cannot open {}", path.display()));
    // A first pass counts the rows so the progress bar knows its length.
    let rows_total = open()?.records().count() as u64;
    let mut reader = open()?;
    let headers = reader
        .headers()
        .context("cannot read the CSV header row")?
        .clone();
    let key_column = match &args.key_field {
        Some(field) => Some(headers.iter().position(|h| h == field).with_context(|| {
            format!(
                "--key-field {field:?} is not a column; columns are {:?}",
                headers.iter().collect::<Vec<_>>()
            )
        })?),
        None => None,
    };
    let progress = ProgressBar::new(rows_total);
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} rows {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut summary = Summary::default();
    let mut batch = Vec::with_capacity(PRODUCE_BATCH_RECORDS_MAX);
    for (row_number, row) in reader.records().enumerate() {
        let row = row.with_context(|| format!("row {} of {}", row_number + 2, path.display()))?;
        let object: serde_json::Map<String, serde_json::Value> = headers
            .iter()
            .zip(row.iter())
            .map(|(h, v)| (h.to_string(), serde_json::Value::String(v.to_string())))
            .collect();
        batch.push(ProduceRecord {
            key: key_column
                .and_then(|c| row.get(c))
                .map(str::to_string)
                .or_else(|| args.key.clone()),
            partition: args.partition,
            payload: serde_json::Value::Object(object),
            msg_id: ids.next(),
            ..ProduceRecord::default()
        });
        if batch.len() == PRODUCE_BATCH_RECORDS_MAX {
            let n = batch.len() as u64;
            send(client, &args.topic, &mut batch, acks, &mut summary).await?;
            progress.inc(n);
        }
    }
    let n = batch.len() as u64;
    send(client, &args.topic, &mut batch, acks, &mut summary).await?;
    progress.inc(n);
    progress.finish_and_clear();
    summary.print(&args.topic, started);
    if summary.failed > 0 {
        bail!("{} records failed", summary.failed);
    }
    Ok(())
}
