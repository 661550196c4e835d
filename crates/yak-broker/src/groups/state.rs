//! The groups and their state machine, as plain code: every method takes the time, none does
//! I/O. Requests that must wait for a rebalance round get a oneshot receiver; the transition
//! that completes the round answers every waiter.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use tokio::sync::oneshot;

use super::offsets::{OffsetKey, OffsetValue};

/// Kafka's error codes the coordinator answers.
pub mod code {
    pub const NONE: i16 = 0;
    pub const UNKNOWN_SERVER_ERROR: i16 = -1;
    pub const REQUEST_TIMED_OUT: i16 = 7;
    pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
    pub const OFFSET_METADATA_TOO_LARGE: i16 = 12;
    pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;
    pub const NOT_COORDINATOR: i16 = 16;
    pub const ILLEGAL_GENERATION: i16 = 22;
    pub const INCONSISTENT_GROUP_PROTOCOL: i16 = 23;
    pub const INVALID_GROUP_ID: i16 = 24;
    pub const UNKNOWN_MEMBER_ID: i16 = 25;
    pub const INVALID_SESSION_TIMEOUT: i16 = 26;
    pub const REBALANCE_IN_PROGRESS: i16 = 27;
    pub const INVALID_REQUEST: i16 = 42;
    pub const NON_EMPTY_GROUP: i16 = 68;
    pub const GROUP_ID_NOT_FOUND: i16 = 69;
    pub const MEMBER_ID_REQUIRED: i16 = 79;
    pub const GROUP_MAX_SIZE_REACHED: i16 = 81;
    pub const FENCED_INSTANCE_ID: i16 = 82;
    pub const GROUP_SUBSCRIBED_TO_TOPIC: i16 = 86;
}

/// How long a group without members or offsets stays listed before it is forgotten.
pub const EMPTY_GROUP_KEPT_MS: u64 = 60_000;

/// Bounds on what clients can make the coordinator hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Kafka's `group.min.session.timeout.ms` / `group.max.session.timeout.ms`.
    pub session_timeout_ms_min: i32,
    pub session_timeout_ms_max: i32,
    /// Members of one group (Kafka's `group.max.size`).
    pub members_max: usize,
    /// Member ids handed out with MEMBER_ID_REQUIRED and not yet used, per group.
    pub pending_members_max: usize,
    /// Groups on the node.
    pub groups_max: usize,
    /// Bytes of one member's protocol metadata, all protocols together.
    pub member_metadata_bytes_max: usize,
    /// Bytes of one member's assignment.
    pub assignment_bytes_max: usize,
    /// How long a group with no members keeps its committed offsets (Kafka's
    /// `offsets.retention.minutes`, 7 days).
    pub offsets_retention_ms: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            session_timeout_ms_min: 6_000,
            session_timeout_ms_max: 1_800_000,
            members_max: 1_000,
            pending_members_max: 1_000,
            groups_max: 10_000,
            member_metadata_bytes_max: 1024 * 1024,
            assignment_bytes_max: 1024 * 1024,
            offsets_retention_ms: 7 * 24 * 3_600_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    /// Kafka's names, as DescribeGroups and ListGroups report them.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// A JoinGroup as the coordinator needs it.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    pub group_id: String,
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    /// v4+ clients are told MEMBER_ID_REQUIRED on their first join (KIP-394).
    pub requires_known_member_id: bool,
    /// v9+ clients understand `skip_assignment` (KIP-814): a static leader that rejoins a
    /// stable group gets the member list without a new round.
    pub supports_skip_assignment: bool,
}

#[derive(Debug, Clone, Default)]
pub struct JoinOutcome {
    pub error_code: i16,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// Only for the leader: every member's id, instance id and metadata for the chosen protocol.
    pub members: Vec<(String, Option<String>, Bytes)>,
    /// The leader must not compute a new assignment: the group keeps the one it has (KIP-814).
    pub skip_assignment: bool,
}

impl JoinOutcome {
    pub fn error(error_code: i16) -> JoinOutcome {
        JoinOutcome {
            error_code,
            generation_id: -1,
            ..JoinOutcome::default()
        }
    }
}

#[derive(Debug, Clone)]
pub struct SyncRequest {
    pub group_id: String,
    pub generation_id: i32,
    pub member_id: String,
    pub instance_id: Option<String>,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignments: Vec<(String, Bytes)>,
}

#[derive(Debug, Clone, Default)]
pub struct SyncOutcome {
    pub error_code: i16,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

impl SyncOutcome {
    pub fn error(error_code: i16) -> SyncOutcome {
        SyncOutcome {
            error_code,
            ..SyncOutcome::default()
        }
    }
}

#[derive(Debug, Clone)]
pub struct GroupSummary {
    pub group_id: String,
    pub protocol_type: String,
    pub state: GroupState,
}

#[derive(Debug, Clone)]
pub struct MemberDescription {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

#[derive(Debug, Clone)]
pub struct GroupDescription {
    pub group_id: String,
    pub state: GroupState,
    pub protocol_type: String,
    pub protocol_name: String,
    pub members: Vec<MemberDescription>,
}

#[derive(Debug)]
struct Member {
    instance_id: Option<String>,
    client_id: String,
    client_host: String,
    session_timeout_ms: u64,
    rebalance_timeout_ms: u64,
    protocol_type: String,
    protocols: Vec<(String, Bytes)>,
    assignment: Bytes,
    last_heartbeat_ms: u64,
    awaiting_join: Option<oneshot::Sender<JoinOutcome>>,
    awaiting_sync: Option<oneshot::Sender<SyncOutcome>>,
}

impl Member {
    fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, metadata)| metadata.clone())
            .unwrap_or_default()
    }
}

#[derive(Debug)]
struct Group {
    state: GroupState,
    generation: i32,
    protocol_type: Option<String>,
    protocol_name: Option<String>,
    leader: Option<String>,
    members: BTreeMap<String, Member>,
    /// group.instance.id → member id (static membership, KIP-345).
    static_members: HashMap<String, String>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, with when they expire.
    pending: HashMap<String, u64>,
    /// When the current PreparingRebalance or CompletingRebalance round gives up waiting.
    deadline_ms: Option<u64>,
    /// When the group last became empty (for offset retention).
    empty_since_ms: Option<u64>,
}

impl Group {
    fn new() -> Group {
        Group {
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: BTreeMap::new(),
            static_members: HashMap::new(),
            pending: HashMap::new(),
            deadline_ms: None,
            empty_since_ms: None,
        }
    }

