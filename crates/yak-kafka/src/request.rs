//! Frame → request → handler → response frame.
//!
//! `decode` turns one frame (without its 4-byte length) into a typed `Request`, or says why the
//! connection must close. `handle` runs the API's module against the backend and encodes the
//! response frame (with its length) as a [`ResponseFrame`] that keeps stored batches by
//! reference; a Produce with acks=0 answers nothing, or closes the connection when it failed.

use bytes::{Buf, BufMut, Bytes};
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, ApiKey, ApiVersionsRequest, CreateAclsRequest,
    CreatePartitionsRequest, CreateTopicsRequest, DeleteAclsRequest, DeleteTopicsRequest,
    DescribeAclsRequest, DescribeClusterRequest, DescribeConfigsRequest,
    DescribeUserScramCredentialsRequest, FetchRequest, FindCoordinatorRequest,
    IncrementalAlterConfigsRequest, InitProducerIdRequest, ListOffsetsRequest, MetadataRequest,
    OffsetForLeaderEpochRequest, ProduceRequest, ResponseHeader, SaslAuthenticateRequest,
    SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::{
    decode_request_header_from_buffer, Decodable, Encodable, HeaderVersion,
};

use crate::backend::Backend;
use crate::fetch::FetchLimits;
use crate::groups::{GroupRequest, GroupResponse};
use crate::memory::{ResponseBudget, ResponseFrame, ResponsePermits};
use crate::produce::ProduceReply;
use crate::{
    alter_user_scram_credentials, api_versions, create_acls, create_partitions, create_topics,
    delete_acls, delete_topics, describe_acls, describe_cluster, describe_configs,
    describe_user_scram_credentials, fetch, find_coordinator, group_authorization,
    incremental_alter_configs, init_producer_id, list_offsets, metadata, offset_for_leader_epoch,
    produce, versions,
};

/// The smallest frame that holds api_key, api_version and correlation_id.
pub const FRAME_BYTES_MIN: usize = 8;

/// A decoded request body, one variant per API key we serve.
#[derive(Debug)]
pub enum Body {
    ApiVersions(ApiVersionsRequest),
    /// ApiVersions above our maximum: answered with a v0 UNSUPPORTED_VERSION body.
    ApiVersionsUnsupported,
    Metadata(MetadataRequest),
    Produce(ProduceRequest),
    Fetch(FetchRequest),
    ListOffsets(ListOffsetsRequest),
    FindCoordinator(FindCoordinatorRequest),
    CreateTopics(CreateTopicsRequest),
    DeleteTopics(DeleteTopicsRequest),
    CreatePartitions(CreatePartitionsRequest),
    InitProducerId(InitProducerIdRequest),
    DescribeConfigs(DescribeConfigsRequest),
    DescribeCluster(DescribeClusterRequest),
    IncrementalAlterConfigs(IncrementalAlterConfigsRequest),
    OffsetForLeaderEpoch(OffsetForLeaderEpochRequest),
    Group(crate::groups::GroupRequest),
    SaslHandshake(SaslHandshakeRequest),
    SaslAuthenticate(SaslAuthenticateRequest),
    CreateAcls(CreateAclsRequest),
    DescribeAcls(DescribeAclsRequest),
    DeleteAcls(DeleteAclsRequest),
    DescribeUserScramCredentials(DescribeUserScramCredentialsRequest),
    AlterUserScramCredentials(AlterUserScramCredentialsRequest),
}

/// One decoded request.
#[derive(Debug)]
pub struct Request {
    pub api_key: ApiKey,
    pub version: i16,
    pub correlation_id: i32,
    pub client_id: Option<String>,
    pub body: Body,
}

/// Why a frame closes the connection (as Kafka does for each of these).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("frame of {0} bytes is shorter than a request header")]
    TooShort(usize),
    #[error("unknown or unserved api key {0}")]
    UnknownApiKey(i16),
    #[error("unsupported version {version} of {api_key:?}")]
    UnsupportedVersion { api_key: ApiKey, version: i16 },
    #[error("bad request header: {0}")]
    Header(String),
    #[error("bad {api_key:?} v{version} body: {reason}")]
    Body {
        api_key: ApiKey,
        version: i16,
        reason: String,
    },
    #[error("{0} bytes left over after the request body")]
    TrailingBytes(usize),
}

