//! A follower's replication loop: one task per (leader, epoch), owned by the controller, which
//! cancels it when the role changes.
//!
//! Before it fetches a partition at a new epoch, the follower asks the leader where its own
//! latest epoch ends (OffsetForLeaderEpoch) and truncates there (KIP-101/279). Then it fetches
//! every partition at its *durable* log end offset — it appends what it gets, waits for its
//! flusher to fsync it, and only then fetches again — so the offset the leader sees is one this
//! node would keep through a crash.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::{
    ApiKey, FetchRequest, FetchResponse, OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse,
    TopicName,
};
use kafka_protocol::protocol::StrBytes;
use tokio_util::sync::CancellationToken;

use super::coordinator::NodeRegistration;
use super::kafka_client::KafkaClient;
use super::Cluster;
use crate::broker::Broker;
use crate::partition::Partition;
use crate::replica::Role;

/// How long the leader may hold a follower's fetch when nothing is new.
pub const REPLICA_FETCH_WAIT_MS: i32 = 500;
/// Most record bytes one replica fetch asks for, in all and per partition.
pub const REPLICA_FETCH_BYTES_MAX: i32 = 16 * 1024 * 1024;
pub const REPLICA_FETCH_PARTITION_BYTES_MAX: i32 = 4 * 1024 * 1024;
/// Longest a replica request may go unanswered before the connection is dropped.
pub const REPLICA_REQUEST_MS_MAX: u64 = 5_000;
/// Pause between attempts to reach the leader, doubling up to the maximum.
pub const RECONNECT_BACKOFF_MS_MIN: u64 = 50;
pub const RECONNECT_BACKOFF_MS_MAX: u64 = 1_000;
/// Pause between logins the leader refused, doubling up to the maximum: wrong credentials are
/// fixed by an operator, not by retrying, and each refusal costs the leader a SCRAM exchange.
pub const LOGIN_BACKOFF_MS_MIN: u64 = 1_000;
pub const LOGIN_BACKOFF_MS_MAX: u64 = 30_000;

const FETCH_VERSION: i16 = 12;
const OFFSET_FOR_LEADER_EPOCH_VERSION: i16 = 3;

const NONE: i16 = 0;
const OFFSET_OUT_OF_RANGE: i16 = 1;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;

/// Why the loop stopped talking to this leader.
enum Stop {
    /// Cancelled by the controller.
    Cancelled,
    /// The connection failed: reconnect.
    Connection(String),
    /// The leader refused this node's TLS certificate or login: this node cannot replicate
    /// (and so stays out of the ISR) until its credentials or the leader's users change.
    Login(String),
    /// The leader refused our epoch (it is not the leader, or not at this epoch): the
    /// controller must look at the coordinator again.
    Epoch(String),
}

pub async fn run(
    cluster: Arc<Cluster>,
    broker: Arc<Broker>,
    leader: NodeRegistration,
    epoch: i32,
    cancel: CancellationToken,
) {
    let mut backoff_ms = RECONNECT_BACKOFF_MS_MIN;
    // One task per epoch: the first refused login of the epoch is an error in the log, the
    // retries are not (a node left with a wrong password must not fill the log).
    let mut login_refusals: u64 = 0;
    loop {
        let session = follow(&cluster, &broker, &leader, epoch, &cancel);
        let stop = tokio::select! {
            stop = session => stop,
            _ = cancel.cancelled() => Stop::Cancelled,
        };
        match stop {
            Stop::Cancelled => return,
            Stop::Login(error) => {
                login_refusals += 1;
                if login_refusals == 1 {
                    tracing::error!(leader = leader.node_id, epoch, %error, "the leader refused this node's login: not replicating (this node stays out of the ISR) until the inter-broker credentials are fixed");
                } else {
                    tracing::debug!(leader = leader.node_id, epoch, %error, refusals = login_refusals, "the leader refused this node's login again");
                }
                backoff_ms = backoff_ms.max(LOGIN_BACKOFF_MS_MIN);
            }
            Stop::Connection(error) => {
                tracing::info!(leader = leader.node_id, epoch, %error, "replication connection lost");
                // The leader may be dead: let the controller look at the lease now.
                cluster.leader_gone.notify_one();
            }
            Stop::Epoch(error) => {
                tracing::info!(leader = leader.node_id, epoch, %error, "the leader refused this epoch");
                cluster.leader_gone.notify_one();
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(backoff_ms)) => {}
            _ = cancel.cancelled() => return,
        }
        backoff_ms = if login_refusals > 0 {
            (backoff_ms * 2).min(LOGIN_BACKOFF_MS_MAX)
        } else {
            (backoff_ms * 2).min(RECONNECT_BACKOFF_MS_MAX)
        };
    }
}

