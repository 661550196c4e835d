//! A partition's place in the cluster: its role on this node, its epoch, its ISR, and (on the
//! leader) what each follower has. `Partition` holds one `ReplicaState` under a mutex and reads
//! the hot fields (role, epoch) from atomics; the decisions are in `cluster::decide`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::cluster::decide::FollowerProgress;

/// How this node serves a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Role {
    /// No cluster: this node is the only replica.
    Standalone = 0,
    Leader = 1,
    Follower = 2,
    /// A clustered node that neither leads nor follows (no leader known, or stepping down).
    Offline = 3,
}

impl Role {
    pub fn from_u8(value: u8) -> Role {
        match value {
            0 => Role::Standalone,
            1 => Role::Leader,
            2 => Role::Follower,
            _ => Role::Offline,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Standalone => "standalone",
            Role::Leader => "leader",
            Role::Follower => "follower",
            Role::Offline => "candidate",
        }
    }
}

/// The replication state of one partition on this node.
#[derive(Debug, Clone)]
pub struct ReplicaState {
    pub leader: i32,
    pub epoch: i32,
    /// The leader's log end offset when its epoch began: a follower joins the ISR only once it
    /// has reached it (so it holds everything the leader had when elected).
    pub epoch_start_offset: i64,
    pub isr: Vec<i32>,
    pub isr_version: i64,
    /// Every node that replicates the partition.
    pub replicas: Vec<i32>,
    pub min_insync_replicas: usize,
    /// On the leader: each follower's progress in this epoch.
    pub followers: BTreeMap<i32, FollowerProgress>,
}

impl Default for ReplicaState {
    fn default() -> ReplicaState {
        ReplicaState {
            leader: -1,
            epoch: 0,
            epoch_start_offset: 0,
            isr: Vec::new(),
            isr_version: 0,
            replicas: Vec::new(),
            min_insync_replicas: 1,
            followers: BTreeMap::new(),
        }
    }
}

/// The leader lease as the partitions check it: a deadline on this node's monotonic clock,
/// set by the controller from each successful renewal. A standalone node's gate never closes.
#[derive(Debug)]
pub struct LeaseGate {
    base: Instant,
    /// Milliseconds after `base` until which this node may act as leader; 0 = not at all.
    deadline_ms: AtomicU64,
}

impl LeaseGate {
    pub fn new() -> LeaseGate {
        LeaseGate {
            base: Instant::now(),
            deadline_ms: AtomicU64::new(0),
        }
    }

    /// A gate that is always open (no cluster).
    pub fn always_open() -> LeaseGate {
        let gate = LeaseGate::new();
        gate.deadline_ms.store(u64::MAX, Ordering::Release);
        gate
    }

    /// Milliseconds on this gate's monotonic clock.
    pub fn now_ms(&self) -> u64 {
        self.base.elapsed().as_millis() as u64
    }

    pub fn is_open(&self) -> bool {
        self.now_ms() < self.deadline_ms.load(Ordering::Acquire)
    }

    /// Opens the gate until `deadline_ms` (from `now_ms`); never moves an open gate backwards
    /// except through `close`.
    pub fn extend_to(&self, deadline_ms: u64) {
        self.deadline_ms.fetch_max(deadline_ms, Ordering::AcqRel);
    }

    pub fn close(&self) {
        self.deadline_ms.store(0, Ordering::Release);
    }

    /// Milliseconds left, 0 when closed.
    pub fn remaining_ms(&self) -> u64 {
        self.deadline_ms
            .load(Ordering::Acquire)
            .saturating_sub(self.now_ms())
    }
}

impl Default for LeaseGate {
    fn default() -> LeaseGate {
        LeaseGate::new()
    }
}
