//! `yak topics`, `yak groups`, `yak cluster`: admin over the HTTP API, printed as JSON.

use clap::{Args, Subcommand};
use yak_api::CreateTopicRequest;
use yak_client::Client;

/// Where an admin command sends its request.
#[derive(Debug, Args)]
pub struct BrokerUrl {
    /// Broker URLs, comma-separated; the client finds the leader.
    #[arg(
        long,
        env = "YAK_BROKER",
        default_value = "http://127.0.0.1:5001",
        global = true
    )]
    pub broker: String,
}

#[derive(Debug, Args)]
pub struct TopicsArgs {
    #[command(flatten)]
    pub target: BrokerUrl,
    #[command(subcommand)]
    pub command: TopicsCommand,
}

#[derive(Debug, Subcommand)]
pub enum TopicsCommand {
    /// Every topic with its partitions, records and size.
    List,
    /// Create a topic.
    Create {
        name: String,
        #[arg(long)]
        partitions: Option<i32>,
        #[arg(long)]
        replication_factor: Option<i32>,
        #[arg(long)]
        retention_ms: Option<i64>,
    },
    /// A topic's partitions: leader, replicas, ISR, offsets.
    Describe { name: String },
    /// Delete a topic and its records.
    Delete { name: String },
}

fn print(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

pub async fn run_topics(args: TopicsArgs) -> anyhow::Result<()> {
    let client = Client::new(&[args.target.broker.as_str()])?;
    match args.command {
        TopicsCommand::List => print(&client.topics().await?),
        TopicsCommand::Create {
            name,
            partitions,
            replication_factor,
            retention_ms,
        } => {
            let request = CreateTopicRequest {
                name,
                partitions,
                replication_factor,
                retention_ms,
            };
            print(&client.create_topic(&request).await?)
        }
        TopicsCommand::Describe { name } => print(&client.describe_topic(&name).await?),
        TopicsCommand::Delete { name } => print(&client.delete_topic(&name).await?),
    }
}

#[derive(Debug, Args)]
pub struct GroupsArgs {
    #[command(flatten)]
    pub target: BrokerUrl,
    #[command(subcommand)]
    pub command: GroupsCommand,
}

#[derive(Debug, Subcommand)]
pub enum GroupsCommand {
    List,
    Describe { group: String },
}

pub async fn run_groups(args: GroupsArgs) -> anyhow::Result<()> {
    let _ = args.command;
    anyhow::bail!(
        "consumer groups are not available on {} yet; `yak consume --partition P --offset N` reads without one",
        args.target.broker
    )
}

#[derive(Debug, Args)]
pub struct ClusterArgs {
    #[command(flatten)]
    pub target: BrokerUrl,
    #[command(subcommand)]
    pub command: ClusterCommand,
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Nodes, leader, epoch and partitions.
    Status,
}

pub async fn run_cluster(args: ClusterArgs) -> anyhow::Result<()> {
    let client = Client::new(&[args.target.broker.as_str()])?;
    match args.command {
        ClusterCommand::Status => print(&client.cluster().await?),
    }
}