/// The partitions this node follows at `epoch`.
fn followed(broker: &Broker, epoch: i32) -> Vec<Arc<Partition>> {
    broker
        .topics()
        .iter()
        .flat_map(|topic| topic.partitions.iter().cloned())
        .filter(|p| p.role() == Role::Follower && p.leader_epoch() == epoch)
        .collect()
}

async fn follow(
    cluster: &Arc<Cluster>,
    broker: &Arc<Broker>,
    leader: &NodeRegistration,
    epoch: i32,
    cancel: &CancellationToken,
) -> Stop {
    let client_id = format!("yak-replica-{}", cluster.node_id);
    let security = cluster.client_security();
    let address = super::inter_broker_address(leader, security);
    let mut client = match KafkaClient::connect(address, client_id, security).await {
        Ok(client) => client,
        Err(error) if error.is_authentication() => return Stop::Login(error.to_string()),
        Err(error) => {
            if error.is_refused() {
                cluster.report_leader_refused();
            }
            return Stop::Connection(error.to_string());
        }
    };
    // Partitions truncated for this epoch, ready to fetch.
    let mut ready: HashSet<(String, i32)> = HashSet::new();
    // Partitions whose whole log lies below the leader's log start (retention deleted what
    // they would copy next): they cannot catch up by fetching, and are left alone rather than
    // asked for again and again. (Restarting such a follower with an empty partition directory
    // is the way out until the log can be reset to the leader's start.)
    let mut behind_log_start: HashSet<(String, i32)> = HashSet::new();
    loop {
        if cancel.is_cancelled() {
            return Stop::Cancelled;
        }
        let partitions: Vec<Arc<Partition>> = followed(broker, epoch)
            .into_iter()
            .filter(|p| !behind_log_start.contains(&(p.topic.clone(), p.index)))
            .collect();
        let unready: Vec<&Arc<Partition>> = partitions
            .iter()
            .filter(|p| !ready.contains(&(p.topic.clone(), p.index)))
            .collect();
        if !unready.is_empty() {
            if let Err(stop) = truncate(cluster, &mut client, &unready, epoch, &mut ready).await {
                return stop;
            }
        }
        let fetching: Vec<&Arc<Partition>> = partitions
            .iter()
            .filter(|p| ready.contains(&(p.topic.clone(), p.index)))
            .collect();
        if fetching.is_empty() {
            // Nothing to copy yet (no topics, or the leader does not have them yet).
            tokio::time::sleep(Duration::from_millis(REPLICA_FETCH_WAIT_MS as u64)).await;
            continue;
        }
        // Report only what is durable: wait for the flusher to cover what was appended.
        for partition in &fetching {
            if let Err(error) = partition.wait_follower_durable().await {
                return Stop::Connection(format!("local fsync failed: {error}"));
            }
        }
        let request = fetch_request(cluster.node_id, epoch, &fetching);
        let response: FetchResponse = match client
            .call(
                ApiKey::Fetch,
                FETCH_VERSION,
                &request,
                REPLICA_REQUEST_MS_MAX,
            )
            .await
        {
            Ok(response) => response,
            Err(error) => return Stop::Connection(error.to_string()),
        };
        if response.error_code != NONE {
            return Stop::Epoch(format!("fetch error code {}", response.error_code));
        }
        for topic in response.responses {
            let name = topic.topic.0.to_string();
            for data in topic.partitions {
                let Some(partition) = fetching
                    .iter()
                    .find(|p| p.topic == name && p.index == data.partition_index)
                else {
                    continue;
                };
                match data.error_code {
                    NONE => {}
                    OFFSET_OUT_OF_RANGE => {
                        // Either our log does not line up with the leader's (truncate again),
                        // or it ends below the leader's log start.
                        let leader_start =
                            match leader_log_start(&mut client, cluster.node_id, partition).await {
                                Ok(start) => start,
                                Err(stop) => return stop,
                            };
                        if partition.log_end_offset() < leader_start {
                            tracing::error!(topic = %name, partition = data.partition_index, log_end_offset = partition.log_end_offset(), leader_start, "this follower's log ends below the leader's log start: it cannot catch up by fetching and stays out of the ISR");
                            behind_log_start.insert((name.clone(), data.partition_index));
                        } else {
                            ready.remove(&(name.clone(), data.partition_index));
                        }
                        continue;
                    }
                    UNKNOWN_TOPIC_OR_PARTITION => continue,
                    code => {
                        return Stop::Epoch(format!(
                            "fetch of {name}-{} answered error code {code}",
                            data.partition_index
                        ))
                    }
                }
                if let Some(records) = data.records.as_ref().filter(|r| !r.is_empty()) {
                    if let Err(error) = partition.append_replicated(records) {
                        tracing::warn!(topic = %name, partition = data.partition_index, %error, "cannot append replicated batches; truncating again");
                        ready.remove(&(name.clone(), data.partition_index));
                        continue;
                    }
                    cluster.metrics_replicated(records.len());
                }
                partition.set_follower_high_watermark(data.high_watermark);
            }
        }
    }
}

