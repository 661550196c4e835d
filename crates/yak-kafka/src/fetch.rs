//! Fetch (key 1, v4-12): stored batches, sent as stored, with long-polling.
//!
//! Answers at once when the partitions hold at least `min_bytes` or any partition has an
//! error; otherwise waits on `Backend::wait_for_data` for every partition at once, up to
//! `max_wait_ms` (capped by `fetch_wait_ms_max`), and reads again. The response holds at most
//! `max_bytes` of records, capped by the broker's `fetch_bytes_max` (Kafka's
//! `fetch.max.bytes`), and each partition at most its `partition_max_bytes`, except that the
//! first partition with data always returns at least one whole batch (KIP-74), or the client
//! would stall. Those bytes are taken from the connection's and the node's response budgets
//! before the log is read and given back once the response is written; a long-poll waits
//! holding none. `records` is never null (librdkafka rejects a -1 MessageSetSize), and no
//! fetch sessions are kept: `session_id` is always 0, so clients stay on full fetches.
//!
//! Authorization, as Kafka's: a consumer needs READ on each topic (a partition of a topic it
//! may not read answers TOPIC_AUTHORIZATION_FAILED and is neither read nor waited on); a
//! follower (`replica_id` >= 0) needs CLUSTER_ACTION on the cluster, else every partition
//! answers TOPIC_AUTHORIZATION_FAILED (Kafka's `handleFetchRequest` answers a follower so, not
//! with CLUSTER_AUTHORIZATION_FAILED).

use std::time::Duration;

use futures::future::select_all;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse};
use tokio::time::Instant;
use yak_auth::{Operation, Resource};

use crate::backend::{error_code, Backend, Reader};
use crate::memory::{ResponseBudget, ResponsePermits};
use crate::session::Session;

/// `isolation_level` 1 = read_committed (librdkafka's default).
const READ_COMMITTED: i8 = 1;

/// The broker's limits on one Fetch.
#[derive(Clone, Copy, Debug)]
pub struct FetchLimits {
    /// Longest a Fetch may long-poll, whatever its `max_wait_ms` asks.
    pub wait_ms_max: u64,
    /// Most record bytes in one response, whatever its `max_bytes` asks (Kafka's
    /// `fetch.max.bytes`), except for one first batch larger than that (KIP-74).
    pub fetch_bytes_max: usize,
}

/// Answers one Fetch; the permits cover the records in the response and must be kept until
/// it is written.
pub async fn handle<B: Backend>(
    backend: &B,
    session: &Session,
    limits: FetchLimits,
    request: FetchRequest,
    mut budget: ResponseBudget,
) -> (FetchResponse, ResponsePermits) {
    // Sessions are optional (KIP-227): a full fetch (epoch -1 or 0) is served without one;
    // an incremental fetch names a session we never created.
    if request.session_id != 0 || request.session_epoch > 0 {
        let response =
            FetchResponse::default().with_error_code(error_code::FETCH_SESSION_ID_NOT_FOUND);
        return (response, budget.finish());
    }
    if request.replica_id.0 >= 0
        && !backend.authorize(session, Operation::ClusterAction, &Resource::cluster())
    {
        return (follower_refused(&request), budget.finish());
    }
    // Decided once per request: the long-poll below reads again without asking again.
    let authorized: Vec<bool> = request
        .topics
        .iter()
        .map(|topic| {
            request.replica_id.0 >= 0
                || backend.authorize(
                    session,
                    Operation::Read,
                    &Resource::topic(topic.topic.as_str()),
                )
        })
        .collect();
    let wait_ms = u64::try_from(request.max_wait_ms)
        .unwrap_or(0)
        .min(limits.wait_ms_max);
    let deadline = Instant::now() + Duration::from_millis(wait_ms);
    let min_bytes = usize::try_from(request.min_bytes).unwrap_or(0);
    let response_bytes_max = usize::try_from(request.max_bytes)
        .unwrap_or(0)
        .min(limits.fetch_bytes_max);
    loop {
        budget.take(response_bytes_max).await;
        let (response, bytes, any_error) = read(
            backend,
            &request,
            &authorized,
            response_bytes_max,
            &mut budget,
        )
        .await;
        // Nothing it may read: Kafka answers at once rather than hold the fetch.
        let none_authorized = !authorized.is_empty() && authorized.iter().all(|a| !a);
        if bytes >= min_bytes || any_error || none_authorized || Instant::now() >= deadline {
            budget.shrink_to(bytes);
            return (response, budget.finish());
        }
        // Wait for data past what this read saw (its high watermark), not past the fetch
        // offset: a partition holding fewer than min_bytes would otherwise wake at once,
        // again and again, until the deadline.
        let seen: Vec<(&str, i32, i64, i32)> =
            request
                .topics
                .iter()
                .zip(&response.responses)
                .zip(&authorized)
                .filter(|(_, authorized)| **authorized)
                .flat_map(|((topic, answered), _)| {
                    topic.partitions.iter().zip(&answered.partitions).map(
                        move |(partition, seen)| {
                            // A follower waits for the log end to pass what it holds; a
                            // consumer for the high watermark to pass what it saw.
                            let offset = if request.replica_id.0 >= 0 {
                                partition.fetch_offset
                            } else {
                                partition.fetch_offset.max(seen.high_watermark)
                            };
                            (
                                topic.topic.as_str(),
                                partition.partition,
                                offset,
                                partition.current_leader_epoch,
                            )
                        },
                    )
                })
                .collect();
        // The records read so far are dropped: a long-poll holds no response bytes, and the
        // next read takes them again.
        drop(response);
        budget.release();
        let replica_id = request.replica_id.0;
        let waits: Vec<_> = seen
            .into_iter()
            .map(|(topic, partition, offset, current_leader_epoch)| {
                let reader = Reader {
                    replica_id,
                    current_leader_epoch,
                };
                Box::pin(backend.wait_for_data(topic, partition, offset, reader))
            })
            .collect();
        if waits.is_empty() {
            // Nothing to wait for: Kafka still holds an empty fetch for max_wait_ms.
            tokio::time::sleep_until(deadline).await;
            continue;
        }
        // On timeout the loop reads once more and answers, whatever it finds.
        let _ = tokio::time::timeout_at(deadline, select_all(waits)).await;
    }
}

