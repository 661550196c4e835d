//! `GET /consume` (long-poll) and `GET /consume/stream` (server-sent events).
//!
//! Both read whole stored batches from the partition, never past the high watermark, and turn the
//! records at or above the requested offset into JSON without building a JSON tree per payload.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::ser::SerializeMap;
use serde::Serializer;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use yak_api::{ConsumeStreamEvent, ErrorCode};
use yak_auth::{Operation, Resource};

use super::auth::Caller;
use super::records::RecordOut;
use super::{AppState, HttpError};
use crate::compression::{for_each_record, DecodeError};
use crate::groups::GroupCoordinator;
use crate::metrics::Metrics;
use crate::partition::Partition;

/// Records a default `GET /consume` returns.
pub const CONSUME_RECORDS_DEFAULT: i64 = 100;
/// Server-sent events buffered per stream before the reader waits for the client.
pub const STREAM_EVENTS_BUFFER_MAX: usize = 256;
/// Records one stream step reads before yielding to other work.
pub const STREAM_STEP_RECORDS_MAX: i64 = 1000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/consume", get(consume))
        .route("/consume/stream", get(consume_stream))
}

/// A consume request after its parameters were checked.
struct Request {
    topic: String,
    partition: Arc<Partition>,
    offset: i64,
    max: i64,
    wait_ms: i64,
    /// The group that reads, and commits what it read.
    group: Option<GroupReader>,
}

/// A consume for a group: its id and the coordinator that keeps its offsets.
struct GroupReader {
    id: String,
    coordinator: Arc<GroupCoordinator>,
}

impl GroupReader {
    /// Commits `next_offset` for the group (outside any Kafka member).
    async fn commit(
        &self,
        state: &AppState,
        topic: &str,
        partition: i32,
        next_offset: i64,
    ) -> Result<(), HttpError> {
        super::groups::commit_outside_member(
            &state.broker,
            Arc::clone(&self.coordinator),
            &self.id,
            topic,
            partition,
            next_offset,
        )
        .await
    }
}

fn parse_number(query: &HashMap<String, String>, name: &str) -> Result<Option<i64>, HttpError> {
    match query.get(name) {
        None => Ok(None),
        Some(text) => text.parse::<i64>().map(Some).map_err(|_| {
            HttpError::new(
                ErrorCode::InvalidField,
                format!("{name} must be an integer, got {text:?}"),
            )
        }),
    }
}

