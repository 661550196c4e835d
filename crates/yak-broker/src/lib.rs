//! The YAK node: topics and partitions over `yak-log`, the HTTP front-end, and the embedded
//! console.
//!
//! The path of a produce: [`http::produce`] parses and validates the records, picks partitions
//! with [`partitioner`], encodes Kafka v2 batches with [`http::records`], and appends them through
//! [`partition::Partition`], which waits for group commit under `--flush always`. A consume goes
//! the other way: [`http::consume`] reads whole stored batches below the high watermark and turns
//! their records into JSON.
//!
//! Modules:
//! - [`server`]: binds the listeners, runs the node, shuts it down gracefully.
//! - [`broker`]: the node's topics and the admin operations over them.
//! - [`topic`]: topic names, metadata persisted in `DATA/topics.json`.
//! - [`partition`]: one partition's log, high watermark and durability waits.
//! - [`flusher`]: the per-data-directory task that fsyncs dirty partitions (group commit).
//! - [`partitioner`]: murmur2 key partitioning, as Kafka's Java client.
//! - [`producer_state`]: idempotent producers' sequence checks.
//! - [`kafka`]: the broker as the Kafka front-end's backend.
//! - [`http`]: the HTTP API and console.
//! - [`metrics`], [`activity`]: what the node shows about itself.
//! - [`compression`]: reading batches Kafka clients compressed, for HTTP consumers.
//! - [`security`]: TLS, users, ACLs and limits, shared by the Kafka listeners and HTTP.
//! - [`config`], [`error`].

pub mod activity;
pub mod broker;
pub mod cluster;
pub mod compression;
pub mod config;
pub mod error;
pub mod flusher;
pub mod groups;
pub mod http;
pub mod json_file;
pub mod kafka;
pub mod kafka_groups;
pub mod metrics;
pub mod partition;
pub mod partitioner;
pub mod producer_state;
pub mod replica;
pub mod security;
pub mod server;
pub mod topic;

pub use broker::Broker;
pub use config::{BrokerConfig, HttpLimits, KafkaLimits};
pub use error::BrokerError;
pub use server::{start, Running};

/// Milliseconds on a monotonic clock that starts with the process (timeouts, sessions).
pub fn monotonic_ms() -> u64 {
    static BASE: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    BASE.get_or_init(std::time::Instant::now)
        .elapsed()
        .as_millis() as u64
}

/// Milliseconds since the Unix epoch, the unit of every record timestamp.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