/// Why a response could not be produced; the connection closes, because skipping a
/// response would break the client's correlation.
#[derive(Debug, thiserror::Error)]
#[error("cannot encode {api_key:?} v{version} response: {reason}")]
pub struct EncodeError {
    pub api_key: ApiKey,
    pub version: i16,
    pub reason: String,
}

fn decode_body<T: Decodable>(
    frame: &mut Bytes,
    api_key: ApiKey,
    version: i16,
) -> Result<T, DecodeError> {
    let body = T::decode(frame, version).map_err(|error| DecodeError::Body {
        api_key,
        version,
        reason: error.to_string(),
    })?;
    // Apache Kafka parses a body and ignores whatever follows it inside the frame, and
    // librdkafka relies on that: its all-topics Metadata v12 request (confluent-kafka's
    // `list_topics()`) carries three stray bytes after the body. Refusing them would drop
    // every such client, so we are bug-compatible and ignore them too.
    if frame.has_remaining() {
        tracing::debug!(
            ?api_key,
            version,
            trailing_bytes = frame.remaining(),
            "ignoring bytes after the request body"
        );
        frame.advance(frame.remaining());
    }
    Ok(body)
}

/// Decodes one frame (the bytes after the 4-byte length).
pub fn decode(mut frame: Bytes) -> Result<Request, DecodeError> {
    if frame.len() < FRAME_BYTES_MIN {
        return Err(DecodeError::TooShort(frame.len()));
    }
    let api_key_raw = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let api_key =
        ApiKey::try_from(api_key_raw).map_err(|()| DecodeError::UnknownApiKey(api_key_raw))?;
    let support = versions::support(api_key).ok_or(DecodeError::UnknownApiKey(api_key_raw))?;

    if api_key == ApiKey::ApiVersions && version > support.decoded.max {
        // A newer client: its header and body may be shapes we do not know, and the answer
        // needs only the correlation id.
        return Ok(Request {
            api_key,
            version,
            correlation_id,
            client_id: None,
            body: Body::ApiVersionsUnsupported,
        });
    }
    if !versions::is_decodable(api_key, version) {
        return Err(DecodeError::UnsupportedVersion { api_key, version });
    }

    let header = decode_request_header_from_buffer(&mut frame)
        .map_err(|error| DecodeError::Header(error.to_string()))?;
    let client_id = header.client_id.map(|id| id.as_str().to_owned());
    let body = match api_key {
        ApiKey::ApiVersions => Body::ApiVersions(decode_body(&mut frame, api_key, version)?),
        ApiKey::Metadata => Body::Metadata(decode_body(&mut frame, api_key, version)?),
        ApiKey::Produce => Body::Produce(decode_body(&mut frame, api_key, version)?),
        ApiKey::Fetch => Body::Fetch(decode_body(&mut frame, api_key, version)?),
        ApiKey::ListOffsets => Body::ListOffsets(decode_body(&mut frame, api_key, version)?),
        ApiKey::FindCoordinator => {
            Body::FindCoordinator(decode_body(&mut frame, api_key, version)?)
        }
        ApiKey::CreateTopics => Body::CreateTopics(decode_body(&mut frame, api_key, version)?),
        ApiKey::DeleteTopics => Body::DeleteTopics(decode_body(&mut frame, api_key, version)?),
        ApiKey::CreatePartitions => {
            Body::CreatePartitions(decode_body(&mut frame, api_key, version)?)
        }
        ApiKey::InitProducerId => Body::InitProducerId(decode_body(&mut frame, api_key, version)?),
        ApiKey::DescribeConfigs => {
            Body::DescribeConfigs(decode_body(&mut frame, api_key, version)?)
        }
        ApiKey::DescribeCluster => {
            Body::DescribeCluster(decode_body(&mut frame, api_key, version)?)
        }
        ApiKey::IncrementalAlterConfigs => {
            Body::IncrementalAlterConfigs(decode_body(&mut frame, api_key, version)?)
        }
        // `versions::support` admitted only the keys above.
        ApiKey::OffsetForLeaderEpoch => {
            Body::OffsetForLeaderEpoch(decode_body(&mut frame, api_key, version)?)
        }
        ApiKey::JoinGroup => Body::Group(GroupRequest::Join(decode_body(
            &mut frame, api_key, version,
        )?)),
        ApiKey::SyncGroup => Body::Group(GroupRequest::Sync(decode_body(
            &mut frame, api_key, version,
        )?)),
        ApiKey::Heartbeat => Body::Group(GroupRequest::Heartbeat(decode_body(
            &mut frame, api_key, version,
        )?)),
        ApiKey::LeaveGroup => Body::Group(GroupRequest::Leave(decode_body(
            &mut frame, api_key, version,
        )?)),
        ApiKey::OffsetCommit => Body::Group(GroupRequest::OffsetCommit(decode_body(
            &mut frame, api_key, version,
        )?)),
        ApiKey::OffsetFetch => Body::Group(GroupRequest::OffsetFetch(decode_body(
            &mut frame, api_key, version,
        )?)),
        ApiKey::ListGroups => Body::Group(GroupRequest::ListGroups(decode_body(
            &mut frame, api_key, version,
        )?)),
        ApiKey::DescribeGroups => Body::Group(GroupRequest::DescribeGroups(decode_body(
            &mut frame, api_key, version,
        )?)),
        ApiKey::DeleteGroups => Body::Group(GroupRequest::DeleteGroups(decode_body(
            &mut frame, api_key, version,
        )?)),
        ApiKey::OffsetDelete => Body::Group(GroupRequest::OffsetDelete(decode_body(
            &mut frame, api_key, version,
        )?)),
        ApiKey::SaslHandshake => Body::SaslHandshake(decode_body(&mut frame, api_key, version)?),
        ApiKey::SaslAuthenticate => {
            Body::SaslAuthenticate(decode_body(&mut frame, api_key, version)?)
        }
        ApiKey::CreateAcls => Body::CreateAcls(decode_body(&mut frame, api_key, version)?),
        ApiKey::DescribeAcls => Body::DescribeAcls(decode_body(&mut frame, api_key, version)?),
        ApiKey::DeleteAcls => Body::DeleteAcls(decode_body(&mut frame, api_key, version)?),
        ApiKey::DescribeUserScramCredentials => {
            Body::DescribeUserScramCredentials(decode_body(&mut frame, api_key, version)?)
        }
        ApiKey::AlterUserScramCredentials => {
            Body::AlterUserScramCredentials(decode_body(&mut frame, api_key, version)?)
        }
        _ => return Err(DecodeError::UnknownApiKey(api_key_raw)),
    };
    Ok(Request {
        api_key,
        version,
        correlation_id,
        client_id,
        body,
    })
}