fn parse_request(
    state: &AppState,
    caller: &Caller,
    query: &HashMap<String, String>,
) -> Result<Request, HttpError> {
    let limits = &state.broker.config.http_limits;
    let topic = query
        .get("topic")
        .ok_or_else(|| HttpError::new(ErrorCode::MissingField, "missing query parameter `topic`"))?
        .clone();
    crate::topic::validate_topic_name(&topic)
        .map_err(|e| HttpError::new(ErrorCode::InvalidTopicName, e))?;
    // As Kafka's OffsetFetch and Fetch: READ on the group, then READ on the topic, both before
    // anything is looked up, so a refusal tells nothing about what exists.
    if let Some(group) = query.get("group").filter(|id| !id.is_empty()) {
        caller.authorize(&state.broker, Operation::Read, &Resource::group(group))?;
    }
    caller.authorize(&state.broker, Operation::Read, &Resource::topic(&topic))?;
    let partition_index = parse_number(query, "partition")?.unwrap_or(0);
    let partition_index = i32::try_from(partition_index).map_err(|_| {
        HttpError::new(
            ErrorCode::InvalidField,
            format!("partition {partition_index} is out of range"),
        )
    })?;
    if partition_index < 0 {
        return Err(HttpError::new(
            ErrorCode::InvalidField,
            format!("partition must not be negative, got {partition_index}"),
        ));
    }
    let partition = state.broker.partition(&topic, partition_index)?;
    let group = match query.get("group") {
        None => None,
        Some(id) if id.is_empty() => {
            return Err(HttpError::new(
                ErrorCode::InvalidField,
                "group must not be empty",
            ))
        }
        Some(id) => {
            let coordinator = super::groups::coordinator(&state.broker)?;
            super::groups::check_no_members(&coordinator, id)?;
            Some(GroupReader {
                id: id.clone(),
                coordinator,
            })
        }
    };
    let offset = match query.get("offset").map(String::as_str) {
        // A group resumes at its committed offset, moved into the log if the log moved past
        // it (Kafka's `auto.offset.reset=earliest`); earliest when it never committed.
        None if group.is_some() => {
            let (start, end) = (partition.log_start_offset(), partition.high_watermark());
            group
                .as_ref()
                .and_then(|g| {
                    g.coordinator
                        .fetch(&g.id, Some(&[(topic.clone(), partition_index)]))
                        .into_iter()
                        .next()
                })
                .and_then(|(_, _, value)| value)
                .map_or(start, |value| value.offset.clamp(start, end))
        }
        None | Some("earliest") => partition.log_start_offset(),
        Some("latest") => partition.high_watermark(),
        Some(text) => {
            // Digits with an optional minus, as the document's pattern says: no plus, no spaces.
            // A negative offset is a number outside the log (`offset_out_of_range`, as Kafka).
            let digits = text.strip_prefix('-').unwrap_or(text);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(HttpError::new(
                    ErrorCode::InvalidField,
                    format!("offset must be a number, `earliest` or `latest`, got {text:?}"),
                ));
            }
            let offset = parse_number(query, "offset")?.unwrap_or(0);
            let (start, end) = (partition.log_start_offset(), partition.log_end_offset());
            if offset < start || offset > end {
                return Err(HttpError::new(
                    ErrorCode::OffsetOutOfRange,
                    format!("offset {offset} is out of range [{start}, {end}] of {topic}/{partition_index}"),
                ));
            }
            offset
        }
    };
    let max = parse_number(query, "max")?.unwrap_or(CONSUME_RECORDS_DEFAULT);
    if !(1..=limits.consume_records_max).contains(&max) {
        return Err(HttpError::new(
            ErrorCode::InvalidField,
            format!("max must be 1..={}, got {max}", limits.consume_records_max),
        ));
    }
    let wait_ms = parse_number(query, "wait_ms")?.unwrap_or(0);
    if !(0..=limits.consume_wait_ms_max).contains(&wait_ms) {
        return Err(HttpError::new(
            ErrorCode::InvalidField,
            format!(
                "wait_ms must be 0..={}, got {wait_ms}",
                limits.consume_wait_ms_max
            ),
        ));
    }
    Ok(Request {
        topic,
        partition,
        offset,
        max,
        wait_ms,
        group,
    })
}

fn decode_error(error: DecodeError) -> HttpError {
    match error {
        DecodeError::Decompress(error) => HttpError::new(ErrorCode::Internal, error.to_string()),
        DecodeError::Corrupt(message) => HttpError::new(ErrorCode::Internal, message),
    }
}

