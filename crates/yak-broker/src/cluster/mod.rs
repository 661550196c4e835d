//! The cluster: who leads, at which epoch, and the work each role owns (docs/REPLICATION.md).
//!
//! One task, the controller (`Cluster::run`), owns every role change: it registers the node,
//! renews or seeks the lease, persists the epoch floor before acting on an epoch, switches every
//! partition's role, starts and stops the follower's fetcher, shrinks and expands the ISR,
//! publishes the topic list and high watermarks, and keeps followers' topics in step with the
//! leader's. Request handlers only read its state and poke it (`Notify`) when they see
//! something it must look at (a higher epoch, a lost leader, a new topic).
//!
//! - [`decide`]: the decisions as plain code, with seeded tests.
//! - [`coordinator`]: Redis, through compare-and-set scripts.
//! - [`node_file`]: `DATA/cluster.json`, the epoch floor and last-seen partition records.
//! - [`fetcher`]: the follower's replication loop; [`kafka_client`] its connection, secured as
//!   the inter-broker listener asks (TLS, SASL SCRAM-SHA-512 as the inter-broker user).
//! - [`security_store`]: the cluster's users, ACLs and tokens, kept in the coordinator.

pub mod coordinator;
pub mod decide;
pub mod fetcher;
pub mod kafka_client;
pub mod node_file;
pub mod security_store;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;
use yak_api::{ActivityKind, ClusterEvent};

use crate::broker::Broker;
use crate::error::BrokerError;
use crate::partition::Partition;
use crate::replica::{LeaseGate, Role};
use coordinator::{ClusterView, Coordinator, Elected, NodeRegistration, PublishedTopics};
use decide::PartitionRecord;
use node_file::NodeFile;

/// Cluster settings (`--coordinator`, `--lease-ms`, ...).
#[derive(Clone)]
pub struct ClusterConfig {
    /// `redis://[user:password@]host:port/db`, or `rediss://` for TLS. May hold a password:
    /// shown only through [`coordinator::redacted_url`].
    pub coordinator_url: String,
    /// The Redis ACL user (over the URL's).
    pub coordinator_user: Option<String>,
    /// The Redis password (over the URL's).
    pub coordinator_password: Option<crate::security::Secret>,
    /// PEM CA certificates the Redis server's certificate is checked against (`rediss://`).
    pub coordinator_ca_file: Option<std::path::PathBuf>,
    pub lease_ms: u64,
    pub replica_lag_ms: u64,
    pub unclean_election: bool,
}

impl std::fmt::Debug for ClusterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterConfig")
            .field(
                "coordinator_url",
                &coordinator::redacted_url(&self.coordinator_url),
            )
            .field("coordinator_user", &self.coordinator_user)
            .field("coordinator_password", &self.coordinator_password)
            .field("coordinator_ca_file", &self.coordinator_ca_file)
            .field("lease_ms", &self.lease_ms)
            .field("replica_lag_ms", &self.replica_lag_ms)
            .field("unclean_election", &self.unclean_election)
            .finish()
    }
}

impl ClusterConfig {
    pub const LEASE_MS_DEFAULT: u64 = 3_000;
    pub const REPLICA_LAG_MS_DEFAULT: u64 = 5_000;

    /// The defaults, with the coordinator at `coordinator_url`.
    pub fn new(coordinator_url: String) -> ClusterConfig {
        ClusterConfig {
            coordinator_url,
            coordinator_user: None,
            coordinator_password: None,
            coordinator_ca_file: None,
            lease_ms: ClusterConfig::LEASE_MS_DEFAULT,
            replica_lag_ms: ClusterConfig::REPLICA_LAG_MS_DEFAULT,
            unclean_election: false,
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        if !(300..=60_000).contains(&self.lease_ms) {
            return Err(format!(
                "lease_ms must be 300..=60000, got {}",
                self.lease_ms
            ));
        }
        if self.replica_lag_ms < 100 {
            return Err(format!(
                "replica_lag_ms must be at least 100, got {}",
                self.replica_lag_ms
            ));
        }
        Ok(())
    }
}

/// This node's role as the controller last set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub role: Role,
    pub epoch: i32,
    /// The node that leads, as registered (None while unknown).
    pub leader: Option<NodeRegistration>,
}

/// Entries of the history kept in memory for `/cluster` when Redis cannot be read.
const HISTORY_CACHE_MAX: usize = 200;

pub struct Cluster {
    pub node_id: i32,
    cluster_name: String,
    pub config: ClusterConfig,
    coordinator: Coordinator,
    /// How this node connects to the leader's inter-broker listener.
    client_security: kafka_client::ClientSecurity,
    /// The lease as the partitions check it.
    pub gate: Arc<LeaseGate>,
    status_tx: watch::Sender<Status>,
    /// What the coordinator held at the controller's last look.
    view: Mutex<ClusterView>,
    node_file: Mutex<NodeFile>,
    registration: NodeRegistration,
    /// Producer ids: the next to hand out and the end of this node's block.
    producer_ids: tokio::sync::Mutex<(i64, i64)>,
    history: Mutex<Vec<ClusterEvent>>,
    /// A replica request carried a higher epoch than this leader's: step down now.
    pub higher_epoch_seen: Notify,
    /// The follower lost its leader's connection: look at the lease now.
    pub leader_gone: Notify,
    /// The leader's topics changed: publish them now.
    pub topics_changed: Notify,
    /// The follower found the leader's Kafka port refusing connections: the controller checks
    /// whether the leader's process is gone (see `leader_is_dead`).
    leader_refused: std::sync::atomic::AtomicBool,
    /// Milliseconds the last successful lease renewal took.
    pub lease_renew_ms_last: AtomicU64,
    pub elections_total: AtomicU64,
    pub isr_shrinks_total: AtomicU64,
    pub isr_expands_total: AtomicU64,
    pub truncations_total: AtomicU64,
    pub truncations_below_high_watermark_total: AtomicU64,
    pub replicated_bytes_total: AtomicU64,
    /// The high watermarks last published, by `topic:partition`.
    published_hwm: Mutex<BTreeMap<String, i64>>,
    lease_expires_in_ms: AtomicI64,
    /// History entries not yet written to the coordinator (the controller writes them).
    pending_events: Mutex<Vec<ClusterEvent>>,
    /// The coordinator's history at the controller's last look.
    shared_history: Mutex<Vec<ClusterEvent>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("node_id", &self.node_id)
            .field("status", &*self.status_tx.borrow())
            .finish()
    }
}

