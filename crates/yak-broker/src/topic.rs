//! Topics: names, the metadata that survives restarts, and the partitions of each topic.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

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

/// What is persisted about a topic in `DATA/topics.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicConfig {
    pub name: String,
    pub partitions: i32,
    pub replication_factor: i32,
    pub retention_ms: Option<i64>,
    /// Kafka topic id (UUID), reported in Metadata v10+.
    pub topic_id: String,
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
        match std::fs::read(Self::path(data_dir)) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {e}", Self::path(data_dir).display()),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TopicsFile::default()),
            Err(e) => Err(e),
        }
    }

    /// Replaces the metadata file atomically: write a temporary file, fsync it, rename it over the
    /// old one, fsync the directory. A crash leaves either the old or the new file, never a mix.
    pub fn store(&self, data_dir: &Path) -> std::io::Result<()> {
        use std::io::Write;
        let path = Self::path(data_dir);
        let temporary = data_dir.join("topics.json.tmp");
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, &path)?;
        std::fs::File::open(data_dir)?.sync_all()
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
}
