//! `yak topics`: admin over the HTTP API, printed as JSON.

use clap::{Args, Subcommand};
use std::collections::BTreeMap;

use anyhow::Context;
use yak_api::{AlterTopicConfigsRequest, CreateTopicRequest};
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
    #[command(flatten)]
    pub connection: crate::connection::Connection,
}

impl BrokerUrl {
    /// A client for these brokers with the connection flags' credentials and CA.
    pub fn client(&self) -> anyhow::Result<Client> {
        self.connection.client(&self.broker)
    }
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
        /// A topic config in Kafka's names, e.g. `--config retention.ms=86400000`; repeatable.
        #[arg(long = "config", value_name = "NAME=VALUE")]
        configs: Vec<String>,
        /// Older spelling of `--config retention.ms=MS`.
        #[arg(long, hide = true)]
        retention_ms: Option<i64>,
    },
    /// Change a topic's configs: `--config NAME=VALUE` sets one, `--delete-config NAME` returns
    /// it to the broker's default.
    Alter {
        name: String,
        #[arg(long = "config", value_name = "NAME=VALUE")]
        configs: Vec<String>,
        #[arg(long = "delete-config", value_name = "NAME")]
        delete_configs: Vec<String>,
    },
    /// A topic's partitions: leader, replicas, ISR, offsets.
    Describe { name: String },
    /// Delete a topic and its records.
    Delete { name: String },
}

/// `NAME=VALUE` pairs from `--config`.
fn parse_configs(pairs: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    pairs
        .iter()
        .map(|pair| {
            pair.split_once('=')
                .map(|(name, value)| (name.trim().to_string(), value.trim().to_string()))
                .with_context(|| format!("--config {pair:?}: expected NAME=VALUE"))
        })
        .collect()
}

pub fn print(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

pub async fn run_topics(args: TopicsArgs) -> anyhow::Result<()> {
    let client = args.target.client()?;
    match args.command {
        TopicsCommand::List => print(&client.topics().await?),
        TopicsCommand::Create {
            name,
            partitions,
            replication_factor,
            configs,
            retention_ms,
        } => {
            let request = CreateTopicRequest {
                name,
                partitions,
                replication_factor,
                configs: parse_configs(&configs)?,
                retention_ms,
            };
            print(&client.create_topic(&request).await?)
        }
        TopicsCommand::Alter {
            name,
            configs,
            delete_configs,
        } => {
            if configs.is_empty() && delete_configs.is_empty() {
                anyhow::bail!(
                    "nothing to change: give --config NAME=VALUE or --delete-config NAME"
                );
            }
            let mut changes: BTreeMap<String, Option<String>> = parse_configs(&configs)?
                .into_iter()
                .map(|(config, value)| (config, Some(value)))
                .collect();
            for config in delete_configs {
                if changes.insert(config.clone(), None).is_some() {
                    anyhow::bail!("{config} is both set and deleted");
                }
            }
            let request = AlterTopicConfigsRequest { configs: changes };
            print(&client.alter_topic_configs(&name, &request).await?)
        }
        TopicsCommand::Describe { name } => print(&client.describe_topic(&name).await?),
        TopicsCommand::Delete { name } => print(&client.delete_topic(&name).await?),
    }
}