    fn rebalance_timeout_ms(&self) -> u64 {
        self.members
            .values()
            .map(|m| m.rebalance_timeout_ms)
            .max()
            .unwrap_or(0)
    }

    /// Starts a round: every member must rejoin.
    fn prepare_rebalance(&mut self, now_ms: u64) {
        if self.state == GroupState::CompletingRebalance {
            // Members waiting for their assignment must rejoin.
            for member in self.members.values_mut() {
                if let Some(waiter) = member.awaiting_sync.take() {
                    let _ = waiter.send(SyncOutcome::error(code::REBALANCE_IN_PROGRESS));
                }
            }
        }
        if self.state != GroupState::PreparingRebalance {
            self.state = GroupState::PreparingRebalance;
            self.deadline_ms = Some(now_ms + self.rebalance_timeout_ms());
        }
    }

    fn all_joined(&self) -> bool {
        !self.members.is_empty() && self.members.values().all(|m| m.awaiting_join.is_some())
    }

    /// The protocol every member supports with the most votes (each member votes for its
    /// first supported choice), as Kafka picks it.
    fn select_protocol(&self) -> Option<String> {
        let first = self.members.values().next()?;
        let candidates: Vec<&String> = first
            .protocols
            .iter()
            .map(|(name, _)| name)
            .filter(|name| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|(n, _)| n == *name))
            })
            .collect();
        let mut votes: BTreeMap<&String, usize> = BTreeMap::new();
        for member in self.members.values() {
            if let Some((name, _)) = member
                .protocols
                .iter()
                .find(|(name, _)| candidates.contains(&name))
            {
                *votes.entry(name).or_default() += 1;
            }
        }
        candidates
            .iter()
            .max_by_key(|name| votes.get(*name).copied().unwrap_or(0))
            .map(|name| (*name).clone())
    }

    /// Ends a PreparingRebalance round: members that did not rejoin leave, the generation
    /// moves on, and every waiting JoinGroup is answered (the leader with the member list).
    fn complete_join(&mut self, now_ms: u64) {
        let gone: Vec<String> = self
            .members
            .iter()
            .filter(|(_, m)| m.awaiting_join.is_none())
            .map(|(id, _)| id.clone())
            .collect();
        for id in gone {
            self.remove_member(&id);
        }
        self.generation += 1;
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            self.protocol_name = None;
            self.leader = None;
            self.deadline_ms = None;
            self.empty_since_ms = Some(now_ms);
            return;
        }
        let protocol = self.select_protocol();
        self.protocol_name = protocol.clone();
        if self
            .leader
            .as_ref()
            .is_none_or(|l| !self.members.contains_key(l))
        {
            self.leader = self.members.keys().next().cloned();
        }
        let leader = self.leader.clone().unwrap_or_default();
        let protocol_name = protocol.unwrap_or_default();
        let all: Vec<(String, Option<String>, Bytes)> = self
            .members
            .iter()
            .map(|(id, m)| {
                (
                    id.clone(),
                    m.instance_id.clone(),
                    m.metadata_for(&protocol_name),
                )
            })
            .collect();
        self.state = GroupState::CompletingRebalance;
        self.deadline_ms = Some(now_ms + self.rebalance_timeout_ms());
        let generation = self.generation;
        let protocol_type = self.protocol_type.clone();
        for (id, member) in self.members.iter_mut() {
            member.assignment = Bytes::new();
            member.last_heartbeat_ms = now_ms;
            if let Some(waiter) = member.awaiting_join.take() {
                let _ = waiter.send(JoinOutcome {
                    error_code: code::NONE,
                    generation_id: generation,
                    protocol_type: protocol_type.clone(),
                    protocol_name: Some(protocol_name.clone()),
                    leader: leader.clone(),
                    member_id: id.clone(),
                    members: if *id == leader {
                        all.clone()
                    } else {
                        Vec::new()
                    },
                    skip_assignment: false,
                });
            }
        }
    }

    fn remove_member(&mut self, member_id: &str) {
        if let Some(member) = self.members.remove(member_id) {
            if let Some(instance) = &member.instance_id {
                if self.static_members.get(instance).map(String::as_str) == Some(member_id) {
                    self.static_members.remove(instance);
                }
            }
            if let Some(waiter) = member.awaiting_join {
                let _ = waiter.send(JoinOutcome::error(code::UNKNOWN_MEMBER_ID));
            }
            if let Some(waiter) = member.awaiting_sync {
                let _ = waiter.send(SyncOutcome::error(code::UNKNOWN_MEMBER_ID));
            }
        }
        if self.leader.as_deref() == Some(member_id) {
            self.leader = None;
        }
    }

    /// A member left or was evicted: the others rebalance.
    fn member_gone(&mut self, member_id: &str, now_ms: u64) {
        self.remove_member(member_id);
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                if self.members.is_empty() {
                    self.become_empty(now_ms);
                } else {
                    self.prepare_rebalance(now_ms);
                }
            }
            GroupState::PreparingRebalance => {
                // Nobody left to wait for, or everyone left has rejoined.
                if self.members.is_empty() || self.all_joined() {
                    self.complete_join(now_ms);
                }
            }
            GroupState::Empty | GroupState::Dead => {}
        }
    }

    fn become_empty(&mut self, now_ms: u64) {
        self.state = GroupState::Empty;
        self.generation += 1;
        self.protocol_name = None;
        self.leader = None;
        self.deadline_ms = None;
        self.empty_since_ms = Some(now_ms);
    }

    /// Checks a member's identity and generation as SyncGroup, Heartbeat and OffsetCommit do.
    fn check_member(&self, generation: i32, member_id: &str, instance_id: Option<&str>) -> i16 {
        if let Some(instance) = instance_id {
            if let Some(current) = self.static_members.get(instance) {
                if current != member_id {
                    return code::FENCED_INSTANCE_ID;
                }
            }
        }
        if !self.members.contains_key(member_id) {
            return code::UNKNOWN_MEMBER_ID;
        }
        if generation != self.generation {
            return code::ILLEGAL_GENERATION;
        }
        code::NONE
    }
}

/// Every group on the node and every committed offset.
#[derive(Debug)]
pub struct Groups {
    limits: Limits,
    groups: HashMap<String, Group>,
    offsets: BTreeMap<OffsetKey, OffsetValue>,
}

impl Groups {
    pub fn new(limits: Limits) -> Groups {
        Groups {
            limits,
            groups: HashMap::new(),
            offsets: BTreeMap::new(),
        }
    }

