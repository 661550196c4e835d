//! An async client for YAK's HTTP API, used by the `yak` CLI, the console process and the
//! benchmark.
//!
//! The client holds the list of brokers it was given and the one it currently talks to. When that
//! node cannot be reached, or answers an error that says nothing was written (`not_leader`,
//! `leader_not_available`, `not_enough_replicas`, `unavailable`), the client asks the others for
//! the leader (`GET /metadata/leader`) and retries there, so a failover is invisible to the
//! caller. Retries are bounded twice: at most [`RETRIES_MAX`] attempts, and none started after
//! [`RETRY_DURATION_MS_MAX`] from the first (Kafka's `retries` and `delivery.timeout.ms`).
//!
//! # Writes whose outcome is unknown
//!
//! A write can fail after the broker received it: the answer is `request_timed_out` (an
//! `acks=all` write whose replication was not confirmed in time, or whose leader lost its lease),
//! or the connection broke after the request was sent (the leader was killed). The record may or
//! may not be committed. Kafka's idempotent producer resends such a batch with the same producer
//! id and sequence number, and the leader drops the copy if the first one landed. YAK's HTTP API
//! has no such sequence; the record's `msg_id` is its only identity. So the client resends a write
//! whose outcome is unknown only when every record in it carries a `msg_id`: a copy that lands
//! twice can then be told apart by a reader (same `msg_id`, two offsets), which is the same
//! at-least-once contract Kafka gives a producer without idempotence. A record without a
//! `msg_id` is not resent; its error ([`ClientError::Interrupted`] or `request_timed_out`)
//! reaches the caller, who decides. Reads and `GET`s are always resent.
//!
//! # Credentials and HTTPS
//!
//! [`ClientOptions`] carries who the client is ([`Credentials`]: HTTP Basic with a user's
//! password, or a bearer token) and which CA it trusts for `https://` nodes. The credentials go
//! into every request as an `Authorization` header marked sensitive, so they never appear in
//! debug output. Without a CA file an `https://` node is checked against the system's CA bundle
//! ([`SYSTEM_CA_FILES`]). A `401`/`403` answer is never retried: another node would say the same.

mod transport;

pub use transport::SYSTEM_CA_FILES;

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Uri};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;
use serde::Serialize;
use yak_api::{
    Acks, AclCreated, AclEntry, AclFilter, AclList, AlterTopicConfigsRequest, ApiError,
    ClusterState, CommitOffsetRequest, ConsumeResponse, CreateTokenRequest, CreateTopicRequest,
    CreatedToken, DeleteGroupResponse, DeleteTopicResponse, ErrorBody, ErrorCode, GroupDetail,
    GroupList, GroupOffset, Health, LeaderInfo, ProduceBatch, ProduceBatchResponse, ProduceOutcome,
    ProduceRecord, ProduceResult, ResetOffsetsRequest, ResetOffsetsResponse, TokenList,
    TopicDetail, TopicList, UpsertUserRequest, UserList, WhoAmI,
};

/// Attempts of one request across brokers before the error reaches the caller. With the backoff
/// below they span about 13 s of pauses, enough for an election after a leader's lease lapses.
pub const RETRIES_MAX: u32 = 12;
/// No attempt starts later than this after the first one; the last error is returned instead.
pub const RETRY_DURATION_MS_MAX: u64 = 30_000;
/// First pause between attempts; doubles up to [`RETRY_BACKOFF_MS_MAX`].
pub const RETRY_BACKOFF_MS_MIN: u64 = 50;
pub const RETRY_BACKOFF_MS_MAX: u64 = 2000;
/// Connection and whole-request time limits (long-polls add their wait).
pub const CONNECT_TIMEOUT_MS: u64 = 3000;
pub const REQUEST_TIMEOUT_MS: u64 = 60_000;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The broker answered with an error body.
    #[error("{status}: {error}")]
    Api { status: u16, error: ApiError },
    /// No broker could be reached: the request was never sent.
    #[error("cannot reach any broker ({brokers}): {message}")]
    Unreachable { brokers: String, message: String },
    /// The connection failed after the request was sent: a write may or may not have landed.
    #[error("the connection to {broker} broke before its answer: {message}")]
    Interrupted { broker: String, message: String },
    /// The answer was not what the API promises.
    #[error("unexpected answer from {url}: {message}")]
    Decode { url: String, message: String },
    #[error("invalid broker URL {0:?}")]
    InvalidUrl(String),
    /// The CA file for `https://` nodes could not be used.
    #[error("TLS: {0}")]
    Tls(#[from] yak_auth::tls::TlsError),
    /// The TLS handshake failed (an untrusted certificate, a name that does not match): another
    /// attempt would fail the same way, so there is none.
    #[error("TLS handshake with {broker} failed: {message} (does --ca-file name the CA that signed the node's certificate?)")]
    Handshake { broker: String, message: String },
    /// An `https://` broker, no CA file given, and no system CA bundle found.
    #[error(
        "https:// needs a CA to trust: give --ca-file (no system CA bundle at {SYSTEM_CA_FILES:?})"
    )]
    NoCaFile,
    /// A credential that cannot travel in an HTTP header (a control character in it).
    #[error("the {0} cannot be sent in an HTTP header")]
    InvalidCredential(&'static str),
}

