//! The Kafka client a follower uses to talk to its leader: one request at a time on one TCP
//! connection, through the `kafka-protocol` codecs (the same wire path as any Kafka client).

use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest response frame a follower accepts (a Fetch answers at most the leader's
/// `fetch_bytes_max`, 55 MiB by default, plus headers).
pub const RESPONSE_FRAME_BYTES_MAX: usize = 128 * 1024 * 1024;
/// Longest a connect may take before the follower tries again.
pub const CONNECT_MS_MAX: u64 = 1_000;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {address}: {source}")]
    Connect {
        address: String,
        source: std::io::Error,
    },
    #[error("connecting to {0} timed out")]
    ConnectTimeout(String),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("protocol: {0}")]
    Protocol(String),
    #[error("no answer within {0} ms")]
    Timeout(u64),
}

impl ClientError {
    /// Nothing listens at the address (the connection was refused, not lost or timed out).
    pub fn is_refused(&self) -> bool {
        matches!(self, ClientError::Connect { source, .. } if source.kind() == std::io::ErrorKind::ConnectionRefused)
    }
}

fn protocol<E: std::fmt::Display>(error: E) -> ClientError {
    ClientError::Protocol(error.to_string())
}

pub struct KafkaClient {
    stream: TcpStream,
    client_id: StrBytes,
    correlation_id_next: i32,
}

impl KafkaClient {
    pub async fn connect(address: &str, client_id: String) -> Result<KafkaClient, ClientError> {
        let stream = tokio::time::timeout(
            Duration::from_millis(CONNECT_MS_MAX),
            TcpStream::connect(address),
        )
        .await
        .map_err(|_| ClientError::ConnectTimeout(address.to_string()))?
        .map_err(|source| ClientError::Connect {
            address: address.to_string(),
            source,
        })?;
        stream.set_nodelay(true)?;
        Ok(KafkaClient {
            stream,
            client_id: StrBytes::from_string(client_id),
            correlation_id_next: 0,
        })
    }

    /// Sends one request and reads its response, within `timeout_ms`. Not cancel-safe for the
    /// connection (a dropped call leaves a response in flight): callers drop the client with it.
    pub async fn call<Q: Encodable, R: Decodable>(
        &mut self,
        api_key: ApiKey,
        version: i16,
        body: &Q,
        timeout_ms: u64,
    ) -> Result<R, ClientError> {
        tokio::time::timeout(
            Duration::from_millis(timeout_ms),
            self.call_inner(api_key, version, body),
        )
        .await
        .map_err(|_| ClientError::Timeout(timeout_ms))?
    }

    async fn call_inner<Q: Encodable, R: Decodable>(
        &mut self,
        api_key: ApiKey,
        version: i16,
        body: &Q,
    ) -> Result<R, ClientError> {
        let correlation_id = self.correlation_id_next;
        self.correlation_id_next = self.correlation_id_next.wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(api_key as i16)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(self.client_id.clone()));
        let header_version = api_key.request_header_version(version);
        let frame_bytes = header.compute_size(header_version).map_err(protocol)?
            + body.compute_size(version).map_err(protocol)?;
        let mut frame = BytesMut::with_capacity(4 + frame_bytes);
        frame.put_u32(frame_bytes as u32);
        header
            .encode(&mut frame, header_version)
            .map_err(protocol)?;
        body.encode(&mut frame, version).map_err(protocol)?;
        self.stream.write_all(&frame).await?;

        let length = self.stream.read_u32().await? as usize;
        if length > RESPONSE_FRAME_BYTES_MAX {
            return Err(ClientError::Protocol(format!(
                "a response frame of {length} bytes exceeds {RESPONSE_FRAME_BYTES_MAX}"
            )));
        }
        let mut buffer = vec![0u8; length];
        self.stream.read_exact(&mut buffer).await?;
        let mut frame = Bytes::from(buffer);
        let header = ResponseHeader::decode(&mut frame, api_key.response_header_version(version))
            .map_err(protocol)?;
        if header.correlation_id != correlation_id {
            return Err(ClientError::Protocol(format!(
                "response correlation id {} for request {correlation_id}",
                header.correlation_id
            )));
        }
        let response = R::decode(&mut frame, version).map_err(protocol)?;
        if frame.has_remaining() {
            return Err(ClientError::Protocol(format!(
                "{} bytes left after a {api_key:?} response",
                frame.remaining()
            )));
        }
        Ok(response)
    }
}
