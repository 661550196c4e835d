//! Consumer groups: Kafka's classic group protocol (JoinGroup, SyncGroup, Heartbeat,
//! LeaveGroup) and committed offsets.
//!
//! One [`GroupCoordinator`] per node; in a cluster only the leader's answers (the others send
//! clients to it through FindCoordinator). Group membership lives in memory, as in Kafka: after a
//! restart or a failover members rejoin. Committed offsets are durable: each commit is a record
//! of the internal topic `__consumer_offsets` (one partition, replicated like any other), written
//! with `acks=all` before the commit is answered, and replayed into memory when the node starts
//! leading (`docs/groups.md`).
//!
//! The state machine follows Kafka's: Empty → PreparingRebalance → CompletingRebalance →
//! Stable, Dead when deleted. A JoinGroup is answered once every known member has rejoined or
//! the rebalance timeout passed; generation ids fence members of an older round. Waiting
//! requests hold only a oneshot receiver, so a client that vanishes leaves nothing behind; every
//! timeout (rebalance, session, sync) belongs to the coordinator's own ticker task.
//!
//! - [`state`]: the groups and their state machine (plain code, no I/O).
//! - [`offsets`]: the `__consumer_offsets` record format and replay.

pub mod offsets;
pub mod state;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::broker::{Broker, NewTopic};
use crate::error::BrokerError;
use crate::partition::Durability;
pub use offsets::{OffsetKey, OffsetValue, OFFSETS_TOPIC};
pub use state::{GroupState, Groups, JoinOutcome, Limits, SyncOutcome};

/// How often the ticker looks for expired sessions and rebalance deadlines.
pub const TICK_MS: u64 = 100;

/// A node's group coordinator.
#[derive(Debug)]
pub struct GroupCoordinator {
    /// Shared with the tasks that write commits (see `write`).
    groups: Arc<Mutex<Groups>>,
    broker: Weak<Broker>,
    /// Serialises commits: each is written to the log, then applied to memory, in the same
    /// order, so memory never disagrees with what a replay would give.
    commit_lock: Arc<tokio::sync::Mutex<()>>,
}

/// One committed offset to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommit {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

/// Longest metadata string a commit may carry (Kafka's `offset.metadata.max.bytes`).
pub const OFFSET_METADATA_BYTES_MAX: usize = 4096;