impl ClientError {
    /// The API error code, when the broker gave one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Api { error, .. } => Some(error.code),
            _ => None,
        }
    }

    fn retryable(&self, resend: Resend) -> bool {
        match self {
            ClientError::Unreachable { .. } => true,
            ClientError::Interrupted { .. } => resend == Resend::Always,
            ClientError::Api { error, .. } => retryable_code(error.code, resend),
            _ => false,
        }
    }
}

/// Whether a request may be sent again when its outcome is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resend {
    /// Reads, and writes whose every record carries a `msg_id`.
    Always,
    /// Other writes: only when the broker says nothing was written.
    IfNotWritten,
}

impl Resend {
    fn for_records<'a>(mut records: impl Iterator<Item = &'a ProduceRecord>) -> Resend {
        if records.all(|r| r.msg_id.as_deref().is_some_and(|id| !id.is_empty())) {
            Resend::Always
        } else {
            Resend::IfNotWritten
        }
    }
}

/// Errors another attempt (on the leader, or after a failover) may cure.
fn retryable_code(code: ErrorCode, resend: Resend) -> bool {
    match code {
        // Refused before anything was written.
        ErrorCode::NotLeader
        | ErrorCode::LeaderNotAvailable
        | ErrorCode::NotEnoughReplicas
        | ErrorCode::Unavailable => true,
        // Written or not: see the crate docs.
        ErrorCode::RequestTimedOut => resend == Resend::Always,
        _ => false,
    }
}

/// A failure of the transport before the request left (connecting) or after (anything else).
fn transport_error(base: &str, error: &hyper_util::client::legacy::Error) -> ClientError {
    if let Some(reason) = tls_failure(error) {
        return ClientError::Handshake {
            broker: base.to_string(),
            message: reason,
        };
    }
    if error.is_connect() {
        ClientError::Unreachable {
            brokers: base.to_string(),
            message: error_chain(error),
        }
    } else {
        ClientError::Interrupted {
            broker: base.to_string(),
            message: error_chain(error),
        }
    }
}

/// An error and its causes, `: `-separated: hyper's own message alone says little.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}

/// The TLS error under a transport failure, if that is what it was. rustls's error travels
/// inside nested `io::Error`s, whose `source()` skips the error they wrap, so the walk steps
/// into each `io::Error` with `get_ref()` instead.
fn tls_failure(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = next {
        if let Some(tls) = current.downcast_ref::<rustls::Error>() {
            return Some(tls.to_string());
        }
        next = match current.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => current.source(),
        };
    }
    None
}

/// Where to start reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offset {
    Earliest,
    Latest,
    At(i64),
}

impl std::str::FromStr for Offset {
    type Err = String;
    fn from_str(s: &str) -> Result<Offset, String> {
        match s {
            "earliest" | "beginning" => Ok(Offset::Earliest),
            "latest" | "end" => Ok(Offset::Latest),
            n => n
                .parse::<i64>()
                .map(Offset::At)
                .map_err(|_| format!("offset must be a number, earliest or latest, got {n:?}")),
        }
    }
}

impl std::fmt::Display for Offset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Offset::Earliest => f.write_str("earliest"),
            Offset::Latest => f.write_str("latest"),
            Offset::At(n) => write!(f, "{n}"),
        }
    }
}

fn decode<T: DeserializeOwned>(path_and_query: &str, bytes: &[u8]) -> Result<T, ClientError> {
    serde_json::from_slice(bytes).map_err(|e| ClientError::Decode {
        url: path_and_query.to_string(),
        message: e.to_string(),
    })
}

fn acks_param(acks: Acks) -> &'static str {
    match acks {
        Acks::None => "0",
        Acks::Leader => "1",
        Acks::All => "all",
    }
}

/// How far the client goes to get a request through; [`RetryLimits::default`] holds the
/// constants above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryLimits {
    pub retries_max: u32,
    pub retry_duration_ms_max: u64,
    pub retry_backoff_ms_min: u64,
    pub retry_backoff_ms_max: u64,
}

impl Default for RetryLimits {
    fn default() -> RetryLimits {
        RetryLimits {
            retries_max: RETRIES_MAX,
            retry_duration_ms_max: RETRY_DURATION_MS_MAX,
            retry_backoff_ms_min: RETRY_BACKOFF_MS_MIN,
            retry_backoff_ms_max: RETRY_BACKOFF_MS_MAX,
        }
    }
}

/// Who the client says it is to every node.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum Credentials {
    /// No `Authorization` header: enough for a node that does not require authentication.
    #[default]
    None,
    /// HTTP Basic: a user's name and password, checked against its SCRAM credential.
    Basic { user: String, password: String },
    /// A bearer token (`yak_…`) from `POST /auth/tokens`.
    Bearer { token: String },
}

// Written by hand so that a password or token never reaches a log line through `{:?}`.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::None => f.write_str("None"),
            Credentials::Basic { user, .. } => {
                write!(f, "Basic {{ user: {user:?}, password: *** }}")
            }
            Credentials::Bearer { .. } => f.write_str("Bearer { token: *** }"),
        }
    }
}

impl Credentials {
    /// The `Authorization` header, marked sensitive so that HTTP logging leaves it out.
    fn header(&self) -> Result<Option<HeaderValue>, ClientError> {
        let (text, what) = match self {
            Credentials::None => return Ok(None),
            Credentials::Basic { user, password } => {
                let pair =
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                (format!("Basic {pair}"), "user name or password")
            }
            Credentials::Bearer { token } => (format!("Bearer {token}"), "token"),
        };
        let mut value =
            HeaderValue::from_str(&text).map_err(|_| ClientError::InvalidCredential(what))?;
        value.set_sensitive(true);
        Ok(Some(value))
    }
}

