//! `DATA/cluster.json`: what a node must remember about the cluster across restarts, whatever
//! happens to Redis — the highest epoch it has seen (the floor of its next election, so a Redis
//! that restarted empty cannot hand out an old epoch) and the partition records it last saw (so
//! that after Redis lost them, only a node that was in the ISR can win the lease).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::decide::PartitionRecord;

const FILE_NAME: &str = "cluster.json";

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NodeFile {
    pub cluster: String,
    pub node_id: i32,
    pub highest_epoch: i32,
    #[serde(default)]
    pub partitions: BTreeMap<String, PartitionRecord>,
}

impl NodeFile {
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join(FILE_NAME)
    }

    /// The node's file; a missing file is a node that never joined.
    pub fn load(data_dir: &Path) -> std::io::Result<Option<NodeFile>> {
        crate::json_file::load(&Self::path(data_dir))
    }

    /// Replaces the file atomically and durably: callers act on an epoch only after this
    /// returned.
    pub fn store(&self, data_dir: &Path) -> std::io::Result<()> {
        crate::json_file::store(data_dir, FILE_NAME, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_a_missing_file_is_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(NodeFile::load(dir.path()).expect("loads"), None);
        let mut file = NodeFile {
            cluster: "c".into(),
            node_id: 2,
            highest_epoch: 7,
            partitions: BTreeMap::new(),
        };
        file.partitions.insert(
            "t:0".into(),
            PartitionRecord {
                epoch: 7,
                leader: 1,
                isr: vec![1, 2],
                version: 3,
            },
        );
        file.store(dir.path()).expect("stores");
        assert_eq!(NodeFile::load(dir.path()).expect("loads"), Some(file));
    }
}