impl GroupCoordinator {
    pub fn new(broker: Weak<Broker>, limits: Limits) -> GroupCoordinator {
        GroupCoordinator {
            groups: Arc::new(Mutex::new(Groups::new(limits))),
            broker,
            commit_lock: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    fn groups(&self) -> std::sync::MutexGuard<'_, Groups> {
        self.groups.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn broker(&self) -> Result<Arc<Broker>, BrokerError> {
        self.broker.upgrade().ok_or(BrokerError::ShuttingDown)
    }

    /// Runs the ticker until the broker shuts down.
    pub fn spawn_ticker(self: &Arc<Self>, broker: &Arc<Broker>) -> tokio::task::JoinHandle<()> {
        let coordinator = Arc::clone(self);
        let shutdown = broker.shutdown.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_millis(TICK_MS));
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticker.tick() => {}
                    _ = shutdown.cancelled() => return,
                }
                let expired = coordinator
                    .groups()
                    .tick(crate::monotonic_ms(), crate::now_ms());
                if !expired.is_empty() {
                    // Tombstones, so a replay does not bring the expired offsets back. A task
                    // of its own: the ticker does not wait on the log.
                    let writer = Arc::clone(&coordinator);
                    tokio::spawn(async move { writer.write_tombstones(expired).await });
                }
            }
        })
    }

    /// Forgets every group and reloads committed offsets from the log (a node that starts
    /// leading: members rejoin, offsets come from `__consumer_offsets`).
    pub async fn load(&self) -> Result<(), BrokerError> {
        let broker = self.broker()?;
        let records = match broker.topic(OFFSETS_TOPIC) {
            None => BTreeMap::new(),
            Some(topic) => {
                let Some(partition) = topic.partition(0).cloned() else {
                    return Ok(());
                };
                tokio::task::spawn_blocking(move || offsets::replay(&partition))
                    .await
                    .map_err(|e| BrokerError::Internal(format!("offset replay failed: {e}")))??
            }
        };
        let count = records.len();
        self.groups().reset(records);
        tracing::info!(offsets = count, "committed offsets loaded");
        Ok(())
    }

    pub async fn join(&self, request: state::JoinRequest) -> JoinOutcome {
        let now_ms = crate::monotonic_ms();
        let waiting = match self.groups().join(request, now_ms) {
            Ok(outcome) => return outcome,
            Err(waiting) => waiting,
        };
        // Held until the round completes; the coordinator's ticker ends it at the rebalance
        // timeout at the latest, so this never waits forever.
        waiting
            .await
            .unwrap_or_else(|_| JoinOutcome::error(state::code::REBALANCE_IN_PROGRESS))
    }

    pub async fn sync(&self, request: state::SyncRequest) -> SyncOutcome {
        let now_ms = crate::monotonic_ms();
        let waiting = match self.groups().sync(request, now_ms) {
            Ok(outcome) => return outcome,
            Err(waiting) => waiting,
        };
        waiting
            .await
            .unwrap_or_else(|_| SyncOutcome::error(state::code::REBALANCE_IN_PROGRESS))
    }

    pub fn heartbeat(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> i16 {
        self.groups().heartbeat(
            group_id,
            generation,
            member_id,
            instance_id,
            crate::monotonic_ms(),
        )
    }

    /// LeaveGroup of `members` (member id, group instance id); one error code per member and
    /// one for the request.
    pub fn leave(&self, group_id: &str, members: &[(String, Option<String>)]) -> (i16, Vec<i16>) {
        self.groups()
            .leave(group_id, members, crate::monotonic_ms())
    }

    /// OffsetCommit: checks the member, writes the commits durably, then applies them. One
    /// error code per commit.
    pub async fn commit(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
        commits: Vec<OffsetCommit>,
    ) -> Vec<i16> {
        let check = self
            .groups()
            .check_commit(group_id, generation, member_id, instance_id);
        if check != state::code::NONE {
            return vec![check; commits.len()];
        }
        let broker = match self.broker() {
            Ok(broker) => broker,
            Err(_) => return vec![state::code::COORDINATOR_NOT_AVAILABLE; commits.len()],
        };
        let mut codes = Vec::with_capacity(commits.len());
        let mut valid = Vec::new();
        for commit in &commits {
            let code = if commit
                .metadata
                .as_ref()
                .is_some_and(|m| m.len() > OFFSET_METADATA_BYTES_MAX)
            {
                state::code::OFFSET_METADATA_TOO_LARGE
            } else if broker.partition(&commit.topic, commit.partition).is_err()
                || commit.topic == OFFSETS_TOPIC
            {
                state::code::UNKNOWN_TOPIC_OR_PARTITION
            } else {
                valid.push(commit.clone());
                state::code::NONE
            };
            codes.push(code);
        }
        if valid.is_empty() {
            return codes;
        }
        let now_ms = crate::now_ms();
        let records: Vec<(OffsetKey, Option<OffsetValue>)> = valid
            .iter()
            .map(|c| {
                (
                    OffsetKey {
                        group: group_id.to_string(),
                        topic: c.topic.clone(),
                        partition: c.partition,
                    },
                    Some(OffsetValue {
                        offset: c.offset,
                        leader_epoch: c.leader_epoch,
                        metadata: c.metadata.clone(),
                        commit_ms: now_ms,
                    }),
                )
            })
            .collect();
        let written = self.write(&broker, &records).await;
        let failure = match written {
            Ok(()) => None,
            Err(error) => Some(commit_error_code(&error)),
        };
        for code in codes.iter_mut() {
            if *code == state::code::NONE {
                if let Some(failure) = failure {
                    *code = failure;
                }
            }
        }
        codes
    }

    /// Appends offset records to `__consumer_offsets` (created on first use) with acks=all,
    /// then applies them to memory, in commit order. All of it runs in a task of its own, which
    /// holds the commit lock: a client that vanishes mid-commit can leave neither a record in
    /// the log that memory lacks nor a later commit applied before an earlier one.
    async fn write(
        &self,
        broker: &Arc<Broker>,
        records: &[(OffsetKey, Option<OffsetValue>)],
    ) -> Result<(), BrokerError> {
        let groups = Arc::clone(&self.groups);
        let commit_lock = Arc::clone(&self.commit_lock);
        let broker = Arc::clone(broker);
        let records = records.to_vec();
        tokio::spawn(async move {
            let _ordered = commit_lock.lock().await;
            let partition = offsets_partition(&broker).await?;
            let mut batch = offsets::encode(&records, crate::now_ms());
            let valid = yak_log::ValidBatch::new(&mut batch)?;
            partition.append(valid, Durability::Committed).await?;
            groups
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .apply(&records);
            Ok(())
        })
        .await
        .map_err(|e| BrokerError::Internal(format!("offset commit task failed: {e}")))?
    }

    /// Writes tombstones for offsets that expired (best effort: a failure is logged, and the
    /// offsets expire again after the next replay).
    async fn write_tombstones(&self, keys: Vec<OffsetKey>) {
        let Ok(broker) = self.broker() else {
            return;
        };
        let count = keys.len();
        let records: Vec<(OffsetKey, Option<OffsetValue>)> =
            keys.into_iter().map(|k| (k, None)).collect();
        match self.write(&broker, &records).await {
            Ok(()) => tracing::info!(offsets = count, "expired committed offsets of empty groups"),
            Err(error) => tracing::warn!(%error, "cannot write tombstones of expired offsets"),
        }
    }

    /// OffsetFetch: the committed offsets of `group_id`, for `partitions` (None: every
    /// partition the group committed). Offset -1 where none was committed.
    pub fn fetch(
        &self,
        group_id: &str,
        partitions: Option<&[(String, i32)]>,
    ) -> Vec<(String, i32, Option<OffsetValue>)> {
        self.groups().committed(group_id, partitions)
    }

    pub fn list(&self) -> Vec<state::GroupSummary> {
        self.groups().list()
    }

    pub fn describe(&self, group_id: &str) -> state::GroupDescription {
        self.groups().describe(group_id)
    }

    /// DeleteGroups of one group: refused while it has members; writes a tombstone for every
    /// committed offset.
    pub async fn delete(&self, group_id: &str) -> i16 {
        let keys = match self.groups().deletable(group_id) {
            Ok(keys) => keys,
            Err(code) => return code,
        };
        let Ok(broker) = self.broker() else {
            return state::code::COORDINATOR_NOT_AVAILABLE;
        };
        let records: Vec<(OffsetKey, Option<OffsetValue>)> =
            keys.into_iter().map(|k| (k, None)).collect();
        if !records.is_empty() {
            if let Err(error) = self.write(&broker, &records).await {
                return commit_error_code(&error);
            }
        }
        self.groups().remove_if_empty(group_id);
        state::code::NONE
    }

    /// Sets a group's committed offsets (a reset to earliest, latest, an offset or a time, as
    /// Kafka's `--reset-offsets`): refused with NON_EMPTY_GROUP while the group has members, as
    /// Kafka refuses it. Creates the group (empty) if it did not exist.
    pub async fn reset_offsets(
        &self,
        group_id: &str,
        offsets: Vec<(String, i32, i64)>,
    ) -> Result<(), i16> {
        if !self.describe(group_id).members.is_empty() {
            return Err(state::code::NON_EMPTY_GROUP);
        }
        let commits = offsets
            .into_iter()
            .map(|(topic, partition, offset)| OffsetCommit {
                topic,
                partition,
                offset,
                leader_epoch: -1,
                metadata: None,
            })
            .collect();
        let codes = self.commit(group_id, -1, "", None, commits).await;
        match codes.into_iter().find(|code| *code != state::code::NONE) {
            Some(code) => Err(code),
            None => Ok(()),
        }
    }

    /// OffsetDelete: removes committed offsets of partitions the group is not subscribed to.
    pub async fn delete_offsets(
        &self,
        group_id: &str,
        partitions: &[(String, i32)],
    ) -> Result<Vec<i16>, i16> {
        let (keys, codes) = self.groups().offsets_deletable(group_id, partitions)?;
        let Ok(broker) = self.broker() else {
            return Err(state::code::COORDINATOR_NOT_AVAILABLE);
        };
        let records: Vec<(OffsetKey, Option<OffsetValue>)> =
            keys.into_iter().map(|k| (k, None)).collect();
        if !records.is_empty() {
            if let Err(error) = self.write(&broker, &records).await {
                return Err(commit_error_code(&error));
            }
        }
        Ok(codes)
    }
}

