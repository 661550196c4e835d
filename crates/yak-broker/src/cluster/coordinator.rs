//! The coordinator: the cluster's shared state in Redis (docs/REPLICATION.md, "Keys in Redis").
//!
//! Only Lua scripts change the lease, the epoch and the partition records, each an atomic
//! compare-and-set; the decisions themselves are made in `decide` and these scripts only check
//! that nothing changed since they were taken. Every call has a timeout, and a failed call
//! drops the connection so the next one reconnects: Redis restarting or a cut network shows up
//! as errors, never as a stuck task.
//!
//! The node logs in as the URL's user (or `--coordinator-user`) with its password (or
//! `--coordinator-password-file`), over TLS for `rediss://`; the URL is only ever shown with
//! its password replaced ([`redacted_url`]).

use std::collections::BTreeMap;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncCommands, Script};

use super::decide::PartitionRecord;

/// Longest one Redis call may take before the node treats Redis as unreachable.
pub const REDIS_CALL_MS_MAX: u64 = 1_000;
/// Producer ids a node takes from `C:producer_ids` at once.
pub const PRODUCER_ID_BLOCK: i64 = 1_000;
/// Entries kept in `C:history`.
pub const HISTORY_ENTRIES_MAX: isize = 500;

#[derive(Debug, thiserror::Error)]
pub enum CoordinatorError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Redis refused this node's user or password (AUTH), or wants one it was not given.
    #[error("redis refused this node's credentials (AUTH): {0}; check the coordinator's user and password (--coordinator-user, --coordinator-password-file or YAK_COORDINATOR_PASSWORD)")]
    Authentication(redis::RedisError),
    /// The coordinator settings cannot work (found at start-up).
    #[error("{0}")]
    Config(String),
    #[error("redis did not answer within {REDIS_CALL_MS_MAX} ms")]
    Timeout,
    #[error("unexpected value in redis: {0}")]
    Corrupt(String),
}

/// What an election attempt found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Elected {
    Won,
    /// Someone holds the lease.
    LeaseHeld,
    /// The epoch or a partition record changed since it was read: read again.
    Changed,
}

/// A snapshot of what the coordinator holds, read in one round trip.
#[derive(Debug, Clone, Default)]
pub struct ClusterView {
    /// The lease holder, and the lease's remaining time in ms.
    pub lease: Option<(i32, i64)>,
    /// `C:epoch` as stored (None when absent: a new cluster or a Redis that lost its data).
    pub epoch: Option<i32>,
    pub partitions: BTreeMap<String, PartitionRecord>,
    /// The registrations of live nodes.
    pub nodes: Vec<NodeRegistration>,
    /// Every node id that ever joined.
    pub members: Vec<i32>,
    pub topics: Option<PublishedTopics>,
}

/// `C:node:N`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NodeRegistration {
    pub node_id: i32,
    pub http: String,
    /// The inter-broker listener's address: where followers replicate from.
    pub kafka: String,
    /// Every Kafka listener's advertised address, by security protocol (`SASL_SSL`), so
    /// Metadata can send a client to each node on the listener it used.
    #[serde(default)]
    pub listeners: std::collections::BTreeMap<String, String>,
    /// Random per start of the node, so a restart is told from a node that never left.
    pub incarnation: String,
    pub started_ms: i64,
}

/// `C:topics`: the leader's topic list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PublishedTopics {
    pub epoch: i32,
    pub topics: Vec<crate::topic::TopicConfig>,
}

/// Sets the lease, the epoch and every partition record, if nobody holds the lease and nothing
/// changed since the candidate read them. ARGV: node, lease_ms, expected epoch ("" = absent),
/// new epoch, record count, expected field count, then per record: field, expected version
/// (-1 = absent), new JSON.
const ELECT: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local current = redis.call('GET', KEYS[2])
if (current or '') ~= ARGV[3] then return -1 end
if redis.call('HLEN', KEYS[3]) ~= tonumber(ARGV[6]) then return -1 end
local n = tonumber(ARGV[5])
for i = 0, n - 1 do
  local expected = tonumber(ARGV[8 + 3 * i])
  local stored = redis.call('HGET', KEYS[3], ARGV[7 + 3 * i])
  if stored then
    if expected < 0 or cjson.decode(stored).version ~= expected then return -1 end
  elseif expected >= 0 then
    return -1
  end
end
redis.call('SET', KEYS[2], ARGV[4])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
for i = 0, n - 1 do
  redis.call('HSET', KEYS[3], ARGV[7 + 3 * i], ARGV[9 + 3 * i])