    /// Forgets every group; committed offsets become `offsets` (a replay of the log).
    pub fn reset(&mut self, offsets: BTreeMap<OffsetKey, OffsetValue>) {
        for (_, mut group) in self.groups.drain() {
            let ids: Vec<String> = group.members.keys().cloned().collect();
            for id in ids {
                group.remove_member(&id);
            }
        }
        self.offsets = offsets;
    }

    /// Applies committed (or, with None, deleted) offsets once they are durable.
    pub fn apply(&mut self, records: &[(OffsetKey, Option<OffsetValue>)]) {
        for (key, value) in records {
            match value {
                Some(value) => {
                    self.offsets.insert(key.clone(), value.clone());
                }
                None => {
                    self.offsets.remove(key);
                }
            }
        }
    }

    #[allow(clippy::result_large_err)]
    pub fn join(
        &mut self,
        request: JoinRequest,
        now_ms: u64,
    ) -> Result<JoinOutcome, oneshot::Receiver<JoinOutcome>> {
        if request.group_id.is_empty() {
            return Ok(JoinOutcome::error(code::INVALID_GROUP_ID));
        }
        if request.session_timeout_ms < self.limits.session_timeout_ms_min
            || request.session_timeout_ms > self.limits.session_timeout_ms_max
        {
            return Ok(JoinOutcome::error(code::INVALID_SESSION_TIMEOUT));
        }
        if request.protocol_type.is_empty() || request.protocols.is_empty() {
            return Ok(JoinOutcome::error(code::INCONSISTENT_GROUP_PROTOCOL));
        }
        let metadata_bytes: usize = request
            .protocols
            .iter()
            .map(|(name, metadata)| name.len() + metadata.len())
            .sum();
        if metadata_bytes > self.limits.member_metadata_bytes_max {
            return Ok(JoinOutcome::error(code::INVALID_REQUEST));
        }
        if !self.groups.contains_key(&request.group_id) {
            if !request.member_id.is_empty() {
                return Ok(JoinOutcome::error(code::UNKNOWN_MEMBER_ID));
            }
            if self.groups.len() >= self.limits.groups_max {
                return Ok(JoinOutcome::error(code::GROUP_MAX_SIZE_REACHED));
            }
            self.groups.insert(request.group_id.clone(), Group::new());
        }
        let limits = self.limits;
        let Some(group) = self.groups.get_mut(&request.group_id) else {
            return Ok(JoinOutcome::error(code::UNKNOWN_SERVER_ERROR));
        };
        if group.state == GroupState::Dead {
            return Ok(JoinOutcome::error(code::COORDINATOR_NOT_AVAILABLE));
        }
        // Every member must speak the group's protocol type and share a protocol with it.
        if group
            .protocol_type
            .as_ref()
            .is_some_and(|t| *t != request.protocol_type)
            && !group.members.is_empty()
        {
            return Ok(JoinOutcome::error(code::INCONSISTENT_GROUP_PROTOCOL));
        }
        if !group.members.is_empty()
            && !request.protocols.iter().any(|(name, _)| {
                group
                    .members
                    .values()
                    .all(|m| m.protocols.iter().any(|(n, _)| n == name))
            })
        {
            return Ok(JoinOutcome::error(code::INCONSISTENT_GROUP_PROTOCOL));
        }
        group.pending.retain(|_, expires| *expires > now_ms);

        let mut member_id = request.member_id.clone();
        if member_id.is_empty() {
            // A static member coming back: it takes over its old identity.
            if let Some(instance) = &request.instance_id {
                if let Some(old_id) = group.static_members.get(instance).cloned() {
                    return rejoin_static(group, &request, old_id, now_ms);
                }
            }
            let new_id = format!("{}-{}", request.client_id, uuid::Uuid::new_v4());
            if request.requires_known_member_id && request.instance_id.is_none() {
                if group.pending.len() >= limits.pending_members_max {
                    return Ok(JoinOutcome::error(code::GROUP_MAX_SIZE_REACHED));
                }
                group
                    .pending
                    .insert(new_id.clone(), now_ms + request.session_timeout_ms as u64);
                return Ok(JoinOutcome {
                    member_id: new_id,
                    ..JoinOutcome::error(code::MEMBER_ID_REQUIRED)
                });
            }
            member_id = new_id;
        } else if let Some(instance) = &request.instance_id {
            if let Some(current) = group.static_members.get(instance) {
                if *current != member_id {
                    return Ok(JoinOutcome::error(code::FENCED_INSTANCE_ID));
                }
            }
        }

        let (sender, receiver) = oneshot::channel();
        match group.members.get_mut(&member_id) {
            Some(member) => {
                let changed = member.protocols != request.protocols;
                let is_leader = group.leader.as_deref() == Some(member_id.as_str());
                member.protocols = request.protocols.clone();
                member.session_timeout_ms = request.session_timeout_ms as u64;
                member.rebalance_timeout_ms = request.rebalance_timeout_ms.max(0) as u64;
                member.last_heartbeat_ms = now_ms;
                match group.state {
                    GroupState::Stable | GroupState::CompletingRebalance
                        if !changed && !is_leader =>
                    {
                        // Nothing to rebalance: the member gets the current round again.
                        return Ok(JoinOutcome {
                            error_code: code::NONE,
                            generation_id: group.generation,
                            protocol_type: group.protocol_type.clone(),
                            protocol_name: group.protocol_name.clone(),
                            leader: group.leader.clone().unwrap_or_default(),
                            member_id: member_id.clone(),
                            members: Vec::new(),
                            skip_assignment: false,
                        });
                    }
                    _ => {}
                }
                if let Some(old) = member.awaiting_join.replace(sender) {
                    let _ = old.send(JoinOutcome::error(code::REBALANCE_IN_PROGRESS));
                }
            }
            None => {
                let known = group.pending.remove(&member_id).is_some()
                    || !request.requires_known_member_id
                    || request.instance_id.is_some()
                    || request.member_id.is_empty();
                if !known {
                    return Ok(JoinOutcome::error(code::UNKNOWN_MEMBER_ID));
                }
                if group.members.len() >= limits.members_max {
                    return Ok(JoinOutcome::error(code::GROUP_MAX_SIZE_REACHED));
                }
                if let Some(instance) = &request.instance_id {
                    group
                        .static_members
                        .insert(instance.clone(), member_id.clone());
                }
                group.members.insert(
                    member_id.clone(),
                    Member {
                        instance_id: request.instance_id.clone(),
                        client_id: request.client_id.clone(),
                        client_host: request.client_host.clone(),
                        session_timeout_ms: request.session_timeout_ms as u64,
                        rebalance_timeout_ms: request.rebalance_timeout_ms.max(0) as u64,
                        protocol_type: request.protocol_type.clone(),
                        protocols: request.protocols.clone(),
                        assignment: Bytes::new(),
                        last_heartbeat_ms: now_ms,
                        awaiting_join: Some(sender),
                        awaiting_sync: None,
                    },
                );
                group.empty_since_ms = None;
            }
        }
        group.protocol_type = Some(request.protocol_type.clone());
        group.prepare_rebalance(now_ms);
        if group.all_joined() {
            group.complete_join(now_ms);
        }
        Err(receiver)
    }