/// How the client connects: its credentials and the CA it trusts for `https://` nodes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientOptions {
    pub credentials: Credentials,
    /// PEM file of the CA that signed the nodes' certificates; the system's trust store when
    /// absent.
    pub ca_file: Option<PathBuf>,
}

/// The most idle connections kept per node (the bench keeps this many requests in flight).
pub const IDLE_CONNECTIONS_PER_BROKER_MAX: usize = 1024;

pub struct Client {
    http: HyperClient<transport::Connector, Full<bytes::Bytes>>,
    /// The `Authorization` header of every request, when the client has credentials.
    authorization: Option<HeaderValue>,
    brokers: Vec<String>,
    current: Mutex<String>,
    limits: RetryLimits,
}

// By hand: the credentials stay out of it, and the connection pool says nothing useful.
impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("brokers", &self.brokers)
            .field("current", &self.current())
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// A request body.
enum Body<'a> {
    None,
    Json(Vec<u8>),
    Ndjson(&'a [u8]),
}

impl Client {
    /// A client for the brokers at `brokers` (`http://host:port`, comma-separated lists are split).
    pub fn new<S: AsRef<str>>(brokers: &[S]) -> Result<Client, ClientError> {
        Client::with_options(brokers, &ClientOptions::default())
    }

    /// A client with credentials and, for `https://` brokers, a CA to trust.
    pub fn with_options<S: AsRef<str>>(
        brokers: &[S],
        options: &ClientOptions,
    ) -> Result<Client, ClientError> {
        let brokers: Vec<String> = brokers
            .iter()
            .flat_map(|b| b.as_ref().split(','))
            .map(|b| b.trim().trim_end_matches('/').to_string())
            .filter(|b| !b.is_empty())
            .map(|b| {
                if b.contains("://") {
                    b
                } else {
                    format!("http://{b}")
                }
            })
            .collect();
        let first = brokers
            .first()
            .cloned()
            .ok_or_else(|| ClientError::InvalidUrl(String::new()))?;
        for broker in &brokers {
            let uri: Uri = broker
                .parse()
                .map_err(|_| ClientError::InvalidUrl(broker.clone()))?;
            if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
                return Err(ClientError::InvalidUrl(broker.clone()));
            }
        }
        let tls = if brokers.iter().any(|b| b.starts_with("https://")) {
            Some(transport::tls_config(options.ca_file.as_deref())?)
        } else {
            None
        };
        let connector = transport::Connector {
            tls,
            connect_timeout: Duration::from_millis(CONNECT_TIMEOUT_MS),
        };
        let http = HyperClient::builder(TokioExecutor::new())
            .pool_max_idle_per_host(IDLE_CONNECTIONS_PER_BROKER_MAX)
            .build(connector);
        let authorization = options.credentials.header()?;
        Ok(Client {
            http,
            authorization,
            brokers,
            current: Mutex::new(first),
            limits: RetryLimits::default(),
        })
    }

    /// The same client with other retry limits (tests, impatient tools).
    pub fn with_retry_limits(mut self, limits: RetryLimits) -> Client {
        self.limits = limits;
        self
    }

    /// The moment after which no retry starts.
    fn retry_deadline(&self) -> Instant {
        Instant::now() + Duration::from_millis(self.limits.retry_duration_ms_max)
    }

    /// The broker this client sends to now.
    pub fn current(&self) -> String {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set_current(&self, url: String) {
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = url;
    }

    async fn send_once(
        &self,
        base: &str,
        method: &Method,
        path_and_query: &str,
        body: &Body<'_>,
    ) -> Result<bytes::Bytes, ClientError> {
        let url = format!("{base}{path_and_query}");
        let mut request = hyper::Request::builder().method(method.clone()).uri(&url);
        if let Some(authorization) = &self.authorization {
            request = request.header(AUTHORIZATION, authorization.clone());
        }
        let body = match body {
            Body::None => bytes::Bytes::new(),
            Body::Json(bytes) => {
                request = request.header(CONTENT_TYPE, "application/json");
                bytes::Bytes::from(bytes.clone())
            }
            Body::Ndjson(bytes) => {
                request = request.header(CONTENT_TYPE, "application/x-ndjson");
                bytes::Bytes::copy_from_slice(bytes)
            }
        };
        let request = request
            .body(Full::new(body))
            .map_err(|_| ClientError::InvalidUrl(url.clone()))?;
        let exchange = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| transport_error(base, &e))?;
            let status = response.status();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| ClientError::Interrupted {
                    broker: base.to_string(),
                    message: error_chain(&e),
                })?
                .to_bytes();
            Ok::<_, ClientError>((status, bytes))
        };
        let (status, bytes) =
            tokio::time::timeout(Duration::from_millis(REQUEST_TIMEOUT_MS), exchange)
                .await
                .map_err(|_| ClientError::Interrupted {
                    broker: base.to_string(),
                    message: format!("no answer within {REQUEST_TIMEOUT_MS} ms"),
                })??;
        if status.is_success() {
            return Ok(bytes);
        }
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => Err(ClientError::Api {
                status: status.as_u16(),
                error: body.error,
            }),
            Err(_) => Err(ClientError::Decode {
                url,
                message: format!("status {status}: {}", String::from_utf8_lossy(&bytes)),
            }),
        }
    }

    /// One `GET` of `path_and_query` from the node at `base` (one of this client's brokers or
    /// any other node), without retries or leader discovery: for tools that ask each node in
    /// turn, such as `yak cluster status`.
    pub async fn get_from(
        &self,
        base: &str,
        path_and_query: &str,
    ) -> Result<bytes::Bytes, ClientError> {
        self.send_once(base, &Method::GET, path_and_query, &Body::None)
            .await
    }

    /// Finds the leader through any broker that answers.
    async fn discover_leader(&self) -> Option<String> {
        for broker in &self.brokers {
            if let Ok(bytes) = self
                .send_once(broker, &Method::GET, "/metadata/leader", &Body::None)
                .await
            {
                if let Ok(leader) = serde_json::from_slice::<LeaderInfo>(&bytes) {
                    return Some(leader.leader_http.trim_end_matches('/').to_string());
                }
            }
        }
        None
    }

    async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        body: Body<'_>,
    ) -> Result<bytes::Bytes, ClientError> {
        let resend = if method == Method::GET {
            Resend::Always
        } else {
            Resend::IfNotWritten
        };
        let deadline = self.retry_deadline();
        self.send_bounded(method, path_and_query, body, resend, deadline)
            .await
    }

    /// Sends until an answer, an error no retry cures, [`RETRIES_MAX`] attempts, or the
    /// deadline, whichever comes first.
    async fn send_bounded(
        &self,
        method: Method,
        path_and_query: &str,
        body: Body<'_>,
        resend: Resend,
        deadline: Instant,
    ) -> Result<bytes::Bytes, ClientError> {
        let mut backoff_ms = self.limits.retry_backoff_ms_min;
        let mut attempt = 0;
        loop {
            let base = self.current();
            match self.send_once(&base, &method, path_and_query, &body).await {
                Ok(bytes) => return Ok(bytes),
                Err(error)
                    if error.retryable(resend)
                        && attempt + 1 < self.limits.retries_max
                        && Instant::now() + Duration::from_millis(backoff_ms) < deadline =>
                {
                    attempt += 1;
                    tracing::debug!(%error, attempt, "retrying on another broker");
                    let next = match self.discover_leader().await {
                        Some(leader) => leader,
                        None => {
                            let position = self
                                .brokers
                                .iter()
                                .position(|b| *b == base)
                                .map_or(0, |p| p + 1);
                            self.brokers[position % self.brokers.len()].clone()
                        }
                    };
                    self.set_current(next);
                    tokio::time::sleep(Duration::from_millis(backoff_ms)).await;
                    backoff_ms = (backoff_ms * 2).min(self.limits.retry_backoff_ms_max);
                }
                Err(error) => return Err(error),
            }
        }
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path_and_query: &str,
        body: Body<'_>,
    ) -> Result<T, ClientError> {
        let bytes = self.send(method, path_and_query, body).await?;
        decode(path_and_query, &bytes)
    }

    fn json(value: &impl Serialize) -> Body<'static> {
        // Serializing the API's own types cannot fail: they hold no maps with non-string keys.
        Body::Json(serde_json::to_vec(value).unwrap_or_default())
    }

    /// Produces one record. It is resent after a failover; when its outcome is unknown
    /// (`request_timed_out`, a broken connection) only if it carries a `msg_id` (crate docs).
    pub async fn produce(
        &self,
        record: &ProduceRecord,
        acks: Acks,
    ) -> Result<ProduceResult, ClientError> {
        let path = format!("/produce?acks={}", acks_param(acks));
        let resend = Resend::for_records(std::iter::once(record));
        let bytes = self
            .send_bounded(
                Method::POST,
                &path,
                Self::json(record),
                resend,
                self.retry_deadline(),
            )
            .await?;
        decode(&path, &bytes)
    }

    /// Produces a batch; one outcome per record, in order.
    ///
    /// A record that failed with an error a resend may cure (`not_leader`,
    /// `leader_not_available`, `not_enough_replicas`, `unavailable`; `request_timed_out` only
    /// when it carries a `msg_id`) is sent again, alone with the other such records, within
    /// [`RETRIES_MAX`] attempts and [`RETRY_DURATION_MS_MAX`]; records that landed are never
    /// sent twice. If a resend itself fails, its error becomes the outcome of the records it
    /// carried, so the caller still learns which records landed.
    pub async fn produce_batch(
        &self,
        batch: &ProduceBatch,
        acks: Acks,
    ) -> Result<Vec<ProduceOutcome>, ClientError> {
        let deadline = self.retry_deadline();
        let mut outcomes = self.produce_batch_once(batch, acks, deadline).await?;
        let mut backoff_ms = self.limits.retry_backoff_ms_min;
        for attempt in 1..self.limits.retries_max {
            let failed: Vec<usize> = outcomes
                .iter()
                .zip(&batch.messages)
                .enumerate()
                .filter(|(_, (outcome, record))| match outcome {
                    ProduceOutcome::Err { error } => {
                        retryable_code(error.code, Resend::for_records(std::iter::once(*record)))
                    }
                    ProduceOutcome::Ok(_) => false,
                })
                .map(|(index, _)| index)
                .collect();
            if failed.is_empty() || Instant::now() + Duration::from_millis(backoff_ms) >= deadline {
                break;
            }
            tracing::debug!(
                records = failed.len(),
                attempt,
                "resending the records that failed"
            );
            tokio::time::sleep(Duration::from_millis(backoff_ms)).await;
            backoff_ms = (backoff_ms * 2).min(self.limits.retry_backoff_ms_max);
            let resend = ProduceBatch {
                topic: batch.topic.clone(),
                messages: failed.iter().map(|&i| batch.messages[i].clone()).collect(),
            };
            let answers = match self.produce_batch_once(&resend, acks, deadline).await {
                Ok(answers) if answers.len() == failed.len() => answers,
                Ok(answers) => {
                    return Err(ClientError::Decode {
                        url: self.current(),
                        message: format!(
                            "{} records sent, {} outcomes received",
                            failed.len(),
                            answers.len()
                        ),
                    })
                }
                Err(error) => {
                    let error = match error {
                        ClientError::Api { error, .. } => error,
                        other @ ClientError::Interrupted { .. } => {
                            ApiError::new(ErrorCode::RequestTimedOut, other.to_string())
                        }
                        other => ApiError::new(ErrorCode::Unavailable, other.to_string()),
                    };
                    for &i in &failed {
                        outcomes[i] = ProduceOutcome::Err {
                            error: error.clone(),
                        };
                    }
                    break;
                }
            };
            for (&i, answer) in failed.iter().zip(answers) {
                outcomes[i] = answer;
            }
        }
        Ok(outcomes)
    }

    async fn produce_batch_once(
        &self,
        batch: &ProduceBatch,
        acks: Acks,
        deadline: Instant,
    ) -> Result<Vec<ProduceOutcome>, ClientError> {
        let path = format!("/produce?acks={}", acks_param(acks));
        let resend = Resend::for_records(batch.messages.iter());
        let bytes = self
            .send_bounded(Method::POST, &path, Self::json(batch), resend, deadline)
            .await?;
        let response: ProduceBatchResponse = decode(&path, &bytes)?;
        if response.results.len() != batch.messages.len() {
            return Err(ClientError::Decode {
                url: self.current(),
                message: format!(
                    "{} records sent, {} outcomes received",
                    batch.messages.len(),
                    response.results.len()
                ),
            });
        }
        Ok(response.results)
    }

    /// Sends an NDJSON body (one record per line) and returns the raw NDJSON answer.
    pub async fn produce_ndjson(
        &self,
        body: &[u8],
        acks: Acks,
    ) -> Result<bytes::Bytes, ClientError> {
        self.send(
            Method::POST,
            &format!("/produce?acks={}", acks_param(acks)),
            Body::Ndjson(body),
        )
        .await
    }

    pub async fn consume(
        &self,
        topic: &str,
        partition: i32,
        offset: Offset,
        max: i64,
        wait_ms: i64,
    ) -> Result<ConsumeResponse, ClientError> {
        let path = format!(
            "/consume?topic={topic}&partition={partition}&offset={offset}&max={max}&wait_ms={wait_ms}"
        );
        self.call(Method::GET, &path, Body::None).await
    }

    /// The raw JSON body of a consume, for callers that only count or forward it.
    pub async fn consume_raw(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        max: i64,
    ) -> Result<bytes::Bytes, ClientError> {
        let path =
            format!("/consume?topic={topic}&partition={partition}&offset={offset}&max={max}");
        self.send(Method::GET, &path, Body::None).await
    }

    pub async fn topics(&self) -> Result<TopicList, ClientError> {
        self.call(Method::GET, "/topics", Body::None).await
    }

    pub async fn create_topic(
        &self,
        request: &CreateTopicRequest,
    ) -> Result<TopicDetail, ClientError> {
        self.call(Method::POST, "/topics", Self::json(request))
            .await
    }

    pub async fn describe_topic(&self, name: &str) -> Result<TopicDetail, ClientError> {
        self.call(Method::GET, &format!("/topics/{name}"), Body::None)
            .await
    }

    /// Sets (or, with `None`, returns to the default) topic configs in Kafka's names.
    pub async fn alter_topic_configs(
        &self,
        name: &str,
        request: &AlterTopicConfigsRequest,
    ) -> Result<TopicDetail, ClientError> {
        self.call(
            Method::PATCH,
            &format!("/topics/{name}/configs"),
            Self::json(request),
        )
        .await
    }

    pub async fn delete_topic(&self, name: &str) -> Result<DeleteTopicResponse, ClientError> {
        self.call(Method::DELETE, &format!("/topics/{name}"), Body::None)
            .await
    }

    pub async fn health(&self) -> Result<Health, ClientError> {
        self.call(Method::GET, "/health", Body::None).await
    }

    pub async fn cluster(&self) -> Result<ClusterState, ClientError> {
        self.call(Method::GET, "/cluster", Body::None).await
    }

    pub async fn leader(&self) -> Result<LeaderInfo, ClientError> {
        self.call(Method::GET, "/metadata/leader", Body::None).await
    }

    /// Reads as consumer group `group`: from its committed offset (earliest when none), and
    /// the broker commits `next_offset` before it answers.
    pub async fn consume_group(
        &self,
        topic: &str,
        partition: i32,
        group: &str,
        max: i64,
        wait_ms: i64,
    ) -> Result<ConsumeResponse, ClientError> {
        let path = format!(
            "/consume?topic={topic}&partition={partition}&group={}&max={max}&wait_ms={wait_ms}",
            encode(group)
        );
        self.call(Method::GET, &path, Body::None).await
    }

    pub async fn groups(&self) -> Result<GroupList, ClientError> {
        self.call(Method::GET, "/groups", Body::None).await
    }

    pub async fn describe_group(&self, group: &str) -> Result<GroupDetail, ClientError> {
        self.call(
            Method::GET,
            &format!("/groups/{}", encode(group)),
            Body::None,
        )
        .await
    }

    /// Resets a group's committed offsets (refused with `group_not_empty` while it has
    /// members); with `dry_run`, only computes them.
    pub async fn reset_offsets(
        &self,
        group: &str,
        request: &ResetOffsetsRequest,
    ) -> Result<ResetOffsetsResponse, ClientError> {
        self.call(
            Method::POST,
            &format!("/groups/{}/offsets", encode(group)),
            Self::json(request),
        )
        .await
    }

    pub async fn commit_offset(
        &self,
        group: &str,
        request: &CommitOffsetRequest,
    ) -> Result<GroupOffset, ClientError> {
        self.call(
            Method::POST,
            &format!("/groups/{}/commit", encode(group)),
            Self::json(request),
        )
        .await
    }

    pub async fn delete_group(&self, group: &str) -> Result<DeleteGroupResponse, ClientError> {
        self.call(
            Method::DELETE,
            &format!("/groups/{}", encode(group)),
            Body::None,
        )
        .await
    }
}