/// A node's name on its Redis connection: cluster, node and the incarnation it registered.
fn redis_client_name(cluster: &str, node_id: i32, incarnation: &str) -> String {
    let cluster: String = cluster
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("yak-{cluster}-node-{node_id}-{incarnation}")
}

fn field(topic: &str, partition: i32) -> String {
    format!("{topic}:{partition}")
}

/// Where to reach `leader` with `security`: its listener of the same security protocol as it
/// registered it, else its inter-broker address (a node registered before listeners were).
pub fn inter_broker_address<'a>(
    leader: &'a NodeRegistration,
    security: &kafka_client::ClientSecurity,
) -> &'a str {
    leader
        .listeners
        .get(security.protocol.name())
        .unwrap_or(&leader.kafka)
}

impl Cluster {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: ClusterConfig,
        cluster_name: &str,
        node_id: i32,
        data_dir: &std::path::Path,
        http: String,
        kafka: String,
        listeners: BTreeMap<String, String>,
        client_security: kafka_client::ClientSecurity,
    ) -> Result<Cluster, BrokerError> {
        config.validate().map_err(BrokerError::InvalidField)?;
        let incarnation = uuid::Uuid::new_v4().simple().to_string();
        let coordinator = Coordinator::new(
            &config,
            cluster_name,
            redis_client_name(cluster_name, node_id, &incarnation),
        )
        .map_err(|e| BrokerError::InvalidField(format!("--coordinator: {e}")))?;
        let node_file = NodeFile::load(data_dir)
            .map_err(|e| BrokerError::Storage(format!("cannot read cluster.json: {e}")))?
            .unwrap_or(NodeFile {
                cluster: cluster_name.to_string(),
                node_id,
                highest_epoch: 0,
                partitions: BTreeMap::new(),
            });
        if node_file.node_id != node_id || node_file.cluster != cluster_name {
            return Err(BrokerError::InvalidField(format!(
                "this data directory belongs to node {} of cluster {:?}, not node {node_id} of {cluster_name:?}",
                node_file.node_id, node_file.cluster
            )));
        }
        Ok(Cluster {
            node_id,
            cluster_name: cluster_name.to_string(),
            coordinator,
            client_security,
            gate: Arc::new(LeaseGate::new()),
            status_tx: watch::channel(Status {
                role: Role::Offline,
                epoch: node_file.highest_epoch,
                leader: None,
            })
            .0,
            view: Mutex::new(ClusterView::default()),
            node_file: Mutex::new(node_file),
            registration: NodeRegistration {
                node_id,
                http,
                kafka,
                listeners,
                incarnation,
                started_ms: crate::now_ms(),
            },
            producer_ids: tokio::sync::Mutex::new((0, 0)),
            history: Mutex::new(Vec::new()),
            higher_epoch_seen: Notify::new(),
            leader_gone: Notify::new(),
            topics_changed: Notify::new(),
            leader_refused: std::sync::atomic::AtomicBool::new(false),
            lease_renew_ms_last: AtomicU64::new(0),
            elections_total: AtomicU64::new(0),
            isr_shrinks_total: AtomicU64::new(0),
            isr_expands_total: AtomicU64::new(0),
            truncations_total: AtomicU64::new(0),
            truncations_below_high_watermark_total: AtomicU64::new(0),
            replicated_bytes_total: AtomicU64::new(0),
            published_hwm: Mutex::new(BTreeMap::new()),
            lease_expires_in_ms: AtomicI64::new(0),
            pending_events: Mutex::new(Vec::new()),
            shared_history: Mutex::new(Vec::new()),
            config,
        })
    }

    pub fn status(&self) -> Status {
        self.status_tx.borrow().clone()
    }

    /// How this node connects to other nodes.
    pub fn client_security(&self) -> &kafka_client::ClientSecurity {
        &self.client_security
    }

    /// At start-up: a node whose credentials Redis refuses must not run as if it were part of
    /// the cluster, so that is an error naming AUTH. A Redis that cannot be reached yet is
    /// not: the controller keeps trying, as after any outage.
    pub async fn check_coordinator(&self) -> Result<(), BrokerError> {
        let url = coordinator::redacted_url(&self.config.coordinator_url);
        match self.coordinator.ping().await {
            Ok(()) => {
                tracing::info!(coordinator = %url, "connected to the coordinator");
                Ok(())
            }
            Err(error @ coordinator::CoordinatorError::Authentication(_)) => Err(
                BrokerError::InvalidField(format!("coordinator {url}: {error}")),
            ),
            Err(error) => {
                tracing::warn!(coordinator = %url, %error, "cannot reach the coordinator yet; retrying");
                Ok(())
            }
        }
    }

    /// The store of the cluster's users, ACLs and tokens, in this cluster's coordinator.
    pub fn security_store(&self) -> Result<security_store::RedisSecurityStore, BrokerError> {
        let client = coordinator::redis_client(&self.config)
            .map_err(|e| BrokerError::InvalidField(format!("--coordinator: {e}")))?;
        Ok(security_store::RedisSecurityStore::new(
            client,
            &self.cluster_name,
        ))
    }

    pub fn subscribe(&self) -> watch::Receiver<Status> {
        self.status_tx.subscribe()
    }

    /// The coordinator's state at the controller's last look.
    pub fn view(&self) -> ClusterView {
        self.view.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn lease_expires_in_ms(&self) -> i64 {
        self.lease_expires_in_ms.load(Ordering::Relaxed)
    }

    pub fn history(&self) -> Vec<ClusterEvent> {
        self.history
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The fetcher found the leader's Kafka listener refusing connections.
    pub fn report_leader_refused(&self) {
        self.leader_refused.store(true, Ordering::Release);
        self.leader_gone.notify_one();
    }

    /// Whether the leader this node follows is proven dead, so its lease may end before its
    /// time: its Kafka listener refuses connections (nothing listens on its port) *and* its
    /// Redis connection is gone. A leader that is only slow, paused or cut off keeps its
    /// sockets open and fails at least one of these, and waits out its lease as usual; a dead
    /// process acknowledges nothing, so ending its lease early costs no safety.
    async fn leader_is_dead(&self, leader: &NodeRegistration) -> bool {
        if !self.leader_refused.swap(false, Ordering::AcqRel) {
            return false;
        }
        let name = redis_client_name(&self.cluster_name, leader.node_id, &leader.incarnation);
        matches!(self.coordinator.client_connected(&name).await, Ok(false))
    }

    pub fn metrics_replicated(&self, bytes: usize) {
        self.replicated_bytes_total
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// A cluster-unique producer id, from this node's block (a new block from Redis when the
    /// block is used up).
    pub async fn next_producer_id(&self) -> Result<i64, BrokerError> {
        let mut ids = self.producer_ids.lock().await;
        if ids.0 >= ids.1 {
            let start = self.coordinator.producer_id_block().await.map_err(|e| {
                tracing::warn!(error = %e, "cannot take a block of producer ids");
                BrokerError::LeaderNotAvailable
            })?;
            *ids = (start, start + coordinator::PRODUCER_ID_BLOCK);
        }
        let id = ids.0;
        ids.0 += 1;
        Ok(id)
    }

    fn set_status(&self, status: Status) {
        self.status_tx.send_replace(status);
    }

    /// Asks the leader to create a topic with its defaults (a client's Metadata asked this
    /// follower to auto-create it). The topic reaches this node with the leader's next topic
    /// list; the caller answers "retry" meanwhile.
    pub async fn forward_create_topic(&self, name: &str) -> Result<(), BrokerError> {
        use kafka_protocol::messages::create_topics_request::CreatableTopic;
        use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse, TopicName};
        use kafka_protocol::protocol::StrBytes;
        /// How long a follower waits for the leader to create a topic for it.
        const FORWARD_MS_MAX: u64 = 5_000;
        let Some(leader) = self.status().leader else {
            return Err(BrokerError::LeaderNotAvailable);
        };
        let unavailable = |error: kafka_client::ClientError| {
            if error.is_authentication() {
                tracing::warn!(%error, "the leader refused this node's login; cannot forward a topic creation");
            } else {
                tracing::debug!(%error, "cannot forward a topic creation to the leader");
            }
            BrokerError::LeaderNotAvailable
        };
        let mut client = kafka_client::KafkaClient::connect(
            inter_broker_address(&leader, &self.client_security),
            format!("yak-forward-{}", self.node_id),
            &self.client_security,
        )
        .await
        .map_err(unavailable)?;
        let request = CreateTopicsRequest::default()
            .with_timeout_ms(FORWARD_MS_MAX as i32)
            .with_topics(vec![CreatableTopic::default()
                .with_name(TopicName(StrBytes::from_string(name.to_string())))
                .with_num_partitions(-1)
                .with_replication_factor(-1)]);
        let response: CreateTopicsResponse = client
            .call(
                kafka_protocol::messages::ApiKey::CreateTopics,
                5,
                &request,
                FORWARD_MS_MAX,
            )
            .await
            .map_err(unavailable)?;
        // 0 = created, 36 = TOPIC_ALREADY_EXISTS: either way the leader has it.
        match response.topics.first().map(|t| t.error_code) {
            Some(0 | 36) => {
                self.leader_gone.notify_one();
                Ok(())
            }
            Some(code) => Err(BrokerError::InvalidTopicName(format!(
                "the leader refused to create {name:?} (Kafka error code {code})"
            ))),
            None => Err(BrokerError::LeaderNotAvailable),
        }
    }

    /// Remembers an event in the node's history and queues it for the coordinator's.
    fn record(
        &self,
        broker: &Broker,
        kind: &str,
        epoch: i32,
        partition: Option<&Partition>,
        message: String,
    ) {
        let event = ClusterEvent {
            at_ms: crate::now_ms(),
            kind: kind.to_string(),
            node_id: self.node_id,
            epoch: epoch as i64,
            topic: partition.map(|p| p.topic.clone()),
            partition: partition.map(|p| p.index),
            message: message.clone(),
        };
        let activity = match kind {
            "election" => ActivityKind::LeaderElected,
            "isr_expand" => ActivityKind::IsrJoined,
            "isr_shrink" => ActivityKind::IsrLeft,
            "truncation" => ActivityKind::Truncated,
            _ => ActivityKind::RoleChanged,
        };
        broker.activity.record(activity, message);
        self.queue_event(event);
    }

    fn queue_event(&self, event: ClusterEvent) {
        {
            let mut history = self.history.lock().unwrap_or_else(|p| p.into_inner());
            history.insert(0, event.clone());
            history.truncate(HISTORY_CACHE_MAX);
        }
        let mut pending = self
            .pending_events
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if pending.len() < HISTORY_CACHE_MAX {
            pending.push(event);
        }
    }

    /// A follower cut its log before following (called by the fetcher).
    pub fn record_truncation(
        &self,
        partition: &Partition,
        from: i64,
        to: i64,
        below_high_watermark: bool,
    ) {
        self.truncations_total.fetch_add(1, Ordering::Relaxed);
        if below_high_watermark {
            self.truncations_below_high_watermark_total
                .fetch_add(1, Ordering::Relaxed);
        }
        let alarm = if below_high_watermark {
            " (SAFETY ALARM: below the high watermark)"
        } else {
            ""
        };
        tracing::info!(topic = %partition.topic, partition = partition.index, from, to, "truncated to follow the leader");
        self.queue_event(ClusterEvent {
            at_ms: crate::now_ms(),
            kind: "truncation".into(),
            node_id: self.node_id,
            epoch: partition.leader_epoch() as i64,
            topic: Some(partition.topic.clone()),
            partition: Some(partition.index),
            message: format!(
                "node {} truncated {}-{} from {from} to {to}{alarm}",
                self.node_id, partition.topic, partition.index
            ),
        });
    }

    /// Gives a partition created on this node (a new topic, or partitions added) the role the
    /// node has now.
    pub fn adopt(&self, broker: &Broker, partition: &Partition) {
        partition.join_cluster(Arc::clone(&self.gate));
        let status = self.status();
        let view = self.view();
        let members = members(&view, self.node_id);
        match status.role {
            Role::Leader => {
                // A new partition: every live node holds all of its (no) records.
                let mut isr: Vec<i32> = view.nodes.iter().map(|n| n.node_id).collect();
                isr.push(self.node_id);
                isr.sort_unstable();
                isr.dedup();
                let min = broker.min_insync_replicas(&partition.topic);
                if let Err(error) = partition.become_leader(
                    self.node_id,
                    status.epoch,
                    isr,
                    0,
                    members,
                    min,
                    self.gate.now_ms(),
                    None,
                ) {
                    tracing::error!(topic = %partition.topic, partition = partition.index, %error, "cannot lead a new partition");
                }
                self.topics_changed.notify_one();
            }
            Role::Follower => {
                let leader = status.leader.as_ref().map_or(-1, |l| l.node_id);
                partition.become_follower(leader, status.epoch, Vec::new(), members);
            }
            Role::Offline | Role::Standalone => {}
        }
    }

    /// Starts the controller.
    pub fn spawn(self: &Arc<Self>, broker: Arc<Broker>) -> tokio::task::JoinHandle<()> {
        let cluster = Arc::clone(self);
        tokio::spawn(async move { cluster.run(broker).await })
    }

    async fn run(self: Arc<Self>, broker: Arc<Broker>) {
        // Its own task, so a slow or unreachable Redis never delays a lease renewal. Aborting
        // it is safe: each refresh runs in a task of its own (`Security::refresh`).
        let refresher = tokio::spawn(refresh_security(Arc::clone(&broker), self.tick()));
        let mut fetcher: Option<Fetcher> = None;
        let mut wait = Duration::ZERO;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.higher_epoch_seen.notified() => {}
                _ = self.leader_gone.notified() => {}
                _ = self.topics_changed.notified() => {}
                _ = broker.shutdown.cancelled() => break,
            }
            wait = self.step(&broker, &mut fetcher).await;
            self.flush_history().await;
        }
        refresher.abort();
        // Shutdown: stop copying, and hand the lease over at once rather than let it lapse.
        if let Some(fetcher) = fetcher.take() {
            fetcher.stop().await;
        }
        let status = self.status();
        if status.role == Role::Leader {
            self.gate.close();
            match self.coordinator.release(self.node_id, status.epoch).await {
                Ok(true) => tracing::info!(epoch = status.epoch, "released the leader lease"),
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(%error, "cannot release the leader lease; it lapses by itself")
                }
            }
        }
    }

    fn tick(&self) -> Duration {
        Duration::from_millis(self.config.lease_ms / 3)
    }

    /// One look at the coordinator and what this node's role asks of it. Returns how long to
    /// wait before the next look.
    async fn step(
        self: &Arc<Self>,
        broker: &Arc<Broker>,
        fetcher: &mut Option<Fetcher>,
    ) -> Duration {
        let lease_ms = self.config.lease_ms;
        if let Err(error) = self
            .coordinator
            .register(&self.registration, lease_ms * 3)
            .await
        {
            tracing::debug!(%error, "cannot register with the coordinator");
        }
        let status = self.status();
        if status.role == Role::Leader {
            let sent_ms = self.gate.now_ms();
            match self
                .coordinator
                .renew(self.node_id, status.epoch, lease_ms)
                .await
            {
                Ok(true) => {
                    self.gate
                        .extend_to(decide::lease_deadline_ms(sent_ms, lease_ms));
                    self.lease_renew_ms_last
                        .store(self.gate.now_ms() - sent_ms, Ordering::Relaxed);
                }
                Ok(false) => {
                    self.step_down(broker, fetcher, "the lease is gone or held by another node")
                        .await;
                    return Duration::ZERO;
                }
                Err(error) => {
                    if !self.gate.is_open() {
                        self.step_down(
                            broker,
                            fetcher,
                            &format!("cannot renew the lease: {error}"),
                        )
                        .await;
                        return self.tick();
                    }
                    tracing::warn!(%error, remaining_ms = self.gate.remaining_ms(), "cannot renew the lease; retrying");
                    return Duration::from_millis(100);
                }
            }
        }
        let view = match self.coordinator.view().await {
            Ok(view) => view,
            Err(error) => {
                tracing::debug!(%error, "cannot read the coordinator");
                return Duration::from_millis(200).min(self.tick());
            }
        };
        self.lease_expires_in_ms
            .store(view.lease.map_or(0, |(_, ttl)| ttl), Ordering::Relaxed);
        *self.view.lock().unwrap_or_else(|p| p.into_inner()) = view.clone();
        let floor = self.floor_epoch();
        // A coordinator that lost its data (or never had it): put back this node's floor and
        // the partition records it last saw, so no election hands out an old epoch or trusts
        // a stale ISR.
        if view.epoch.is_none_or(|epoch| epoch < floor) {
            if let Err(error) = self.restore(floor).await {
                tracing::warn!(%error, "cannot restore the cluster state in the coordinator");
            }
            if view.epoch.is_none() {
                // Give the other nodes one tick to restore theirs before anyone elects.
                return self.tick();
            }
        }
        match status.role {
            Role::Leader => {
                self.lead(broker, &view, status.epoch).await;
                self.tick()
            }
            _ => match view.lease {
                Some((holder, _)) if holder == self.node_id => {
                    // A lease this node holds without leading: left by an earlier run of it.
                    // Give it up and elect properly.
                    if let Some(epoch) = view.epoch {
                        let _ = self.coordinator.release(self.node_id, epoch).await;
                    }
                    Duration::ZERO
                }
                Some((holder, ttl_ms)) => {
                    let epoch = view.epoch.unwrap_or(0);
                    if let Some(leader) = status.leader.as_ref().filter(|l| l.node_id == holder) {
                        if status.role == Role::Follower
                            && status.epoch == epoch
                            && self.leader_is_dead(leader).await
                        {
                            match self.coordinator.expire_lease(holder, epoch).await {
                                Ok(true) => {
                                    tracing::info!(
                                        leader = holder,
                                        epoch,
                                        "the leader's process is gone; ended its lease"
                                    );
                                    return Duration::ZERO;
                                }
                                Ok(false) => {}
                                Err(error) => {
                                    tracing::debug!(%error, "cannot end the dead leader's lease")
                                }
                            }
                        }
                    }
                    if epoch >= floor {
                        self.follow(broker, fetcher, &view, holder, epoch).await;
                    }
                    self.sync_topics(broker, &view).await;
                    self.checkpoint(broker).await;
                    // Look again the moment the lease could lapse.
                    Duration::from_millis(ttl_ms.max(0) as u64 + 5).min(self.tick())
                }
                None => {
                    if self.status().role == Role::Follower {
                        if let Some(fetcher) = fetcher.take() {
                            fetcher.stop().await;
                        }
                        for partition in all_partitions(broker) {
                            partition.go_offline();
                        }
                        self.set_status(Status {
                            role: Role::Offline,
                            epoch: status.epoch,
                            leader: None,
                        });
                    }
                    match self.elect(broker, fetcher, &view).await {
                        true => Duration::ZERO,
                        false => Duration::from_millis(50),
                    }
                }
            },
        }
    }

    fn floor_epoch(&self) -> i32 {
        self.node_file
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .highest_epoch
    }

    /// Persists what this node must not forget before it acts on it: the highest epoch seen and
    /// the partition records. Written only when something changed.
    async fn persist(
        &self,
        broker: &Broker,
        epoch: i32,
        partitions: &BTreeMap<String, PartitionRecord>,
    ) -> Result<(), BrokerError> {
        let file = {
            let mut file = self.node_file.lock().unwrap_or_else(|p| p.into_inner());
            let highest = file.highest_epoch.max(epoch);
            let records = if partitions.is_empty() {
                file.partitions.clone()
            } else {
                partitions.clone()
            };
            if highest == file.highest_epoch && records == file.partitions {
                return Ok(());
            }
            file.highest_epoch = highest;
            file.partitions = records;
            file.clone()
        };
        let data_dir = broker.config.data_dir.clone();
        tokio::task::spawn_blocking(move || file.store(&data_dir))
            .await
            .map_err(|e| BrokerError::Internal(e.to_string()))?
            .map_err(|e| BrokerError::Storage(format!("cannot write cluster.json: {e}")))
    }

    async fn restore(&self, floor: i32) -> Result<(), coordinator::CoordinatorError> {
        let records = self
            .node_file
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .partitions
            .clone();
        self.coordinator.restore(floor, &records).await
    }

    async fn elect(
        self: &Arc<Self>,
        broker: &Arc<Broker>,
        fetcher: &mut Option<Fetcher>,
        view: &ClusterView,
    ) -> bool {
        let from_coordinator = !view.partitions.is_empty();
        let records = if from_coordinator {
            view.partitions.clone()
        } else {
            self.node_file
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .partitions
                .clone()
        };
        if !decide::eligible(self.node_id, &records, self.config.unclean_election) {
            return false;
        }
        let epoch = decide::next_epoch(view.epoch.unwrap_or(0), self.floor_epoch());
        let next: Vec<(String, Option<i64>, PartitionRecord)> = records
            .iter()
            .map(|(field, record)| {
                (
                    field.clone(),
                    from_coordinator.then_some(record.version),
                    PartitionRecord {
                        epoch,
                        leader: self.node_id,
                        isr: decide::isr_after_election(&record.isr, record.leader, self.node_id),
                        version: record.version + 1,
                    },
                )
            })
            .collect();
        // The epoch is on disk before any write could carry it.
        if let Err(error) = self.persist(broker, epoch, &BTreeMap::new()).await {
            tracing::error!(%error, "cannot persist the epoch; not standing for election");
            return false;
        }
        let sent_ms = self.gate.now_ms();
        let outcome = self
            .coordinator
            .elect(
                self.node_id,
                self.config.lease_ms,
                view.epoch,
                epoch,
                view.partitions.len(),
                &next,
            )
            .await;
        match outcome {
            Ok(Elected::Won) => {
                let records: BTreeMap<String, PartitionRecord> =
                    next.into_iter().map(|(f, _, r)| (f, r)).collect();
                self.become_leader(broker, fetcher, view, epoch, records, sent_ms)
                    .await;
                true
            }
            Ok(Elected::LeaseHeld | Elected::Changed) => false,
            Err(error) => {
                tracing::debug!(%error, "election attempt failed");
                false
            }
        }
    }

    async fn become_leader(
        &self,
        broker: &Arc<Broker>,
        fetcher: &mut Option<Fetcher>,
        view: &ClusterView,
        epoch: i32,
        records: BTreeMap<String, PartitionRecord>,
        sent_ms: u64,
    ) {
        if let Some(fetcher) = fetcher.take() {
            fetcher.stop().await;
        }
        if let Err(error) = self.persist(broker, epoch, &records).await {
            tracing::error!(%error, "cannot persist the partition records");
        }
        self.gate
            .extend_to(decide::lease_deadline_ms(sent_ms, self.config.lease_ms));
        let members = members(view, self.node_id);
        let now_ms = self.gate.now_ms();
        for partition in all_partitions(broker) {
            let key = field(&partition.topic, partition.index);
            let (isr, version) = match records.get(&key) {
                Some(record) => (record.isr.clone(), record.version),
                None => (vec![self.node_id], 0),
            };
            let published = self
                .coordinator
                .published_hwm(&partition.topic, partition.index)
                .await
                .ok()
                .flatten();
            let min = broker.min_insync_replicas(&partition.topic);
            if let Err(error) = partition.become_leader(
                self.node_id,
                epoch,
                isr,
                version,
                members.clone(),
                min,
                now_ms,
                published,
            ) {
                tracing::error!(topic = %partition.topic, partition = partition.index, %error, "cannot lead the partition");
            }
        }
        self.set_status(Status {
            role: Role::Leader,
            epoch,
            leader: Some(self.registration.clone()),
        });
        self.elections_total.fetch_add(1, Ordering::Relaxed);
        tracing::info!(epoch, "elected leader");
        if let Some(groups) = broker.groups() {
            // Members rejoin; committed offsets come from the replicated log.
            if let Err(error) = groups.load().await {
                tracing::error!(%error, "cannot load committed offsets");
            }
        }
        self.record(
            broker,
            "election",
            epoch,
            None,
            format!("node {} elected leader at epoch {epoch}", self.node_id),
        );
        self.topics_changed.notify_one();
    }

    async fn follow(
        self: &Arc<Self>,
        broker: &Arc<Broker>,
        fetcher: &mut Option<Fetcher>,
        view: &ClusterView,
        leader: i32,
        epoch: i32,
    ) {
        let status = self.status();
        let same = status.role == Role::Follower
            && status.epoch == epoch
            && status.leader.as_ref().is_some_and(|l| l.node_id == leader);
        if let Err(error) = self.persist(broker, epoch, &view.partitions).await {
            tracing::error!(%error, "cannot persist the epoch; not following");
            return;
        }
        let members = members(view, self.node_id);
        if same {
            // Keep the ISR shown on this node current.
            for partition in all_partitions(broker) {
                if let Some(record) = view
                    .partitions
                    .get(&field(&partition.topic, partition.index))
                {
                    partition.apply_isr(record.isr.clone(), record.version);
                }
            }
            return;
        }
        let Some(registration) = view.nodes.iter().find(|n| n.node_id == leader).cloned() else {
            // The leader has not registered its addresses (yet): nothing to fetch from.
            return;
        };
        self.gate.close();
        if let Some(fetcher) = fetcher.take() {
            fetcher.stop().await;
        }
        for partition in all_partitions(broker) {
            let isr = view
                .partitions
                .get(&field(&partition.topic, partition.index))
                .map(|r| r.isr.clone())
                .unwrap_or_default();
            partition.become_follower(leader, epoch, isr, members.clone());
        }
        self.set_status(Status {
            role: Role::Follower,
            epoch,
            leader: Some(registration.clone()),
        });
        tracing::info!(leader, epoch, "following");
        let cancel = CancellationToken::new();
        let task = tokio::spawn(fetcher::run(
            Arc::clone(self),
            Arc::clone(broker),
            registration,
            epoch,
            cancel.clone(),
        ));
        *fetcher = Some(Fetcher { cancel, task });
    }

    async fn step_down(&self, broker: &Arc<Broker>, fetcher: &mut Option<Fetcher>, reason: &str) {
        self.gate.close();
        if let Some(fetcher) = fetcher.take() {
            fetcher.stop().await;
        }
        for partition in all_partitions(broker) {
            partition.go_offline();
        }
        let status = self.status();
        self.set_status(Status {
            role: Role::Offline,
            epoch: status.epoch,
            leader: None,
        });
        tracing::warn!(epoch = status.epoch, reason, "stepped down");
        self.record(
            broker,
            "step_down",
            status.epoch,
            None,
            format!(
                "node {} stepped down at epoch {}: {reason}",
                self.node_id, status.epoch
            ),
        );
    }

    /// The leader's duties: partition records for new partitions, ISR changes, the topic list
    /// and high watermarks in the coordinator, checkpoints.
    async fn lead(&self, broker: &Arc<Broker>, view: &ClusterView, epoch: i32) {
        let now_ms = self.gate.now_ms();
        let members = members(view, self.node_id);
        let partitions = all_partitions(broker);
        let mut local_fields = std::collections::BTreeSet::new();
        for partition in &partitions {
            let key = field(&partition.topic, partition.index);
            local_fields.insert(key.clone());
            partition.set_replicas(members.clone());
            if !view.partitions.contains_key(&key) {
                let state = partition.replica_state();
                let record = PartitionRecord {
                    epoch,
                    leader: self.node_id,
                    isr: state.isr.clone(),
                    version: 1,
                };
                match self
                    .coordinator
                    .write_partitions(self.node_id, epoch, &[(key.clone(), None, Some(record))])
                    .await
                {
                    Ok(true) => partition.apply_isr(state.isr, 1),
                    Ok(false) => {}
                    Err(error) => tracing::debug!(%error, "cannot write a partition record"),
                }
                continue;
            }
            if let Some((isr, version)) = partition.isr_change(now_ms, self.config.replica_lag_ms) {
                let record = PartitionRecord {
                    epoch,
                    leader: self.node_id,
                    isr: isr.clone(),
                    version: version + 1,
                };
                let before = partition.replica_state().isr;
                match self
                    .coordinator
                    .write_partitions(
                        self.node_id,
                        epoch,
                        &[(key.clone(), Some(version), Some(record))],
                    )
                    .await
                {
                    Ok(true) => {
                        partition.apply_isr(isr.clone(), version + 1);
                        let shrink = isr.len() < before.len();
                        let kind = if shrink { "isr_shrink" } else { "isr_expand" };
                        if shrink {
                            self.isr_shrinks_total.fetch_add(1, Ordering::Relaxed);
                        } else {
                            self.isr_expands_total.fetch_add(1, Ordering::Relaxed);
                        }
                        self.record(
                            broker,
                            kind,
                            epoch,
                            Some(partition),
                            format!(
                                "ISR of {}-{} changed from {before:?} to {isr:?}",
                                partition.topic, partition.index
                            ),
                        );
                    }
                    Ok(false) => {}
                    Err(error) => tracing::debug!(%error, "cannot change the ISR"),
                }
            }
            let high_watermark = partition.high_watermark();
            let published = self
                .published_hwm
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&key)
                .copied();
            if published.is_none_or(|p| p < high_watermark) {
                if let Ok(true) = self
                    .coordinator
                    .publish_hwm(
                        self.node_id,
                        epoch,
                        &partition.topic,
                        partition.index,
                        high_watermark,
                    )
                    .await
                {
                    self.published_hwm
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(key, high_watermark);
                }
            }
        }
        // Records of partitions that no longer exist (their topic was deleted).
        let stale: Vec<(String, Option<i64>, Option<PartitionRecord>)> = view
            .partitions
            .iter()
            .filter(|(key, _)| !local_fields.contains(*key))
            .map(|(key, record)| (key.clone(), Some(record.version), None))
            .collect();
        if !stale.is_empty() {
            let _ = self
                .coordinator
                .write_partitions(self.node_id, epoch, &stale)
                .await;
        }
        let topics = PublishedTopics {
            epoch,
            topics: broker.topics().iter().map(|t| t.config.clone()).collect(),
        };
        if view
            .topics
            .as_ref()
            .is_none_or(|published| published.topics != topics.topics)
        {
            if let Err(error) = self
                .coordinator
                .publish_topics(self.node_id, epoch, &topics)
                .await
            {
                tracing::debug!(%error, "cannot publish the topic list");
            }
        }
        if let Err(error) = self.persist(broker, epoch, &view.partitions).await {
            tracing::warn!(%error, "cannot persist the partition records");
        }
        self.checkpoint(broker).await;
    }

    /// A follower's topics follow the leader's list.
    async fn sync_topics(&self, broker: &Arc<Broker>, view: &ClusterView) {
        let Some(published) = &view.topics else {
            return;
        };
        for config in &published.topics {
            let outcome = match broker.topic(&config.name) {
                None => broker.create_replica_topic(config.clone()).await,
                Some(local) if local.config.topic_id != config.topic_id => {
                    // Deleted and created again under the same name.
                    match broker.delete_replica_topic(&config.name).await {
                        Ok(()) => broker.create_replica_topic(config.clone()).await,
                        Err(error) => Err(error),
                    }
                }
                Some(local) if local.config != *config => {
                    broker.update_replica_topic(config.clone()).await
                }
                Some(_) => Ok(()),
            };
            if let Err(error) = outcome {
                tracing::warn!(topic = %config.name, %error, "cannot follow the leader's topic");
            }
        }
        for local in broker.topics() {
            if !published.topics.iter().any(|t| t.name == local.name()) {
                if let Err(error) = broker.delete_replica_topic(local.name()).await {
                    tracing::warn!(topic = %local.name(), %error, "cannot delete the topic the leader deleted");
                }
            }
        }
    }

    /// Writes every partition's high watermark checkpoint that moved.
    async fn checkpoint(&self, broker: &Arc<Broker>) {
        let partitions = all_partitions(broker);
        let _ = tokio::task::spawn_blocking(move || {
            for partition in partitions {
                if let Err(error) = partition.checkpoint_high_watermark() {
                    tracing::debug!(topic = %partition.topic, partition = partition.index, %error, "cannot checkpoint the high watermark");
                }
            }
        })
        .await;
    }

    async fn flush_history(&self) {
        let pending: Vec<ClusterEvent> = std::mem::take(
            &mut *self
                .pending_events
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        for event in pending {
            if let Err(error) = self.coordinator.record_event(&event).await {
                tracing::debug!(%error, "cannot write the cluster history");
                return;
            }
        }
        if let Ok(history) = self.coordinator.history(HISTORY_CACHE_MAX as isize).await {
            *self
                .shared_history
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = history;
        }
    }

    /// The cluster's history as the controller last read it from the coordinator, or this
    /// node's own when it could not. Never waits on Redis: a node cut off from it still answers.
    pub fn cluster_history(&self) -> Vec<ClusterEvent> {
        let shared = self
            .shared_history
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if shared.is_empty() {
            self.history()
        } else {
            shared
        }
    }
}