    #[allow(clippy::result_large_err)]
    pub fn sync(
        &mut self,
        request: SyncRequest,
        now_ms: u64,
    ) -> Result<SyncOutcome, oneshot::Receiver<SyncOutcome>> {
        let limits = self.limits;
        let Some(group) = self.groups.get_mut(&request.group_id) else {
            return Ok(SyncOutcome::error(code::UNKNOWN_MEMBER_ID));
        };
        let check = group.check_member(
            request.generation_id,
            &request.member_id,
            request.instance_id.as_deref(),
        );
        if check != code::NONE {
            return Ok(SyncOutcome::error(check));
        }
        if request
            .protocol_type
            .as_ref()
            .is_some_and(|t| Some(t) != group.protocol_type.as_ref())
            || request
                .protocol_name
                .as_ref()
                .is_some_and(|n| Some(n) != group.protocol_name.as_ref())
        {
            return Ok(SyncOutcome::error(code::INCONSISTENT_GROUP_PROTOCOL));
        }
        if request
            .assignments
            .iter()
            .any(|(_, a)| a.len() > limits.assignment_bytes_max)
        {
            return Ok(SyncOutcome::error(code::INVALID_REQUEST));
        }
        let protocol_type = group.protocol_type.clone();
        let protocol_name = group.protocol_name.clone();
        match group.state {
            GroupState::PreparingRebalance => Ok(SyncOutcome::error(code::REBALANCE_IN_PROGRESS)),
            GroupState::Empty | GroupState::Dead => Ok(SyncOutcome::error(code::UNKNOWN_MEMBER_ID)),
            GroupState::Stable => {
                let assignment = group
                    .members
                    .get_mut(&request.member_id)
                    .map(|m| {
                        m.last_heartbeat_ms = now_ms;
                        m.assignment.clone()
                    })
                    .unwrap_or_default();
                Ok(SyncOutcome {
                    error_code: code::NONE,
                    protocol_type,
                    protocol_name,
                    assignment,
                })
            }
            GroupState::CompletingRebalance => {
                let (sender, receiver) = oneshot::channel();
                if let Some(member) = group.members.get_mut(&request.member_id) {
                    member.last_heartbeat_ms = now_ms;
                    if let Some(old) = member.awaiting_sync.replace(sender) {
                        let _ = old.send(SyncOutcome::error(code::REBALANCE_IN_PROGRESS));
                    }
                }
                if group.leader.as_deref() == Some(request.member_id.as_str()) {
                    let assignments: HashMap<String, Bytes> =
                        request.assignments.into_iter().collect();
                    group.state = GroupState::Stable;
                    group.deadline_ms = None;
                    for (id, member) in group.members.iter_mut() {
                        member.assignment = assignments.get(id).cloned().unwrap_or_default();
                        if let Some(waiter) = member.awaiting_sync.take() {
                            let _ = waiter.send(SyncOutcome {
                                error_code: code::NONE,
                                protocol_type: protocol_type.clone(),
                                protocol_name: protocol_name.clone(),
                                assignment: member.assignment.clone(),
                            });
                        }
                    }
                }
                Err(receiver)
            }
        }
    }

    pub fn heartbeat(
        &mut self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
        now_ms: u64,
    ) -> i16 {
        let Some(group) = self.groups.get_mut(group_id) else {
            return code::UNKNOWN_MEMBER_ID;
        };
        let check = group.check_member(generation, member_id, instance_id);
        if check != code::NONE {
            return check;
        }
        if let Some(member) = group.members.get_mut(member_id) {
            member.last_heartbeat_ms = now_ms;
        }
        match group.state {
            GroupState::PreparingRebalance => code::REBALANCE_IN_PROGRESS,
            GroupState::Empty | GroupState::Dead => code::UNKNOWN_MEMBER_ID,
            GroupState::CompletingRebalance | GroupState::Stable => code::NONE,
        }
    }

    pub fn leave(
        &mut self,
        group_id: &str,
        members: &[(String, Option<String>)],
        now_ms: u64,
    ) -> (i16, Vec<i16>) {
        let Some(group) = self.groups.get_mut(group_id) else {
            return (
                code::UNKNOWN_MEMBER_ID,
                vec![code::UNKNOWN_MEMBER_ID; members.len()],
            );
        };
        let mut codes = Vec::with_capacity(members.len());
        for (member_id, instance_id) in members {
            // A static member may leave by its instance id alone.
            let id = match (member_id.is_empty(), instance_id) {
                (true, Some(instance)) => group.static_members.get(instance).cloned(),
                _ => Some(member_id.clone()),
            };
            let code = match id {
                Some(id) if group.members.contains_key(&id) => {
                    if instance_id.as_ref().is_some_and(|instance| {
                        group
                            .static_members
                            .get(instance)
                            .is_some_and(|current| *current != id)
                    }) {
                        code::FENCED_INSTANCE_ID
                    } else {
                        group.member_gone(&id, now_ms);
                        code::NONE
                    }
                }
                _ => code::UNKNOWN_MEMBER_ID,
            };
            codes.push(code);
        }
        let top = if members.len() == 1 {
            codes[0]
        } else {
            code::NONE
        };
        (top, codes)
    }

    #[cfg(test)]
    fn tick_for_test(&mut self, now_ms: u64) {
        let _ = self.tick(now_ms, 0);
    }

