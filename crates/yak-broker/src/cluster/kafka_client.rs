//! The Kafka client a node uses to talk to the leader (replica fetches, forwarded topic
//! creation): one request at a time on one connection, through the `kafka-protocol` codecs (the
//! same wire path as any Kafka client).
//!
//! The connection is secured as the inter-broker listener asks ([`ClientSecurity`]): TLS
//! (rustls, trusting the nodes' CA and presenting this node's own certificate, so an SSL
//! listener that requires client certificates works by mTLS), then SASL SCRAM-SHA-512
//! (SaslHandshake v1 and SaslAuthenticate, as a Kafka client does) as the inter-broker user.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, RequestHeader, ResponseHeader, SaslAuthenticateRequest, SaslAuthenticateResponse,
    SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use yak_auth::{ScramClient, ScramMechanism};
use yak_kafka::SecurityProtocol;

use crate::security::{Secret, SecurityConfig};

/// Largest response frame a follower accepts (a Fetch answers at most the leader's
/// `fetch_bytes_max`, 55 MiB by default, plus headers).
pub const RESPONSE_FRAME_BYTES_MAX: usize = 128 * 1024 * 1024;
/// Longest a connect may take before the follower tries again.
pub const CONNECT_MS_MAX: u64 = 1_000;
/// Longest the TLS handshake and the SASL exchange may take together. The leader delays a
/// failed login by its login backoff (up to `login_failure_delay_ms_max`, 5 s by default), so a
/// refusal must be waited for long enough to be told from a timeout.
pub const AUTHENTICATION_MS_MAX: u64 = 10_000;
/// The mechanism nodes log in with: the strongest Kafka has.
pub const INTER_BROKER_MECHANISM: ScramMechanism = ScramMechanism::Sha512;

const SASL_HANDSHAKE_VERSION: i16 = 1;
const SASL_AUTHENTICATE_VERSION: i16 = 2;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {address}: {source}")]
    Connect {
        address: String,
        source: std::io::Error,
    },
    #[error("connecting to {0} timed out")]
    ConnectTimeout(String),
    #[error("TLS with {address}: {message}")]
    Tls { address: String, message: String },
    /// The leader refused this node's login, or the exchange broke off: the node's
    /// credentials (or the leader's users) are wrong, and retrying at once will not help.
    #[error("login to {address} as {user:?} with {mechanism} failed: {message}")]
    Authentication {
        address: String,
        user: String,
        mechanism: &'static str,
        message: String,
    },
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

    /// The leader does not accept this node's credentials or certificate.
    pub fn is_authentication(&self) -> bool {
        matches!(
            self,
            ClientError::Authentication { .. } | ClientError::Tls { .. }
        )
    }
}

fn protocol<E: std::fmt::Display>(error: E) -> ClientError {
    ClientError::Protocol(error.to_string())
}

/// How this node secures its connections to other nodes: the inter-broker listener's
/// protocol, with what it needs. Built once at start-up; cheap to clone.
#[derive(Clone)]
pub struct ClientSecurity {
    pub protocol: SecurityProtocol,
    /// Present when the protocol uses TLS.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Present when the protocol uses SASL: the inter-broker user and password.
    pub sasl: Option<(String, Secret)>,
}

impl std::fmt::Debug for ClientSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSecurity")
            .field("protocol", &self.protocol)
            .field("tls", &self.tls.is_some())
            .field("user", &self.sasl.as_ref().map(|(user, _)| user))
            .finish()
    }
}

impl ClientSecurity {
    /// Plain TCP, no login (a node without security).
    pub fn plaintext() -> ClientSecurity {
        ClientSecurity {
            protocol: SecurityProtocol::Plaintext,
            tls: None,
            sasl: None,
        }
    }

