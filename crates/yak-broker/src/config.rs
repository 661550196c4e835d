//! What a node is told at start-up. The binary fills this from flags, `YAK_*` variables and the
//! TOML file; the library only checks it.

use std::net::SocketAddr;
use std::path::PathBuf;

use yak_log::FlushPolicy;

/// Named limits of the Kafka listener, checked at start-up (see `yak_kafka::ServerConfig`).
pub use yak_kafka::ServerConfig as KafkaLimits;

/// Named limits of the HTTP front-end, checked at start-up.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// Largest JSON body of `POST /produce` and the admin endpoints.
    pub body_bytes_max: usize,
    /// Largest `application/x-ndjson` body of `POST /produce`.
    pub ndjson_body_bytes_max: usize,
    /// Most records in one `messages` array.
    pub batch_records_max: usize,
    /// Most records in one NDJSON body.
    pub ndjson_records_max: usize,
    /// Most records one `GET /consume` returns.
    pub consume_records_max: i64,
    /// Longest long-poll of `GET /consume`.
    pub consume_wait_ms_max: i64,
    /// Bytes of stored batches read per `GET /consume` step.
    pub consume_read_bytes_max: u32,
    /// Concurrent `GET /consume/stream` and `GET /events` streams.
    pub streams_max: usize,
}

impl Default for HttpLimits {
    fn default() -> HttpLimits {
        HttpLimits {
            body_bytes_max: 8 * 1024 * 1024,
            ndjson_body_bytes_max: 256 * 1024 * 1024,
            batch_records_max: 10_000,
            ndjson_records_max: 2_000_000,
            consume_records_max: 10_000,
            consume_wait_ms_max: 30_000,
            consume_read_bytes_max: 4 * 1024 * 1024,
            streams_max: 1024,
        }
    }
}

/// Kafka's default offset retention: 7 days.
pub const OFFSETS_RETENTION_MS_DEFAULT: u64 = 7 * 24 * 3_600_000;

#[derive(Debug, Clone)]
pub struct BrokerConfig {
    pub node_id: i32,
    pub data_dir: PathBuf,
    pub http: SocketAddr,
    pub kafka: SocketAddr,
    /// The URL clients should use for this node's HTTP API; derived from the bound address when
    /// absent.
    pub advertise_http: Option<String>,
    /// The `host:port` Kafka clients should use; derived from the bound address when absent.
    pub advertise_kafka: Option<String>,
    pub cluster: String,
    /// The cluster's coordinator and settings; None for a standalone node.
    pub coordinator: Option<crate::cluster::ClusterConfig>,
    pub default_partitions: i32,
    pub default_replication_factor: i32,
    pub min_insync_replicas: i32,
    pub flush: FlushPolicy,
    pub segment_bytes_max: u64,
    pub segment_ms_max: u64,
    /// How often retention looks for segments to delete.
    pub retention_check_interval_ms: u64,
    /// How long committed offsets of a group without members are kept (Kafka's
    /// `offsets.retention.minutes`).
    pub offsets_retention_ms: u64,
    pub http_limits: HttpLimits,
    /// Limits of the Kafka listener (frame, fetch and queued bytes, connections).
    pub kafka_limits: KafkaLimits,
    /// Listeners, TLS, authentication, ACLs (none by default).
    pub security: crate::security::SecurityConfig,
}

impl BrokerConfig {
    /// A standalone node keeping its data in `data_dir` and listening on ephemeral loopback
    /// ports (tests and embedders start from this and change what they need).
    pub fn on_ephemeral_ports(data_dir: PathBuf) -> BrokerConfig {
        BrokerConfig {
            node_id: 0,
            data_dir,
            http: SocketAddr::from(([127, 0, 0, 1], 0)),
            kafka: SocketAddr::from(([127, 0, 0, 1], 0)),
            advertise_http: None,
            advertise_kafka: None,
            cluster: "yak".into(),
            coordinator: None,
            default_partitions: 3,
            default_replication_factor: 1,
            min_insync_replicas: 1,
            flush: FlushPolicy::Always,
            segment_bytes_max: 16 * 1024 * 1024,
            segment_ms_max: 3_600_000,
            retention_check_interval_ms: 30_000,
            offsets_retention_ms: OFFSETS_RETENTION_MS_DEFAULT,
            http_limits: HttpLimits::default(),
            kafka_limits: KafkaLimits::default(),
            security: crate::security::SecurityConfig::default(),
        }
    }

    /// Rejects configurations the broker cannot honour, before anything starts.
    pub fn validate(&self) -> Result<(), String> {
        if self.default_partitions < 1
            || self.default_partitions > crate::topic::TOPIC_PARTITIONS_MAX
        {
            return Err(format!(
                "default_partitions must be 1..={}, got {}",
                crate::topic::TOPIC_PARTITIONS_MAX,
                self.default_partitions
            ));
        }
        if self.coordinator.is_none() && self.default_replication_factor != 1 {
            return Err(format!(
                "default_replication_factor {} needs a cluster (--coordinator); a standalone node keeps 1 replica",
                self.default_replication_factor
            ));
        }
        if self.default_replication_factor < 1 {
            return Err("default_replication_factor must be at least 1".into());
        }
        if let Some(cluster) = &self.coordinator {
            cluster.validate()?;
            if self.node_id < 0 {
                return Err(format!("node_id must be 0 or more, got {}", self.node_id));
            }
        }
        if self.min_insync_replicas < 1 {
            return Err("min_insync_replicas must be at least 1".into());
        }
        if self.segment_bytes_max < 1024 * 1024 || self.segment_bytes_max > u32::MAX as u64 {
            return Err("segment_bytes_max must be between 1 MiB and 4 GiB".into());
        }
        if self.offsets_retention_ms < 1 {
            return Err("offsets_retention_ms must be at least 1".into());
        }
        if self.retention_check_interval_ms < 1 {
            return Err("retention_check_interval_ms must be at least 1".into());
        }
        if let FlushPolicy::IntervalMs(0) = self.flush {
            return Err("flush interval must be at least 1 ms".into());
        }
        self.kafka_limits.validate()?;
        self.security.validate()?;
        Ok(())
    }
}
