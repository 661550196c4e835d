//! Topics: names, the metadata that survives restarts, and the partitions of each topic.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use yak_log::{FlushPolicy, LogConfig, Retention};

use crate::partition::Partition;

/// Kafka's limit on topic name length.
pub const TOPIC_NAME_CHARS_MAX: usize = 249;
/// The most partitions one topic may have on this broker.
pub const TOPIC_PARTITIONS_MAX: i32 = 1024;

/// Kafka's topic name rules: `[a-zA-Z0-9._-]`, 1 to 249 characters, not `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("topic name is empty".into());
    }
    if name.len() > TOPIC_NAME_CHARS_MAX {
        return Err(format!(
            "topic name is {} characters; the limit is {TOPIC_NAME_CHARS_MAX}",
            name.len()
        ));
    }
    if name == "." || name == ".." {
        return Err("topic name cannot be '.' or '..'".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "topic name contains {c:?}; allowed are ASCII letters, digits, '.', '_' and '-'"
        ));
    }
    Ok(())
}

/// Kafka's topic config names this broker knows, sorted.
pub const CLEANUP_POLICY: &str = "cleanup.policy";
pub const COMPRESSION_TYPE: &str = "compression.type";
pub const MAX_MESSAGE_BYTES: &str = "max.message.bytes";
pub const MIN_INSYNC_REPLICAS: &str = "min.insync.replicas";
pub const RETENTION_BYTES: &str = "retention.bytes";
pub const RETENTION_MS: &str = "retention.ms";
pub const SEGMENT_BYTES: &str = "segment.bytes";
pub const SEGMENT_MS: &str = "segment.ms";
pub const TOPIC_CONFIG_NAMES: [&str; 8] = [
    CLEANUP_POLICY,
    COMPRESSION_TYPE,
    MAX_MESSAGE_BYTES,
    MIN_INSYNC_REPLICAS,
    RETENTION_BYTES,
    RETENTION_MS,
    SEGMENT_BYTES,
    SEGMENT_MS,
];

/// The smallest `segment.bytes` a topic may set: smaller segments would mean a file pair per
/// handful of records.
pub const TOPIC_SEGMENT_BYTES_MIN: u64 = 1024;

fn parse_integer<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, String> {
    value
        .trim()
        .parse()
        .map_err(|_| format!("{name} must be an integer, got {value:?}"))
}

/// Checks one topic config against Kafka's meaning of it and what this broker supports.
pub fn check_topic_config(name: &str, value: &str) -> Result<(), String> {
    match name {
        RETENTION_MS | RETENTION_BYTES => {
            let number: i64 = parse_integer(name, value)?;
            if number < -1 {
                return Err(format!(
                    "{name} must be -1 (unlimited) or at least 0, got {number}"
                ));
            }
        }
        SEGMENT_BYTES => {
            let number: u64 = parse_integer(name, value)?;
            if !(TOPIC_SEGMENT_BYTES_MIN..=u64::from(u32::MAX)).contains(&number) {
                return Err(format!(
                    "{name} must be within [{TOPIC_SEGMENT_BYTES_MIN}, {}], got {number}",
                    u32::MAX
                ));
            }
        }
        SEGMENT_MS => {
            let number: u64 = parse_integer(name, value)?;
            if number < 1 {
                return Err(format!("{name} must be at least 1, got {number}"));
            }
        }
        MAX_MESSAGE_BYTES => {
            let number: u32 = parse_integer(name, value)?;
            let minimum = yak_log::BATCH_HEADER_BYTES as u32;
            if number < minimum || number > i32::MAX as u32 {
                return Err(format!(
                    "{name} must be within [{minimum}, {}], got {number}",
                    i32::MAX
                ));
            }
        }
        MIN_INSYNC_REPLICAS => {
            let number: i32 = parse_integer(name, value)?;
            if number < 1 {
                return Err(format!("{name} must be at least 1, got {number}"));
            }
        }
        CLEANUP_POLICY => {
            let policies: Vec<&str> = value.split(',').map(str::trim).collect();
            if policies.contains(&"compact") {
                return Err(format!(
                    "{name}={value} is not supported: log compaction is not built; use delete"
                ));
            }
            if policies != ["delete"] {
                return Err(format!("{name} must be delete, got {value:?}"));
            }
        }
        COMPRESSION_TYPE => match value {
            "producer" => {}
            "uncompressed" | "gzip" | "snappy" | "lz4" | "zstd" => {
                return Err(format!(
                    "{name}={value} is not supported: batches are stored as the producer compressed them; use producer"
                ))
            }
            _ => return Err(format!("{name} must be producer, got {value:?}")),
        },
        _ => {
            return Err(format!(
                "unknown topic config {name:?}; known are {}",
                TOPIC_CONFIG_NAMES.join(", ")
            ))
        }
    }
    Ok(())
}