end
return 1
"#;

/// Extends the lease if this node holds it at this epoch.
const RENEW: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] and redis.call('GET', KEYS[2]) == ARGV[2] then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return 1
end
return 0
"#;

/// Gives the lease up if this node holds it at this epoch (a clean shutdown).
const RELEASE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] and redis.call('GET', KEYS[2]) == ARGV[2] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"#;

/// Changes partition records as the lease holder: ARGV node, epoch, count, then per record
/// field, expected version (-1 = absent), new JSON ("" = delete).
const WRITE_PARTITIONS: &str = r#"
if redis.call('GET', KEYS[2]) ~= ARGV[1] or redis.call('GET', KEYS[3]) ~= ARGV[2] then return 0 end
local n = tonumber(ARGV[3])
for i = 0, n - 1 do
  local expected = tonumber(ARGV[5 + 3 * i])
  local stored = redis.call('HGET', KEYS[1], ARGV[4 + 3 * i])
  if stored then
    if expected < 0 or cjson.decode(stored).version ~= expected then return -1 end
  elseif expected >= 0 then
    return -1
  end
end
for i = 0, n - 1 do
  if ARGV[6 + 3 * i] == '' then
    redis.call('HDEL', KEYS[1], ARGV[4 + 3 * i])
  else
    redis.call('HSET', KEYS[1], ARGV[4 + 3 * i], ARGV[6 + 3 * i])
  end
end
return 1
"#;

/// Puts back what a coordinator that lost its data forgot: `C:epoch` raised to the node's floor,
/// and each partition record the node saw, where the coordinator holds none or an older one.
/// ARGV floor, count, then per record field and JSON (with its epoch and version).
const RESTORE: &str = r#"
local current = tonumber(redis.call('GET', KEYS[1]) or '-1')
if tonumber(ARGV[1]) > current then redis.call('SET', KEYS[1], ARGV[1]) end
local n = tonumber(ARGV[2])
for i = 0, n - 1 do
  local given = cjson.decode(ARGV[4 + 2 * i])
  local stored = redis.call('HGET', KEYS[2], ARGV[3 + 2 * i])
  local newer = true
  if stored then
    local s = cjson.decode(stored)
    newer = given.epoch > s.epoch or (given.epoch == s.epoch and given.version > s.version)
  end
  if newer then redis.call('HSET', KEYS[2], ARGV[3 + 2 * i], ARGV[4 + 2 * i]) end
end
return 1
"#;

/// Sets a value as the lease holder: KEYS value key, lease, epoch; ARGV node, epoch, value,
/// and "up" to only ever raise a number.
const WRITE_AS_HOLDER: &str = r#"
if redis.call('GET', KEYS[2]) ~= ARGV[1] or redis.call('GET', KEYS[3]) ~= ARGV[2] then return 0 end
if ARGV[4] == 'up' then
  local current = tonumber(redis.call('GET', KEYS[1]) or '-1')
  if tonumber(ARGV[3]) <= current then return 1 end
end
redis.call('SET', KEYS[1], ARGV[3])
return 1
"#;

/// One `view` round trip: lease holder, its TTL, epoch, partition records, members, topics.
type ViewReply = (
    Option<String>,
    i64,
    Option<String>,
    BTreeMap<String, String>,
    Vec<i32>,
    Option<String>,
);

pub struct Coordinator {
    client: redis::Client,
    /// A refused login was logged and no call succeeded since: the next refusal is not.
    refusal_logged: std::sync::atomic::AtomicBool,
    prefix: String,
    /// This node's name on its Redis connection (`CLIENT SETNAME`), so that other nodes can
    /// tell from `CLIENT LIST` whether it is still connected.
    client_name: String,
    connection: tokio::sync::Mutex<Option<MultiplexedConnection>>,
}

impl std::fmt::Debug for Coordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coordinator")
            .field("prefix", &self.prefix)
            .finish()
    }
}

fn call_timeout() -> Duration {
    Duration::from_millis(REDIS_CALL_MS_MAX)
}

/// `url` with the password of its user info replaced by `***`, fit for logs, errors and pages.
pub fn redacted_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let Some((user_info, host)) = authority.rsplit_once('@') else {
        return url.to_string();
    };
    let user_info = match user_info.split_once(':') {
        Some((user, _password)) => format!("{user}:***"),
        // Without a colon Redis takes the whole user info as the password.
        None => "***".to_string(),
    };
    format!("{scheme}://{user_info}@{host}{path}")
}

