//! `yak broker`: configuration from flags, `YAK_*` variables and a TOML file, with the same
//! names in every layer (`--data-dir`, `YAK_DATA_DIR`, `data_dir`). Flags and variables win over
//! the file; the file wins over the defaults.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::Args;
use serde::Deserialize;
use yak_broker::{BrokerConfig, HttpLimits, KafkaLimits};

#[derive(Debug, Clone, Default, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerArgs {
    /// TOML file with any of the settings below (same names, snake_case).
    #[arg(long, env = "YAK_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Where the logs and topic metadata live.
    #[arg(long, env = "YAK_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// This node's id, unique in the cluster.
    #[arg(long, env = "YAK_NODE_ID")]
    pub node_id: Option<i32>,
    /// HTTP API and console address (port 0 picks a free port).
    #[arg(long, env = "YAK_HTTP")]
    pub http: Option<SocketAddr>,
    /// Kafka protocol address.
    #[arg(long, env = "YAK_KAFKA")]
    pub kafka: Option<SocketAddr>,
    /// URL other nodes and clients use for this node's HTTP API.
    #[arg(long, env = "YAK_ADVERTISE_HTTP")]
    pub advertise_http: Option<String>,
    /// host:port Kafka clients use for this node.
    #[arg(long, env = "YAK_ADVERTISE_KAFKA")]
    pub advertise_kafka: Option<String>,
    /// redis://HOST:PORT/DB of the coordinator: joins a replicated cluster (docs/REPLICATION.md).
    #[arg(long, env = "YAK_COORDINATOR")]
    pub coordinator: Option<String>,
    /// The Redis ACL user this node logs in as (over the URL's; its password from
    /// --coordinator-password-file or YAK_COORDINATOR_PASSWORD).
    #[arg(long, env = "YAK_COORDINATOR_USER")]
    pub coordinator_user: Option<String>,
    /// A file whose first line is the Redis password (over the URL's).
    #[arg(long, env = "YAK_COORDINATOR_PASSWORD_FILE")]
    pub coordinator_password_file: Option<PathBuf>,
    /// PEM CA certificates the Redis server's certificate is checked against (rediss:// URLs;
    /// the system's roots without it).
    #[arg(long, env = "YAK_COORDINATOR_CA_FILE")]
    pub coordinator_ca_file: Option<PathBuf>,
    /// Cluster name: shown by `GET /cluster`, and the coordinator's key prefix.
    #[arg(long, env = "YAK_CLUSTER")]
    pub cluster: Option<String>,
    /// Partitions of a topic created on first use.
    #[arg(long, env = "YAK_DEFAULT_PARTITIONS")]
    pub default_partitions: Option<i32>,
    /// Replicas of a new topic (every node of a cluster replicates every partition; at most the
    /// number of nodes).
    #[arg(long, env = "YAK_DEFAULT_REPLICATION_FACTOR")]
    pub default_replication_factor: Option<i32>,
    /// In-sync replicas an acks=all write needs (Kafka's min.insync.replicas).
    #[arg(long, env = "YAK_MIN_INSYNC_REPLICAS")]
    pub min_insync_replicas: Option<i32>,
    /// Leader lease length in the coordinator (default 3000); renewed every third of it.
    #[arg(long, env = "YAK_LEASE_MS")]
    pub lease_ms: Option<u64>,
    /// A follower not caught up with the leader for this long leaves the ISR (default 5000;
    /// Kafka's replica.lag.time.max.ms).
    #[arg(long, env = "YAK_REPLICA_LAG_MS")]
    pub replica_lag_ms: Option<u64>,
    /// Let a node outside the ISR take the lease when no ISR member can: keeps the cluster
    /// available at the price of losing acknowledged records.
    #[arg(long, env = "YAK_UNCLEAN_ELECTION")]
    pub unclean_election: Option<bool>,
    /// always (fsync before acknowledging, with group commit), interval:MS, or never.
    #[arg(long, env = "YAK_FLUSH")]
    pub flush: Option<String>,
    /// A segment rolls when it reaches this size.
    #[arg(long, env = "YAK_SEGMENT_BYTES_MAX")]
    pub segment_bytes_max: Option<u64>,
    /// A segment rolls when its first record is this old.
    #[arg(long, env = "YAK_SEGMENT_MS_MAX")]
    pub segment_ms_max: Option<u64>,
    /// How often retention looks for segments to delete (topics' retention.ms and
    /// retention.bytes).
    #[arg(long, env = "YAK_RETENTION_CHECK_INTERVAL_MS")]
    pub retention_check_interval_ms: Option<u64>,
    /// How long committed offsets of a consumer group without members are kept (default 7
    /// days, Kafka's offsets.retention.minutes).
    #[arg(long, env = "YAK_OFFSETS_RETENTION_MS")]
    pub offsets_retention_ms: Option<u64>,
    /// Most record bytes in one Kafka Fetch response, whatever the client asks (Kafka's
    /// fetch.max.bytes; default 55 MiB).
    #[arg(long, env = "YAK_FETCH_BYTES_MAX")]
    pub fetch_bytes_max: Option<usize>,
    /// Kafka request bytes read and not yet handled, over all connections (Kafka's
    /// queued.max.request.bytes; default 256 MiB).
    #[arg(long, env = "YAK_QUEUED_REQUEST_BYTES_MAX")]
    pub queued_request_bytes_max: Option<usize>,
    /// Fetched record bytes read and not yet written to Kafka clients, over all connections
    /// (default 256 MiB).
    #[arg(long, env = "YAK_QUEUED_RESPONSE_BYTES_MAX")]
    pub queued_response_bytes_max: Option<usize>,
    /// TLS, listeners, authentication, ACLs: the `[security]` block of the file.
    #[command(flatten)]
    #[serde(default)]
    pub security: crate::security_args::SecurityArgs,
}