/// The partition of `__consumer_offsets`, created with one partition on first use.
async fn offsets_partition(
    broker: &Broker,
) -> Result<Arc<crate::partition::Partition>, BrokerError> {
    let topic = match broker.topic(OFFSETS_TOPIC) {
        Some(topic) => topic,
        None => match broker
            .create_topic(NewTopic {
                name: OFFSETS_TOPIC.into(),
                partitions: Some(1),
                ..NewTopic::default()
            })
            .await
        {
            Ok(topic) => topic,
            Err(BrokerError::TopicAlreadyExists(_)) => broker
                .topic(OFFSETS_TOPIC)
                .ok_or_else(|| BrokerError::UnknownTopic(OFFSETS_TOPIC.into()))?,
            Err(error) => return Err(error),
        },
    };
    topic
        .partition(0)
        .cloned()
        .ok_or_else(|| BrokerError::UnknownTopic(OFFSETS_TOPIC.into()))
}

/// A failed offset write, as Kafka's clients expect it: a retriable coordinator error.
fn commit_error_code(error: &BrokerError) -> i16 {
    match error {
        BrokerError::NotLeader { .. } | BrokerError::LeaderNotAvailable => {
            state::code::NOT_COORDINATOR
        }
        BrokerError::RequestTimedOut(_) => state::code::REQUEST_TIMED_OUT,
        BrokerError::NotEnoughReplicas { .. } => state::code::COORDINATOR_NOT_AVAILABLE,
        _ => state::code::UNKNOWN_SERVER_ERROR,
    }
}

/// Waits on a oneshot a state transition answers.
pub type Waiting<T> = oneshot::Receiver<T>;