/// Logins, users, ACLs and tokens (`/auth/…`, `/users`, `/acls`).
impl Client {
    /// The principal these credentials stand for, and whether the node checks them.
    pub async fn whoami(&self) -> Result<WhoAmI, ClientError> {
        self.call(Method::GET, "/auth/whoami", Body::None).await
    }

    pub async fn users(&self) -> Result<UserList, ClientError> {
        self.call(Method::GET, "/users", Body::None).await
    }

    /// Creates a user or sets its password; the node keeps only salted SCRAM credentials.
    pub async fn upsert_user(&self, request: &UpsertUserRequest) -> Result<(), ClientError> {
        self.send(Method::POST, "/users", Self::json(request))
            .await
            .map(drop)
    }

    pub async fn delete_user(&self, name: &str) -> Result<(), ClientError> {
        self.send(
            Method::DELETE,
            &format!("/users/{}", encode(name)),
            Body::None,
        )
        .await
        .map(drop)
    }

    /// The ACLs that match `filter` (every ACL for an empty one).
    pub async fn acls(&self, filter: &AclFilter) -> Result<AclList, ClientError> {
        self.call(
            Method::GET,
            &format!("/acls{}", acl_filter_query(filter)),
            Body::None,
        )
        .await
    }

    pub async fn create_acl(&self, entry: &AclEntry) -> Result<AclCreated, ClientError> {
        self.call(Method::POST, "/acls", Self::json(entry)).await
    }