/// The leader's log start offset of a partition (ListOffsets "earliest").
async fn leader_log_start(
    client: &mut KafkaClient,
    node_id: i32,
    partition: &Partition,
) -> Result<i64, Stop> {
    use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
    const EARLIEST: i64 = -2;
    let request = ListOffsetsRequest::default()
        .with_replica_id(kafka_protocol::messages::BrokerId(node_id))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(TopicName(StrBytes::from_string(partition.topic.clone())))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(partition.index)
                .with_current_leader_epoch(-1)
                .with_timestamp(EARLIEST)])]);
    let response: ListOffsetsResponse = client
        .call(ApiKey::ListOffsets, 4, &request, REPLICA_REQUEST_MS_MAX)
        .await
        .map_err(|e| Stop::Connection(e.to_string()))?;
    response
        .topics
        .first()
        .and_then(|t| t.partitions.first())
        .filter(|p| p.error_code == NONE)
        .map(|p| p.offset)
        .ok_or_else(|| Stop::Epoch("ListOffsets earliest failed".into()))
}

fn fetch_request(node_id: i32, epoch: i32, partitions: &[&Arc<Partition>]) -> FetchRequest {
    let mut topics: Vec<FetchTopic> = Vec::new();
    for partition in partitions {
        let entry = FetchPartition::default()
            .with_partition(partition.index)
            .with_current_leader_epoch(epoch)
            .with_fetch_offset(partition.follower_fetch_offset())
            .with_last_fetched_epoch(partition.latest_epoch().unwrap_or(-1))
            .with_log_start_offset(partition.log_start_offset())
            .with_partition_max_bytes(REPLICA_FETCH_PARTITION_BYTES_MAX);
        match topics
            .iter_mut()
            .find(|t| t.topic.0.as_str() == partition.topic)
        {
            Some(topic) => topic.partitions.push(entry),
            None => topics.push(
                FetchTopic::default()
                    .with_topic(TopicName(StrBytes::from_string(partition.topic.clone())))
                    .with_partitions(vec![entry]),
            ),
        }
    }
    FetchRequest::default()
        .with_replica_id(kafka_protocol::messages::BrokerId(node_id))
        .with_max_wait_ms(REPLICA_FETCH_WAIT_MS)
        .with_min_bytes(1)
        .with_max_bytes(REPLICA_FETCH_BYTES_MAX)
        .with_isolation_level(0)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(topics)
}

