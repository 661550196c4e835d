//! Produce (key 0, v3-9): checks each partition's record batch once and hands it to the backend.
//!
//! Each partition must carry exactly one v2 batch. It is checked here, once, with
//! `yak_log::ValidBatch::new` (framing, CRC-32C, header, records against the header, compressed
//! ones decompressed to check) plus what Kafka refuses from a producer (control and
//! transactional batches, a base offset other than 0, an idempotent batch without a sequence);
//! the backend gets the `ValidBatch` and appends it without parsing it again. Partitions of one
//! request are appended concurrently. acks=0 gets no response at all: librdkafka marks such
//! requests as expecting none, so a reply would break its correlation; when any partition of an
//! acks=0 request fails, the connection is closed instead, as Kafka does, so the client notices
//! and refreshes its metadata. `timeout_ms` bounds the whole request: a partition whose append
//! (with its wait for durability) is not done by then answers REQUEST_TIMED_OUT; its batch may
//! still be written, as in Kafka. A topic the session may not WRITE answers
//! TOPIC_AUTHORIZATION_FAILED on each of its partitions, before its batches are looked at.

use bytes::{Bytes, BytesMut};
use std::time::Duration;

use futures::future::join_all;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;
use tokio::time::Instant;
use yak_auth::{Operation, Resource};
use yak_log::ValidBatch;

use crate::backend::{error_code, Backend, BackendError, ProduceOutcome};
use crate::session::Session;

/// Checks `records` as one producer's batch; see the module doc.
pub fn check_batch(records: &mut [u8]) -> Result<ValidBatch<'_>, BackendError> {
    let batch = ValidBatch::new(records).map_err(BackendError::InvalidBatch)?;
    let header = batch.header();
    if header.is_control() {
        return Err(BackendError::InvalidRecord(
            "clients may not send control batches".into(),
        ));
    }
    if header.is_transactional() {
        return Err(BackendError::InvalidRecord(
            "transactions are not supported".into(),
        ));
    }
    if header.base_offset != 0 {
        return Err(BackendError::InvalidRecord(format!(
            "a produced batch starts at offset 0, not {}",
            header.base_offset
        )));
    }
    if header.producer_id >= 0 && header.base_sequence < 0 {
        return Err(BackendError::InvalidRecord(
            "an idempotent batch needs a base sequence".into(),
        ));
    }
    Ok(batch)
}

/// Kafka's acks values: -1 (all in-sync replicas), 0 (none), 1 (leader).
fn acks_valid(acks: i16) -> bool {
    matches!(acks, -1..=1)
}

async fn produce_partition<B: Backend>(
    backend: &B,
    topic: &str,
    partition: i32,
    records: Option<Bytes>,
    acks: i16,
    timeout_ms: i32,
    deadline: Instant,
) -> Result<ProduceOutcome, BackendError> {
    if !acks_valid(acks) {
        return Err(BackendError::Unknown(String::new()));
    }
    let records =
        records.ok_or_else(|| BackendError::CorruptMessage("null record set".to_owned()))?;
    // The frame is shared, so this copies the batch once; the backend patches it in place.
    let mut bytes = BytesMut::from(records);
    let batch = check_batch(&mut bytes)?;
    // Dropping the append at the deadline is safe: the backend keeps its state consistent at
    // every await (see `Backend::produce`).
    tokio::time::timeout_at(
        deadline,
        backend.produce(topic, partition, batch, acks, timeout_ms),
    )
    .await
    .unwrap_or(Err(BackendError::RequestTimedOut))
}

/// What a Produce asks of the connection.
#[derive(Debug)]
pub enum ProduceReply {
    Response(ProduceResponse),
    /// acks=0 and every partition appended: nothing is sent.
    Nothing,
    /// acks=0 and a partition failed: close the connection, as Kafka does.
    CloseConnection,
}