    /// The ticker: ends rebalance rounds at their deadline, evicts members whose session
    /// expired, forgets unused pending member ids and the offsets of groups empty for longer
    /// than the retention.
    ///
    /// Returns the committed offsets that expired (for the coordinator to write their
    /// tombstones): those of a group without members, committed longer than
    /// `offsets_retention_ms` ago by the wall clock (`now_wall_ms`; commit times are wall-clock
    /// times, so the rule holds across restarts and replays, as Kafka's KIP-211).
    pub fn tick(&mut self, now_ms: u64, now_wall_ms: i64) -> Vec<OffsetKey> {
        let retention_ms = i64::try_from(self.limits.offsets_retention_ms).unwrap_or(i64::MAX);
        let mut expired_groups = Vec::new();
        for (group_id, group) in self.groups.iter_mut() {
            group.pending.retain(|_, expires| *expires > now_ms);
            let deadline_passed = group.deadline_ms.is_some_and(|d| now_ms >= d);
            match group.state {
                GroupState::PreparingRebalance if deadline_passed => group.complete_join(now_ms),
                GroupState::CompletingRebalance if deadline_passed => {
                    // The leader never sent the assignment: members that did not sync
                    // leave, the rest rebalance.
                    let silent: Vec<String> = group
                        .members
                        .iter()
                        .filter(|(_, m)| m.awaiting_sync.is_none())
                        .map(|(id, _)| id.clone())
                        .collect();
                    for id in silent {
                        group.remove_member(&id);
                    }
                    if group.members.is_empty() {
                        group.become_empty(now_ms);
                    } else {
                        group.prepare_rebalance(now_ms);
                    }
                }
                _ => {}
            }
            if matches!(
                group.state,
                GroupState::Stable | GroupState::CompletingRebalance
            ) {
                let expired: Vec<String> = group
                    .members
                    .iter()
                    .filter(|(_, m)| now_ms >= m.last_heartbeat_ms + m.session_timeout_ms)
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in expired {
                    tracing::info!(group = %group_id, member = %id, "session expired");
                    group.member_gone(&id, now_ms);
                }
            }
            if group.state == GroupState::Empty
                && group.pending.is_empty()
                && group
                    .empty_since_ms
                    .is_some_and(|since| now_ms >= since + EMPTY_GROUP_KEPT_MS)
            {
                expired_groups.push(group_id.clone());
            }
        }
        let expired: Vec<OffsetKey> = self
            .offsets
            .iter()
            .filter(|(key, value)| {
                let active = self
                    .groups
                    .get(&key.group)
                    .is_some_and(|g| !g.members.is_empty());
                !active && now_wall_ms.saturating_sub(value.commit_ms) >= retention_ms
            })
            .map(|(key, _)| key.clone())
            .collect();
        for key in &expired {
            self.offsets.remove(key);
        }
        // An empty group with no offsets left holds nothing worth keeping.
        for group_id in expired_groups {
            if !self.offsets.keys().any(|key| key.group == group_id) {
                self.groups.remove(&group_id);
            }
        }
        expired
    }