    /// Deletes the ACLs that match `filter` and returns them; the node refuses an empty filter.
    pub async fn delete_acls(&self, filter: &AclFilter) -> Result<AclList, ClientError> {
        self.call(
            Method::DELETE,
            &format!("/acls{}", acl_filter_query(filter)),
            Body::None,
        )
        .await
    }

    /// A new bearer token; the answer is the only time the token itself is seen.
    pub async fn create_token(
        &self,
        request: &CreateTokenRequest,
    ) -> Result<CreatedToken, ClientError> {
        self.call(Method::POST, "/auth/tokens", Self::json(request))
            .await
    }

    pub async fn tokens(&self) -> Result<TokenList, ClientError> {
        self.call(Method::GET, "/auth/tokens", Body::None).await
    }

    pub async fn revoke_token(&self, name: &str) -> Result<(), ClientError> {
        self.send(
            Method::DELETE,
            &format!("/auth/tokens/{}", encode(name)),
            Body::None,
        )
        .await
        .map(drop)
    }
}

/// The query string of an ACL filter (`?resource_type=TOPIC&…`), empty when nothing is set.
fn acl_filter_query(filter: &AclFilter) -> String {
    let fields = [
        ("resource_type", &filter.resource_type),
        ("resource_name", &filter.resource_name),
        ("pattern_type", &filter.pattern_type),
        ("principal", &filter.principal),
        ("host", &filter.host),
        ("operation", &filter.operation),
        ("permission", &filter.permission),
    ];
    let pairs: Vec<String> = fields
        .iter()
        .filter_map(|(name, value)| value.as_ref().map(|v| format!("{name}={}", encode(v))))
        .collect();
    if pairs.is_empty() {
        String::new()
    } else {
        format!("?{}", pairs.join("&"))
    }
}