/// Reads every partition once, within `response_bytes_max` record bytes (held in `budget`,
/// which grows when a first batch exceeds it). Returns the response, its record bytes, and
/// whether any partition failed.
pub async fn read<B: Backend>(
    backend: &B,
    request: &FetchRequest,
    authorized: &[bool],
    response_bytes_max: usize,
    budget: &mut ResponseBudget,
) -> (FetchResponse, usize, bool) {
    let read_committed = request.isolation_level == READ_COMMITTED;
    let mut budget_bytes = response_bytes_max;
    let mut bytes_total = 0usize;
    let mut any_error = false;
    let mut topics = Vec::with_capacity(request.topics.len());
    for (index, topic) in request.topics.iter().enumerate() {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for partition in &topic.partitions {
            if !authorized.get(index).copied().unwrap_or(false) {
                partitions.push(refused_partition(
                    partition.partition,
                    error_code::TOPIC_AUTHORIZATION_FAILED,
                ));
                continue;
            }
            let partition_max_bytes = usize::try_from(partition.partition_max_bytes).unwrap_or(0);
            let limit_bytes = partition_max_bytes.min(budget_bytes);
            let entry = PartitionData::default().with_partition_index(partition.partition);
            let outcome = backend
                .fetch(
                    topic.topic.as_str(),
                    partition.partition,
                    partition.fetch_offset,
                    i32::try_from(limit_bytes).unwrap_or(i32::MAX),
                    read_committed,
                    Reader {
                        replica_id: request.replica_id.0,
                        current_leader_epoch: partition.current_leader_epoch,
                    },
                )
                .await;
            let entry = match outcome {
                Ok(outcome) => {
                    // Only the first partition with data may exceed the limits (KIP-74).
                    let fits = outcome.records.len() <= limit_bytes || bytes_total == 0;
                    let records = if fits {
                        outcome.records
                    } else {
                        bytes::Bytes::new()
                    };
                    bytes_total += records.len();
                    if bytes_total > budget.held_bytes() {
                        budget.grow(bytes_total - budget.held_bytes()).await;
                    }
                    budget_bytes = budget_bytes.saturating_sub(records.len());
                    entry
                        .with_error_code(error_code::NONE)
                        .with_high_watermark(outcome.high_watermark)
                        .with_last_stable_offset(outcome.last_stable_offset)
                        .with_log_start_offset(outcome.log_start_offset)
                        .with_records(Some(records))
                }
                Err(error) => {
                    any_error = true;
                    refused_partition(partition.partition, error.code())
                }
            };
            partitions.push(entry);
        }
        topics.push(
            FetchableTopicResponse::default()
                .with_topic(topic.topic.clone())
                .with_partitions(partitions),
        );
    }
    let response = FetchResponse::default()
        .with_error_code(error_code::NONE)
        .with_session_id(0)
        .with_responses(topics);
    (response, bytes_total, any_error)
}

/// A partition's answer without data: `code`, and -1 for every offset.
fn refused_partition(partition: i32, code: i16) -> PartitionData {
    PartitionData::default()
        .with_partition_index(partition)
        .with_error_code(code)
        .with_high_watermark(-1)
        .with_last_stable_offset(-1)
        .with_log_start_offset(-1)
        .with_records(Some(bytes::Bytes::new()))
}