    /// Whether a commit from this member may be written (before anything is).
    pub fn check_commit(
        &mut self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> i16 {
        match self.groups.get(group_id) {
            None => {
                if generation < 0 && member_id.is_empty() {
                    // A consumer outside any group (assign + commit): the group exists from
                    // now on, with no members.
                    if self.groups.len() >= self.limits.groups_max {
                        return code::GROUP_MAX_SIZE_REACHED;
                    }
                    let mut group = Group::new();
                    group.empty_since_ms = Some(0);
                    self.groups.insert(group_id.to_string(), group);
                    code::NONE
                } else if generation < 0 {
                    code::NONE
                } else {
                    code::ILLEGAL_GENERATION
                }
            }
            Some(group) => {
                if generation < 0 && member_id.is_empty() {
                    return if group.members.is_empty() {
                        code::NONE
                    } else {
                        code::UNKNOWN_MEMBER_ID
                    };
                }
                let check = group.check_member(generation, member_id, instance_id);
                if check != code::NONE {
                    return check;
                }
                if group.state == GroupState::CompletingRebalance {
                    return code::REBALANCE_IN_PROGRESS;
                }
                code::NONE
            }
        }
    }

    pub fn committed(
        &self,
        group_id: &str,
        partitions: Option<&[(String, i32)]>,
    ) -> Vec<(String, i32, Option<OffsetValue>)> {
        match partitions {
            Some(partitions) => partitions
                .iter()
                .map(|(topic, partition)| {
                    let key = OffsetKey {
                        group: group_id.to_string(),
                        topic: topic.clone(),
                        partition: *partition,
                    };
                    (topic.clone(), *partition, self.offsets.get(&key).cloned())
                })
                .collect(),
            None => self
                .offsets
                .iter()
                .filter(|(key, _)| key.group == group_id)
                .map(|(key, value)| (key.topic.clone(), key.partition, Some(value.clone())))
                .collect(),
        }
    }

    pub fn list(&self) -> Vec<GroupSummary> {
        let mut groups: Vec<GroupSummary> = self
            .groups
            .iter()
            .map(|(id, group)| GroupSummary {
                group_id: id.clone(),
                protocol_type: group.protocol_type.clone().unwrap_or_default(),
                state: group.state,
            })
            .collect();
        // Groups known only by their committed offsets (loaded from the log).
        for key in self.offsets.keys() {
            if !self.groups.contains_key(&key.group)
                && !groups.iter().any(|g| g.group_id == key.group)
            {
                groups.push(GroupSummary {
                    group_id: key.group.clone(),
                    protocol_type: String::new(),
                    state: GroupState::Empty,
                });
            }
        }
        groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        groups
    }

    pub fn describe(&self, group_id: &str) -> GroupDescription {
        let Some(group) = self.groups.get(group_id) else {
            let known = self.offsets.keys().any(|key| key.group == group_id);
            return GroupDescription {
                group_id: group_id.to_string(),
                state: if known {
                    GroupState::Empty
                } else {
                    GroupState::Dead
                },
                protocol_type: String::new(),
                protocol_name: String::new(),
                members: Vec::new(),
            };
        };
        let protocol = group.protocol_name.clone().unwrap_or_default();
        GroupDescription {
            group_id: group_id.to_string(),
            state: group.state,
            protocol_type: group.protocol_type.clone().unwrap_or_default(),
            protocol_name: protocol.clone(),
            members: group
                .members
                .iter()
                .map(|(id, m)| MemberDescription {
                    member_id: id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: m.metadata_for(&protocol),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        }
    }

    /// The offsets DeleteGroups must tombstone, or its error.
    pub fn deletable(&self, group_id: &str) -> Result<Vec<OffsetKey>, i16> {
        let known_offsets: Vec<OffsetKey> = self
            .offsets
            .keys()
            .filter(|key| key.group == group_id)
            .cloned()
            .collect();
        match self.groups.get(group_id) {
            Some(group) if !group.members.is_empty() => Err(code::NON_EMPTY_GROUP),
            None if known_offsets.is_empty() => Err(code::GROUP_ID_NOT_FOUND),
            _ => Ok(known_offsets),
        }
    }

    pub fn remove_if_empty(&mut self, group_id: &str) {
        if self
            .groups
            .get(group_id)
            .is_none_or(|g| g.members.is_empty())
        {
            self.groups.remove(group_id);
            self.offsets.retain(|key, _| key.group != group_id);
        }
    }

    /// The offsets OffsetDelete may remove, and a code per requested partition.
    pub fn offsets_deletable(
        &self,
        group_id: &str,
        partitions: &[(String, i32)],
    ) -> Result<(Vec<OffsetKey>, Vec<i16>), i16> {
        let group = self.groups.get(group_id);
        let has_offsets = self.offsets.keys().any(|key| key.group == group_id);
        if group.is_none() && !has_offsets {
            return Err(code::GROUP_ID_NOT_FOUND);
        }
        let subscribed: Vec<String> = group
            .map(|g| {
                g.members
                    .values()
                    .filter(|m| m.protocol_type == "consumer")
                    .flat_map(|m| {
                        subscribed_topics(&m.metadata_for(g.protocol_name.as_deref().unwrap_or("")))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut keys = Vec::new();
        let mut codes = Vec::with_capacity(partitions.len());
        for (topic, partition) in partitions {
            if subscribed.contains(topic) {
                codes.push(code::GROUP_SUBSCRIBED_TO_TOPIC);
                continue;
            }
            let key = OffsetKey {
                group: group_id.to_string(),
                topic: topic.clone(),
                partition: *partition,
            };
            if self.offsets.contains_key(&key) {
                keys.push(key);
            }
            codes.push(code::NONE);
        }
        Ok((keys, codes))
    }
}

/// The topics a consumer-protocol subscription names (empty when it does not parse).
pub fn subscribed_topics(metadata: &Bytes) -> Vec<String> {
    use kafka_protocol::messages::ConsumerProtocolSubscription;
    use kafka_protocol::protocol::Decodable;
    let mut buf = metadata.clone();
    if buf.len() < 2 {
        return Vec::new();
    }
    let version = i16::from_be_bytes([buf[0], buf[1]]);
    bytes::Buf::advance(&mut buf, 2);
    ConsumerProtocolSubscription::decode(&mut buf, version.clamp(0, 3))
        .map(|s| s.topics.iter().map(|t| t.to_string()).collect())
        .unwrap_or_default()
}

/// A static member rejoining with no member id (it restarted): it takes a new member id in
/// place of the old one, which is fenced. If nothing changed and it does not lead, the group
/// keeps its assignment and no rebalance happens (KIP-345).
#[allow(clippy::result_large_err)]
fn rejoin_static(
    group: &mut Group,
    request: &JoinRequest,
    old_id: String,
    now_ms: u64,
) -> Result<JoinOutcome, oneshot::Receiver<JoinOutcome>> {
    let new_id = format!("{}-{}", request.client_id, uuid::Uuid::new_v4());
    let Some(mut member) = group.members.remove(&old_id) else {
        return Ok(JoinOutcome::error(code::UNKNOWN_MEMBER_ID));
    };
    if let Some(waiter) = member.awaiting_join.take() {
        let _ = waiter.send(JoinOutcome::error(code::FENCED_INSTANCE_ID));
    }
    if let Some(waiter) = member.awaiting_sync.take() {
        let _ = waiter.send(SyncOutcome::error(code::FENCED_INSTANCE_ID));
    }
    // As in Kafka, what matters is whether the group's protocol stays supported; the metadata
    // bytes change on every restart (owned partitions, generation) and must not force a round.
    let changed = !request
        .protocols
        .iter()
        .any(|(name, _)| Some(name) == group.protocol_name.as_ref());
    member.protocols = request.protocols.clone();
    member.session_timeout_ms = request.session_timeout_ms as u64;
    member.rebalance_timeout_ms = request.rebalance_timeout_ms.max(0) as u64;
    member.client_id = request.client_id.clone();
    member.client_host = request.client_host.clone();
    member.last_heartbeat_ms = now_ms;
    let was_leader = group.leader.as_deref() == Some(old_id.as_str());
    if was_leader {
        group.leader = Some(new_id.clone());
    }
    if let Some(instance) = &request.instance_id {
        group
            .static_members
            .insert(instance.clone(), new_id.clone());
    }
    if group.state == GroupState::Stable
        && !changed
        && (!was_leader || request.supports_skip_assignment)
    {
        group.members.insert(new_id.clone(), member);
        // A returning leader gets the member list, told to keep the current assignment.
        let members = if was_leader {
            let protocol = group.protocol_name.clone().unwrap_or_default();
            group
                .members
                .iter()
                .map(|(id, m)| (id.clone(), m.instance_id.clone(), m.metadata_for(&protocol)))
                .collect()
        } else {
            Vec::new()
        };
        return Ok(JoinOutcome {
            error_code: code::NONE,
            generation_id: group.generation,
            protocol_type: group.protocol_type.clone(),
            protocol_name: group.protocol_name.clone(),
            leader: group.leader.clone().unwrap_or_default(),
            member_id: new_id,
            members,
            skip_assignment: was_leader,
        });
    }
    // Otherwise a new round, which this member joins like the others.
    let (sender, receiver) = oneshot::channel();
    member.awaiting_join = Some(sender);
    group.members.insert(new_id, member);
    group.prepare_rebalance(now_ms);
    if group.all_joined() {
        group.complete_join(now_ms);
    }
    Err(receiver)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SESSION_MS: i32 = 10_000;
    const REBALANCE_MS: i32 = 30_000;

    fn join_request(group: &str, member: &str, instance: Option<&str>) -> JoinRequest {
        JoinRequest {
            group_id: group.into(),
            member_id: member.into(),
            instance_id: instance.map(Into::into),
            client_id: "client".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout_ms: SESSION_MS,
            rebalance_timeout_ms: REBALANCE_MS,
            protocol_type: "consumer".into(),
            protocols: vec![("range".into(), Bytes::from_static(b"meta"))],
            requires_known_member_id: true,
            supports_skip_assignment: true,
        }
    }

    /// A first join with no member id gets MEMBER_ID_REQUIRED and an id; the join with that id
    /// waits for the round and is answered as its leader.
    fn join_new(
        groups: &mut Groups,
        group: &str,
        now_ms: u64,
    ) -> (String, oneshot::Receiver<JoinOutcome>) {
        let first = groups
            .join(join_request(group, "", None), now_ms)
            .expect("answered at once");
        assert_eq!(first.error_code, code::MEMBER_ID_REQUIRED);
        let waiting = groups
            .join(join_request(group, &first.member_id, None), now_ms)
            .expect_err("waits for the round");
        (first.member_id, waiting)
    }

    fn answered<T: std::fmt::Debug>(receiver: &mut oneshot::Receiver<T>) -> T {
        receiver.try_recv().expect("answered")
    }

    fn sync_request(
        group: &str,
        generation: i32,
        member: &str,
        assignments: Vec<(String, Bytes)>,
    ) -> SyncRequest {
        SyncRequest {
            group_id: group.into(),
            generation_id: generation,
            member_id: member.into(),
            instance_id: None,
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            assignments,
        }
    }

    #[test]
    fn a_lone_member_forms_a_generation_and_leads_it() {
        let mut groups = Groups::new(Limits::default());
        let (member, mut waiting) = join_new(&mut groups, "g", 0);
        let joined = answered(&mut waiting);
        assert_eq!(joined.error_code, code::NONE);
        assert_eq!(joined.generation_id, 1);
        assert_eq!(joined.leader, member);
        assert_eq!(joined.members.len(), 1, "the leader gets the member list");
        let synced = groups
            .sync(
                sync_request(
                    "g",
                    1,
                    &member,
                    vec![(member.clone(), Bytes::from_static(b"a"))],
                ),
                0,
            )
            .expect_err("the leader's sync completes the round")
            .try_recv()
            .expect("answered");
        assert_eq!(synced.assignment, Bytes::from_static(b"a"));
        assert_eq!(groups.describe("g").state, GroupState::Stable);
        assert_eq!(groups.heartbeat("g", 1, &member, None, 1), code::NONE);
    }

    #[test]
    fn a_second_member_rebalances_and_stale_generations_are_fenced() {
        let mut groups = Groups::new(Limits::default());
        let (a, mut a_join) = join_new(&mut groups, "g", 0);
        answered(&mut a_join);
        let _ = groups.sync(sync_request("g", 1, &a, vec![]), 0);
        // B joins: the group prepares a rebalance; A learns it from its heartbeat.
        let (b, mut b_join) = join_new(&mut groups, "g", 10);
        assert_eq!(
            groups.heartbeat("g", 1, &a, None, 20),
            code::REBALANCE_IN_PROGRESS
        );
        assert!(b_join.try_recv().is_err(), "held until A rejoins");
        let mut a_rejoin = groups
            .join(join_request("g", &a, None), 30)
            .expect_err("waits");
        let a_joined = answered(&mut a_rejoin);
        let b_joined = answered(&mut b_join);
        assert_eq!(a_joined.generation_id, 2);
        assert_eq!(b_joined.generation_id, 2);
        assert_eq!(a_joined.leader, a, "the leader stays while it is a member");
        assert!(
            b_joined.members.is_empty(),
            "only the leader gets the member list"
        );
        // A member of generation 1 is fenced.
        assert_eq!(
            groups.heartbeat("g", 1, &b, None, 40),
            code::ILLEGAL_GENERATION
        );
        assert_eq!(
            groups.check_commit("g", 1, &a, None),
            code::ILLEGAL_GENERATION
        );
        assert_eq!(
            groups.heartbeat("g", 2, "nobody", None, 40),
            code::UNKNOWN_MEMBER_ID
        );
        // Before the leader's assignment, commits wait for the round.
        assert_eq!(
            groups.check_commit("g", 2, &a, None),
            code::REBALANCE_IN_PROGRESS
        );
    }

    #[test]
    fn a_member_that_does_not_rejoin_is_dropped_at_the_rebalance_timeout() {
        let mut groups = Groups::new(Limits::default());
        let (a, mut a_join) = join_new(&mut groups, "g", 0);
        answered(&mut a_join);
        let _ = groups.sync(sync_request("g", 1, &a, vec![]), 0);
        let (b, mut b_join) = join_new(&mut groups, "g", 100);
        groups.tick_for_test(100 + REBALANCE_MS as u64 - 1);
        assert!(b_join.try_recv().is_err());
        groups.tick_for_test(100 + REBALANCE_MS as u64);
        let joined = answered(&mut b_join);
        assert_eq!(joined.generation_id, 2);
        assert_eq!(joined.leader, b, "A left, B leads");
        assert_eq!(groups.describe("g").members.len(), 1);
    }

    #[test]
    fn a_silent_member_is_evicted_after_its_session_and_the_rest_rebalance() {
        let mut groups = Groups::new(Limits::default());
        let (a, mut a_join) = join_new(&mut groups, "g", 0);
        answered(&mut a_join);
        let _ = groups.sync(sync_request("g", 1, &a, vec![]), 0);
        let (b, mut b_join) = join_new(&mut groups, "g", 0);
        let mut a_rejoin = groups
            .join(join_request("g", &a, None), 0)
            .expect_err("waits");
        answered(&mut a_rejoin);
        answered(&mut b_join);
        let _ = groups.sync(sync_request("g", 2, &a, vec![]), 0);
        // B heartbeats, A goes silent.
        for now in (1_000..SESSION_MS as u64).step_by(1_000) {
            assert_eq!(groups.heartbeat("g", 2, &b, None, now), code::NONE);
            groups.tick_for_test(now);
        }
        groups.tick_for_test(SESSION_MS as u64 + 1);
        assert_eq!(groups.describe("g").state, GroupState::PreparingRebalance);
        assert_eq!(
            groups.heartbeat("g", 2, &a, None, SESSION_MS as u64 + 2),
            code::UNKNOWN_MEMBER_ID
        );
        assert_eq!(
            groups.heartbeat("g", 2, &b, None, SESSION_MS as u64 + 2),
            code::REBALANCE_IN_PROGRESS
        );
    }

    #[test]
    fn leaving_empties_the_group_and_a_simple_commit_is_then_allowed() {
        let mut groups = Groups::new(Limits::default());
        let (a, mut a_join) = join_new(&mut groups, "g", 0);
        answered(&mut a_join);
        assert_eq!(
            groups.check_commit("g", -1, "", None),
            code::UNKNOWN_MEMBER_ID
        );
        let (top, codes) = groups.leave("g", &[(a.clone(), None)], 1);
        assert_eq!((top, codes), (code::NONE, vec![code::NONE]));
        assert_eq!(groups.describe("g").state, GroupState::Empty);
        assert_eq!(groups.check_commit("g", -1, "", None), code::NONE);
        assert_eq!(
            groups.leave("g", &[(a, None)], 2).0,
            code::UNKNOWN_MEMBER_ID
        );
    }

    #[test]
    fn a_static_member_restarting_keeps_its_assignment_and_fences_its_old_self() {
        let mut groups = Groups::new(Limits::default());
        let mut leader_join = groups
            .join(join_request("g", "", Some("leader-1")), 0)
            .expect_err("a static member needs no MEMBER_ID_REQUIRED");
        let leader = answered(&mut leader_join);
        let mut s_join = groups
            .join(join_request("g", "", Some("static-1")), 0)
            .expect_err("waits");
        let mut leader_rejoin = groups
            .join(join_request("g", &leader.member_id, Some("leader-1")), 0)
            .expect_err("waits");
        let leader = answered(&mut leader_rejoin);
        let joined = answered(&mut s_join);
        let assignment = Bytes::from_static(b"p0");
        let _ = groups.sync(
            SyncRequest {
                instance_id: Some("leader-1".into()),
                ..sync_request(
                    "g",
                    leader.generation_id,
                    &leader.member_id,
                    vec![(joined.member_id.clone(), assignment.clone())],
                )
            },
            0,
        );
        assert_eq!(groups.describe("g").state, GroupState::Stable);
        // The static member restarts: a new member id, the same generation, no rebalance.
        let again = groups
            .join(join_request("g", "", Some("static-1")), 5)
            .expect("answered at once");
        assert_eq!(again.error_code, code::NONE);
        assert_eq!(again.generation_id, leader.generation_id);
        assert_ne!(again.member_id, joined.member_id);
        assert_eq!(groups.describe("g").state, GroupState::Stable);
        let synced = groups
            .sync(
                SyncRequest {
                    instance_id: Some("static-1".into()),
                    ..sync_request("g", again.generation_id, &again.member_id, vec![])
                },
                6,
            )
            .expect("a stable group answers at once");
        assert_eq!(synced.assignment, assignment);
        // The old incarnation is fenced.
        assert_eq!(
            groups.heartbeat(
                "g",
                again.generation_id,
                &joined.member_id,
                Some("static-1"),
                7
            ),
            code::FENCED_INSTANCE_ID
        );
    }

    /// Regression: a static leader that restarted made the whole group rebalance; with
    /// JoinGroup v9 it gets the member list and `skip_assignment` instead (KIP-814).
    #[test]
    fn a_static_leader_restarting_keeps_the_group_stable() {
        let mut groups = Groups::new(Limits::default());
        let mut join = groups
            .join(join_request("g", "", Some("leader-1")), 0)
            .expect_err("waits");
        let leader = answered(&mut join);
        let _ = groups.sync(
            SyncRequest {
                instance_id: Some("leader-1".into()),
                ..sync_request(
                    "g",
                    leader.generation_id,
                    &leader.member_id,
                    vec![(leader.member_id.clone(), Bytes::from_static(b"all"))],
                )
            },
            0,
        );
        assert_eq!(groups.describe("g").state, GroupState::Stable);
        // Restarted: its subscription metadata differs (no owned partitions any more).
        let mut restarted = join_request("g", "", Some("leader-1"));
        restarted.protocols = vec![("range".into(), Bytes::from_static(b"other"))];
        let again = groups.join(restarted, 5).expect("answered at once");
        assert_eq!(again.error_code, code::NONE);
        assert!(again.skip_assignment);
        assert_eq!(again.leader, again.member_id);
        assert_eq!(again.members.len(), 1);
        assert_eq!(again.generation_id, leader.generation_id);
        assert_eq!(groups.describe("g").state, GroupState::Stable);
    }

    #[test]
    fn pending_member_ids_are_bounded_and_expire() {
        let limits = Limits {
            pending_members_max: 3,
            ..Limits::default()
        };
        let mut groups = Groups::new(limits);
        for _ in 0..3 {
            let outcome = groups
                .join(join_request("g", "", None), 0)
                .expect("answered");
            assert_eq!(outcome.error_code, code::MEMBER_ID_REQUIRED);
        }
        let refused = groups
            .join(join_request("g", "", None), 0)
            .expect("answered");
        assert_eq!(refused.error_code, code::GROUP_MAX_SIZE_REACHED);
        // Unused ids expire after the session timeout, and room comes back.
        groups.tick_for_test(SESSION_MS as u64 + 1);
        let outcome = groups
            .join(join_request("g", "", None), SESSION_MS as u64 + 1)
            .expect("answered");
        assert_eq!(outcome.error_code, code::MEMBER_ID_REQUIRED);
    }

    #[test]
    fn offsets_of_a_group_without_members_expire_after_the_retention() {
        let limits = Limits {
            offsets_retention_ms: 1_000,
            ..Limits::default()
        };
        let mut groups = Groups::new(limits);
        let key = |group: &str| OffsetKey {
            group: group.into(),
            topic: "t".into(),
            partition: 0,
        };
        let value = |commit_ms| OffsetValue {
            offset: 5,
            leader_epoch: -1,
            metadata: None,
            commit_ms,
        };
        groups.apply(&[(key("idle"), Some(value(0))), (key("busy"), Some(value(0)))]);
        // "busy" has a member: its offsets stay however old they are.
        let (busy, mut join) = {
            let first = groups
                .join(join_request("busy", "", None), 0)
                .expect("answered");
            let waiting = groups
                .join(join_request("busy", &first.member_id, None), 0)
                .expect_err("waits");
            (first.member_id, waiting)
        };
        answered(&mut join);
        assert!(groups.tick(1, 999).is_empty(), "not yet");
        let expired = groups.tick(2, 1_000);
        assert_eq!(expired, vec![key("idle")]);
        assert!(groups.committed("idle", None).is_empty());
        assert_eq!(groups.committed("busy", None).len(), 1);
        let _ = busy;
    }

    #[test]
    fn bad_joins_get_kafkas_errors() {
        let mut groups = Groups::new(Limits::default());
        let mut request = join_request("", "", None);
        assert_eq!(
            groups
                .join(request.clone(), 0)
                .expect("answered")
                .error_code,
            code::INVALID_GROUP_ID
        );
        request.group_id = "g".into();
        request.session_timeout_ms = 10;
        assert_eq!(
            groups
                .join(request.clone(), 0)
                .expect("answered")
                .error_code,
            code::INVALID_SESSION_TIMEOUT
        );
        request.session_timeout_ms = SESSION_MS;
        request.protocols = vec![("range".into(), Bytes::from(vec![0u8; 2 * 1024 * 1024]))];
        assert_eq!(
            groups
                .join(request.clone(), 0)
                .expect("answered")
                .error_code,
            code::INVALID_REQUEST
        );
        assert_eq!(
            groups
                .join(join_request("g", "made-up", None), 0)
                .expect("answered")
                .error_code,
            code::UNKNOWN_MEMBER_ID
        );
    }
}
