//! `POST /produce`: one record, a `messages` array, or an `application/x-ndjson` stream.
//!
//! Records are grouped by partition, each group becomes as few Kafka v2 batches as fit
//! `batch_bytes_max`, and the partitions of one request are appended concurrently so their fsyncs
//! overlap. Every record is validated before anything is written, so a bad request writes nothing.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use yak_api::{ApiError, ErrorCode, ProduceOutcome, ProduceResult};

use super::records::{self, RecordIn};
use super::{AppState, HttpError};
use crate::metrics::Metrics;
use crate::partition::{Durability, Partition};
use crate::partitioner::partition_for_key;
use crate::topic::{validate_topic_name, Topic};

/// A batch stays under this many bytes; Kafka's default `max.message.bytes` is 1,048,588.
pub const BATCH_BYTES_TARGET: usize = 1_000_000;

pub fn router() -> Router<AppState> {
    Router::new().route("/produce", post(produce))
}

fn parse_acks(query: &HashMap<String, String>) -> Result<Durability, HttpError> {
    match query.get("acks").map(String::as_str) {
        None | Some("all") | Some("-1") | Some("1") => Ok(Durability::Wait),
        Some("0") => Ok(Durability::Background),
        Some(other) => Err(HttpError::new(
            ErrorCode::InvalidField,
            format!("acks must be 0, 1 or all, got {other:?}"),
        )),
    }
}

pub(super) async fn read_body(body: Body, limit: usize) -> Result<bytes::Bytes, HttpError> {
    axum::body::to_bytes(body, limit).await.map_err(|error| {
        HttpError::new(
            ErrorCode::BodyTooLarge,
            format!("could not read the body (the limit is {limit} bytes): {error}"),
        )
    })
}

/// Records of the body, and whether it was a batch.
fn parse_records<'a>(
    body: &'a [u8],
    ndjson: bool,
    state: &AppState,
) -> Result<(Vec<RecordIn<'a>>, bool), HttpError> {
    let limits = &state.broker.config.http_limits;
    if ndjson {
        let mut records = Vec::new();
        for (line_number, line) in body.split(|b| *b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if records.len() == limits.ndjson_records_max {
                return Err(HttpError::new(
                    ErrorCode::TooManyRecords,
                    format!(
                        "an NDJSON body holds at most {} records",
                        limits.ndjson_records_max
                    ),
                ));
            }
            let record: RecordIn<'a> = serde_json::from_slice(line).map_err(|e| {
                HttpError::new(
                    ErrorCode::InvalidJson,
                    format!("line {}: {e}", line_number + 1),
                )
            })?;
            records.push(record);
        }
        return Ok((records, true));
    }
    let body: RecordIn<'a> = serde_json::from_slice(body)
        .map_err(|e| HttpError::new(ErrorCode::InvalidJson, e.to_string()))?;
    let (records, batch) = body.into_records();
    if records.len() > limits.batch_records_max {
        return Err(HttpError::new(
            ErrorCode::TooManyRecords,
            format!(
                "a messages array holds at most {} records; send more as application/x-ndjson",
                limits.batch_records_max
            ),
        ));
    }
    Ok((records, batch))
}

