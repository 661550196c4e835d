//! `/health`, `/cluster`, `/metadata/leader`, `/metrics`.

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use yak_api::{
    ClusterState, Election, ErrorCode, FollowerState, Health, LeaderInfo, LeaseState, NodeState,
};
use yak_auth::{Operation, Resource};

use super::auth::Caller;
use super::AppState;
use crate::metrics::{prometheus_text, PartitionGauges};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/cluster", get(cluster))
        .route("/metadata/leader", get(leader))
        .route("/metrics", get(metrics))
}

#[utoipa::path(get, path = "/health", tag = "cluster",
    responses((status = 200, description = "This node's status and role", body = Health)))]
pub async fn health(State(state): State<AppState>) -> Json<Health> {
    let broker = &state.broker;
    let status = if broker.shutdown.is_cancelled() {
        "shutting_down"
    } else {
        "ok"
    };
    Json(Health {
        status: status.into(),
        node_id: broker.config.node_id,
        role: broker.role().into(),
        epoch: broker.epoch(),
    })
}

#[utoipa::path(get, path = "/metadata/leader", tag = "cluster",
    responses((status = 200, description = "The node that takes writes", body = LeaderInfo)))]
pub async fn leader(State(state): State<AppState>) -> Result<Json<LeaderInfo>, super::HttpError> {
    let broker = &state.broker;
    if let Some(cluster) = broker.cluster() {
        let status = cluster.status();
        return match status.leader {
            Some(leader) => Ok(Json(LeaderInfo {
                leader_id: leader.node_id,
                leader_http: leader.http,
                leader_kafka: leader.kafka,
                epoch: status.epoch as i64,
            })),
            None => Err(super::HttpError::new(
                ErrorCode::LeaderNotAvailable,
                "no leader is known right now (an election is under way); retry",
            )),
        };
    }
    Ok(Json(LeaderInfo {
        leader_id: broker.config.node_id,
        leader_http: broker.advertised_http.clone(),
        leader_kafka: broker.advertised_kafka.clone(),
        epoch: broker.epoch(),
    }))
}

#[utoipa::path(get, path = "/cluster", tag = "cluster",
    responses((status = 200, description = "Nodes, leader, epoch, and every partition's replicas, ISR and offsets", body = ClusterState)))]
