//! Frame → request → handler → response frame.
//!
//! `decode` turns one frame (without its 4-byte length) into a typed `Request`, or says why the
//! connection must close. `handle` runs the API's module against the backend and encodes the
//! response frame (with its length), or `None` for a Produce with acks=0.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest,
    DescribeClusterRequest, DescribeConfigsRequest, FetchRequest, InitProducerIdRequest,
    ListOffsetsRequest, MetadataRequest, ProduceRequest, ResponseHeader,
};
use kafka_protocol::protocol::{
    decode_request_header_from_buffer, Decodable, Encodable, HeaderVersion,
};

use crate::backend::Backend;
use crate::{
    api_versions, create_partitions, create_topics, delete_topics, describe_cluster,
    describe_configs, fetch, init_producer_id, list_offsets, metadata, produce, versions,
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
    CreateTopics(CreateTopicsRequest),
    DeleteTopics(DeleteTopicsRequest),
    CreatePartitions(CreatePartitionsRequest),
    InitProducerId(InitProducerIdRequest),
    DescribeConfigs(DescribeConfigsRequest),
    DescribeCluster(DescribeClusterRequest),
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
    if frame.has_remaining() {
        return Err(DecodeError::TrailingBytes(frame.remaining()));
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
        // `versions::support` admitted only the keys above.
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
) -> Result<BytesMut, EncodeError> {
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
    let mut buf = BytesMut::with_capacity(4 + size);
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

/// Limits the handlers need from the server configuration.
#[derive(Clone, Copy, Debug)]
pub struct HandlerConfig {
    pub fetch_wait_ms_max: u64,
}

/// Runs one request and encodes its response; `None` when the client expects none.
pub async fn handle<B: Backend>(
    backend: &B,
    config: HandlerConfig,
    request: Request,
) -> Result<Option<BytesMut>, EncodeError> {
    let Request {
        api_key,
        version,
        correlation_id,
        body,
        ..
    } = request;
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
            let response = metadata::handle(backend, version, request).await;
            encode_response(api_key, version, correlation_id, &response)?
        }
        Body::Produce(request) => match produce::handle(backend, version, request).await {
            Some(response) => encode_response(api_key, version, correlation_id, &response)?,
            None => return Ok(None),
        },
        Body::Fetch(request) => {
            let response = fetch::handle(backend, config.fetch_wait_ms_max, request).await;
            encode_response(api_key, version, correlation_id, &response)?
        }
        Body::ListOffsets(request) => {
            let response = list_offsets::handle(backend, request);
            encode_response(api_key, version, correlation_id, &response)?
        }
        Body::CreateTopics(request) => {
            let response = create_topics::handle(backend, version, request).await;
            encode_response(api_key, version, correlation_id, &response)?
        }
        Body::DeleteTopics(request) => {
            let response = delete_topics::handle(backend, version, request).await;
            encode_response(api_key, version, correlation_id, &response)?
        }
        Body::CreatePartitions(request) => {
            let response = create_partitions::handle(backend, request).await;
            encode_response(api_key, version, correlation_id, &response)?
        }
        Body::InitProducerId(request) => {
            let response = init_producer_id::handle(backend, request).await;
            encode_response(api_key, version, correlation_id, &response)?
        }
        Body::DescribeConfigs(request) => {
            let response = describe_configs::handle(backend, request);
            encode_response(api_key, version, correlation_id, &response)?
        }
        Body::DescribeCluster(request) => {
            let response = describe_cluster::handle(backend, version, request);
            encode_response(api_key, version, correlation_id, &response)?
        }
    };
    Ok(Some(frame))
}
