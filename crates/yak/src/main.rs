//! The `yak` binary: the broker, the command-line client, the standalone console and the
//! benchmark. Each subcommand is a module; this file only parses flags and dispatches.

mod acls;
mod bench;
mod bench_kafka;
mod broker_command;
mod cluster;
mod connection;
mod console;
mod consume;
mod groups;
mod produce;
mod security_args;
mod tokens;
mod topics;
mod users;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use yak_broker::BrokerError;

/// Exit status of a broker that found a log it must not repair at start-up (a sealed segment
/// that does not parse): restarting will not help; the partition needs repair or a replica.
pub const EXIT_CORRUPT_LOG: u8 = 3;
/// Exit status of a broker whose data directory another broker holds.
pub const EXIT_DATA_DIR_IN_USE: u8 = 4;

#[derive(Debug, Parser)]
#[command(
    name = "yak",
    version,
    about = "YAK: a Kafka-compatible message broker in one binary"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a broker node (standalone unless --coordinator is given).
    Broker(Box<broker_command::BrokerArgs>),
    /// Send records: one MESSAGE, one per stdin line, or one per CSV row.
    Produce(produce::ProduceArgs),
    /// Read records, one JSON object per line.
    Consume(consume::ConsumeArgs),
    /// List, create, describe and delete topics.
    Topics(topics::TopicsArgs),
    /// Consumer groups: list, describe with lag, reset offsets, delete.
    Groups(groups::GroupsArgs),
    /// The cluster: its status, or a local cluster to try a failover (`cluster up`).
    Cluster(cluster::ClusterArgs),
    /// Serve the web console as its own process, in front of one or more brokers.
    Console(console::ConsoleArgs),
    /// Load generator with a progress bar and a JSON summary.
    Bench(bench::BenchArgs),
    /// SCRAM users: list, add (or change a password), delete.
    Users(users::UsersArgs),
    /// ACLs: add, list, delete, with the flags of Kafka's kafka-acls.
    Acls(acls::AclsArgs),
    /// Bearer tokens for the HTTP API: create, list, revoke.
    Tokens(tokens::TokensArgs),
}

fn init_tracing(default: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("YAK_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let is_broker = matches!(cli.command, Command::Broker(_) | Command::Console(_));
    init_tracing(if is_broker { "info" } else { "warn" });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Broker(args) => broker_command::run(*args).await,
            Command::Produce(args) => produce::run(args).await,
            Command::Consume(args) => consume::run(args).await,
            Command::Topics(args) => topics::run_topics(args).await,
            Command::Groups(args) => groups::run(args).await,
            Command::Cluster(args) => cluster::run(args).await,
            Command::Console(args) => console::run(args).await,
            Command::Bench(args) => bench::run(args).await,
            Command::Users(args) => users::run(args).await,
            Command::Acls(args) => acls::run(args).await,
            Command::Tokens(args) => tokens::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            exit_code(&error)
        }
    }
}

/// The status for a failure: its own for the dead ends an operator must act on, 1 otherwise.
fn exit_code(error: &anyhow::Error) -> ExitCode {
    match error.downcast_ref::<BrokerError>() {
        Some(BrokerError::CorruptLog { .. }) => ExitCode::from(EXIT_CORRUPT_LOG),
        Some(BrokerError::DataDirInUse { .. }) => ExitCode::from(EXIT_DATA_DIR_IN_USE),
        _ => ExitCode::FAILURE,
    }
}

/// Waits for SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(error) => {
            tracing::warn!(%error, "cannot watch SIGTERM; only Ctrl-C stops the process");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
