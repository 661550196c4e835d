//! `yak groups`: consumer groups over the HTTP API. `list` and `describe` print JSON;
//! `reset-offsets` prints its plan as Kafka's `kafka-consumer-groups.sh` does, and commits it
//! only with `--execute`.

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use yak_api::{ResetOffsetsRequest, ResetPosition, ResetTo, ResetToOffset, ResetToTimestamp};

use crate::topics::{print, BrokerUrl};

#[derive(Debug, Args)]
pub struct GroupsArgs {
    #[command(flatten)]
    pub target: BrokerUrl,
    #[command(subcommand)]
    pub command: GroupsCommand,
}

#[derive(Debug, Subcommand)]
pub enum GroupsCommand {
    /// Every group with its state, members and total lag.
    List,
    /// A group's members with their assignments, and committed offsets with lag per partition.
    Describe { group: String },
    /// Move a group's committed offsets (refused while the group has members). Prints the plan;
    /// commits it only with --execute.
    ResetOffsets(ResetArgs),
    /// Delete a group and its committed offsets (refused while it has members).
    Delete { group: String },
}

#[derive(Debug, Args)]
pub struct ResetArgs {
    pub group: String,
    #[arg(long)]
    pub topic: String,
    /// Only these partitions (comma-separated); every partition when absent.
    #[arg(long, value_delimiter = ',')]
    pub partitions: Vec<i32>,
    /// Each partition's log start.
    #[arg(long, group = "target")]
    pub to_earliest: bool,
    /// Each partition's high watermark.
    #[arg(long, group = "target")]
    pub to_latest: bool,
    /// One offset for every partition (moved into the log if outside it).
    #[arg(long, group = "target", value_name = "OFFSET")]
    pub to_offset: Option<i64>,
    /// The first record at or after a time, RFC 3339 in UTC (`2026-11-30T12:00:00Z`).
    #[arg(long, group = "target", value_name = "RFC3339")]
    pub to_datetime: Option<String>,
    /// Commit the new offsets; without it only the plan is printed.
    #[arg(long)]
    pub execute: bool,
}

/// The reset target the flags name; exactly one must be given.
fn target(args: &ResetArgs) -> anyhow::Result<ResetTo> {
    if args.to_earliest {
        return Ok(ResetTo::Position(ResetPosition::Earliest));
    }
    if args.to_latest {
        return Ok(ResetTo::Position(ResetPosition::Latest));
    }
    if let Some(offset) = args.to_offset {
        return Ok(ResetTo::Offset(ResetToOffset { offset }));
    }
    if let Some(text) = &args.to_datetime {
        let time =
            humantime::parse_rfc3339_weak(text.trim_end_matches('Z')).with_context(|| {
                format!("--to-datetime {text:?}: expected RFC 3339, e.g. 2026-11-30T12:00:00Z")
            })?;
        let since_epoch = time
            .duration_since(std::time::UNIX_EPOCH)
            .with_context(|| format!("--to-datetime {text:?} is before 1970"))?;
        let timestamp_ms = i64::try_from(since_epoch.as_millis())
            .with_context(|| format!("--to-datetime {text:?} is too far away"))?;
        return Ok(ResetTo::Timestamp(ResetToTimestamp { timestamp_ms }));
    }
    bail!("give one of --to-earliest, --to-latest, --to-offset N, --to-datetime RFC3339")
}

pub async fn run(args: GroupsArgs) -> anyhow::Result<()> {
    let client = args.target.client()?;
    match args.command {
        GroupsCommand::List => print(&client.groups().await?),
        GroupsCommand::Describe { group } => print(&client.describe_group(&group).await?),
        GroupsCommand::Delete { group } => print(&client.delete_group(&group).await?),
        GroupsCommand::ResetOffsets(reset) => {
            let request = ResetOffsetsRequest {
                topic: reset.topic.clone(),
                to: target(&reset)?,
                partitions: (!reset.partitions.is_empty()).then(|| reset.partitions.clone()),
                dry_run: !reset.execute,
            };
            let answer = client.reset_offsets(&reset.group, &request).await?;
            println!(
                "{:<24} {:<24} {:>9} {:>14}",
                "GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"
            );
            for offset in &answer.offsets {
                println!(
                    "{:<24} {:<24} {:>9} {:>14}",
                    answer.group_id, offset.topic, offset.partition, offset.committed
                );
            }
            if !answer.executed {
                eprintln!("Dry run: nothing was committed. Add --execute to reset the offsets.");
            }
            Ok(())
        }
    }
}