fn validate(records: &[RecordIn<'_>], batch: bool) -> Result<(), HttpError> {
    let at = |i: usize| {
        if batch {
            format!("messages[{i}]: ")
        } else {
            String::new()
        }
    };
    if records.is_empty() {
        return Err(HttpError::new(
            ErrorCode::MissingField,
            "no records to produce",
        ));
    }
    for (i, record) in records.iter().enumerate() {
        let topic = record.topic.as_deref().ok_or_else(|| {
            HttpError::new(
                ErrorCode::MissingField,
                format!("{}missing field `topic`", at(i)),
            )
        })?;
        validate_topic_name(topic)
            .map_err(|e| HttpError::new(ErrorCode::InvalidTopicName, format!("{}{e}", at(i))))?;
        if record.payload.is_none() {
            return Err(HttpError::new(
                ErrorCode::MissingField,
                format!("{}missing field `payload`", at(i)),
            ));
        }
        if let Some(partition) = record.partition {
            if partition < 0 {
                return Err(HttpError::new(
                    ErrorCode::InvalidField,
                    format!("{}partition must not be negative, got {partition}", at(i)),
                ));
            }
        }
        if let Some(timestamp) = record.timestamp {
            if timestamp < 0 {
                return Err(HttpError::new(
                    ErrorCode::InvalidField,
                    format!(
                        "{}timestamp must be milliseconds since 1970, got {timestamp}",
                        at(i)
                    ),
                ));
            }
        }
        if record.messages.is_some() {
            return Err(HttpError::new(
                ErrorCode::InvalidField,
                format!("{}`messages` is only allowed at the top of a body", at(i)),
            ));
        }
        if records::record_bytes_estimate(record) > BATCH_BYTES_TARGET {
            return Err(HttpError::new(
                ErrorCode::RecordTooLarge,
                format!("{}a record is at most {BATCH_BYTES_TARGET} bytes", at(i)),
            ));
        }
    }
    Ok(())
}

#[utoipa::path(
    post,
    path = "/produce",
    tag = "records",
    params(yak_api::ProduceParams),
    request_body(
        description = "One record, `{\"topic\"?, \"messages\": [...]}`, or `application/x-ndjson` with one record per line",
        content(
            (yak_api::ProduceRecord = "application/json"),
            (yak_api::ProduceBatch = "application/json"),
            (String = "application/x-ndjson"),
        )
    ),
    responses(
        (status = 200, description = "Where one record landed", body = yak_api::ProduceResult),
        (status = 200, description = "One outcome per record of a batch, in order (NDJSON bodies get NDJSON lines)", body = yak_api::ProduceBatchResponse),
        (status = 400, description = "Malformed JSON, a missing or invalid field", body = yak_api::ErrorBody),
        (status = 404, description = "Unknown partition", body = yak_api::ErrorBody),
        (status = 413, description = "Body or record too large", body = yak_api::ErrorBody),
        (status = 503, description = "The disk failed; nothing was acknowledged", body = yak_api::ErrorBody),
    )
)]
pub async fn produce(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, HttpError> {
    let metrics = &state.broker.metrics;
    Metrics::add(&metrics.produce_requests_total, 1);
    let result = produce_inner(&state, query, headers, body).await;
    if result.is_err() {
        Metrics::add(&metrics.failed_produce_requests_total, 1);
    }
    result
}

async fn produce_inner(
    state: &AppState,
    query: HashMap<String, String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, HttpError> {
    if state.broker.shutdown.is_cancelled() {
        return Err(HttpError::new(
            ErrorCode::Unavailable,
            "the broker is shutting down",
        ));
    }
    let durability = parse_acks(&query)?;
    let ndjson = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-ndjson"));
    let limits = &state.broker.config.http_limits;
    let limit = if ndjson {
        limits.ndjson_body_bytes_max
    } else {
        limits.body_bytes_max
    };
    let body = read_body(body, limit).await?;
    let (records, batch) = parse_records(&body, ndjson, state)?;
    validate(&records, batch)?;
    let outcomes = append_records(state, &records, durability).await?;

    if !batch {
        return match outcomes.into_iter().next() {
            Some(ProduceOutcome::Ok(result)) => Ok(Json(result).into_response()),
            Some(ProduceOutcome::Err { error }) => Err(HttpError(error)),
            None => Err(HttpError::new(
                ErrorCode::Internal,
                "a record produced no outcome",
            )),
        };
    }
    // When every record failed for the same reason, the request failed: answer with its status.
    if let Some(ProduceOutcome::Err { error }) = outcomes.first() {
        let all_same = outcomes
            .iter()
            .all(|o| matches!(o, ProduceOutcome::Err { error: e } if e.code == error.code));
        if all_same {
            return Err(HttpError(error.clone()));
        }
    }
    if ndjson {
        let mut out = Vec::with_capacity(outcomes.len() * 96);
        for outcome in &outcomes {
            serde_json::to_writer(&mut out, outcome)
                .map_err(|e| HttpError::new(ErrorCode::Internal, e.to_string()))?;
            out.push(b'\n');
        }
        return Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], out).into_response());
    }
    Ok(Json(yak_api::ProduceBatchResponse { results: outcomes }).into_response())
}

