//! `GET/POST /topics`, `GET/DELETE /topics/{name}`, `PATCH /topics/{name}/configs`.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch};
use axum::{Json, Router};
use yak_api::{
    AlterTopicConfigsRequest, CreateTopicRequest, DeleteTopicResponse, ErrorCode, PartitionState,
    TopicDetail, TopicList, TopicSummary,
};
use yak_auth::{Operation, Resource};

use super::auth::Caller;
use super::{AppState, HttpError};
use crate::broker::{Broker, ConfigChange, NewTopic};
use crate::topic::{Topic, RETENTION_MS};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/topics", get(list_topics).post(create_topic))
        .route("/topics/{name}", get(describe_topic).delete(delete_topic))
        .route("/topics/{name}/configs", patch(alter_topic_configs))
}

pub fn partition_states(topic: &Topic, with_topic: bool) -> Vec<PartitionState> {
    topic
        .partitions
        .iter()
        .map(|p| PartitionState {
            topic: with_topic.then(|| topic.name().to_string()),
            partition: p.index,
            leader: 0,
            leader_epoch: p.leader_epoch(),
            replicas: Vec::new(),
            isr: Vec::new(),
            log_start_offset: p.log_start_offset(),
            log_end_offset: p.log_end_offset(),
            high_watermark: p.high_watermark(),
            size_bytes: p.size_bytes(),
            followers: Vec::new(),
        })
        .collect()
}

/// The deprecated `retention_ms` field: `retention.ms`, absent when unlimited.
fn retention_ms(broker: &Broker, topic: &Topic) -> Option<i64> {
    Some(broker.topic_settings(&topic.config).retention_ms).filter(|ms| *ms >= 0)
}

/// A topic as `caller` may see it: its configs only with DESCRIBE_CONFIGS, as Kafka's
/// DescribeConfigs asks.
fn detail(state: &AppState, caller: &Caller, topic: &Topic) -> TopicDetail {
    let node_id = state.broker.config.node_id;
    let mut partitions = partition_states(topic, false);
    match state.broker.cluster() {
        None => {
            for partition in &mut partitions {
                partition.leader = node_id;
                partition.replicas = vec![node_id];
                partition.isr = vec![node_id];
            }
        }
        Some(cluster) => {
            let status = cluster.status();
            let leader = status.leader.map_or(-1, |l| l.node_id);
            for (state, partition) in partitions.iter_mut().zip(&topic.partitions) {
                let replica = partition.replica_state();
                state.leader = leader;
                state.leader_epoch = status.epoch;
                state.replicas = replica.replicas;
                state.isr = replica.isr;
            }
        }
    }
    TopicDetail {
        name: topic.name().to_string(),
        replication_factor: topic.config.replication_factor,
        retention_ms: retention_ms(&state.broker, topic),
        configs: if caller.may(
            &state.broker,
            Operation::DescribeConfigs,
            &Resource::topic(topic.name()),
        ) {
            state.broker.topic_configs(&topic.config)
        } else {
            Default::default()
        },
        partitions,
    }
}

#[utoipa::path(get, path = "/topics", tag = "topics",
    responses((status = 200, description = "Every topic", body = TopicList)))]
pub async fn list_topics(State(state): State<AppState>, caller: Caller) -> Json<TopicList> {
    // As Kafka's Metadata: a topic the caller may not describe is not there for it.
    let topics = state
        .broker
        .topics()
        .iter()
        .filter(|topic| {
            caller.may(
                &state.broker,
                Operation::Describe,
                &Resource::topic(topic.name()),
            )
        })
        .map(|topic| {
            let partitions = partition_states(topic, false);
            TopicSummary {
                name: topic.name().to_string(),
                partitions: topic.partition_count(),
                replication_factor: topic.config.replication_factor,
                records: partitions
                    .iter()
                    .map(|p| p.high_watermark - p.log_start_offset)
                    .sum(),
                size_bytes: partitions.iter().map(|p| p.size_bytes).sum(),
                retention_ms: retention_ms(&state.broker, topic),
            }
        })
        .collect();
    Json(TopicList { topics })
}

