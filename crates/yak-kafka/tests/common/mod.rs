//! What the listener tests share: a backend without topics, and an allocator that counts the
//! peak bytes allocated (a test binary installs it as its global allocator).
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use yak_auth::{ScramCredential, ScramMechanism};
use yak_kafka::{Backend, BackendError, FetchOutcome, NodeInfo, ProduceOutcome, TopicMeta};

/// A backend with no topics (the tests here never get past framing, decoding and login), and
/// the users a SASL login may name.
#[derive(Default)]
pub struct EmptyBackend {
    /// User → password; each gets SCRAM-SHA-256 and SCRAM-SHA-512 credentials.
    pub users: HashMap<String, (String, Vec<ScramCredential>)>,
}

impl EmptyBackend {
    pub fn with_user(user: &str, password: &str) -> EmptyBackend {
        let credentials = ScramMechanism::ALL
            .into_iter()
            .map(|mechanism| {
                ScramCredential::new(mechanism, password, yak_auth::scram::ITERATIONS_MIN)
                    .expect("a credential")
            })
            .collect();
        EmptyBackend {
            users: [(user.to_string(), (password.to_string(), credentials))].into(),
        }
    }
}

impl Backend for EmptyBackend {
    fn cluster_id(&self) -> String {
        "empty".into()
    }
    fn controller_id(&self) -> i32 {
        0
    }
    fn nodes(&self, _listener: yak_kafka::SecurityProtocol) -> Vec<NodeInfo> {
        Vec::new()
    }
    fn topics(&self) -> Vec<TopicMeta> {
        Vec::new()
    }
    fn topic(&self, _name: &str) -> Option<TopicMeta> {
        None
    }
    async fn auto_create_topic(&self, _name: &str) -> Result<TopicMeta, BackendError> {
        Err(BackendError::UnknownTopicOrPartition)
    }
    async fn create_topic(
        &self,
        _name: &str,
        _partitions: i32,
        _replication_factor: i16,
        _configs: Vec<(String, String)>,
        _validate_only: bool,
    ) -> Result<TopicMeta, BackendError> {
        Err(BackendError::UnknownTopicOrPartition)
    }
    async fn delete_topic(&self, _name: &str) -> Result<(), BackendError> {
        Err(BackendError::UnknownTopicOrPartition)
    }
    async fn alter_topic_configs(
        &self,
        _name: &str,
        _changes: Vec<(String, Option<String>)>,
        _validate_only: bool,
    ) -> Result<(), BackendError> {
        Err(BackendError::UnknownTopicOrPartition)
    }
    async fn create_partitions(
        &self,
        _name: &str,
        _total_count: i32,
        _validate_only: bool,
    ) -> Result<(), BackendError> {
        Err(BackendError::UnknownTopicOrPartition)
    }
    async fn produce(
        &self,
        _topic: &str,
        _partition: i32,
        _batch: yak_log::ValidBatch<'_>,
        _acks: i16,
        _timeout_ms: i32,
    ) -> Result<ProduceOutcome, BackendError> {
        Err(BackendError::UnknownTopicOrPartition)
    }
    async fn fetch(
        &self,
        _topic: &str,
        _partition: i32,
        _offset: i64,
        _partition_max_bytes: i32,
        _read_committed: bool,
        _reader: yak_kafka::backend::Reader,
    ) -> Result<FetchOutcome, BackendError> {
        Err(BackendError::UnknownTopicOrPartition)
    }
    async fn wait_for_data(
        &self,
        _topic: &str,
        _partition: i32,
        _offset: i64,
        _reader: yak_kafka::backend::Reader,
    ) {
    }
    async fn offset_for_leader_epoch(
        &self,
        _topic: &str,
        _partition: i32,
        _current_leader_epoch: i32,
        _leader_epoch: i32,
    ) -> Result<(i32, i64), BackendError> {
        Err(BackendError::UnknownTopicOrPartition)
    }
    async fn list_offset(
        &self,
        _topic: &str,
        _partition: i32,
        _timestamp: i64,
    ) -> Result<(i64, i64), BackendError> {
        Err(BackendError::UnknownTopicOrPartition)
    }
    async fn init_producer_id(&self) -> Result<(i64, i16), BackendError> {
        Err(BackendError::UnknownTopicOrPartition)
    }
    fn scram_credential(&self, user: &str, mechanism: ScramMechanism) -> Option<ScramCredential> {
        let (_, credentials) = self.users.get(user)?;
        credentials
            .iter()
            .find(|c| c.mechanism == mechanism)
            .cloned()
    }
    fn check_password(&self, user: &str, password: &str) -> bool {
        self.users
            .get(user)
            .is_some_and(|(known, _)| known == password)
    }
}

/// Counts the bytes allocated now and the most ever allocated at once.
/// Install it in a test binary with `#[global_allocator]`.
pub struct CountingAllocator;

static ALLOCATED_BYTES: AtomicUsize = AtomicUsize::new(0);
static ALLOCATED_BYTES_PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts sizes.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            let now = ALLOCATED_BYTES.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            ALLOCATED_BYTES_PEAK.fetch_max(now, Ordering::Relaxed);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(pointer, layout) };
        ALLOCATED_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let moved = unsafe { System.realloc(pointer, layout, new_size) };
        if !moved.is_null() {
            if new_size >= layout.size() {
                let grown = new_size - layout.size();
                let now = ALLOCATED_BYTES.fetch_add(grown, Ordering::Relaxed) + grown;
                ALLOCATED_BYTES_PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                ALLOCATED_BYTES.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        moved
    }
}

/// Starts counting the peak from what is allocated now; returns that baseline.
pub fn reset_peak() -> usize {
    let now = ALLOCATED_BYTES.load(Ordering::Relaxed);
    ALLOCATED_BYTES_PEAK.store(now, Ordering::Relaxed);
    now
}

pub fn peak_above(baseline: usize) -> usize {
    ALLOCATED_BYTES_PEAK
        .load(Ordering::Relaxed)
        .saturating_sub(baseline)
}