/// What is persisted about a topic in `DATA/topics.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredTopicConfig")]
pub struct TopicConfig {
    pub name: String,
    pub partitions: i32,
    pub replication_factor: i32,
    /// Kafka topic id (UUID), reported in Metadata v10+.
    pub topic_id: String,
    /// The configs set on this topic, in Kafka's names; any other takes the broker's default.
    #[serde(default)]
    pub configs: BTreeMap<String, String>,
}

/// `topics.json` as any version of the broker wrote it: before topic configs existed, the one
/// setting was the field `retention_ms`.
#[derive(Deserialize)]
struct StoredTopicConfig {
    name: String,
    partitions: i32,
    replication_factor: i32,
    topic_id: String,
    #[serde(default)]
    configs: BTreeMap<String, String>,
    #[serde(default)]
    retention_ms: Option<i64>,
}

impl From<StoredTopicConfig> for TopicConfig {
    fn from(stored: StoredTopicConfig) -> TopicConfig {
        let mut configs = stored.configs;
        if let Some(retention_ms) = stored.retention_ms {
            configs
                .entry(RETENTION_MS.to_string())
                .or_insert_with(|| retention_ms.to_string());
        }
        TopicConfig {
            name: stored.name,
            partitions: stored.partitions,
            replication_factor: stored.replication_factor,
            topic_id: stored.topic_id,
            configs,
        }
    }
}

/// A topic's effective settings, parsed from its configs over the broker's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicSettings {
    /// -1: unlimited.
    pub retention_ms: i64,
    /// -1: unlimited.
    pub retention_bytes: i64,
    pub segment_bytes: u64,
    pub segment_ms: u64,
    pub max_message_bytes: u32,
}

impl TopicSettings {
    /// Reads the settings out of `configs` (every name present, values checked when they were
    /// set); a value that does not parse (a hand-edited file) falls back to `fallback`.
    pub fn from_configs(configs: &BTreeMap<String, String>, fallback: TopicSettings) -> Self {
        fn get<T: std::str::FromStr>(
            configs: &BTreeMap<String, String>,
            name: &str,
            fallback: T,
        ) -> T {
            configs
                .get(name)
                .and_then(|value| value.trim().parse().ok())
                .unwrap_or(fallback)
        }
        TopicSettings {
            retention_ms: get(configs, RETENTION_MS, fallback.retention_ms),
            retention_bytes: get(configs, RETENTION_BYTES, fallback.retention_bytes),
            segment_bytes: get(configs, SEGMENT_BYTES, fallback.segment_bytes),
            segment_ms: get(configs, SEGMENT_MS, fallback.segment_ms),
            max_message_bytes: get(configs, MAX_MESSAGE_BYTES, fallback.max_message_bytes),
        }
    }

    /// What retention keeps, in the log's terms (-1 becomes unlimited).
    pub fn retention(&self) -> Retention {
        Retention {
            retention_ms: (self.retention_ms >= 0).then_some(self.retention_ms),
            retention_bytes: u64::try_from(self.retention_bytes).ok(),
        }
    }

    /// The log limits these settings ask for.
    pub fn log_config(&self, flush: FlushPolicy) -> LogConfig {
        LogConfig {
            segment_bytes_max: self.segment_bytes,
            segment_ms_max: self.segment_ms,
            batch_bytes_max: self.max_message_bytes,
            flush,
            ..LogConfig::default()
        }
    }
}

/// The metadata file: every topic of this broker.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TopicsFile {
    pub topics: Vec<TopicConfig>,
}

impl TopicsFile {
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join("topics.json")
    }

    /// Reads the metadata file; a missing file is an empty broker.
    pub fn load(data_dir: &Path) -> std::io::Result<TopicsFile> {
        Ok(crate::json_file::load(&Self::path(data_dir))?.unwrap_or_default())
    }

    /// Replaces the metadata file atomically: a crash leaves either the old or the new file,
    /// never a mix.
    pub fn store(&self, data_dir: &Path) -> std::io::Result<()> {
        crate::json_file::store(data_dir, "topics.json", self)
    }
}

