//! An async client for YAK's HTTP API, used by the `yak` CLI, the console process and the
//! benchmark.
//!
//! The client holds the list of brokers it was given and the one it currently talks to. When that
//! node cannot be reached, or answers `not_leader` or `unavailable`, the client asks the others
//! for the leader (`GET /metadata/leader`) and retries there, up to [`RETRIES_MAX`] times, so a
//! failover is invisible to the caller.

use std::sync::Mutex;
use std::time::Duration;

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;
use yak_api::{
    Acks, AlterTopicConfigsRequest, ApiError, ClusterState, ConsumeResponse, CreateTopicRequest,
    DeleteTopicResponse, ErrorBody, ErrorCode, Health, LeaderInfo, ProduceBatch,
    ProduceBatchResponse, ProduceOutcome, ProduceRecord, ProduceResult, TopicDetail, TopicList,
};

/// Attempts of one request across brokers before the error reaches the caller.
pub const RETRIES_MAX: u32 = 8;
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
    /// No broker could be reached.
    #[error("cannot reach any broker ({brokers}): {message}")]
    Unreachable { brokers: String, message: String },
    /// The answer was not what the API promises.
    #[error("unexpected answer from {url}: {message}")]
    Decode { url: String, message: String },
    #[error("invalid broker URL {0:?}")]
    InvalidUrl(String),
}

impl ClientError {
    /// The API error code, when the broker gave one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Api { error, .. } => Some(error.code),
            _ => None,
        }
    }

    fn retryable(&self) -> bool {
        match self {
            ClientError::Unreachable { .. } => true,
            ClientError::Api { error, .. } => retryable_code(error.code),
            _ => false,
        }
    }
}

/// Errors another attempt (on the leader, or after a failover) may cure.
fn retryable_code(code: ErrorCode) -> bool {
    matches!(code, ErrorCode::NotLeader | ErrorCode::Unavailable)
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

fn acks_param(acks: Acks) -> &'static str {
    match acks {
        Acks::None => "0",
        Acks::Leader => "1",
        Acks::All => "all",
    }
}

#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    brokers: Vec<String>,
    current: Mutex<String>,
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
            reqwest::Url::parse(broker).map_err(|_| ClientError::InvalidUrl(broker.clone()))?;
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(CONNECT_TIMEOUT_MS))
            .timeout(Duration::from_millis(REQUEST_TIMEOUT_MS))
            .pool_max_idle_per_host(1024)
            .build()
            .map_err(|e| ClientError::Unreachable {
                brokers: brokers.join(","),
                message: e.to_string(),
            })?;
        Ok(Client {
            http,
            brokers,
            current: Mutex::new(first),
        })
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
        let mut request = self.http.request(method.clone(), &url);
        request = match body {
            Body::None => request,
            Body::Json(bytes) => request
                .header("content-type", "application/json")
                .body(bytes.clone()),
            Body::Ndjson(bytes) => request
                .header("content-type", "application/x-ndjson")
                .body(bytes.to_vec()),
        };
        let response = request.send().await.map_err(|e| ClientError::Unreachable {
            brokers: base.to_string(),
            message: e.to_string(),
        })?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ClientError::Unreachable {
                brokers: base.to_string(),
                message: e.to_string(),
            })?;
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
        let mut backoff_ms = RETRY_BACKOFF_MS_MIN;
        let mut attempt = 0;
        loop {
            let base = self.current();
            match self.send_once(&base, &method, path_and_query, &body).await {
                Ok(bytes) => return Ok(bytes),
                Err(error) if error.retryable() && attempt + 1 < RETRIES_MAX => {
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
                    backoff_ms = (backoff_ms * 2).min(RETRY_BACKOFF_MS_MAX);
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
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode {
            url: path_and_query.to_string(),
            message: e.to_string(),
        })
    }

    fn json(value: &impl Serialize) -> Body<'static> {
        // Serializing the API's own types cannot fail: they hold no maps with non-string keys.
        Body::Json(serde_json::to_vec(value).unwrap_or_default())
    }

    pub async fn produce(
        &self,
        record: &ProduceRecord,
        acks: Acks,
    ) -> Result<ProduceResult, ClientError> {
        self.call(
            Method::POST,
            &format!("/produce?acks={}", acks_param(acks)),
            Self::json(record),
        )
        .await
    }

    /// Produces a batch; one outcome per record, in order.
    ///
    /// A record that failed with an error a resend may cure (`not_leader`, `unavailable`) is
    /// sent again, alone with the other such records, up to [`RETRIES_MAX`] times; records that
    /// landed are never sent twice. If a resend itself fails, its error becomes the outcome of
    /// the records it carried, so the caller still learns which records landed.
    pub async fn produce_batch(
        &self,
        batch: &ProduceBatch,
        acks: Acks,
    ) -> Result<Vec<ProduceOutcome>, ClientError> {
        let mut outcomes = self.produce_batch_once(batch, acks).await?;
        let mut backoff_ms = RETRY_BACKOFF_MS_MIN;
        for attempt in 1..RETRIES_MAX {
            let failed: Vec<usize> = outcomes
                .iter()
                .enumerate()
                .filter(|(_, outcome)| {
                    matches!(outcome, ProduceOutcome::Err { error } if retryable_code(error.code))
                })
                .map(|(index, _)| index)
                .collect();
            if failed.is_empty() {
                break;
            }
            tracing::debug!(
                records = failed.len(),
                attempt,
                "resending the records that failed"
            );
            tokio::time::sleep(Duration::from_millis(backoff_ms)).await;
            backoff_ms = (backoff_ms * 2).min(RETRY_BACKOFF_MS_MAX);
            let resend = ProduceBatch {
                topic: batch.topic.clone(),
                messages: failed.iter().map(|&i| batch.messages[i].clone()).collect(),
            };
            let answers = match self.produce_batch_once(&resend, acks).await {
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
    ) -> Result<Vec<ProduceOutcome>, ClientError> {
        let response: ProduceBatchResponse = self
            .call(
                Method::POST,
                &format!("/produce?acks={}", acks_param(acks)),
                Self::json(batch),
            )
            .await?;
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
}