/// Whether Redis refused the node's credentials: a failed AUTH or HELLO, or a command refused
/// because the connection never authenticated.
fn is_authentication(error: &redis::RedisError) -> bool {
    error.kind() == redis::ErrorKind::AuthenticationFailed
        || matches!(error.code(), Some("NOAUTH" | "WRONGPASS"))
}

/// The Redis client `config` asks for: the URL, its user and password replaced by the ones
/// given apart, TLS checked against `coordinator_ca_file` for `rediss://` (the system's roots
/// without one).
pub fn redis_client(config: &super::ClusterConfig) -> Result<redis::Client, CoordinatorError> {
    use redis::IntoConnectionInfo;
    let info = config
        .coordinator_url
        .as_str()
        .into_connection_info()
        .map_err(|e| {
            CoordinatorError::Config(format!(
                "coordinator {}: {e}",
                redacted_url(&config.coordinator_url)
            ))
        })?;
    let mut settings = info.redis_settings().clone();
    if let Some(user) = &config.coordinator_user {
        settings = settings.set_username(user);
    }
    if let Some(password) = &config.coordinator_password {
        settings = settings.set_password(&password.0);
    }
    let info = info.set_redis_settings(settings);
    let tls = matches!(info.addr(), redis::ConnectionAddr::TcpTls { .. });
    match &config.coordinator_ca_file {
        None => Ok(redis::Client::open(info)?),
        Some(_) if !tls => Err(CoordinatorError::Config(
            "coordinator_ca_file needs a rediss:// coordinator URL (TLS)".into(),
        )),
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| {
                CoordinatorError::Config(format!(
                    "cannot read coordinator_ca_file {}: {e}",
                    path.display()
                ))
            })?;
            Ok(redis::Client::build_with_tls(
                info,
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem),
                },
            )?)
        }
    }
}

impl Coordinator {
    pub fn new(
        config: &super::ClusterConfig,
        cluster: &str,
        client_name: String,
    ) -> Result<Coordinator, CoordinatorError> {
        Ok(Coordinator {
            client: redis_client(config)?,
            refusal_logged: std::sync::atomic::AtomicBool::new(false),
            prefix: cluster.to_string(),
            client_name,
            connection: tokio::sync::Mutex::new(None),
        })
    }

    fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.prefix)
    }

    pub fn hwm_key(&self, topic: &str, partition: i32) -> String {
        self.key(&format!("hwm:{topic}:{partition}"))
    }

    /// A connection, made if there is none. A refused login is an error in the log once (not
    /// at every tick of the controller), until a connection succeeds again.
    async fn connection(&self) -> Result<MultiplexedConnection, CoordinatorError> {
        use std::sync::atomic::Ordering;
        match self.connect().await {
            Ok(connection) => {
                self.refusal_logged.store(false, Ordering::Relaxed);
                Ok(connection)
            }
            Err(CoordinatorError::Redis(error)) if is_authentication(&error) => {
                let error = CoordinatorError::Authentication(error);
                if !self.refusal_logged.swap(true, Ordering::Relaxed) {
                    tracing::error!(%error, "cannot log in to the coordinator: this node stays out of the cluster");
                }
                Err(error)
            }
            Err(error) => Err(error),
        }
    }

    /// Checks that Redis accepts this node's credentials (a connection and a PING).
    pub async fn ping(&self) -> Result<(), CoordinatorError> {
        self.run(|mut c| async move { redis::cmd("PING").query_async::<()>(&mut c).await })
            .await
    }

    /// Makes a connection if there is none. Cancel-safe: the lock is only held for the
    /// connect, which leaves nothing half done when dropped.
    async fn connect(&self) -> Result<MultiplexedConnection, CoordinatorError> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = slot.as_ref() {
            return Ok(connection.clone());
        }
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(call_timeout()))
            .set_response_timeout(Some(call_timeout()));
        let connection = tokio::time::timeout(
            call_timeout(),
            self.client
                .get_multiplexed_async_connection_with_config(&config),
        )
        .await
        .map_err(|_| CoordinatorError::Timeout)??;
        let mut named = connection.clone();
        tokio::time::timeout(
            call_timeout(),
            redis::cmd("CLIENT")
                .arg("SETNAME")
                .arg(&self.client_name)
                .query_async::<()>(&mut named),
        )
        .await
        .map_err(|_| CoordinatorError::Timeout)??;
        *slot = Some(connection.clone());
        Ok(connection)
    }

    async fn forget_connection(&self) {
        *self.connection.lock().await = None;
    }

    /// Runs `call` on a connection with the call timeout; any failure drops the connection.
    async fn run<T, F, Fut>(&self, call: F) -> Result<T, CoordinatorError>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let connection = self.connection().await?;
        let outcome = tokio::time::timeout(call_timeout(), call(connection)).await;
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => {
                self.forget_connection().await;
                if is_authentication(&error) {
                    return Err(CoordinatorError::Authentication(error));
                }
                Err(error.into())
            }
            Err(_) => {
                self.forget_connection().await;
                Err(CoordinatorError::Timeout)
            }
        }
    }

    /// Runs a script that answers an integer.
    async fn invoke(
        &self,
        invocation: redis::ScriptInvocation<'_>,
    ) -> Result<i64, CoordinatorError> {
        self.run(|mut c| async move { invocation.invoke_async(&mut c).await })
            .await
    }

    /// Reads the lease, the epoch, the partition records, the members, live registrations and
    /// the topic list.
    pub async fn view(&self) -> Result<ClusterView, CoordinatorError> {
        let lease_key = self.key("leader_lease");
        let epoch_key = self.key("epoch");
        let partitions_key = self.key("partitions");
        let nodes_key = self.key("nodes");
        let topics_key = self.key("topics");
        let (holder, ttl_ms, epoch, partitions, members, topics): ViewReply = self
            .run(|mut c| async move {
                redis::pipe()
                    .get(&lease_key)
                    .pttl(&lease_key)
                    .get(&epoch_key)
                    .hgetall(&partitions_key)
                    .smembers(&nodes_key)
                    .get(&topics_key)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        let mut view = ClusterView {
            members,
            ..ClusterView::default()
        };
        view.members.sort_unstable();
        if let Some(holder) = holder {
            let node = holder
                .parse()
                .map_err(|_| CoordinatorError::Corrupt(format!("lease holder {holder:?}")))?;
            view.lease = Some((node, ttl_ms.max(0)));
        }
        if let Some(epoch) = epoch {
            view.epoch = Some(
                epoch
                    .parse()
                    .map_err(|_| CoordinatorError::Corrupt(format!("epoch {epoch:?}")))?,
            );
        }
        for (field, json) in partitions {
            let record: PartitionRecord = serde_json::from_str(&json)
                .map_err(|e| CoordinatorError::Corrupt(format!("partition {field}: {e}")))?;
            view.partitions.insert(field, record);
        }
        if let Some(json) = topics {
            view.topics = Some(
                serde_json::from_str(&json)
                    .map_err(|e| CoordinatorError::Corrupt(format!("topics: {e}")))?,
            );
        }
        let keys: Vec<String> = view
            .members
            .iter()
            .map(|id| self.key(&format!("node:{id}")))
            .collect();
        if !keys.is_empty() {
            let registrations: Vec<Option<String>> =
                self.run(|mut c| async move { c.mget(keys).await }).await?;
            for json in registrations.into_iter().flatten() {
                if let Ok(registration) = serde_json::from_str::<NodeRegistration>(&json) {
                    view.nodes.push(registration);
                }
            }
        }
        Ok(view)
    }

    /// Registers (or refreshes) this node: its liveness key and its membership.
    pub async fn register(
        &self,
        registration: &NodeRegistration,
        ttl_ms: u64,
    ) -> Result<(), CoordinatorError> {
        let key = self.key(&format!("node:{}", registration.node_id));
        let members = self.key("nodes");
        let json = serde_json::to_string(registration)
            .map_err(|e| CoordinatorError::Corrupt(e.to_string()))?;
        let node = registration.node_id;
        self.run(|mut c| async move {
            redis::pipe()
                .set_options(
                    &key,
                    json,
                    redis::SetOptions::default().with_expiration(redis::SetExpiry::PX(ttl_ms)),
                )
                .ignore()
                .sadd(&members, node)
                .ignore()
                .query_async::<()>(&mut c)
                .await
        })
        .await
    }

    /// Runs an election decided by the caller: `records` are the new partition records with
    /// the versions they replace.
    pub async fn elect(
        &self,
        node: i32,
        lease_ms: u64,
        expected_epoch: Option<i32>,
        new_epoch: i32,
        expected_fields: usize,
        records: &[(String, Option<i64>, PartitionRecord)],
    ) -> Result<Elected, CoordinatorError> {
        let script = Script::new(ELECT);
        let mut invocation = script.prepare_invoke();
        invocation
            .key(self.key("leader_lease"))
            .key(self.key("epoch"))
            .key(self.key("partitions"))
            .arg(node)
            .arg(lease_ms)
            .arg(expected_epoch.map(|e| e.to_string()).unwrap_or_default())
            .arg(new_epoch)
            .arg(records.len())
            .arg(expected_fields);
        for (field, expected, record) in records {
            invocation
                .arg(field)
                .arg(expected.unwrap_or(-1))
                .arg(to_json(record)?);
        }
        let outcome = self.invoke(invocation).await?;
        Ok(match outcome {
            1 => Elected::Won,
            0 => Elected::LeaseHeld,
            _ => Elected::Changed,
        })
    }

    /// Raises `C:epoch` to `floor` and puts back partition records the coordinator lacks or
    /// holds older versions of (after Redis lost its data).
    pub async fn restore(
        &self,
        floor: i32,
        records: &BTreeMap<String, PartitionRecord>,
    ) -> Result<(), CoordinatorError> {
        let script = Script::new(RESTORE);
        let mut invocation = script.prepare_invoke();
        invocation
            .key(self.key("epoch"))
            .key(self.key("partitions"))
            .arg(floor)
            .arg(records.len());
        for (field, record) in records {
            invocation.arg(field).arg(to_json(record)?);
        }
        self.invoke(invocation).await?;
        Ok(())
    }

    /// Extends the lease; false when this node no longer holds it at `epoch`.
    pub async fn renew(
        &self,
        node: i32,
        epoch: i32,
        lease_ms: u64,
    ) -> Result<bool, CoordinatorError> {
        let script = Script::new(RENEW);
        let mut invocation = script.prepare_invoke();
        invocation
            .key(self.key("leader_lease"))
            .key(self.key("epoch"))
            .arg(node)
            .arg(epoch)
            .arg(lease_ms);
        let outcome = self.invoke(invocation).await?;
        Ok(outcome == 1)
    }

    pub async fn release(&self, node: i32, epoch: i32) -> Result<bool, CoordinatorError> {
        let script = Script::new(RELEASE);
        let mut invocation = script.prepare_invoke();
        invocation
            .key(self.key("leader_lease"))
            .key(self.key("epoch"))
            .arg(node)
            .arg(epoch);
        let outcome = self.invoke(invocation).await?;
        Ok(outcome == 1)
    }

    /// Compare-and-set of partition records as the lease holder at `epoch`; `None` as the new
    /// record deletes it. False when the lease or a version changed.
    pub async fn write_partitions(
        &self,
        node: i32,
        epoch: i32,
        records: &[(String, Option<i64>, Option<PartitionRecord>)],
    ) -> Result<bool, CoordinatorError> {
        let script = Script::new(WRITE_PARTITIONS);
        let mut invocation = script.prepare_invoke();
        invocation
            .key(self.key("partitions"))
            .key(self.key("leader_lease"))
            .key(self.key("epoch"))
            .arg(node)
            .arg(epoch)
            .arg(records.len());
        for (field, expected, record) in records {
            let json = match record {
                Some(record) => to_json(record)?,
                None => String::new(),
            };
            invocation.arg(field).arg(expected.unwrap_or(-1)).arg(json);
        }
        let outcome = self.invoke(invocation).await?;
        Ok(outcome == 1)
    }

    async fn write_as_holder(
        &self,
        key: String,
        node: i32,
        epoch: i32,
        value: String,
        only_up: bool,
    ) -> Result<bool, CoordinatorError> {
        let script = Script::new(WRITE_AS_HOLDER);
        let mut invocation = script.prepare_invoke();
        invocation
            .key(key)
            .key(self.key("leader_lease"))
            .key(self.key("epoch"))
            .arg(node)
            .arg(epoch)
            .arg(value)
            .arg(if only_up { "up" } else { "" });
        let outcome = self.invoke(invocation).await?;
        Ok(outcome == 1)
    }

    /// Publishes a partition's high watermark (only upwards, only as the lease holder).
    pub async fn publish_hwm(
        &self,
        node: i32,
        epoch: i32,
        topic: &str,
        partition: i32,
        hwm: i64,
    ) -> Result<bool, CoordinatorError> {
        self.write_as_holder(
            self.hwm_key(topic, partition),
            node,
            epoch,
            hwm.to_string(),
            true,
        )
        .await
    }

    pub async fn published_hwm(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<Option<i64>, CoordinatorError> {
        let key = self.hwm_key(topic, partition);
        let value: Option<String> = self.run(|mut c| async move { c.get(key).await }).await?;
        Ok(value.and_then(|v| v.parse().ok()))
    }

    pub async fn publish_topics(
        &self,
        node: i32,
        epoch: i32,
        topics: &PublishedTopics,
    ) -> Result<bool, CoordinatorError> {
        let json =
            serde_json::to_string(topics).map_err(|e| CoordinatorError::Corrupt(e.to_string()))?;
        self.write_as_holder(self.key("topics"), node, epoch, json, false)
            .await
    }

    /// Whether a client named `name` is connected to Redis now (`CLIENT LIST`).
    pub async fn client_connected(&self, name: &str) -> Result<bool, CoordinatorError> {
        let list: String = self
            .run(|mut c| async move { redis::cmd("CLIENT").arg("LIST").query_async(&mut c).await })
            .await?;
        let wanted = format!("name={name} ");
        Ok(list.lines().any(|line| line.contains(&wanted)))
    }

    /// Ends the lease of `holder` at `epoch` before its time, once its death is proven (see
    /// `Cluster::leader_is_dead`): the same compare-and-delete as a holder's own release.
    pub async fn expire_lease(&self, holder: i32, epoch: i32) -> Result<bool, CoordinatorError> {
        self.release(holder, epoch).await
    }

    /// The first id of a fresh block of `PRODUCER_ID_BLOCK` producer ids, unique in the cluster.
    pub async fn producer_id_block(&self) -> Result<i64, CoordinatorError> {
        let key = self.key("producer_ids");
        let end: i64 = self
            .run(|mut c| async move { c.incr(key, PRODUCER_ID_BLOCK).await })
            .await?;
        Ok(end - PRODUCER_ID_BLOCK)
    }

    /// Adds an entry to the cluster's history, keeping the newest `HISTORY_ENTRIES_MAX`.
    pub async fn record_event(
        &self,
        event: &yak_api::ClusterEvent,
    ) -> Result<(), CoordinatorError> {
        let key = self.key("history");
        let json =
            serde_json::to_string(event).map_err(|e| CoordinatorError::Corrupt(e.to_string()))?;
        self.run(|mut c| async move {
            redis::pipe()
                .lpush(&key, json)
                .ignore()
                .ltrim(&key, 0, HISTORY_ENTRIES_MAX - 1)
                .ignore()
                .query_async::<()>(&mut c)
                .await
        })
        .await
    }

    pub async fn history(
        &self,
        count: isize,
    ) -> Result<Vec<yak_api::ClusterEvent>, CoordinatorError> {
        let key = self.key("history");
        let entries: Vec<String> = self
            .run(|mut c| async move { c.lrange(key, 0, count.max(1) - 1).await })
            .await?;
        Ok(entries
            .iter()
            .filter_map(|json| serde_json::from_str(json).ok())
            .collect())
    }
}

fn to_json(record: &PartitionRecord) -> Result<String, CoordinatorError> {
    serde_json::to_string(record).map_err(|e| CoordinatorError::Corrupt(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The coordinator URL's password never reaches a log or a page: only the user stays.
    #[test]
    fn redacted_url_hides_the_password() {
        assert_eq!(
            redacted_url("redis://yak:s3cret@redis.example.com:6379/0"),
            "redis://yak:***@redis.example.com:6379/0"
        );
        assert_eq!(
            redacted_url("rediss://:s3cret@10.0.0.1:6380"),
            "rediss://:***@10.0.0.1:6380"
        );
        assert_eq!(redacted_url("redis://s3cret@host/1"), "redis://***@host/1");
        // A password may itself hold an '@'.
        assert_eq!(
            redacted_url("redis://yak:p@ss@host:6379/0"),
            "redis://yak:***@host:6379/0"
        );
        assert_eq!(
            redacted_url("redis://127.0.0.1:6379/0"),
            "redis://127.0.0.1:6379/0"
        );
    }

    /// A CA file only makes sense with TLS: refused for a redis:// URL rather than ignored.
    #[test]
    fn coordinator_ca_file_needs_rediss() {
        let config = crate::cluster::ClusterConfig {
            coordinator_ca_file: Some("/nonexistent/ca.pem".into()),
            ..crate::cluster::ClusterConfig::new("redis://127.0.0.1:6379/0".into())
        };
        let error = redis_client(&config).expect_err("plain URL").to_string();
        assert!(error.contains("rediss://"), "{error}");
    }
}