/// A live topic: its configuration and its partitions.
#[derive(Debug)]
pub struct Topic {
    pub config: TopicConfig,
    pub partitions: Vec<Arc<Partition>>,
    /// Next partition for keyless records (round robin over requests).
    round_robin: AtomicU32,
}

impl Topic {
    pub fn new(config: TopicConfig, partitions: Vec<Arc<Partition>>) -> Topic {
        assert_eq!(config.partitions as usize, partitions.len());
        Topic {
            config,
            partitions,
            round_robin: AtomicU32::new(0),
        }
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    pub fn partition(&self, index: i32) -> Option<&Arc<Partition>> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.partitions.get(i))
    }

    /// The partition for records without a key: the next one in turn. `KeylessSpread` asks once
    /// per run of keyless records of a request (sticky per batch, as Kafka's clients are).
    pub fn next_round_robin(&self) -> i32 {
        (self.round_robin.fetch_add(1, Ordering::Relaxed) % self.partitions.len() as u32) as i32
    }

    pub fn partition_count(&self) -> i32 {
        self.partitions.len() as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(validate_topic_name("orders").is_ok());
        assert!(validate_topic_name("a.b_c-D9").is_ok());
        assert!(validate_topic_name(&"x".repeat(249)).is_ok());
        assert!(validate_topic_name(&"x".repeat(250)).is_err());
        assert!(validate_topic_name("").is_err());
        assert!(validate_topic_name(".").is_err());
        assert!(validate_topic_name("..").is_err());
        assert!(validate_topic_name("a/b").is_err());
        assert!(validate_topic_name("a b").is_err());
        assert!(validate_topic_name("é").is_err());
    }

    /// Proves a `topics.json` written before topic configs existed (field `retention_ms`)
    /// still loads, its retention now under Kafka's name.
    #[test]
    fn topics_json_with_retention_ms_still_loads() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            TopicsFile::path(dir.path()),
            r#"{"topics": [
                {"name": "old", "partitions": 2, "replication_factor": 1,
                 "retention_ms": 60000, "topic_id": "4b0a3c0e-8a5e-4a43-9d5e-2f1d8c1f0a11"},
                {"name": "forever", "partitions": 1, "replication_factor": 1,
                 "retention_ms": null, "topic_id": "0f7d2f6e-1d0c-4d1e-8f55-6f0f0f9e2c01"}
            ]}"#,
        )
        .expect("write");
        let file = TopicsFile::load(dir.path()).expect("the old file loads");
        assert_eq!(file.topics[0].name, "old");
        assert_eq!(file.topics[0].partitions, 2);
        assert_eq!(
            file.topics[0].configs.get(RETENTION_MS).map(String::as_str),
            Some("60000")
        );
        assert!(file.topics[1].configs.is_empty());
        // Written back, it carries the new shape only.
        file.store(dir.path()).expect("store");
        let text = std::fs::read_to_string(TopicsFile::path(dir.path())).expect("read");
        assert!(!text.contains("retention_ms"), "{text}");
        assert_eq!(
            TopicsFile::load(dir.path()).expect("reload").topics,
            file.topics
        );
    }

    /// Proves the config checks follow Kafka's meanings: -1 is unlimited, unknown names and
    /// bad values are refused, and compaction is refused as not supported.
    #[test]
    fn topic_configs_are_checked() {
        assert!(check_topic_config(RETENTION_MS, "-1").is_ok());
        assert!(check_topic_config(RETENTION_BYTES, "1048576").is_ok());
        assert!(check_topic_config(RETENTION_MS, "-2").is_err());
        assert!(check_topic_config(RETENTION_MS, "soon").is_err());
        assert!(check_topic_config(SEGMENT_BYTES, "100").is_err());
        assert!(check_topic_config(SEGMENT_BYTES, "4096").is_ok());
        assert!(check_topic_config(CLEANUP_POLICY, "delete").is_ok());
        let compact = check_topic_config(CLEANUP_POLICY, "compact").unwrap_err();
        assert!(compact.contains("not supported"), "{compact}");
        assert!(check_topic_config("retention.hours", "1").is_err());
        let settings = TopicSettings::from_configs(
            &BTreeMap::from([(RETENTION_MS.to_string(), "-1".to_string())]),
            TopicSettings {
                retention_ms: 5,
                retention_bytes: -1,
                segment_bytes: 4096,
                segment_ms: 1,
                max_message_bytes: 1000,
            },
        );
        assert_eq!(settings.retention(), Retention::default());
    }
}