/// Reads up to `max` records from `offset` and hands each to `visit`; the next offset to read.
fn read_records(
    state: &AppState,
    topic: &str,
    partition: &Partition,
    mut offset: i64,
    max: i64,
    include_location: bool,
    mut visit: impl FnMut(&RecordOut<'_>) -> Result<(), HttpError>,
) -> Result<i64, HttpError> {
    let read_bytes_max = state.broker.config.http_limits.consume_read_bytes_max;
    let mut taken = 0;
    while taken < max {
        let batches = partition.read(offset, read_bytes_max)?;
        if batches.is_empty() {
            break;
        }
        let mut result = Ok(());
        let before = taken;
        for_each_record(&batches, offset, |record_offset, record| {
            let out = RecordOut {
                topic,
                partition: partition.index,
                with_location: include_location,
                offset: record_offset,
                record,
            };
            if let Err(error) = visit(&out) {
                result = Err(error);
                return false;
            }
            offset = record_offset + 1;
            taken += 1;
            taken < max
        })
        .map_err(decode_error)?;
        result?;
        let metrics = &state.broker.metrics;
        Metrics::add(&metrics.messages_out_total, (taken - before) as u64);
        Metrics::add(&metrics.bytes_out_total, batches.len() as u64);
        if taken == before {
            // Only control records were there: step past them, so a stream does not read the
            // same batches again and again.
            if let Some((header, _)) = yak_log::batches(&batches).flatten().last() {
                offset = offset.max(header.last_offset() + 1);
            }
            break;
        }
    }
    Ok(offset)
}

#[utoipa::path(
    get,
    path = "/consume",
    tag = "records",
    params(yak_api::ConsumeParams),
    responses(
        (status = 200, description = "Records in offset order, never past the high watermark", body = yak_api::ConsumeResponse),
        (status = 400, description = "A bad parameter or an offset out of range", body = yak_api::ErrorBody),
        (status = 404, description = "Unknown topic or partition", body = yak_api::ErrorBody),
        (status = 409, description = "With `group`: the group has Kafka members (`group_not_empty`)", body = yak_api::ErrorBody),
        (status = 421, description = "With `group`: this node does not coordinate groups, the leader does", body = yak_api::ErrorBody),
    )
)]
pub async fn consume(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, HttpError> {
    Metrics::add(&state.broker.metrics.fetch_requests_total, 1);
    let result = consume_inner(&state, &caller, &query).await;
    if result.is_err() {
        Metrics::add(&state.broker.metrics.failed_fetch_requests_total, 1);
    }
    result
}

async fn consume_inner(
    state: &AppState,
    caller: &Caller,
    query: &HashMap<String, String>,
) -> Result<Response, HttpError> {
    let mut request = parse_request(state, caller, query)?;
    let group = request.group.take();
    let (topic, partition_index, start) = (
        request.topic.clone(),
        request.partition.index,
        request.offset,
    );
    let partition = &request.partition;
    if request.wait_ms > 0 && request.offset >= partition.high_watermark() {
        tokio::select! {
            _ = partition.wait_for_data(request.offset, Duration::from_millis(request.wait_ms as u64)) => {}
            _ = state.broker.shutdown.cancelled() => {}
        }
    }
    // Reading the log and turning records into JSON runs on a blocking thread: log reads must
    // not block the runtime's worker threads.
    let state = state.clone();
    let (out, next_offset) = {
        let state = state.clone();
        tokio::task::spawn_blocking(move || consume_body(&state, &request))
            .await
            .map_err(|e| {
                HttpError::new(ErrorCode::Internal, format!("consume task failed: {e}"))
            })??
    };
    // The group's offset is committed before the records are answered: a commit that fails
    // answers an error and the records come again on the next read (at least once).
    if let Some(group) = group {
        if next_offset > start {
            group
                .commit(&state, &topic, partition_index, next_offset)
                .await?;
        }
    }
    Ok(([(header::CONTENT_TYPE, "application/json")], out).into_response())
}

/// The JSON answer of `GET /consume`, written by hand around the records so each payload goes
/// out as its stored text. Reads the log: call it on a blocking thread.
fn consume_body(state: &AppState, request: &Request) -> Result<(Vec<u8>, i64), HttpError> {
    let partition = &request.partition;
    let mut out = Vec::with_capacity(4096);
    out.extend_from_slice(b"{\"topic\":");
    serde_json::to_writer(&mut out, &request.topic)
        .map_err(|e| HttpError::new(ErrorCode::Internal, e.to_string()))?;
    out.extend_from_slice(format!(",\"partition\":{},\"messages\":[", partition.index).as_bytes());
    let mut first = true;
    let next_offset = read_records(
        state,
        &request.topic,
        partition,
        request.offset,
        request.max,
        false,
        |record| {
            if !first {
                out.push(b',');
            }
            first = false;
            serde_json::to_writer(&mut out, record)
                .map_err(|e| HttpError::new(ErrorCode::Internal, e.to_string()))
        },
    )?;
    out.extend_from_slice(
        format!(
            "],\"next_offset\":{next_offset},\"high_watermark\":{}}}",
            partition.high_watermark()
        )
        .as_bytes(),
    );
    Ok((out, next_offset))
}

/// One step of a stream: up to `STREAM_STEP_RECORDS_MAX` records from `offset` as events, and
/// the next offset. Reads the log: call it on a blocking thread.
fn stream_step(
    state: &AppState,
    topic: &str,
    partition: &Partition,
    offset: i64,
) -> Result<(i64, Vec<Event>), HttpError> {
    let mut events = Vec::new();
    let next = read_records(
        state,
        topic,
        partition,
        offset,
        STREAM_STEP_RECORDS_MAX,
        true,
        |record| {
            let data = serde_json::to_string(record)
                .map_err(|e| HttpError::new(ErrorCode::Internal, e.to_string()))?;
            events.push(
                Event::default()
                    .event(ConsumeStreamEvent::RECORD)
                    .id(record.offset.to_string())
                    .data(data),
            );
            Ok(())
        },
    )?;
    Ok((next, events))
}

fn error_event(error: &HttpError) -> Event {
    let mut data = Vec::new();
    let mut serializer = serde_json::Serializer::new(&mut data);
    let written = serializer.serialize_map(Some(1)).and_then(|mut map| {
        map.serialize_entry("error", &error.0)?;
        map.end()
    });
    if written.is_err() {
        data = br#"{"error":{"code":"internal","message":"unprintable error"}}"#.to_vec();
    }
    Event::default()
        .event(ConsumeStreamEvent::ERROR)
        .data(String::from_utf8_lossy(&data))
}

#[utoipa::path(
    get,
    path = "/consume/stream",
    tag = "records",
    params(yak_api::ConsumeParams),
    responses(
        (status = 200, description = "Server-sent events, each shown here as `{event, data}`: `event: record` with one record (with its topic and partition, the offset on the `id:` line); `event: error` once on failure, then the stream ends", content_type = "text/event-stream", body = yak_api::ConsumeStreamEvent),
        (status = 400, description = "A bad parameter or an offset out of range", body = yak_api::ErrorBody),
        (status = 404, description = "Unknown topic or partition", body = yak_api::ErrorBody),
        (status = 409, description = "With `group`: the group has Kafka members (`group_not_empty`)", body = yak_api::ErrorBody),
        (status = 421, description = "With `group`: this node does not coordinate groups, the leader does", body = yak_api::ErrorBody),
        (status = 503, description = "Too many streams are open", body = yak_api::ErrorBody),
    )
)]
pub async fn consume_stream(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, HttpError> {
    let request = parse_request(&state, &caller, &query)?;
    let slot = state.stream_slot()?;
    let (sender, receiver) = mpsc::channel::<Result<Event, Infallible>>(STREAM_EVENTS_BUFFER_MAX);
    tokio::spawn(async move {
        let _slot = slot;
        let Request {
            topic,
            partition,
            mut offset,
            group,
            ..
        } = request;
        let mut high_watermark = partition.subscribe();
        loop {
            // The log read runs on a blocking thread, as every log read does.
            let step = {
                let (state, topic, partition) =
                    (state.clone(), topic.clone(), Arc::clone(&partition));
                tokio::task::spawn_blocking(move || stream_step(&state, &topic, &partition, offset))
                    .await
                    .unwrap_or_else(|e| {
                        Err(HttpError::new(
                            ErrorCode::Internal,
                            format!("consume task failed: {e}"),
                        ))
                    })
            };
            let events = match step {
                Ok((next, events)) => {
                    offset = next;
                    events
                }
                Err(error) => {
                    let _ = sender.send(Ok(error_event(&error))).await;
                    return;
                }
            };
            let caught_up = events.is_empty();
            for event in events {
                if sender.send(Ok(event)).await.is_err() {
                    return; // The client went away.
                }
            }
            // A group commits each step once its events are handed to the connection.
            if let (Some(group), false) = (&group, caught_up) {
                if let Err(error) = group.commit(&state, &topic, partition.index, offset).await {
                    let _ = sender.send(Ok(error_event(&error))).await;
                    return;
                }
            }
            if caught_up {
                tokio::select! {
                    changed = high_watermark.wait_for(|hwm| *hwm > offset) => {
                        if changed.is_err() { return; }
                    }
                    _ = state.broker.shutdown.cancelled() => return,
                    _ = sender.closed() => return,
                }
            }
        }
    });
    Ok(Sse::new(ReceiverStream::new(receiver))
        .keep_alive(KeepAlive::default())
        .into_response())
}