    /// The inter-broker listener's protocol (the first listener when not named, PLAINTEXT
    /// without listeners: the same choice as the address a node registers), and what this node
    /// needs to speak it. Refuses a configuration that could never log in, at start-up.
    pub fn from_config(config: &SecurityConfig) -> Result<ClientSecurity, String> {
        let protocol = config
            .inter_broker_listener
            .or_else(|| config.kafka_listeners.first().map(|l| l.protocol))
            .unwrap_or(SecurityProtocol::Plaintext);
        let tls = if protocol.uses_tls() {
            let files = config.tls.as_ref().ok_or_else(|| {
                format!("the inter-broker listener {protocol} needs tls_cert_file and tls_key_file")
            })?;
            let ca_file = files.ca_file.as_deref().ok_or_else(|| {
                format!("the inter-broker listener {protocol} needs tls_ca_file: the CA this node checks the other nodes' certificates against")
            })?;
            let client = yak_auth::tls::client_config(
                ca_file,
                Some((files.cert_file.as_path(), files.key_file.as_path())),
            )
            .map_err(|e| format!("inter-broker TLS: {e}"))?;
            Some(client)
        } else {
            None
        };
        let sasl = if protocol.uses_sasl() {
            let user = config.inter_broker_user.clone().ok_or_else(|| {
                format!("the inter-broker listener {protocol} needs inter_broker_user and its password (inter_broker_password_file or YAK_INTER_BROKER_PASSWORD)")
            })?;
            Some(user)
        } else {
            None
        };
        Ok(ClientSecurity {
            protocol,
            tls,
            sasl,
        })
    }
}