impl Cluster {
    /// The cluster's metrics in Prometheus text, with Kafka's names where Kafka has one.
    pub fn prometheus_text(&self, broker: &Broker) -> String {
        use std::fmt::Write;
        let mut out = String::with_capacity(2048);
        let status = self.status();
        let counters = [
            (
                "kafka_server_replicamanager_isrshrinks_total",
                "ISR shrinks this node made as leader.",
                &self.isr_shrinks_total,
            ),
            (
                "kafka_server_replicamanager_isrexpands_total",
                "ISR expansions this node made as leader.",
                &self.isr_expands_total,
            ),
            (
                "kafka_controller_leader_elections_total",
                "Elections this node won.",
                &self.elections_total,
            ),
            (
                "yak_cluster_truncations_total",
                "Log truncations this node made to follow a leader.",
                &self.truncations_total,
            ),
            (
                "yak_cluster_truncations_below_high_watermark_total",
                "Truncations below the high watermark (safety alarms; should stay 0).",
                &self.truncations_below_high_watermark_total,
            ),
            (
                "kafka_server_replicafetchermanager_bytes_total",
                "Record bytes this node copied from leaders.",
                &self.replicated_bytes_total,
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                value.load(Ordering::Relaxed)
            );
        }
        let gauges = [
            (
                "kafka_controller_kafkacontroller_activecontrollercount",
                "1 on the node that holds the leader lease.",
                u64::from(status.role == Role::Leader),
            ),
            (
                "yak_cluster_leader_epoch",
                "The epoch this node serves.",
                status.epoch.max(0) as u64,
            ),
            (
                "yak_cluster_lease_renew_latency_ms",
                "How long the last lease renewal took.",
                self.lease_renew_ms_last.load(Ordering::Relaxed),
            ),
            (
                "yak_cluster_lease_remaining_ms",
                "Time left on this node's lease (0 unless it leads).",
                self.gate.remaining_ms(),
            ),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        let mut under_replicated = 0;
        let mut lag_lines = String::new();
        for partition in all_partitions(broker) {
            let replica = partition.replica_state();
            if replica.isr.len() < replica.replicas.len() {
                under_replicated += 1;
            }
            let log_end_offset = partition.log_end_offset();
            for (node, progress) in &replica.followers {
                let lag = if progress.fetch_offset < 0 {
                    log_end_offset
                } else {
                    (log_end_offset - progress.fetch_offset).max(0)
                };
                let _ = writeln!(
                    lag_lines,
                    "yak_cluster_follower_lag_records{{topic=\"{}\",partition=\"{}\",follower=\"{node}\"}} {lag}",
                    partition.topic, partition.index
                );
            }
        }
        let _ = writeln!(out, "# HELP kafka_server_replicamanager_underreplicatedpartitions Partitions whose ISR is smaller than their replicas.\n# TYPE kafka_server_replicamanager_underreplicatedpartitions gauge\nkafka_server_replicamanager_underreplicatedpartitions {under_replicated}");
        let _ = writeln!(out, "# HELP yak_cluster_follower_lag_records Records each follower is behind the leader (on the leader).\n# TYPE yak_cluster_follower_lag_records gauge");
        out.push_str(&lag_lines);
        out
    }
}

/// Every `interval` (the controller's tick), reloads the users, ACLs and tokens if another
/// node changed them: one GET of their version when nothing changed.
async fn refresh_security(broker: Arc<Broker>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = broker.shutdown.cancelled() => return,
        }
        match broker.security.sync_with_store().await {
            Ok(_) => failing = false,
            // Once per outage: Redis being down is already reported by the controller.
            Err(error) if !failing => {
                failing = true;
                tracing::warn!(%error, "cannot read the cluster's users and ACLs; retrying");
            }
            Err(_) => {}
        }
    }
}

/// The follower's running fetcher.
struct Fetcher {
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Fetcher {
    async fn stop(self) {
        self.cancel.cancel();
        let _ = self.task.await;
    }
}

fn all_partitions(broker: &Broker) -> Vec<Arc<Partition>> {
    broker
        .topics()
        .iter()
        .flat_map(|t| t.partitions.iter().cloned())
        .collect()
}

/// Every node of the cluster (it replicates every partition), this one included.
fn members(view: &ClusterView, node_id: i32) -> Vec<i32> {
    let mut members = view.members.clone();
    members.push(node_id);
    members.sort_unstable();
    members.dedup();
    members
}