/// Appends every partition.
pub async fn handle<B: Backend>(
    backend: &B,
    session: &Session,
    version: i16,
    request: ProduceRequest,
) -> ProduceReply {
    let acks = request.acks;
    let timeout_ms = request.timeout_ms;
    let deadline = Instant::now() + Duration::from_millis(u64::try_from(timeout_ms).unwrap_or(0));
    let mut appends = Vec::new();
    for topic in &request.topic_data {
        let authorized = backend.authorize(
            session,
            Operation::Write,
            &Resource::topic(topic.name.as_str()),
        );
        for partition in &topic.partition_data {
            appends.push(async move {
                let outcome = if authorized {
                    produce_partition(
                        backend,
                        topic.name.as_str(),
                        partition.index,
                        partition.records.clone(),
                        acks,
                        timeout_ms,
                        deadline,
                    )
                    .await
                } else {
                    Err(BackendError::TopicAuthorizationFailed)
                };
                if let Err(error) = &outcome {
                    tracing::debug!(topic = topic.name.as_str(), partition = partition.index, %error, "produce failed");
                }
                (topic.name.clone(), partition.index, outcome)
            });
        }
    }
    let outcomes = join_all(appends).await;
    if acks == 0 {
        if outcomes.iter().any(|(_, _, outcome)| outcome.is_err()) {
            return ProduceReply::CloseConnection;
        }
        return ProduceReply::Nothing;
    }
    let mut responses: Vec<TopicProduceResponse> = Vec::new();
    for (name, index, outcome) in outcomes {
        let entry = partition_response(version, index, acks, outcome);
        match responses.last_mut() {
            Some(last) if last.name == name => last.partition_responses.push(entry),
            _ => responses.push(
                TopicProduceResponse::default()
                    .with_name(name)
                    .with_partition_responses(vec![entry]),
            ),
        }
    }
    ProduceReply::Response(ProduceResponse::default().with_responses(responses))
}

