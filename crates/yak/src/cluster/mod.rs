//! `yak cluster status` and `yak cluster up`.
//!
//! `status` asks the nodes one after another for `GET /cluster` and prints what the first that
//! answers reports: nodes, the lease, and per partition the replicas, ISR, offsets and each
//! follower's lag. Any node will do, so it works in the middle of a failover too.
//!
//! `up` is the quickest way to watch a failover: it starts `redis-server` and N brokers of this
//! very executable on one machine, prints what to try, and stops them all on Ctrl-C or SIGTERM.

mod status;
mod up;

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::topics::BrokerUrl;
pub use status::columns;

#[derive(Debug, Args)]
pub struct ClusterArgs {
    #[command(subcommand)]
    pub command: ClusterCommand,
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Nodes, the lease, and per partition replicas, ISR, offsets and follower lag.
    Status(StatusArgs),
    /// Start Redis and N brokers on this machine, to try a failover; Ctrl-C stops them all.
    Up(UpArgs),
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub target: BrokerUrl,
    /// Print the raw JSON of `GET /cluster`.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct UpArgs {
    /// Number of broker nodes (node ids 1..=N).
    #[arg(long, default_value_t = 3)]
    pub nodes: u32,
    /// Holds each node's data directory (`node-N`), Redis's files and every log.
    #[arg(long, default_value = "yak-cluster")]
    pub dir: PathBuf,
    /// Port of the Redis that `up` starts (not the usual 6379, so a Redis already running there
    /// is left alone).
    #[arg(long, default_value_t = 6390)]
    pub redis_port: u16,
    /// HTTP port of node 1; node N gets this + N - 1.
    #[arg(long, default_value_t = 5001)]
    pub base_http_port: u16,
    /// Kafka port of node 1; node N gets this + N - 1.
    #[arg(long, default_value_t = 9092)]
    pub base_kafka_port: u16,
    /// Lease length passed to every broker (the broker's default when absent).
    #[arg(long)]
    pub lease_ms: Option<u64>,
    /// The executable the brokers run; this one when absent (for testing another build).
    #[arg(long, hide = true)]
    pub broker_bin: Option<PathBuf>,
}

pub async fn run(args: ClusterArgs) -> anyhow::Result<()> {
    match args.command {
        ClusterCommand::Status(status) => status::run(status).await,
        ClusterCommand::Up(args) => up::run(args).await,
    }
}