/// The host part of `host:port` (an IPv6 address without its brackets), for TLS's server name.
fn host_of(address: &str) -> &str {
    let host = address
        .rsplit_once(':')
        .map_or(address, |(host, _port)| host);
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// A connection, plain or TLS.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

pub struct KafkaClient {
    stream: Box<dyn Stream>,
    client_id: StrBytes,
    correlation_id_next: i32,
}

impl KafkaClient {
    /// Connects to `address` and, as `security` asks, completes TLS and the SASL login before
    /// returning: a client that is returned may send any request.
    pub async fn connect(
        address: &str,
        client_id: String,
        security: &ClientSecurity,
    ) -> Result<KafkaClient, ClientError> {
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
        let client_id = StrBytes::from_string(client_id);
        if security.tls.is_none() && security.sasl.is_none() {
            return Ok(KafkaClient {
                stream: Box::new(stream),
                client_id,
                correlation_id_next: 0,
            });
        }
        tokio::time::timeout(
            Duration::from_millis(AUTHENTICATION_MS_MAX),
            KafkaClient::secure(stream, address, client_id, security),
        )
        .await
        .map_err(|_| ClientError::Timeout(AUTHENTICATION_MS_MAX))?
    }

    /// TLS, then the SASL login, on a fresh connection.
    async fn secure(
        stream: TcpStream,
        address: &str,
        client_id: StrBytes,
        security: &ClientSecurity,
    ) -> Result<KafkaClient, ClientError> {
        let stream: Box<dyn Stream> = match &security.tls {
            None => Box::new(stream),
            Some(config) => {
                let tls_error = |message: String| ClientError::Tls {
                    address: address.to_string(),
                    message,
                };
                let host = host_of(address);
                let server_name = ServerName::try_from(host.to_string())
                    .map_err(|e| tls_error(format!("{host:?} is not a host name: {e}")))?;
                let connector = tokio_rustls::TlsConnector::from(Arc::clone(config));
                Box::new(
                    connector
                        .connect(server_name, stream)
                        .await
                        .map_err(|e| tls_error(e.to_string()))?,
                )
            }
        };
        let mut client = KafkaClient {
            stream,
            client_id,
            correlation_id_next: 0,
        };
        if let Some((user, password)) = &security.sasl {
            client.login(address, user, &password.0).await?;
        }
        Ok(client)
    }

    /// SCRAM-SHA-512 over SaslHandshake v1 and SaslAuthenticate (KIP-84, KIP-152). The
    /// leader's proof is checked too, so a node never replicates from an impostor that merely
    /// accepted any password.
    async fn login(
        &mut self,
        address: &str,
        user: &str,
        password: &str,
    ) -> Result<(), ClientError> {
        let mechanism = INTER_BROKER_MECHANISM;
        let failed = |message: String| ClientError::Authentication {
            address: address.to_string(),
            user: user.to_string(),
            mechanism: mechanism.name(),
            message,
        };
        let handshake: SaslHandshakeResponse = self
            .call_inner(
                ApiKey::SaslHandshake,
                SASL_HANDSHAKE_VERSION,
                &SaslHandshakeRequest::default()
                    .with_mechanism(StrBytes::from_static_str(mechanism.name())),
            )
            .await?;
        if handshake.error_code != 0 {
            let offered: Vec<&str> = handshake.mechanisms.iter().map(|m| m.as_str()).collect();
            return Err(failed(format!(
                "the listener does not offer it (error code {}; it offers {offered:?})",
                handshake.error_code
            )));
        }
        let mut scram = ScramClient::new(mechanism, user, password);
        let server_first = self.authenticate(scram.client_first(), &failed).await?;
        let client_final = scram
            .client_final(&server_first)
            .map_err(|e| failed(e.to_string()))?;
        let server_final = self.authenticate(client_final, &failed).await?;
        scram
            .verify_server_final(&server_final)
            .map_err(|e| failed(format!("the leader's proof: {e}")))
    }

    /// One SaslAuthenticate round: the server's bytes, or its refusal.
    async fn authenticate(
        &mut self,
        bytes: Vec<u8>,
        failed: &impl Fn(String) -> ClientError,
    ) -> Result<Vec<u8>, ClientError> {
        let response: SaslAuthenticateResponse = match self
            .call_inner(
                ApiKey::SaslAuthenticate,
                SASL_AUTHENTICATE_VERSION,
                &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(bytes)),
            )
            .await
        {
            Ok(response) => response,
            // A listener may close the connection on a refusal without answering it.
            Err(ClientError::Io(error)) => {
                return Err(failed(format!("connection closed: {error}")))
            }
            Err(error) => return Err(error),
        };
        if response.error_code != 0 {
            return Err(failed(format!(
                "error code {}: {}",
                response.error_code,
                response.error_message.as_deref().unwrap_or("")
            )));
        }
        Ok(response.auth_bytes.to_vec())
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
        // TLS buffers what it encrypts: push the request out before waiting for its answer.
        self.stream.flush().await?;

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

#[cfg(test)]
mod tests {
    use super::*;

    /// TLS checks the leader's certificate against the host it was reached at, which may be
    /// a name, an IPv4 or a bracketed IPv6 address.
    #[test]
    fn server_name_is_the_host_of_the_address() {
        assert_eq!(host_of("broker1.example.com:9093"), "broker1.example.com");
        assert_eq!(host_of("127.0.0.1:9093"), "127.0.0.1");
        assert_eq!(host_of("[::1]:9093"), "::1");
        assert!(ServerName::try_from(host_of("[::1]:9093").to_string()).is_ok());
    }

    /// A SASL inter-broker listener without an inter-broker user could never log in: refused
    /// at start-up, naming what is missing.
    #[test]
    fn sasl_inter_broker_listener_needs_a_user() {
        let config = SecurityConfig {
            kafka_listeners: vec![crate::security::KafkaListener {
                protocol: SecurityProtocol::SaslPlaintext,
                address: "127.0.0.1:0".parse().expect("address"),
                advertised: None,
            }],
            ..SecurityConfig::default()
        };
        let error = ClientSecurity::from_config(&config).expect_err("no user");
        assert!(error.contains("inter_broker_user"), "{error}");
        let config = SecurityConfig {
            inter_broker_user: Some(("yak-node".into(), Secret("pw".into()))),
            ..config
        };
        let security = ClientSecurity::from_config(&config).expect("a user");
        assert_eq!(security.protocol, SecurityProtocol::SaslPlaintext);
        assert!(security.tls.is_none() && security.sasl.is_some());
        assert!(!format!("{security:?}").contains("pw"));
    }
}
