//! `yak consume`: one JSON record per line, from an offset, optionally following new records.

use anyhow::bail;
use clap::Args;
use yak_client::Offset;

/// Records asked for per request.
pub const CONSUME_REQUEST_RECORDS_MAX: i64 = 1000;
/// Long-poll wait per request while following.
pub const FOLLOW_WAIT_MS: i64 = 1000;

#[derive(Debug, Args)]
pub struct ConsumeArgs {
    #[arg(long, env = "YAK_BROKER", default_value = "http://127.0.0.1:5001")]
    pub broker: String,
    #[command(flatten)]
    pub connection: crate::connection::Connection,
    #[arg(long)]
    pub topic: String,
    /// One partition; every partition of the topic when absent.
    #[arg(long)]
    pub partition: Option<i32>,
    /// A number, earliest or latest.
    #[arg(long, default_value = "earliest")]
    pub offset: Offset,
    /// Read as this consumer group: from its committed offsets (earliest where it has none),
    /// committing as it reads. Refused while Kafka consumers are members of the group.
    #[arg(long)]
    pub group: Option<String>,
    /// Keep waiting for new records.
    #[arg(long)]
    pub follow: bool,
    /// Stop after this many records.
    #[arg(long)]
    pub max: Option<u64>,
}

pub async fn run(args: ConsumeArgs) -> anyhow::Result<()> {
    if args.group.is_some() && args.offset != Offset::Earliest {
        bail!("--group reads from the group's committed offsets: leave out --offset");
    }
    let client = args.connection.client(&args.broker)?;
    let partitions: Vec<i32> = match args.partition {
        Some(p) => vec![p],
        None => {
            let topic = client.describe_topic(&args.topic).await?;
            topic.partitions.iter().map(|p| p.partition).collect()
        }
    };
    let mut offsets: Vec<Offset> = vec![args.offset; partitions.len()];
    let mut printed: u64 = 0;
    let limit = args.max.unwrap_or(u64::MAX);
    let mut out = std::io::stdout().lock();
    use std::io::Write;
    let mut idle = false;
    loop {
        let mut got_any = false;
        for (i, &partition) in partitions.iter().enumerate() {
            if printed >= limit {
                return Ok(());
            }
            let want = (limit - printed).min(CONSUME_REQUEST_RECORDS_MAX as u64) as i64;
            // Once a whole round found nothing, each request long-polls its share of the wait,
            // so a follower neither spins nor misses a partition for long.
            let wait_ms = if args.follow && idle {
                FOLLOW_WAIT_MS / partitions.len() as i64
            } else {
                0
            };
            let response = match &args.group {
                Some(group) => {
                    client
                        .consume_group(&args.topic, partition, group, want, wait_ms)
                        .await?
                }
                None => {
                    client
                        .consume(&args.topic, partition, offsets[i], want, wait_ms)
                        .await?
                }
            };
            for mut record in response.messages {
                record.topic = Some(response.topic.clone());
                record.partition = Some(response.partition);
                writeln!(out, "{}", serde_json::to_string(&record)?)?;
                printed += 1;
                got_any = true;
            }
            offsets[i] = Offset::At(response.next_offset);
        }
        out.flush()?;
        if !got_any && !args.follow {
            return Ok(());
        }
        idle = !got_any;
    }
}
