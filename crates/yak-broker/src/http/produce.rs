//! `POST /produce`: one record, a `messages` array, or an `application/x-ndjson` stream.
//!
//! Records are grouped by partition, each group becomes as few Kafka v2 batches as fit
//! `batch_bytes_max`, and the partitions of one request are appended concurrently so their fsyncs
//! overlap. Every record is validated before anything is written, so a bad request writes nothing.
//! A failure while appending (a full disk, a failed fsync) is reported per record: what was
//! committed before it keeps its offset, and only the records that were not acknowledged carry
//! the error, so a client retries exactly those.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};
use yak_api::{ApiError, ErrorCode};
use yak_auth::{Operation, Resource};

use super::auth::Caller;
use super::records::{self, RecordIn};
use super::{AppState, HttpError};
use crate::error::BrokerError;
use crate::metrics::Metrics;
use crate::partition::{Durability, Partition};
use crate::partitioner::{partition_for_key, KeylessSpread};
use crate::topic::{validate_topic_name, Topic};

/// A batch stays under this many bytes; Kafka's default `max.message.bytes` is 1,048,588.
pub const BATCH_BYTES_TARGET: usize = 1_000_000;

pub fn router() -> Router<AppState> {
    Router::new().route("/produce", post(produce))
}

fn parse_acks(query: &HashMap<String, String>) -> Result<Durability, HttpError> {
    match query.get("acks").map(String::as_str) {
        None | Some("all") | Some("-1") => Ok(Durability::Committed),
        Some("1") => Ok(Durability::Wait),
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
    // A batch's own topic must be a valid name even when every record names its own.
    if let Some(topic) = body.topic.as_deref() {
        validate_topic_name(topic).map_err(|e| HttpError::new(ErrorCode::InvalidTopicName, e))?;
    }
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
        (status = 200, description = "Where one record landed, or one outcome per record of a batch, in order (an NDJSON body gets one outcome per line). A record of a batch that failed has `{\"error\": {\"code\", \"message\"}}` in its place and was not acknowledged; the others landed and keep their offsets. A partial failure is still 200: resend only the failed records (within a partition they are always the last ones, so resending keeps the order). When every record of a batch failed with the same code the answer is that error, with its status.", content(
            (yak_api::ProduceAnswer = "application/json"),
            (String = "application/x-ndjson"),
        )),
        (status = 400, description = "Malformed JSON, a missing or invalid field", body = yak_api::ErrorBody),
        (status = 404, description = "Unknown partition", body = yak_api::ErrorBody),
        (status = 413, description = "Body or record too large", body = yak_api::ErrorBody),
        (status = 503, description = "The disk failed; nothing was acknowledged", body = yak_api::ErrorBody),
    )
)]
pub async fn produce(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, HttpError> {
    let metrics = &state.broker.metrics;
    Metrics::add(&metrics.produce_requests_total, 1);
    let result = produce_inner(&state, &caller, query, headers, body).await;
    if result.is_err() {
        Metrics::add(&metrics.failed_produce_requests_total, 1);
    }
    result
}

async fn produce_inner(
    state: &AppState,
    caller: &Caller,
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
    let outcomes = append_records(state, caller, &records, durability).await?;

    if !batch {
        return match outcomes.into_iter().next() {
            Some(Outcome::Landed(landed)) => Ok(Json(landed).into_response()),
            Some(Outcome::Failed(error)) => Err(HttpError(error)),
            None => Err(HttpError::new(
                ErrorCode::Internal,
                "a record produced no outcome",
            )),
        };
    }
    // When every record failed for the same reason, the request failed: answer with its status.
    if let Some(Outcome::Failed(error)) = outcomes.first() {
        let all_same = outcomes
            .iter()
            .all(|o| matches!(o, Outcome::Failed(e) if e.code == error.code));
        if all_same {
            return Err(HttpError(error.clone()));
        }
    }
    let mut out = Vec::with_capacity(outcomes.len() * 96 + 16);
    let written = if ndjson {
        outcomes.iter().try_for_each(|outcome| {
            serde_json::to_writer(&mut out, outcome)?;
            out.push(b'\n');
            Ok(())
        })
    } else {
        serde_json::to_writer(&mut out, &BatchAnswer(&outcomes))
    };
    written.map_err(|e: serde_json::Error| HttpError::new(ErrorCode::Internal, e.to_string()))?;
    let content_type = if ndjson {
        "application/x-ndjson"
    } else {
        "application/json"
    };
    Ok(([(header::CONTENT_TYPE, content_type)], out).into_response())
}

/// Where a record landed, borrowed from the request: serialized in the shape of
/// `yak_api::ProduceResult` without allocating a string per record.
struct Landed<'a> {
    topic: &'a str,
    partition: i32,
    offset: i64,
    timestamp: i64,
    msg_id: Option<&'a str>,
}

impl Serialize for Landed<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut result = serializer.serialize_struct("ProduceResult", 5)?;
        match self.msg_id {
            Some(msg_id) => result.serialize_field("msg_id", msg_id)?,
            None => result.serialize_field(
                "msg_id",
                &format_args!("{}-{}-{}", self.topic, self.partition, self.offset),
            )?,
        }
        result.serialize_field("topic", self.topic)?;
        result.serialize_field("partition", &self.partition)?;
        result.serialize_field("offset", &self.offset)?;
        result.serialize_field("timestamp", &self.timestamp)?;
        result.end()
    }
}

