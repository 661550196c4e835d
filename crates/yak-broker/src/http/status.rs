//! `/health`, `/cluster`, `/metadata/leader`, `/metrics`, `/groups`.

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use yak_api::{ClusterState, Election, GroupList, Health, LeaderInfo, NodeState};

use super::AppState;
use crate::metrics::{prometheus_text, PartitionGauges};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/cluster", get(cluster))
        .route("/metadata/leader", get(leader))
        .route("/metrics", get(metrics))
        .route("/groups", get(groups))
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
pub async fn leader(State(state): State<AppState>) -> Json<LeaderInfo> {
    let broker = &state.broker;
    Json(LeaderInfo {
        leader_id: broker.config.node_id,
        leader_http: broker.advertised_http.clone(),
        leader_kafka: broker.advertised_kafka.clone(),
        epoch: broker.epoch(),
    })
}

#[utoipa::path(get, path = "/cluster", tag = "cluster",
    responses((status = 200, description = "Nodes, leader, epoch, and every partition's replicas, ISR and offsets", body = ClusterState)))]
pub async fn cluster(State(state): State<AppState>) -> Json<ClusterState> {
    let broker = &state.broker;
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

#[utoipa::path(get, path = "/metrics", tag = "cluster",
    responses((status = 200, description = "Prometheus text format; JSON (`counters` by name, and per partition its offsets and size) when the request accepts application/json", content(
        (String = "text/plain"),
        (serde_json::Value = "application/json"),
    ))))]
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
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
        return Json(serde_json::json!({ "counters": counters, "partitions": partitions }))
            .into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        prometheus_text(&broker.metrics, &gauges),
    )
        .into_response()
}

#[utoipa::path(get, path = "/groups", tag = "groups",
    responses((status = 200, description = "Consumer groups and their lag (`available` is false until groups exist)", body = GroupList)))]
pub async fn groups() -> Json<GroupList> {
    Json(GroupList {
        available: false,
        groups: Vec::new(),
    })
}