macro_rules! layer {
    ($flags:expr, $file:expr, $($field:ident),*) => {
        $( if $flags.$field.is_none() { $flags.$field = $file.$field.clone(); } )*
    };
}

impl BrokerArgs {
    /// Flags and variables over the file named by `--config`.
    pub fn with_file(mut self) -> anyhow::Result<BrokerArgs> {
        let Some(path) = self.config.clone() else {
            return Ok(self);
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        let file: BrokerArgs = toml::from_str(&text)
            .with_context(|| format!("invalid config file {}", path.display()))?;
        layer!(
            self,
            file,
            data_dir,
            node_id,
            http,
            kafka,
            advertise_http,
            advertise_kafka,
            coordinator,
            coordinator_user,
            coordinator_password_file,
            coordinator_ca_file,
            cluster,
            default_partitions,
            default_replication_factor,
            min_insync_replicas,
            lease_ms,
            replica_lag_ms,
            unclean_election,
            flush,
            segment_bytes_max,
            segment_ms_max,
            retention_check_interval_ms,
            offsets_retention_ms,
            fetch_bytes_max,
            queued_request_bytes_max,
            queued_response_bytes_max
        );
        self.security.layer(&file.security);
        Ok(self)
    }

    /// Refuses the settings of a cluster on a standalone node (no `--coordinator`): a node that
    /// accepted them would look configured for failover and replicas it does not provide.
    /// Values a standalone node already has (one replica, one in-sync replica) are accepted.
    fn refuse_cluster_settings(&self) -> anyhow::Result<()> {
        if self.coordinator.is_some() {
            return Ok(());
        }
        const STANDALONE: &str = "this node has no --coordinator, so it is standalone";
        if self.coordinator_user.is_some()
            || self.coordinator_password_file.is_some()
            || self.coordinator_ca_file.is_some()
        {
            bail!("--coordinator-user, --coordinator-password-file and --coordinator-ca-file log in to the coordinator and {STANDALONE}; remove them or add --coordinator");
        }
        if let Some(lease_ms) = self.lease_ms {
            bail!("--lease-ms {lease_ms}: the leader lease comes with a coordinator and {STANDALONE}; remove the setting or add --coordinator");
        }
        if let Some(lag_ms) = self.replica_lag_ms {
            bail!("--replica-lag-ms {lag_ms}: followers come with a coordinator and {STANDALONE}; remove the setting or add --coordinator");
        }
        if self.unclean_election == Some(true) {
            bail!("--unclean-election: elections come with a coordinator and {STANDALONE}");
        }
        if let Some(factor) = self.default_replication_factor.filter(|f| *f != 1) {
            bail!("--default-replication-factor {factor}: a standalone node keeps 1 replica ({STANDALONE}); use 1 or add --coordinator");
        }
        if let Some(replicas) = self.min_insync_replicas.filter(|m| *m != 1) {
            bail!("--min-insync-replicas {replicas}: a standalone node has 1 in-sync replica ({STANDALONE}); use 1 or add --coordinator");
        }
        Ok(())
    }

    pub fn into_config(self) -> anyhow::Result<BrokerConfig> {
        self.refuse_cluster_settings()?;
        let flush = match &self.flush {
            Some(text) => text.parse().map_err(|e| anyhow::anyhow!("--flush: {e}"))?,
            None => yak_log::FlushPolicy::Always,
        };
        let defaults = yak_log::LogConfig::default();
        let kafka_defaults = KafkaLimits::default();
        let kafka_limits = KafkaLimits {
            fetch_bytes_max: self
                .fetch_bytes_max
                .unwrap_or(kafka_defaults.fetch_bytes_max),
            queued_request_bytes_max: self
                .queued_request_bytes_max
                .unwrap_or(kafka_defaults.queued_request_bytes_max),
            queued_response_bytes_max: self
                .queued_response_bytes_max
                .unwrap_or(kafka_defaults.queued_response_bytes_max),
            ..kafka_defaults
        };
        Ok(BrokerConfig {
            node_id: self.node_id.unwrap_or(0),
            data_dir: self.data_dir.unwrap_or_else(|| PathBuf::from("./yak-data")),
            http: self
                .http
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 5001))),
            kafka: self
                .kafka
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 9092))),
            advertise_http: self.advertise_http,
            advertise_kafka: self.advertise_kafka,
            cluster: self.cluster.unwrap_or_else(|| "yak".into()),
            coordinator: match self.coordinator {
                None => None,
                Some(url) => Some(yak_broker::cluster::ClusterConfig {
                    coordinator_user: self.coordinator_user,
                    coordinator_password: crate::security_args::password(
                        self.coordinator_password_file.as_deref(),
                        "YAK_COORDINATOR_PASSWORD",
                        "coordinator",
                    )?,
                    coordinator_ca_file: self.coordinator_ca_file,
                    lease_ms: self
                        .lease_ms
                        .unwrap_or(yak_broker::cluster::ClusterConfig::LEASE_MS_DEFAULT),
                    replica_lag_ms: self
                        .replica_lag_ms
                        .unwrap_or(yak_broker::cluster::ClusterConfig::REPLICA_LAG_MS_DEFAULT),
                    unclean_election: self.unclean_election.unwrap_or(false),
                    ..yak_broker::cluster::ClusterConfig::new(url)
                }),
            },
            default_partitions: self.default_partitions.unwrap_or(3),
            default_replication_factor: self.default_replication_factor.unwrap_or(1),
            min_insync_replicas: self.min_insync_replicas.unwrap_or(1),
            flush,
            segment_bytes_max: self.segment_bytes_max.unwrap_or(defaults.segment_bytes_max),
            segment_ms_max: self.segment_ms_max.unwrap_or(defaults.segment_ms_max),
            retention_check_interval_ms: self.retention_check_interval_ms.unwrap_or(30_000),
            offsets_retention_ms: self
                .offsets_retention_ms
                .unwrap_or(yak_broker::config::OFFSETS_RETENTION_MS_DEFAULT),
            http_limits: HttpLimits::default(),
            kafka_limits,
            security: self.security.into_config()?,
        })
    }
}