/// Encodes a response frame: 4-byte length, response header, body.
pub fn encode_response<R: Encodable + HeaderVersion>(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &R,
) -> Result<ResponseFrame, EncodeError> {
    let fail = |reason: String| EncodeError {
        api_key,
        version,
        reason,
    };
    let header_version = R::header_version(version);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let header_size = header
        .compute_size(header_version)
        .map_err(|e| fail(e.to_string()))?;
    let body_size = body
        .compute_size(version)
        .map_err(|e| fail(e.to_string()))?;
    let size = header_size + body_size;
    let size_field =
        i32::try_from(size).map_err(|_| fail(format!("{size} bytes do not fit a frame")))?;
    // Stored batches are not copied in (see `ResponseFrame`), so `size` can be far more than
    // this buffer will hold; it grows as needed past the first few kilobytes.
    let mut buf = ResponseFrame::with_capacity((4 + size).min(ENCODE_BUFFER_BYTES_INITIAL));
    buf.put_i32(size_field);
    header
        .encode(&mut buf, header_version)
        .map_err(|e| fail(e.to_string()))?;
    body.encode(&mut buf, version)
        .map_err(|e| fail(e.to_string()))?;
    // Paired check: the size we announced is the size we wrote.
    if buf.len() != 4 + size {
        return Err(fail(format!(
            "wrote {} bytes after announcing {size}",
            buf.len() - 4
        )));
    }
    Ok(buf)
}