#[utoipa::path(post, path = "/topics", tag = "topics", request_body = CreateTopicRequest,
    responses(
        (status = 201, description = "The new topic", body = TopicDetail),
        (status = 400, description = "Invalid name, partitions, replication factor or configs (`invalid_config`)", body = yak_api::ErrorBody),
        (status = 409, description = "The topic exists", body = yak_api::ErrorBody),
    ))]
pub async fn create_topic(
    State(state): State<AppState>,
    caller: Caller,
    body: Body,
) -> Result<Response, HttpError> {
    let body =
        super::produce::read_body(body, state.broker.config.http_limits.body_bytes_max).await?;
    let request: CreateTopicRequest = serde_json::from_slice(&body)
        .map_err(|e| HttpError::new(ErrorCode::InvalidJson, e.to_string()))?;
    caller.authorize_create_topic(&state.broker, &request.name)?;
    let mut configs = request.configs;
    if let Some(retention_ms) = request.retention_ms {
        if configs.contains_key(RETENTION_MS) {
            return Err(HttpError::new(
                ErrorCode::InvalidConfig,
                "retention_ms and configs[\"retention.ms\"] are both given; use configs",
            ));
        }
        configs.insert(RETENTION_MS.to_string(), retention_ms.to_string());
    }
    let topic = state
        .broker
        .create_topic(NewTopic {
            name: request.name,
            partitions: request.partitions,
            replication_factor: request.replication_factor,
            configs,
        })
        .await?;
    Ok((StatusCode::CREATED, Json(detail(&state, &caller, &topic))).into_response())
}

#[utoipa::path(get, path = "/topics/{name}", tag = "topics",
    params(("name" = String, Path, description = "Topic name")),
    responses(
        (status = 200, description = "The topic and its partitions", body = TopicDetail),
        (status = 404, description = "Unknown topic", body = yak_api::ErrorBody),
    ))]
pub async fn describe_topic(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<TopicDetail>, HttpError> {
    // Checked before the topic is looked up, so a refusal does not tell whether it exists.
    caller.authorize(&state.broker, Operation::Describe, &Resource::topic(&name))?;
    let topic = state.broker.topic(&name).ok_or_else(|| {
        HttpError::new(ErrorCode::UnknownTopic, format!("unknown topic {name:?}"))
    })?;
    Ok(Json(detail(&state, &caller, &topic)))
}

#[utoipa::path(delete, path = "/topics/{name}", tag = "topics",
    params(("name" = String, Path, description = "Topic name")),
    responses(
        (status = 200, description = "The topic and its records are gone", body = DeleteTopicResponse),
        (status = 404, description = "Unknown topic", body = yak_api::ErrorBody),
    ))]
pub async fn delete_topic(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<DeleteTopicResponse>, HttpError> {
    caller.authorize(&state.broker, Operation::Delete, &Resource::topic(&name))?;
    state.broker.delete_topic(&name).await?;
    Ok(Json(DeleteTopicResponse { deleted: name }))
}

#[utoipa::path(patch, path = "/topics/{name}/configs", tag = "topics",
    params(("name" = String, Path, description = "Topic name")),
    request_body = AlterTopicConfigsRequest,
    responses(
        (status = 200, description = "The topic with its new configs", body = TopicDetail),
        (status = 400, description = "Unknown config or bad value (`invalid_config`)", body = yak_api::ErrorBody),
        (status = 404, description = "Unknown topic", body = yak_api::ErrorBody),
    ))]
pub async fn alter_topic_configs(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    body: Body,
) -> Result<Json<TopicDetail>, HttpError> {
    caller.authorize(
        &state.broker,
        Operation::AlterConfigs,
        &Resource::topic(&name),
    )?;
    let body =
        super::produce::read_body(body, state.broker.config.http_limits.body_bytes_max).await?;
    let request: AlterTopicConfigsRequest = serde_json::from_slice(&body)
        .map_err(|e| HttpError::new(ErrorCode::InvalidJson, e.to_string()))?;
    let changes: Vec<ConfigChange> = request
        .configs
        .into_iter()
        .map(|(name, value)| ConfigChange { name, value })
        .collect();
    let topic = state
        .broker
        .alter_topic_configs(&name, &changes, false)
        .await?;
    Ok(Json(detail(&state, &caller, &topic)))
}