pub async fn run(args: BrokerArgs) -> anyhow::Result<()> {
    let config = args.with_file()?.into_config()?;
    config.validate().map_err(|e| anyhow::anyhow!(e))?;
    let running = yak_broker::start(config, Arc::new(yak_log::OsFileSystem))
        .await
        .context("the broker could not start")?;
    // Scripts and tests that bind port 0 read the real addresses from this line.
    let scheme = if running.broker.config.security.http_tls {
        "https"
    } else {
        "http"
    };
    let listeners: Vec<String> = running
        .kafka_listeners
        .iter()
        .map(|(protocol, address)| format!("{protocol}://{address}"))
        .collect();
    println!(
        "listening http={scheme}://{} kafka={} listeners={}",
        running.http_addr,
        running.kafka_addr,
        listeners.join(",")
    );
    crate::shutdown_signal().await;
    running
        .shutdown()
        .await
        .context("the broker did not shut down cleanly")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sample configuration uses exactly the flag names, and every key in it is known.
    #[test]
    fn example_config_parses_into_broker_settings() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../yak.example.toml");
        let text = std::fs::read_to_string(path).expect("yak.example.toml exists");
        // The sample keeps its settings commented out; uncomment them to check every name.
        let uncommented: String = text
            .lines()
            .map(|l| {
                l.strip_prefix("# ")
                    .filter(|l| l.contains(" = ") || l.starts_with('['))
                    .unwrap_or(l)
            })
            .collect::<Vec<_>>()
            .join("\n");
        let mut parsed: BrokerArgs =
            toml::from_str(&uncommented).expect("every key is a broker setting");
        assert!(
            parsed.security.tls_cert_file.is_some() && parsed.security.authorization == Some(true)
        );
        // The sample's password files do not exist here.
        let dir = tempfile::tempdir().expect("tempdir");
        let password_file = dir.path().join("password");
        std::fs::write(&password_file, "sample\n").expect("write");
        parsed.security.bootstrap_password_file = Some(password_file.clone());
        parsed.security.inter_broker_password_file = Some(password_file);
        assert_eq!(parsed.default_partitions, Some(3));
        assert_eq!(parsed.flush.as_deref(), Some("always"));
        assert!(parsed.data_dir.is_some() && parsed.http.is_some() && parsed.kafka.is_some());
        // Every setting of the sample together is a valid clustered node.
        assert!(parsed.coordinator.is_some() && parsed.replica_lag_ms.is_some());
        assert!(parsed.offsets_retention_ms.is_some());
        let config = parsed.into_config().expect("valid config");
        assert!(config.validate().is_ok());
    }

    /// A flag wins over the file, and the file over the default.
    #[test]
    fn flags_override_the_config_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("yak.toml");
        std::fs::write(&path, "default_partitions = 7\nnode_id = 4\n").expect("write");
        let args = BrokerArgs {
            config: Some(path),
            node_id: Some(9),
            ..BrokerArgs::default()
        };
        let config = args
            .with_file()
            .expect("file")
            .into_config()
            .expect("config");
        assert_eq!(config.default_partitions, 7);
        assert_eq!(config.node_id, 9);
        assert_eq!(config.http.port(), 5001);
    }

    /// Cluster settings without a coordinator would do nothing: refused with the flag's name, in every layer;
    /// the values a standalone node already has are accepted.
    #[test]
    fn cluster_flags_need_a_coordinator() {
        let refused = [
            (
                "--lease-ms 3000",
                BrokerArgs {
                    lease_ms: Some(3000),
                    ..BrokerArgs::default()
                },
            ),
            (
                "--replica-lag-ms 1000",
                BrokerArgs {
                    replica_lag_ms: Some(1000),
                    ..BrokerArgs::default()
                },
            ),
            (
                "--default-replication-factor 3",
                BrokerArgs {
                    default_replication_factor: Some(3),
                    ..BrokerArgs::default()
                },
            ),
            (
                "--min-insync-replicas 2",
                BrokerArgs {
                    min_insync_replicas: Some(2),
                    ..BrokerArgs::default()
                },
            ),
        ];
        for (flag, args) in refused {
            let error = args.into_config().expect_err(flag).to_string();
            assert!(error.starts_with(flag), "{flag}: {error}");
            assert!(error.contains("--coordinator"), "{flag}: {error}");
        }
        let clustered = BrokerArgs {
            coordinator: Some("redis://127.0.0.1:6379/0".into()),
            lease_ms: Some(2000),
            replica_lag_ms: Some(1000),
            default_replication_factor: Some(3),
            min_insync_replicas: Some(2),
            ..BrokerArgs::default()
        };
        let config = clustered
            .into_config()
            .expect("a clustered node takes them");
        let cluster = config.coordinator.expect("a coordinator");
        assert_eq!((cluster.lease_ms, cluster.replica_lag_ms), (2000, 1000));
        let standalone = BrokerArgs {
            default_replication_factor: Some(1),
            min_insync_replicas: Some(1),
            ..BrokerArgs::default()
        };
        assert!(standalone.into_config().is_ok());
        let from_file: BrokerArgs = toml::from_str("lease_ms = 3000").expect("a known key");
        assert!(
            from_file.into_config().is_err(),
            "the TOML key is refused too"
        );
    }

    /// The Redis user and password are given apart from the URL (the password from a file,
    /// never a flag), and neither the password nor the URL's shows in the configuration's Debug;
    /// a standalone node refuses them.
    #[test]
    fn coordinator_credentials_come_from_a_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("redis.password");
        std::fs::write(&path, "file-secret\n").expect("write");
        let args = BrokerArgs {
            coordinator: Some("redis://yak:url-secret@127.0.0.1:6379/0".into()),
            coordinator_user: Some("yak-node".into()),
            coordinator_password_file: Some(path.clone()),
            ..BrokerArgs::default()
        };
        let config = args.into_config().expect("config");
        let cluster = config.coordinator.expect("a coordinator");
        assert_eq!(cluster.coordinator_user.as_deref(), Some("yak-node"));
        assert_eq!(
            cluster.coordinator_password.as_ref().map(|p| p.0.as_str()),
            Some("file-secret")
        );
        let shown = format!("{cluster:?}");
        assert!(
            !shown.contains("file-secret") && !shown.contains("url-secret"),
            "{shown}"
        );
        let standalone = BrokerArgs {
            coordinator_password_file: Some(path),
            ..BrokerArgs::default()
        };
        let error = standalone
            .into_config()
            .expect_err("no coordinator")
            .to_string();
        assert!(error.contains("--coordinator"), "{error}");
    }

    /// An unknown key in the file is an error, not silently ignored.
    #[test]
    fn unknown_config_keys_are_rejected() {
        assert!(toml::from_str::<BrokerArgs>("data_dri = \"x\"").is_err());
    }
}