/// Bytes reserved up front for encoding a response; larger responses grow the buffer.
pub const ENCODE_BUFFER_BYTES_INITIAL: usize = 16 * 1024;

/// What the handlers need from the server configuration and the connection.
#[derive(Clone, Debug)]
pub struct HandlerConfig {
    pub fetch: FetchLimits,
    /// The client's address (DescribeGroups reports it per member, as `/IP`).
    pub client_host: Option<std::net::IpAddr>,
    /// Who the connection acts for; every request is authorized against it.
    pub session: std::sync::Arc<crate::session::Session>,
}

/// What the connection does after a request.
#[derive(Debug)]
pub enum Reply {
    /// Write this frame, then drop the permits (the response bytes it held).
    Send(ResponseFrame, ResponsePermits),
    /// The client expects no response (Produce with acks=0).
    Nothing,
    /// Close the connection once the earlier responses are written (a failed acks=0 Produce).
    Close,
}

/// Runs one request and encodes its response. `budget` bounds the records a Fetch may hold
/// (a budget of `fetch_bytes_max` of its own when `None`); other requests do not use it.
pub async fn handle<B: Backend>(
    backend: &B,
    config: HandlerConfig,
    request: Request,
    budget: Option<ResponseBudget>,
) -> Result<Reply, EncodeError> {
    let Request {
        api_key,
        version,
        correlation_id,
        client_id,
        body,
    } = request;
    let session = &*config.session;
    let client_host = config
        .client_host
        .map(|ip| format!("/{ip}"))
        .unwrap_or_default();
    let frame = match body {
        Body::ApiVersions(_) => {
            encode_response(api_key, version, correlation_id, &api_versions::response())?
        }
        Body::ApiVersionsUnsupported => encode_response(
            api_key,
            api_versions::UNSUPPORTED_RESPONSE_VERSION,
            correlation_id,
            &api_versions::unsupported_response(),
        )?,
        Body::Metadata(request) => {
            let response = metadata::handle(backend, session, version, request).await;
            encode_response(api_key, version, correlation_id, &response)?
        }
        Body::Produce(request) => match produce::handle(backend, session, version, request).await {
            ProduceReply::Response(response) => {
                encode_response(api_key, version, correlation_id, &response)?
            }
            ProduceReply::Nothing => return Ok(Reply::Nothing),
            ProduceReply::CloseConnection => return Ok(Reply::Close),
        },
        Body::Fetch(request) => {
            let budget =
                budget.unwrap_or_else(|| ResponseBudget::standalone(config.fetch.fetch_bytes_max));
            let (response, permits) =
                fetch::handle(backend, session, config.fetch, request, budget).await;
            let frame = encode_response(api_key, version, correlation_id, &response)?;
            return Ok(Reply::Send(frame, permits));
        }
        Body::ListOffsets(request) => {
            let response = list_offsets::handle(backend, session, request).await;
            encode_response(api_key, version, correlation_id, &response)?
        }
        Body::FindCoordinator(request) => {
            let response = find_coordinator::handle(backend, session, version, request);
            encode_response(api_key, version, correlation_id, &response)?
        }
        Body::CreateTopics(request) => {
            let response = create_topics::handle(backend, session, version, request).await;
            encode_response(api_key, version, correlation_id, &response)?
        }
        Body::DeleteTopics(request) => {
            let response = delete_topics::handle(backend, session, version, request).await;
            encode_response(api_key, version, correlation_id, &response)?
        }
        Body::CreatePartitions(request) => {
            let response = create_partitions::handle(backend, session, request).await;
            encode_response(api_key, version, correlation_id, &response)?
        }
        Body::InitProducerId(request) => {
            let response = init_producer_id::handle(backend, session, request).await;
            encode_response(api_key, version, correlation_id, &response)?
        }
        Body::DescribeConfigs(request) => {
            let response = describe_configs::handle(backend, session, request);
            encode_response(api_key, version, correlation_id, &response)?
        }
        Body::DescribeCluster(request) => {
            let response = describe_cluster::handle(backend, session, version, request);
            encode_response(api_key, version, correlation_id, &response)?
        }
        Body::IncrementalAlterConfigs(request) => {
            let response = incremental_alter_configs::handle(backend, session, request).await;
            encode_response(api_key, version, correlation_id, &response)?
        }
        Body::OffsetForLeaderEpoch(request) => {
            let response = offset_for_leader_epoch::handle(backend, session, request).await;
            encode_response(api_key, version, correlation_id, &response)?
        }
        // Re-authentication (KIP-368) is not served: a connection authenticates once.
        Body::SaslHandshake(_) => encode_response(
            api_key,
            version,
            correlation_id,
            &SaslHandshakeResponse::default()
                .with_error_code(crate::sasl::error_code::ILLEGAL_SASL_STATE),
        )?,
        Body::SaslAuthenticate(_) => encode_response(
            api_key,
            version,
            correlation_id,
            &SaslAuthenticateResponse::default()
                .with_error_code(crate::sasl::error_code::ILLEGAL_SASL_STATE)
                .with_error_message(Some(kafka_protocol::protocol::StrBytes::from_static_str(
                    "this connection has authenticated already",
                ))),
        )?,
        Body::CreateAcls(request) => {
            let response = create_acls::handle(backend, session, request).await;
            encode_response(api_key, version, correlation_id, &response)?
        }
        Body::DescribeAcls(request) => {
            let response = describe_acls::handle(backend, session, request);
            encode_response(api_key, version, correlation_id, &response)?
        }
        Body::DeleteAcls(request) => {
            let response = delete_acls::handle(backend, session, request).await;
            encode_response(api_key, version, correlation_id, &response)?
        }
        Body::DescribeUserScramCredentials(request) => {
            let response = describe_user_scram_credentials::handle(backend, session, request);
            encode_response(api_key, version, correlation_id, &response)?
        }
        Body::AlterUserScramCredentials(request) => {
            let response = alter_user_scram_credentials::handle(backend, session, request).await;
            encode_response(api_key, version, correlation_id, &response)?
        }
        Body::Group(request) => {
            let client = crate::groups::Client {
                client_id: client_id.unwrap_or_default(),
                host: client_host,
            };
            match group_authorization::handle(backend, session, request, version, client).await {
                GroupResponse::Join(r) => encode_response(api_key, version, correlation_id, &r)?,
                GroupResponse::Sync(r) => encode_response(api_key, version, correlation_id, &r)?,
                GroupResponse::Heartbeat(r) => {
                    encode_response(api_key, version, correlation_id, &r)?
                }
                GroupResponse::Leave(r) => encode_response(api_key, version, correlation_id, &r)?,
                GroupResponse::OffsetCommit(r) => {
                    encode_response(api_key, version, correlation_id, &r)?
                }
                GroupResponse::OffsetFetch(r) => {
                    encode_response(api_key, version, correlation_id, &r)?
                }
                GroupResponse::ListGroups(r) => {
                    encode_response(api_key, version, correlation_id, &r)?
                }
                GroupResponse::DescribeGroups(r) => {
                    encode_response(api_key, version, correlation_id, &r)?
                }
                GroupResponse::DeleteGroups(r) => {
                    encode_response(api_key, version, correlation_id, &r)?
                }
                GroupResponse::OffsetDelete(r) => {
                    encode_response(api_key, version, correlation_id, &r)?
                }
            }
        }
    };
    Ok(Reply::Send(frame, ResponsePermits::default()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory_backend::{test_batch, MemoryBackend};
    use crate::metadata::topic_name;
    use bytes::BytesMut;
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{ApiVersionsResponse, RequestHeader};
    use kafka_protocol::protocol::{encode_request_header_into_buffer, StrBytes};
    use proptest::prelude::*;

    fn frame<R: Encodable>(api_key: ApiKey, version: i16, correlation_id: i32, body: &R) -> Bytes {
        let header = RequestHeader::default()
            .with_request_api_key(api_key as i16)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("test")));
        let mut buf = BytesMut::new();
        encode_request_header_into_buffer(&mut buf, &header).expect("header encodes");
        body.encode(&mut buf, version).expect("body encodes");
        buf.freeze()
    }

    /// Valid frames of every API we serve, as seeds for mutation.
    fn seed_frames() -> Vec<Bytes> {
        let produce = ProduceRequest::default()
            .with_acks(1)
            .with_timeout_ms(100)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(topic_name("t1"))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(test_batch(&[b"a", b"b"])))])]);
        let fetch = FetchRequest::default()
            .with_max_wait_ms(0)
            .with_max_bytes(1 << 20)
            .with_topics(vec![FetchTopic::default()
                .with_topic(topic_name("t1"))
                .with_partitions(vec![
                    FetchPartition::default().with_partition_max_bytes(1 << 20)
                ])]);
        vec![
            frame(ApiKey::ApiVersions, 3, 1, &ApiVersionsRequest::default()),
            frame(ApiKey::ApiVersions, 0, 1, &ApiVersionsRequest::default()),
            frame(ApiKey::Metadata, 12, 2, &MetadataRequest::default()),
            frame(
                ApiKey::Metadata,
                1,
                2,
                &MetadataRequest::default().with_topics(None),
            ),
            frame(ApiKey::Produce, 9, 3, &produce),
            frame(ApiKey::Produce, 3, 3, &produce),
            frame(ApiKey::Fetch, 12, 4, &fetch),
            frame(ApiKey::Fetch, 4, 4, &fetch),
            frame(ApiKey::ListOffsets, 7, 5, &ListOffsetsRequest::default()),
            frame(
                ApiKey::FindCoordinator,
                0,
                12,
                &FindCoordinatorRequest::default().with_key(StrBytes::from_static_str("g")),
            ),
            frame(
                ApiKey::FindCoordinator,
                4,
                12,
                &FindCoordinatorRequest::default()
                    .with_key_type(1)
                    .with_coordinator_keys(vec![StrBytes::from_static_str("g")]),
            ),
            frame(ApiKey::CreateTopics, 7, 6, &CreateTopicsRequest::default()),
            frame(ApiKey::DeleteTopics, 6, 7, &DeleteTopicsRequest::default()),
            frame(
                ApiKey::CreatePartitions,
                3,
                8,
                &CreatePartitionsRequest::default(),
            ),
            frame(
                ApiKey::InitProducerId,
                4,
                9,
                &InitProducerIdRequest::default().with_transactional_id(None),
            ),
            frame(
                ApiKey::DescribeConfigs,
                4,
                10,
                &DescribeConfigsRequest::default(),
            ),
            frame(
                ApiKey::DescribeCluster,
                1,
                11,
                &DescribeClusterRequest::default(),
            ),
            frame(
                ApiKey::CreateAcls,
                3,
                13,
                &CreateAclsRequest::default().with_creations(vec![
                    kafka_protocol::messages::create_acls_request::AclCreation::default()
                        .with_resource_type(2)
                        .with_resource_name(StrBytes::from_static_str("t1"))
                        .with_resource_pattern_type(3)
                        .with_principal(StrBytes::from_static_str("User:alice"))
                        .with_host(StrBytes::from_static_str("*"))
                        .with_operation(3)
                        .with_permission_type(3),
                ]),
            ),
            frame(
                ApiKey::DescribeAcls,
                3,
                14,
                &DescribeAclsRequest::default()
                    .with_resource_type_filter(1)
                    .with_pattern_type_filter(1)
                    .with_operation(1)
                    .with_permission_type(1),
            ),
            frame(
                ApiKey::DeleteAcls,
                3,
                15,
                &DeleteAclsRequest::default().with_filters(vec![
                    kafka_protocol::messages::delete_acls_request::DeleteAclsFilter::default()
                        .with_resource_type_filter(2)
                        .with_pattern_type_filter(2)
                        .with_resource_name_filter(Some(StrBytes::from_static_str("t1")))
                        .with_operation(1)
                        .with_permission_type(1),
                ]),
            ),
            frame(
                ApiKey::DescribeUserScramCredentials,
                0,
                16,
                &DescribeUserScramCredentialsRequest::default().with_users(None),
            ),
            frame(
                ApiKey::AlterUserScramCredentials,
                0,
                17,
                &AlterUserScramCredentialsRequest::default().with_upsertions(vec![
                    kafka_protocol::messages::alter_user_scram_credentials_request::ScramCredentialUpsertion::default()
                        .with_name(StrBytes::from_static_str("alice"))
                        .with_mechanism(1)
                        .with_iterations(4096)
                        .with_salt(Bytes::from_static(b"salt"))
                        .with_salted_password(Bytes::from(vec![1u8; 32])),
                ]),
            ),
        ]
    }

    fn backend() -> MemoryBackend {
        let backend = MemoryBackend::for_tests();
        backend.add_topic("t1", 2);
        // The ACL and SCRAM admin APIs then run their real paths, not SECURITY_DISABLED.
        backend.enable_security();
        backend
    }

    /// Decodes and, when the frame is valid, handles it; must never panic.
    fn exercise(runtime: &tokio::runtime::Runtime, backend: &MemoryBackend, frame: Bytes) {
        if let Ok(request) = decode(frame) {
            // Encoding errors are allowed (they close the connection); panics are not.
            let _ = runtime.block_on(handle(backend, config(), request, None));
        }
    }

    fn config() -> HandlerConfig {
        HandlerConfig {
            fetch: FetchLimits {
                wait_ms_max: 0,
                fetch_bytes_max: 1 << 20,
            },
            client_host: None,
            session: std::sync::Arc::new(crate::session::Session::anonymous()),
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    }

    /// Proves every seed frame decodes and is answered.
    #[test]
    fn seeds_are_answered() {
        let runtime = runtime();
        let backend = backend();
        for seed in seed_frames() {
            let request = decode(seed.clone()).expect("seed decodes");
            let response = runtime
                .block_on(handle(&backend, config(), request, None))
                .expect("seed response encodes");
            assert!(matches!(response, Reply::Send(..)));
        }
    }

    /// Proves ApiVersions above our maximum gets a v0 UNSUPPORTED_VERSION answer with the
    /// request's correlation id, even with a body we cannot parse.
    #[test]
    fn api_versions_above_max_gets_v0_error() {
        let mut raw = BytesMut::new();
        raw.put_i16(ApiKey::ApiVersions as i16);
        raw.put_i16(9);
        raw.put_i32(77);
        raw.put_slice(b"\xff\xfe garbage");
        let request = decode(raw.freeze()).expect("answered, not closed");
        let response = runtime()
            .block_on(handle(&backend(), config(), request, None))
            .expect("encodes");
        let Reply::Send(frame, _) = response else {
            panic!("ApiVersions has a response");
        };
        let mut body = frame.to_bytes();
        assert_eq!(body.get_i32() as usize, body.remaining());
        assert_eq!(body.get_i32(), 77, "v0 header: only the correlation id");
        let decoded = ApiVersionsResponse::decode(&mut body, 0).expect("v0 body");
        assert_eq!(decoded.error_code, 35);
    }

    /// Proves the cases Kafka closes the connection for are refused by the decoder.
    #[test]
    fn closes_on_bad_keys_and_versions() {
        let raw = |key: i16, version: i16| {
            let mut raw = BytesMut::new();
            raw.put_i16(key);
            raw.put_i16(version);
            raw.put_i32(1);
            raw.put_i16(-1);
            raw.freeze()
        };
        assert_eq!(
            decode(raw(999, 0)).map(|_| ()),
            Err(DecodeError::UnknownApiKey(999))
        );
        // AddPartitionsToTxn (24) exists in Kafka but is not served: transactions do not.
        assert_eq!(
            decode(raw(24, 0)).map(|_| ()),
            Err(DecodeError::UnknownApiKey(24))
        );
        // FindCoordinator is served up to v4 only.
        assert!(matches!(
            decode(raw(10, 5)),
            Err(DecodeError::UnsupportedVersion { .. })
        ));
        for version in 0..3 {
            assert!(matches!(
                decode(raw(0, version)),
                Err(DecodeError::UnsupportedVersion { .. })
            ));
        }
        assert!(matches!(
            decode(raw(1, 13)),
            Err(DecodeError::UnsupportedVersion { .. })
        ));
        assert_eq!(
            decode(Bytes::from_static(b"\0\x03")).map(|_| ()),
            Err(DecodeError::TooShort(2))
        );
    }

    /// Proves bytes after a valid body are ignored, as Apache Kafka does (librdkafka's
    /// all-topics Metadata v12 request ends with three of them).
    #[test]
    fn trailing_bytes_are_ignored_like_kafka() {
        let mut seed = BytesMut::from(&seed_frames()[2][..]);
        seed.put_u8(0);
        assert!(decode(seed.freeze()).is_ok());
    }

    /// Regression: a 20-byte Metadata frame declaring i32::MAX topics made the crate's
    /// decoder allocate ~90 GB and abort the process (fixed in vendor/kafka-protocol).
    #[test]
    fn huge_array_count_is_an_error_not_an_abort() {
        let mut raw = BytesMut::new();
        raw.put_i16(ApiKey::Metadata as i16);
        raw.put_i16(0);
        raw.put_i32(1);
        raw.put_i16(-1);
        raw.put_i32(i32::MAX);
        raw.put_slice(b"topic");
        assert!(matches!(
            decode(raw.freeze()),
            Err(DecodeError::Body { .. })
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// Random bytes never panic the decoder or the handlers.
        #[test]
        fn random_frames_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let runtime = runtime();
            exercise(&runtime, &backend(), Bytes::from(bytes));
        }

        /// A served api key and version followed by random bytes never panics.
        #[test]
        fn random_bodies_never_panic(
            row in 0..crate::versions::TABLE.len(),
            version_pick in any::<u16>(),
            body in prop::collection::vec(any::<u8>(), 0..512),
        ) {
            let support = crate::versions::TABLE[row];
            let span = (support.decoded.max - support.decoded.min + 1) as u16;
            let version = support.decoded.min + (version_pick % span) as i16;
            let mut raw = BytesMut::new();
            raw.put_i16(support.api_key as i16);
            raw.put_i16(version);
            raw.put_i32(1);
            raw.put_slice(&body);
            let runtime = runtime();
            exercise(&runtime, &backend(), raw.freeze());
        }

        /// Valid frames with bytes flipped, cut or inserted never panic.
        #[test]
        fn mutated_frames_never_panic(
            seed in 0..22usize,
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
            cut in any::<prop::sample::Index>(),
            insert in prop::collection::vec(any::<u8>(), 0..16),
            insert_at in any::<prop::sample::Index>(),
        ) {
            let seeds = seed_frames();
            let mut bytes = seeds[seed % seeds.len()].to_vec();
            for (at, value) in flips {
                let index = at.index(bytes.len());
                bytes[index] ^= value;
            }
            let at = insert_at.index(bytes.len() + 1);
            bytes.splice(at..at, insert);
            let keep = cut.index(bytes.len() + 1);
            if keep > 8 {
                bytes.truncate(keep);
            }
            let runtime = runtime();
            exercise(&runtime, &backend(), Bytes::from(bytes));
        }
    }
}