/// Asks the leader where each partition's latest local epoch ends and cuts there.
async fn truncate(
    cluster: &Arc<Cluster>,
    client: &mut KafkaClient,
    partitions: &[&Arc<Partition>],
    epoch: i32,
    ready: &mut HashSet<(String, i32)>,
) -> Result<(), Stop> {
    let mut topics: Vec<OffsetForLeaderTopic> = Vec::new();
    for partition in partitions {
        let Some(latest) = partition.latest_epoch() else {
            // Nothing stamped with an epoch: an empty log, nothing to cut.
            if partition.log_end_offset() == partition.log_start_offset() {
                ready.insert((partition.topic.clone(), partition.index));
                continue;
            }
            // Records without an epoch (from before this node joined a cluster): ask about
            // epoch 0, the epoch a standalone node stamps.
            push_epoch_query(&mut topics, partition, epoch, 0);
            continue;
        };
        push_epoch_query(&mut topics, partition, epoch, latest);
    }
    if topics.is_empty() {
        return Ok(());
    }
    let request = OffsetForLeaderEpochRequest::default()
        .with_replica_id(kafka_protocol::messages::BrokerId(cluster.node_id))
        .with_topics(topics);
    let response: OffsetForLeaderEpochResponse = client
        .call(
            ApiKey::OffsetForLeaderEpoch,
            OFFSET_FOR_LEADER_EPOCH_VERSION,
            &request,
            REPLICA_REQUEST_MS_MAX,
        )
        .await
        .map_err(|e| Stop::Connection(e.to_string()))?;
    for topic in response.topics {
        let name = topic.topic.0.to_string();
        for answer in topic.partitions {
            let Some(partition) = partitions
                .iter()
                .find(|p| p.topic == name && p.index == answer.partition)
            else {
                continue;
            };
            match answer.error_code {
                NONE => {}
                UNKNOWN_TOPIC_OR_PARTITION => continue,
                code => {
                    return Err(Stop::Epoch(format!(
                        "OffsetForLeaderEpoch of {name}-{} answered error code {code}",
                        answer.partition
                    )))
                }
            }
            let local_end = partition.log_end_offset();
            let cut = super::decide::truncation_offset(
                local_end,
                partition.high_watermark(),
                answer.leader_epoch,
                answer.end_offset,
                |e| partition.end_offset_for_epoch(e).1.max(0),
            );
            if let Some(offset) = cut {
                match partition.truncate_as_follower(offset) {
                    Ok((cut, below_high_watermark)) => {
                        cluster.record_truncation(partition, local_end, cut, below_high_watermark)
                    }
                    Err(error) => {
                        return Err(Stop::Connection(format!(
                            "cannot truncate {name}-{}: {error}",
                            answer.partition
                        )))
                    }
                }
            }
            ready.insert((name.clone(), answer.partition));
        }
    }
    Ok(())
}

fn push_epoch_query(
    topics: &mut Vec<OffsetForLeaderTopic>,
    partition: &Partition,
    current_epoch: i32,
    latest_epoch: i32,
) {
    let entry = OffsetForLeaderPartition::default()
        .with_partition(partition.index)
        .with_current_leader_epoch(current_epoch)
        .with_leader_epoch(latest_epoch);
    match topics
        .iter_mut()
        .find(|t| t.topic.0.as_str() == partition.topic)
    {
        Some(topic) => topic.partitions.push(entry),
        None => topics.push(
            OffsetForLeaderTopic::default()
                .with_topic(TopicName(StrBytes::from_string(partition.topic.clone())))
                .with_partitions(vec![entry]),
        ),
    }
}