pub async fn cluster(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<ClusterState>, super::HttpError> {
    caller.authorize(&state.broker, Operation::Describe, &Resource::cluster())?;
    Ok(cluster_state(&state))
}

fn cluster_state(state: &AppState) -> Json<ClusterState> {
    let broker = &state.broker;
    if broker.cluster().is_some() {
        return Json(clustered(broker));
    }
    let node_id = broker.config.node_id;
    let mut partitions = Vec::new();
    for topic in broker.topics() {
        for mut partition in super::topics::partition_states(&topic, true) {
            partition.leader = node_id;
            partition.replicas = vec![node_id];
            partition.isr = vec![node_id];
            partitions.push(partition);
        }
    }
    Json(ClusterState {
        cluster: broker.config.cluster.clone(),
        node_id,
        leader_id: node_id,
        epoch: broker.epoch(),
        lease: None,
        nodes: vec![NodeState {
            node_id,
            http: broker.advertised_http.clone(),
            kafka: broker.advertised_kafka.clone(),
            role: broker.role().into(),
            alive: true,
        }],
        partitions,
        elections: vec![Election {
            epoch: broker.epoch(),
            leader_id: node_id,
            at_ms: broker.started_ms,
        }],
        history: Vec::new(),
    })
}

/// `/cluster` on a node of a cluster: the coordinator's view at the controller's last look,
/// this node's partitions, and (on the leader) each follower's progress.
fn clustered(broker: &crate::Broker) -> ClusterState {
    let Some(cluster) = broker.cluster() else {
        unreachable!("called for a clustered node only");
    };
    let status = cluster.status();
    let view = cluster.view();
    let node_id = broker.config.node_id;
    let leader_id = status.leader.as_ref().map_or(-1, |l| l.node_id);
    let mut members = view.members.clone();
    members.push(node_id);
    members.sort_unstable();
    members.dedup();
    let nodes = members
        .iter()
        .map(|id| {
            let registration = view.nodes.iter().find(|n| n.node_id == *id);
            let (http, kafka) = if *id == node_id {
                (
                    broker.advertised_http.clone(),
                    broker.advertised_kafka.clone(),
                )
            } else {
                registration
                    .map(|r| (r.http.clone(), r.kafka.clone()))
                    .unwrap_or_default()
            };
            let role = if *id == leader_id {
                "leader"
            } else if *id == node_id {
                broker.role()
            } else if registration.is_some() {
                "follower"
            } else {
                "down"
            };
            NodeState {
                node_id: *id,
                http,
                kafka,
                role: role.into(),
                alive: *id == node_id || registration.is_some(),
            }
        })
        .collect();
    let now_ms = cluster.gate.now_ms();
    let mut partitions = Vec::new();
    for topic in broker.topics() {
        let states = super::topics::partition_states(&topic, true);
        for (mut state, partition) in states.into_iter().zip(topic.partitions.iter()) {
            let replica = partition.replica_state();
            state.leader = leader_id;
            state.leader_epoch = status.epoch;
            state.replicas = members.clone();
            state.isr = replica.isr.clone();
            let log_end_offset = state.log_end_offset;
            state.followers = replica
                .followers
                .iter()
                .map(|(node, progress)| FollowerState {
                    node_id: *node,
                    log_end_offset: progress.fetch_offset,
                    lag_records: if progress.fetch_offset < 0 {
                        log_end_offset
                    } else {
                        (log_end_offset - progress.fetch_offset).max(0)
                    },
                    caught_up_ms_ago: progress
                        .last_caught_up_ms
                        .map_or(-1, |at| now_ms.saturating_sub(at) as i64),
                    in_isr: replica.isr.contains(node),
                })
                .collect();
            partitions.push(state);
        }
    }
    let history = cluster.cluster_history();
    let elections = history
        .iter()
        .filter(|e| e.kind == "election")
        .map(|e| Election {
            epoch: e.epoch,
            leader_id: e.node_id,
            at_ms: e.at_ms,
        })
        .collect();
    ClusterState {
        cluster: broker.config.cluster.clone(),
        node_id,
        leader_id,
        epoch: status.epoch as i64,
        lease: Some(LeaseState {
            holder: view.lease.map_or(-1, |(holder, _)| holder),
            epoch: view.epoch.unwrap_or(0) as i64,
            expires_in_ms: cluster.lease_expires_in_ms(),
            lease_ms: cluster.config.lease_ms,
        }),
        nodes,
        partitions,
        elections,
        history,
    }
}

#[utoipa::path(get, path = "/metrics", tag = "cluster",
    responses((status = 200, description = "Prometheus text format; JSON (`counters` by name, per partition its offsets and size, and per consumer group its members and lag) when the request accepts application/json", content(
        (String = "text/plain"),
        (serde_json::Value = "application/json"),
    ))))]
pub async fn metrics(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> Response {
    if let Err(error) = caller.authorize(&state.broker, Operation::Describe, &Resource::cluster()) {
        return error.into_response();
    }
    let broker = &state.broker;
    let topics = broker.topics();
    let mut gauges = Vec::new();
    for topic in &topics {
        for partition in &topic.partitions {
            gauges.push(PartitionGauges {
                topic: topic.name(),
                partition: partition.index,
                log_start_offset: partition.log_start_offset(),
                log_end_offset: partition.log_end_offset(),
                high_watermark: partition.high_watermark(),
                size_bytes: partition.size_bytes(),
            });
        }
    }
    let groups = super::groups::all_groups(broker);
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    if wants_json {
        let counters: serde_json::Map<String, serde_json::Value> = broker
            .metrics
            .counters()
            .into_iter()
            .map(|(name, _, value)| (name.to_string(), value.into()))
            .collect();
        let partitions: Vec<serde_json::Value> = gauges
            .iter()
            .map(|g| {
                serde_json::json!({
                    "topic": g.topic, "partition": g.partition,
                    "log_start_offset": g.log_start_offset, "log_end_offset": g.log_end_offset,
                    "high_watermark": g.high_watermark, "size_bytes": g.size_bytes,
                })
            })
            .collect();
        return Json(serde_json::json!({
            "counters": counters,
            "partitions": partitions,
            "groups": super::groups::metrics_json(&groups),
        }))
        .into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        {
            let mut text = prometheus_text(&broker.metrics, &gauges);
            text.push_str(&super::groups::prometheus_text(&groups));
            if let Some(cluster) = broker.cluster() {
                text.push_str(&cluster.prometheus_text(broker));
            }
            text
        },
    )
        .into_response()
}