/// A group id as one path segment or query value: Kafka allows any characters in it.
fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[cfg(test)]
mod tests {
    //! The retry rules against a scripted broker: a TCP listener that answers each request with
    //! the next scripted status and body, and counts what it was sent.

    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

    /// Limits that keep these tests fast; the retry rules are the same.
    const FAST: RetryLimits = RetryLimits {
        retries_max: 5,
        retry_duration_ms_max: 10_000,
        retry_backoff_ms_min: 1,
        retry_backoff_ms_max: 5,
    };

    struct Scripted {
        url: String,
        produces: Arc<AtomicUsize>,
    }

    fn error_body(code: &str) -> String {
        format!(r#"{{"error":{{"code":"{code}","message":"scripted"}}}}"#)
    }

    const PRODUCED: &str = r#"{"msg_id":"m","topic":"t","partition":0,"offset":7,"timestamp":1}"#;

    /// A broker whose `POST /produce` answers come from `script` in order (the last one
    /// repeats) and whose `/metadata/leader` names itself.
    async fn scripted(script: Vec<(u16, String)>) -> Scripted {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let produces = Arc::new(AtomicUsize::new(0));
        let (count, me) = (Arc::clone(&produces), url.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (count, me, script) = (Arc::clone(&count), me.clone(), script.clone());
                tokio::spawn(async move {
                    let mut stream = BufReader::new(stream);
                    loop {
                        let mut head = String::new();
                        let mut length = 0usize;
                        loop {
                            let mut line = String::new();
                            if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                                return;
                            }
                            if let Some(v) =
                                line.to_ascii_lowercase().strip_prefix("content-length:")
                            {
                                length = v.trim().parse().unwrap_or(0);
                            }
                            if line == "\r\n" {
                                break;
                            }
                            head.push_str(&line);
                        }
                        let mut body = vec![0; length];
                        if stream.read_exact(&mut body).await.is_err() {
                            return;
                        }
                        let (status, answer) = if head.starts_with("GET /metadata/leader") {
                            (
                                200,
                                format!(
                                    r#"{{"leader_id":1,"leader_http":"{me}","leader_kafka":"x:1","epoch":1}}"#
                                ),
                            )
                        } else {
                            let n = count.fetch_add(1, Ordering::SeqCst);
                            script[n.min(script.len() - 1)].clone()
                        };
                        let response = format!(
                            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
                            answer.len()
                        );
                        if stream
                            .get_mut()
                            .write_all(response.as_bytes())
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        Scripted { url, produces }
    }

    fn record(msg_id: Option<&str>) -> ProduceRecord {
        ProduceRecord {
            topic: Some("t".into()),
            payload: serde_json::json!("x"),
            msg_id: msg_id.map(str::to_string),
            ..ProduceRecord::default()
        }
    }

    /// During an election the broker answers `leader_not_available`; the client waits it out.
    #[tokio::test]
    async fn leader_not_available_is_retried_until_a_leader_answers() {
        let broker = scripted(vec![
            (503, error_body("leader_not_available")),
            (503, error_body("leader_not_available")),
            (200, PRODUCED.to_string()),
        ])
        .await;
        let client = Client::new(&[&broker.url])
            .expect("client")
            .with_retry_limits(FAST);
        let result = client
            .produce(&record(None), Acks::All)
            .await
            .expect("produced");
        assert_eq!(result.offset, 7);
        assert_eq!(broker.produces.load(Ordering::SeqCst), 3);
    }

    /// A timed-out `acks=all` write may have landed: without a msg_id it is not sent again.
    #[tokio::test]
    async fn timed_out_write_without_msg_id_is_not_resent() {
        let broker = scripted(vec![
            (504, error_body("request_timed_out")),
            (200, PRODUCED.to_string()),
        ])
        .await;
        let client = Client::new(&[&broker.url])
            .expect("client")
            .with_retry_limits(FAST);
        let error = client.produce(&record(None), Acks::All).await.unwrap_err();
        assert_eq!(error.code(), Some(ErrorCode::RequestTimedOut));
        assert_eq!(broker.produces.load(Ordering::SeqCst), 1);
    }

    /// With a msg_id a copy is recognisable, so the timed-out write is sent again.
    #[tokio::test]
    async fn timed_out_write_with_msg_id_is_resent() {
        let broker = scripted(vec![
            (504, error_body("request_timed_out")),
            (200, PRODUCED.to_string()),
        ])
        .await;
        let client = Client::new(&[&broker.url])
            .expect("client")
            .with_retry_limits(FAST);
        let result = client
            .produce(&record(Some("order-1")), Acks::All)
            .await
            .expect("produced on the second attempt");
        assert_eq!(result.offset, 7);
        assert_eq!(broker.produces.load(Ordering::SeqCst), 2);
    }

    /// In a batch, only the timed-out records that carry a msg_id are resent.
    #[tokio::test]
    async fn batch_resends_timed_out_records_only_when_they_carry_a_msg_id() {
        let timed_out = format!(
            r#"{{"results":[{},{}]}}"#,
            error_body("request_timed_out"),
            error_body("request_timed_out")
        );
        let broker = scripted(vec![
            (200, timed_out),
            (200, format!(r#"{{"results":[{PRODUCED}]}}"#)),
        ])
        .await;
        let client = Client::new(&[&broker.url])
            .expect("client")
            .with_retry_limits(FAST);
        let batch = ProduceBatch {
            topic: Some("t".into()),
            messages: vec![record(None), record(Some("order-2"))],
        };
        let outcomes = client
            .produce_batch(&batch, Acks::All)
            .await
            .expect("answered");
        assert!(
            matches!(&outcomes[0], ProduceOutcome::Err { error } if error.code == ErrorCode::RequestTimedOut),
            "{outcomes:?}"
        );
        assert!(
            matches!(&outcomes[1], ProduceOutcome::Ok(r) if r.offset == 7),
            "{outcomes:?}"
        );
        assert_eq!(broker.produces.load(Ordering::SeqCst), 2);
    }

    /// A broker that never recovers gets exactly `retries_max` attempts, then the caller the error.
    #[tokio::test]
    async fn retries_stop_at_retries_max() {
        let broker = scripted(vec![(503, error_body("leader_not_available"))]).await;
        let client = Client::new(&[&broker.url])
            .expect("client")
            .with_retry_limits(FAST);
        let error = client.produce(&record(None), Acks::All).await.unwrap_err();
        assert_eq!(error.code(), Some(ErrorCode::LeaderNotAvailable));
        assert_eq!(
            broker.produces.load(Ordering::SeqCst),
            FAST.retries_max as usize
        );
    }

    /// A node that answers one request with `status` and `body`, and hands back the request's
    /// head (request line and headers).
    async fn recording(
        status: u16,
        body: &'static str,
    ) -> (String, tokio::sync::oneshot::Receiver<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let (sender, receiver) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let mut stream = BufReader::new(stream);
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if stream.read_line(&mut line).await.unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            let response = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.get_mut().write_all(response.as_bytes()).await;
            let _ = sender.send(head);
        });
        (url, receiver)
    }

    const WHOAMI: &str = r#"{"principal":"User:alice","authentication_required":true,"authorization_enabled":false}"#;

    /// Basic credentials reach the node as `Authorization: Basic base64(user:password)`.
    #[tokio::test]
    async fn basic_credentials_are_sent_in_the_authorization_header() {
        let (url, head) = recording(200, WHOAMI).await;
        let options = ClientOptions {
            credentials: Credentials::Basic {
                user: "alice".into(),
                password: "s3cret".into(),
            },
            ca_file: None,
        };
        let client = Client::with_options(&[&url], &options).expect("client");
        let whoami = client.whoami().await.expect("whoami");
        assert_eq!(whoami.principal, "User:alice");
        let head = head.await.expect("request").to_ascii_lowercase();
        // base64("alice:s3cret")
        assert!(
            head.contains("authorization: basic ywxpy2u6cznjcmv0\r\n"),
            "{head}"
        );
    }

    /// A token reaches the node as `Authorization: Bearer …`.
    #[tokio::test]
    async fn bearer_token_is_sent_in_the_authorization_header() {
        let (url, head) = recording(200, WHOAMI).await;
        let options = ClientOptions {
            credentials: Credentials::Bearer {
                token: "yak_abc".into(),
            },
            ca_file: None,
        };
        let client = Client::with_options(&[&url], &options).expect("client");
        client.whoami().await.expect("whoami");
        let head = head.await.expect("request");
        assert!(head.contains("authorization: Bearer yak_abc\r\n"), "{head}");
    }

    /// A refusal for missing credentials is the caller's to fix: one attempt, its code intact.
    #[tokio::test]
    async fn unauthenticated_is_not_retried() {
        let broker = scripted(vec![(401, error_body("unauthenticated"))]).await;
        let client = Client::new(&[&broker.url])
            .expect("client")
            .with_retry_limits(FAST);
        let error = client.produce(&record(None), Acks::All).await.unwrap_err();
        assert_eq!(error.code(), Some(ErrorCode::Unauthenticated));
        assert_eq!(broker.produces.load(Ordering::SeqCst), 1);
    }

    /// Passwords and tokens stay out of `{:?}`, which log lines use.
    #[test]
    fn credentials_debug_hides_secrets() {
        let basic = Credentials::Basic {
            user: "alice".into(),
            password: "s3cret".into(),
        };
        let bearer = Credentials::Bearer {
            token: "yak_abc".into(),
        };
        let text = format!("{basic:?} {bearer:?}");
        assert!(text.contains("alice"), "{text}");
        assert!(
            !text.contains("s3cret") && !text.contains("yak_abc"),
            "{text}"
        );
    }

    /// A CA file that cannot be read is an error at construction, not at the first request.
    #[test]
    fn unreadable_ca_file_is_a_tls_error() {
        let options = ClientOptions {
            credentials: Credentials::None,
            ca_file: Some("/nonexistent/ca.pem".into()),
        };
        let error = Client::with_options(&["https://127.0.0.1:1"], &options).unwrap_err();
        assert!(matches!(error, ClientError::Tls(_)), "{error}");
    }

    /// The ACL filter becomes a query string with every value percent-encoded.
    #[test]
    fn acl_filter_query_encodes_values() {
        assert_eq!(acl_filter_query(&AclFilter::default()), "");
        let filter = AclFilter {
            resource_type: Some("TOPIC".into()),
            principal: Some("User:alice".into()),
            ..AclFilter::default()
        };
        assert_eq!(
            acl_filter_query(&filter),
            "?resource_type=TOPIC&principal=User%3Aalice"
        );
    }

    /// No retry starts after the retry duration, however many attempts are left.
    #[tokio::test]
    async fn retries_stop_at_the_retry_duration() {
        let broker = scripted(vec![(503, error_body("leader_not_available"))]).await;
        let limits = RetryLimits {
            retries_max: 1000,
            retry_duration_ms_max: 200,
            retry_backoff_ms_min: 50,
            retry_backoff_ms_max: 50,
        };
        let client = Client::new(&[&broker.url])
            .expect("client")
            .with_retry_limits(limits);
        let error = client.produce(&record(None), Acks::All).await.unwrap_err();
        assert_eq!(error.code(), Some(ErrorCode::LeaderNotAvailable));
        // Pauses of 50 ms within 200 ms: at most five attempts, far fewer than retries_max.
        let attempts = broker.produces.load(Ordering::SeqCst);
        assert!((2..=5).contains(&attempts), "{attempts} attempts");
    }
}