/// The answer to a follower's fetch without CLUSTER_ACTION: every partition refused.
fn follower_refused(request: &FetchRequest) -> FetchResponse {
    let code = error_code::TOPIC_AUTHORIZATION_FAILED;
    let topics = request
        .topics
        .iter()
        .map(|topic| {
            FetchableTopicResponse::default()
                .with_topic(topic.topic.clone())
                .with_partitions(
                    topic
                        .partitions
                        .iter()
                        .map(|p| refused_partition(p.partition, code))
                        .collect(),
                )
        })
        .collect();
    FetchResponse::default()
        .with_error_code(error_code::NONE)
        .with_session_id(0)
        .with_responses(topics)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory_backend::{test_batch, MemoryBackend};
    use crate::metadata::topic_name;
    use crate::versions;
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use kafka_protocol::messages::ApiKey;
    use kafka_protocol::protocol::Encodable;
    use std::sync::Arc;

    const LIMITS: FetchLimits = FetchLimits {
        wait_ms_max: 10_000,
        fetch_bytes_max: 1 << 20,
    };

    /// Fetches with the test limits and a budget of their own.
    async fn fetch(backend: &MemoryBackend, request: FetchRequest) -> FetchResponse {
        handle(
            backend,
            &Session::anonymous(),
            LIMITS,
            request,
            ResponseBudget::standalone(1 << 20),
        )
        .await
        .0
    }

    fn request(topic: &str, partition: i32, offset: i64, wait_ms: i32) -> FetchRequest {
        FetchRequest::default()
            .with_max_wait_ms(wait_ms)
            .with_min_bytes(1)
            .with_max_bytes(1 << 20)
            .with_topics(vec![FetchTopic::default()
                .with_topic(topic_name(topic))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(partition)
                    .with_fetch_offset(offset)
                    .with_partition_max_bytes(1 << 20)])])
    }

    /// Proves the response encodes at every version, and records are never null.
    #[tokio::test]
    async fn encodes_at_every_version() {
        let backend = MemoryBackend::for_tests();
        backend.add_topic("t1", 1);
        backend
            .append("t1", 0, test_batch(&[b"a"]))
            .expect("appends");
        for version in versions::decoded_versions(ApiKey::Fetch) {
            for (topic, offset) in [("t1", 0), ("t1", 1), ("t1", 99), ("nope", 0)] {
                let response = fetch(&backend, request(topic, 0, offset, 0)).await;
                let partition = &response.responses[0].partitions[0];
                assert!(partition.records.is_some());
                let mut buf = bytes::BytesMut::new();
                response.encode(&mut buf, version).expect("encodes");
            }
        }
    }

    /// Proves a fetch starting inside a batch returns that whole batch, and offsets past
    /// the high watermark are out of range.
    #[tokio::test]
    async fn starts_at_the_batch_holding_the_offset() {
        let backend = MemoryBackend::for_tests();
        backend.add_topic("t1", 1);
        let first = test_batch(&[b"a", b"b", b"c"]);
        backend.append("t1", 0, first.clone()).expect("appends");
        let response = fetch(&backend, request("t1", 0, 1, 0)).await;
        let partition = &response.responses[0].partitions[0];
        assert_eq!(
            partition.records.as_ref().map(|r| r.len()),
            Some(first.len())
        );
        assert_eq!(partition.high_watermark, 3);
        let response = fetch(&backend, request("t1", 0, 4, 0)).await;
        assert_eq!(response.responses[0].partitions[0].error_code, 1);
    }

    /// Proves max_bytes smaller than a batch still returns one whole batch (KIP-74), and
    /// the second partition then gets none.
    #[tokio::test]
    async fn at_least_one_batch() {
        let backend = MemoryBackend::for_tests();
        backend.add_topic("t1", 2);
        backend
            .append("t1", 0, test_batch(&[b"aaaaaaaaaa"]))
            .expect("appends");
        backend
            .append("t1", 1, test_batch(&[b"bbbbbbbbbb"]))
            .expect("appends");
        let mut req = request("t1", 0, 0, 0);
        req.max_bytes = 1;
        let mut second = req.topics[0].partitions[0].clone();
        second.partition = 1;
        req.topics[0].partitions.push(second);
        let response = fetch(&backend, req).await;
        let parts = &response.responses[0].partitions;
        assert!(parts[0].records.as_ref().is_some_and(|r| !r.is_empty()));
        assert!(parts[1].records.as_ref().is_some_and(|r| r.is_empty()));
        assert_eq!(parts[1].high_watermark, 1);
    }

    /// Proves a long-poll wakes on new data instead of waiting out max_wait_ms.
    #[tokio::test]
    async fn long_poll_wakes_on_produce() {
        let backend = Arc::new(MemoryBackend::for_tests());
        backend.add_topic("t1", 1);
        let writer = Arc::clone(&backend);
        let started = Instant::now();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            writer
                .append("t1", 0, test_batch(&[b"late"]))
                .expect("appends");
        });
        let response = fetch(&backend, request("t1", 0, 0, 5_000)).await;
        let partition = &response.responses[0].partitions[0];
        assert!(partition.records.as_ref().is_some_and(|r| !r.is_empty()));
        assert!(started.elapsed() < Duration::from_secs(4));
    }

    /// Proves an empty partition is held until max_wait_ms, then answered empty.
    #[tokio::test(start_paused = true)]
    async fn waits_out_max_wait_ms() {
        let backend = MemoryBackend::for_tests();
        backend.add_topic("t1", 1);
        let started = Instant::now();
        let response = fetch(&backend, request("t1", 0, 0, 500)).await;
        assert!(started.elapsed() >= Duration::from_millis(500));
        let partition = &response.responses[0].partitions[0];
        assert_eq!(partition.records.as_ref().map(|r| r.len()), Some(0));
    }
}