/// Appends validated records; one outcome per record, in order.
async fn append_records(
    state: &AppState,
    records: &[RecordIn<'_>],
    durability: Durability,
) -> Result<Vec<ProduceOutcome>, HttpError> {
    let broker = &state.broker;
    // Topics of the request, created on first use.
    let mut topics: BTreeMap<&str, (Arc<Topic>, i32)> = BTreeMap::new();
    for record in records {
        let name = record.topic.as_deref().unwrap_or_default();
        if !topics.contains_key(name) {
            let topic = broker.topic_or_create(name).await?;
            // Keyless records of one request all go to one partition (sticky per batch).
            let sticky = topic.next_round_robin();
            topics.insert(name, (topic, sticky));
        }
    }
    // Record indices per (topic, partition), in request order.
    let mut groups: BTreeMap<(&str, i32), Vec<usize>> = BTreeMap::new();
    for (i, record) in records.iter().enumerate() {
        let name = record.topic.as_deref().unwrap_or_default();
        let Some((topic, sticky)) = topics.get(name) else {
            return Err(HttpError::new(
                ErrorCode::Internal,
                "topic vanished from the request",
            ));
        };
        let partition = match (record.partition, &record.key) {
            (Some(p), _) => {
                if p >= topic.partition_count() {
                    return Err(HttpError::new(
                        ErrorCode::UnknownPartition,
                        format!(
                            "topic {name:?} has {} partitions; there is no partition {p}",
                            topic.partition_count()
                        ),
                    ));
                }
                p
            }
            (None, Some(key)) => partition_for_key(key.as_bytes(), topic.partition_count()),
            (None, None) => *sticky,
        };
        groups.entry((name, partition)).or_default().push(i);
    }

    let now_ms = crate::now_ms();
    let appends = groups.iter().map(|((name, partition_index), indices)| {
        let partition = topics
            .get(name)
            .and_then(|(topic, _)| topic.partition(*partition_index).cloned());
        async move {
            let Some(partition) = partition else {
                return Err(ApiError::new(
                    ErrorCode::UnknownPartition,
                    "partition vanished",
                ));
            };
            append_group(state, &partition, records, indices, now_ms, durability).await
        }
    });
    let results = futures::future::join_all(appends).await;

    let mut outcomes: Vec<Option<ProduceOutcome>> = vec![None; records.len()];
    for (((name, partition), indices), result) in groups.iter().zip(results) {
        match result {
            Ok(offsets) => {
                for (&i, offset) in indices.iter().zip(offsets) {
                    let record = &records[i];
                    let msg_id = record
                        .msg_id
                        .as_deref()
                        .map_or_else(|| format!("{name}-{partition}-{offset}"), str::to_string);
                    outcomes[i] = Some(ProduceOutcome::Ok(ProduceResult {
                        msg_id,
                        topic: name.to_string(),
                        partition: *partition,
                        offset,
                        timestamp: record.timestamp.unwrap_or(now_ms),
                    }));
                }
            }
            Err(error) => {
                for &i in indices {
                    outcomes[i] = Some(ProduceOutcome::Err {
                        error: error.clone(),
                    });
                }
            }
        }
    }
    Ok(outcomes.into_iter().flatten().collect())
}

/// Appends one partition's records in as few batches as fit; the offset of each record.
async fn append_group(
    state: &AppState,
    partition: &Arc<Partition>,
    records: &[RecordIn<'_>],
    indices: &[usize],
    now_ms: i64,
    durability: Durability,
) -> Result<Vec<i64>, ApiError> {
    let metrics = &state.broker.metrics;
    let mut offsets = Vec::with_capacity(indices.len());
    let mut start = 0;
    while start < indices.len() {
        let mut end = start;
        let mut bytes = 0;
        while end < indices.len() {
            let estimate = records::record_bytes_estimate(&records[indices[end]]);
            if end > start && bytes + estimate > BATCH_BYTES_TARGET {
                break;
            }
            bytes += estimate;
            end += 1;
        }
        let chunk: Vec<&RecordIn<'_>> = indices[start..end].iter().map(|&i| &records[i]).collect();
        let mut batch = Vec::with_capacity(bytes + 61);
        records::encode(&chunk, now_ms, &mut batch);
        let batch_bytes = batch.len() as u64;
        let appended = partition
            .append(&mut batch, durability)
            .await
            .map_err(|e| e.to_api())?;
        Metrics::add(&metrics.messages_in_total, chunk.len() as u64);
        Metrics::add(&metrics.bytes_in_total, batch_bytes);
        offsets.extend(appended.base_offset..=appended.last_offset);
        start = end;
    }
    Ok(offsets)
}