/// One record's outcome, in the shape of `yak_api::ProduceOutcome`.
enum Outcome<'a> {
    Landed(Landed<'a>),
    Failed(ApiError),
}

impl Serialize for Outcome<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Outcome::Landed(landed) => landed.serialize(serializer),
            Outcome::Failed(error) => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("error", error)?;
                map.end()
            }
        }
    }
}

/// `{"results": [...]}`, the shape of `yak_api::ProduceBatchResponse`.
struct BatchAnswer<'a, 'b>(&'b [Outcome<'a>]);

impl Serialize for BatchAnswer<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry("results", self.0)?;
        map.end()
    }
}

/// Appends validated records; one outcome per record, in order.
async fn append_records<'a>(
    state: &AppState,
    caller: &Caller,
    records: &'a [RecordIn<'a>],
    durability: Durability,
) -> Result<Vec<Outcome<'a>>, HttpError> {
    let broker = &state.broker;
    // Topics of the request, created on first use.
    let mut topics: BTreeMap<&str, (Arc<Topic>, KeylessSpread)> = BTreeMap::new();
    for record in records {
        let name = record.topic.as_deref().unwrap_or_default();
        if !topics.contains_key(name) {
            if name == crate::groups::OFFSETS_TOPIC {
                // Only the group coordinator writes committed offsets.
                return Err(HttpError::new(
                    ErrorCode::InvalidTopicName,
                    format!("{name} is internal: offsets are committed through consumer groups"),
                ));
            }
            // Every topic of the request is authorized before any record is appended, so a
            // refused topic leaves the whole request unwritten.
            caller.authorize(broker, Operation::Write, &Resource::topic(name))?;
            if broker.topic(name).is_none() {
                caller.authorize_create_topic(broker, name)?;
            }
            let topic = broker.topic_or_create(name).await?;
            topics.insert(name, (topic, KeylessSpread::default()));
        }
    }
    // Record indices per (topic, partition), in request order.
    let mut groups: BTreeMap<(&str, i32), Vec<usize>> = BTreeMap::new();
    for (i, record) in records.iter().enumerate() {
        let name = record.topic.as_deref().unwrap_or_default();
        let Some((topic, keyless)) = topics.get_mut(name) else {
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
            (None, None) => keyless.next(topic),
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
                let error = ApiError::new(ErrorCode::UnknownPartition, "partition vanished");
                return vec![Err(error); indices.len()];
            };
            append_group(state, &partition, records, indices, now_ms, durability).await
        }
    });
    let results = futures::future::join_all(appends).await;

    let mut outcomes: Vec<Option<Outcome<'a>>> = (0..records.len()).map(|_| None).collect();
    for (((name, partition), indices), results) in groups.iter().zip(results) {
        for (&i, result) in indices.iter().zip(results) {
            outcomes[i] = Some(match result {
                Ok(offset) => {
                    let record = &records[i];
                    Outcome::Landed(Landed {
                        topic: name,
                        partition: *partition,
                        offset,
                        timestamp: record.timestamp.unwrap_or(now_ms),
                        msg_id: record.msg_id.as_deref(),
                    })
                }
                Err(error) => Outcome::Failed(error),
            });
        }
    }
    Ok(outcomes.into_iter().flatten().collect())
}

/// Appends one partition's records in as few batches as fit, in order; one result per record.
///
/// Stops at the first batch that fails: the records of earlier batches are committed and keep
/// their offsets, and that batch's records and every later one's get its error. None of those
/// was acknowledged, and because they are the partition's last records of the request, a
/// client that resends exactly them keeps the partition's order.
async fn append_group(
    state: &AppState,
    partition: &Arc<Partition>,
    records: &[RecordIn<'_>],
    indices: &[usize],
    now_ms: i64,
    durability: Durability,
) -> Vec<Result<i64, ApiError>> {
    let metrics = &state.broker.metrics;
    let mut results = Vec::with_capacity(indices.len());
    let mut batch = Vec::new();
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
        batch.reserve(bytes + yak_log::BATCH_HEADER_BYTES);
        let valid = records::encode(&chunk, now_ms, &mut batch);
        let batch_bytes = valid.len() as u64;
        match partition.append(valid, durability).await {
            Ok(appended) => {
                Metrics::add(&metrics.messages_in_total, chunk.len() as u64);
                Metrics::add(&metrics.bytes_in_total, batch_bytes);
                results.extend((appended.base_offset..=appended.last_offset).map(Ok));
            }
            Err(error) => {
                let error = state.broker.with_leader_hint(error);
                if matches!(
                    error,
                    BrokerError::Internal(_)
                        | BrokerError::Storage(_)
                        | BrokerError::CorruptLog { .. }
                ) {
                    tracing::error!(%error, topic = %partition.topic, partition = partition.index, "produce failed");
                }
                results.resize(indices.len(), Err(error.to_api()));
                return results;
            }
        }
        start = end;
    }
    results
}