/// One partition's answer, shaped for `version`.
pub fn partition_response(
    version: i16,
    index: i32,
    acks: i16,
    outcome: Result<ProduceOutcome, BackendError>,
) -> PartitionProduceResponse {
    let entry = PartitionProduceResponse::default().with_index(index);
    match outcome {
        Ok(done) => entry
            .with_error_code(error_code::NONE)
            .with_base_offset(done.base_offset)
            .with_log_append_time_ms(done.log_append_time_ms)
            .with_log_start_offset(done.log_start_offset),
        Err(error) => {
            let code = if acks_valid(acks) {
                error.code()
            } else {
                error_code::INVALID_REQUIRED_ACKS
            };
            let message = if version >= 8 {
                error.message().map(StrBytes::from_string)
            } else {
                None
            };
            entry
                .with_error_code(code)
                .with_base_offset(-1)
                .with_log_append_time_ms(-1)
                .with_log_start_offset(-1)
                .with_error_message(message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory_backend::{test_batch, MemoryBackend};
    use crate::metadata::topic_name;
    use crate::versions;
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::ApiKey;
    use kafka_protocol::protocol::Encodable;

    fn answer(reply: ProduceReply) -> ProduceResponse {
        match reply {
            ProduceReply::Response(response) => response,
            other => panic!("expected a response, got {other:?}"),
        }
    }

    fn request(acks: i16, parts: Vec<(&str, i32, Option<Bytes>)>) -> ProduceRequest {
        let topic_data = parts
            .into_iter()
            .map(|(topic, index, records)| {
                TopicProduceData::default()
                    .with_name(topic_name(topic))
                    .with_partition_data(vec![PartitionProduceData::default()
                        .with_index(index)
                        .with_records(records)])
            })
            .collect();
        ProduceRequest::default()
            .with_acks(acks)
            .with_timeout_ms(1000)
            .with_topic_data(topic_data)
    }

    /// Proves the response encodes at every decoded version, with successes and errors.
    #[tokio::test]
    async fn encodes_at_every_version() {
        let backend = MemoryBackend::for_tests();
        backend.add_topic("t1", 2);
        for version in versions::decoded_versions(ApiKey::Produce) {
            let req = request(
                1,
                vec![
                    ("t1", 0, Some(test_batch(&[b"a", b"b"]))),
                    ("t1", 1, Some(Bytes::from_static(b"short"))),
                    ("missing", 0, Some(test_batch(&[b"c"]))),
                    ("t1", 0, None),
                ],
            );
            let ProduceReply::Response(response) =
                handle(&backend, &Session::anonymous(), version, req).await
            else {
                panic!("acks=1 answers");
            };
            let mut buf = BytesMut::new();
            response.encode(&mut buf, version).expect("encodes");
        }
    }

    /// Proves offsets are assigned per partition and errors map to Kafka codes.
    #[tokio::test]
    async fn assigns_offsets_and_reports_errors() {
        let backend = MemoryBackend::for_tests();
        backend.add_topic("t1", 1);
        let req = request(-1, vec![("t1", 0, Some(test_batch(&[b"a", b"b"])))]);
        let response = answer(handle(&backend, &Session::anonymous(), 9, req).await);
        assert_eq!(response.responses[0].partition_responses[0].base_offset, 0);
        let req = request(-1, vec![("t1", 0, Some(test_batch(&[b"c"])))]);
        let response = answer(handle(&backend, &Session::anonymous(), 9, req).await);
        assert_eq!(response.responses[0].partition_responses[0].base_offset, 2);
        let req = request(1, vec![("nope", 0, Some(test_batch(&[b"c"])))]);
        let response = answer(handle(&backend, &Session::anonymous(), 9, req).await);
        assert_eq!(response.responses[0].partition_responses[0].error_code, 3);
        let req = request(5, vec![("t1", 0, Some(test_batch(&[b"c"])))]);
        let response = answer(handle(&backend, &Session::anonymous(), 9, req).await);
        assert_eq!(response.responses[0].partition_responses[0].error_code, 21);
    }

    /// Proves acks=0 gets no response but still appends.
    #[tokio::test]
    async fn acks_zero_has_no_response() {
        let backend = MemoryBackend::for_tests();
        backend.add_topic("t1", 1);
        let req = request(0, vec![("t1", 0, Some(test_batch(&[b"a"])))]);
        assert!(matches!(
            handle(&backend, &Session::anonymous(), 7, req).await,
            ProduceReply::Nothing
        ));
        assert_eq!(backend.list_offset("t1", 0, -1).await, Ok((1, -1)));
    }

    fn check_code(bytes: &[u8]) -> Result<(), i16> {
        check_batch(&mut bytes.to_vec())
            .map(|_| ())
            .map_err(|e| e.code())
    }

    /// Regression: a Produce whose append never became durable hung forever; now the
    /// partition answers REQUEST_TIMED_OUT once `timeout_ms` has passed.
    #[tokio::test(start_paused = true)]
    async fn produce_past_timeout_ms_answers_request_timed_out() {
        let backend = MemoryBackend::for_tests();
        backend.add_topic("t1", 1);
        backend.stall_produce(true);
        let req = request(-1, vec![("t1", 0, Some(test_batch(&[b"a"])))]).with_timeout_ms(250);
        let started = tokio::time::Instant::now();
        let reply = tokio::time::timeout(
            Duration::from_secs(3600),
            handle(&backend, &Session::anonymous(), 9, req),
        )
        .await
        .expect("the produce is answered, not left hanging");
        let response = answer(reply);
        let partition = &response.responses[0].partition_responses[0];
        assert_eq!(partition.error_code, 7, "REQUEST_TIMED_OUT");
        assert_eq!(partition.base_offset, -1);
        assert_eq!(started.elapsed(), Duration::from_millis(250));
    }

    /// Regression: an acks=0 Produce that failed was silently dropped, so the client never
    /// learned of it; Kafka closes the connection instead.
    #[tokio::test]
    async fn failed_acks_zero_produce_closes_the_connection() {
        let backend = MemoryBackend::for_tests();
        backend.add_topic("t1", 1);
        let req = request(0, vec![("t1", 0, Some(Bytes::from_static(b"not a batch")))]);
        assert!(matches!(
            handle(&backend, &Session::anonymous(), 9, req).await,
            ProduceReply::CloseConnection
        ));
        let req = request(0, vec![("t1", 0, Some(test_batch(&[b"ok"])))]);
        assert!(matches!(
            handle(&backend, &Session::anonymous(), 9, req).await,
            ProduceReply::Nothing
        ));
    }

    /// Proves two batches in one partition's records are refused, and a torn batch too.
    #[test]
    fn exactly_one_batch() {
        let one = test_batch(&[b"a"]);
        assert!(check_code(&one).is_ok());
        let mut two = one.to_vec();
        two.extend_from_slice(&one);
        assert_eq!(check_code(&two), Err(87));
        assert_eq!(check_code(&one[..one.len() - 1]), Err(2));
        let mut magic = one.to_vec();
        magic[16] = 1;
        assert_eq!(check_code(&magic), Err(2));
    }

    /// Proves a batch whose records disagree with its header is refused with INVALID_RECORD
    /// even though its CRC is right: the header promises two records, the body holds one.
    #[test]
    fn records_that_disagree_with_the_header_are_invalid_record() {
        let one = test_batch(&[b"a"]);
        let header = yak_log::BatchHeader::parse(&one).expect("a header");
        let mut lying = one.to_vec();
        yak_log::BatchHeader {
            last_offset_delta: 1,
            records_count: 2,
            ..header
        }
        .write(&mut lying);
        yak_log::batch::seal(&mut lying);
        assert_eq!(check_code(&lying), Err(error_code::INVALID_RECORD));
        let mut flipped = one.to_vec();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(check_code(&flipped), Err(error_code::CORRUPT_MESSAGE));
    }
}
