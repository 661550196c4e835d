//! The node's security: its settings, the users, ACLs and tokens it authenticates and
//! authorizes against (`yak_auth::SecurityState`), and the limits against abuse.
//!
//! - [`Security`]: one per node, shared by the Kafka listeners, the HTTP API and the console.
//!   Reads take an `Arc` snapshot of the state (no lock held across an await); changes go
//!   through [`Security::update`], which persists the new state before publishing it.
//! - [`tls_listener`]: an axum listener that completes TLS handshakes off the accept loop.
//!
//! Where the state lives: `DATA/security.json` on a standalone node; in a cluster, the
//! coordinator holds it (see `cluster`), and every node reloads it when it changes.

pub mod tls_listener;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use yak_auth::limits::{ConnectionsPerAddress, LoginBackoff, RequestRate};
use yak_auth::store::StoreError;
use yak_auth::tls::TlsFiles;
use yak_auth::{
    AuthorizerConfig, Operation, Principal, Resource, ScramCredential, ScramMechanism,
    SecurityState,
};
use yak_kafka::session::{ClientLimits, SaslMechanism};
use yak_kafka::SecurityProtocol;

use crate::error::BrokerError;

/// The file that holds users, ACLs and tokens on a standalone node.
pub const SECURITY_FILE_NAME: &str = "security.json";

/// A secret from the configuration: never printed, in `Debug` or anywhere else.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// One Kafka listener: `PROTOCOL://address`, and the address clients are told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KafkaListener {
    pub protocol: SecurityProtocol,
    pub address: SocketAddr,
    /// `host:port` clients use; derived from the bound address when absent.
    pub advertised: Option<String>,
}

/// Limits against abuse (see `yak_auth::limits`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityLimits {
    /// Open Kafka connections per client address (Kafka's `max.connections.per.ip`).
    pub connections_per_address_max: usize,
    /// Requests per second per client address, Kafka and HTTP each.
    pub requests_per_s_per_address: u32,
    /// How many requests above the rate a client may send at once.
    pub requests_burst: u32,
    /// The first failed login from an address is answered after this long; each further one
    /// in a row doubles it, up to `login_failure_delay_ms_max`.
    pub login_failure_delay_ms_base: u64,
    pub login_failure_delay_ms_max: u64,
    /// Longest a Kafka connection may take to finish TLS and SASL.
    pub authentication_ms_max: u64,
    /// Console sessions kept at once.
    pub console_sessions_max: usize,
    /// How long a console session lasts without use.
    pub console_session_idle_ms: u64,
}

impl Default for SecurityLimits {
    fn default() -> SecurityLimits {
        SecurityLimits {
            // A quarter of the listener's 1,024 connections: no one address can take them all.
            connections_per_address_max: 256,
            requests_per_s_per_address: 100_000,
            requests_burst: 100_000,
            login_failure_delay_ms_base: 100,
            login_failure_delay_ms_max: 5_000,
            authentication_ms_max: yak_kafka::session::AUTHENTICATION_MS_MAX_DEFAULT,
            console_sessions_max: 10_000,
            console_session_idle_ms: 8 * 3_600_000,
        }
    }
}

/// The node's security settings. The default is a node without any: one PLAINTEXT Kafka
/// listener, plain HTTP, no login, no ACLs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityConfig {
    /// Kafka listeners; empty means one PLAINTEXT listener at `BrokerConfig::kafka`.
    pub kafka_listeners: Vec<KafkaListener>,
    /// The listener nodes replicate over; the first listener when absent.
    pub inter_broker_listener: Option<SecurityProtocol>,
    /// The node's certificate and key, and the CA of client (and node) certificates.
    pub tls: Option<TlsFiles>,
    /// HTTPS on the HTTP API and console (needs `tls`).
    pub http_tls: bool,
    /// HTTP requests need credentials (Basic, a bearer token, a console session or a client
    /// certificate), and the console shows a login page.
    pub authentication: bool,
    /// ACLs decide every request, on HTTP and Kafka alike (deny by default).
    pub authorizer: AuthorizerConfig,
    /// Mechanisms SASL listeners offer.
    pub sasl_mechanisms: Vec<SaslMechanism>,
    /// Created at start-up when it does not exist yet (a super user, typically).
    pub bootstrap_user: Option<(String, Secret)>,
    /// How this node logs in to the others' inter-broker listener (SCRAM-SHA-512). In a
    /// cluster the user is created at start-up when missing, like the bootstrap user.
    pub inter_broker_user: Option<(String, Secret)>,
    pub limits: SecurityLimits,
}

impl Default for SecurityConfig {
    fn default() -> SecurityConfig {
        SecurityConfig {
            kafka_listeners: Vec::new(),
            inter_broker_listener: None,
            tls: None,
            http_tls: false,
            authentication: false,
            authorizer: AuthorizerConfig::default(),
            sasl_mechanisms: vec![
                SaslMechanism::Scram(ScramMechanism::Sha512),
                SaslMechanism::Scram(ScramMechanism::Sha256),
                SaslMechanism::Plain,
            ],
            bootstrap_user: None,
            inter_broker_user: None,
            limits: SecurityLimits::default(),
        }
    }
}

impl SecurityConfig {
    /// Rejects settings that cannot work together, before anything starts.
    pub fn validate(&self) -> Result<(), String> {
        let mut seen = std::collections::BTreeSet::new();
        for listener in &self.kafka_listeners {
            if !seen.insert(listener.protocol) {
                return Err(format!(
                    "listeners: {} appears twice (one listener per security protocol)",
                    listener.protocol
                ));
            }
            if listener.protocol.uses_tls() && self.tls.is_none() {
                return Err(format!(
                    "listeners: {} needs tls_cert_file and tls_key_file",
                    listener.protocol
                ));
            }
            if listener.protocol.uses_sasl() && self.sasl_mechanisms.is_empty() {
                return Err(format!(
                    "listeners: {} needs at least one of sasl_mechanisms",
                    listener.protocol
                ));
            }
        }
        if let Some(inter_broker) = self.inter_broker_listener {
            if !self.kafka_listeners.is_empty() && !seen.contains(&inter_broker) {
                return Err(format!(
                    "inter_broker_listener {inter_broker} is not one of the listeners"
                ));
            }
        }
        if self.http_tls && self.tls.is_none() {
            return Err("http_tls needs tls_cert_file and tls_key_file".into());
        }
        if self.authorizer.enabled
            && !self.authentication
            && self
                .kafka_listeners
                .iter()
                .all(|l| !l.protocol.uses_sasl() && !l.protocol.uses_tls())
        {
            // Everyone would be User:ANONYMOUS: ACLs could tell no one apart.
            return Err("authorization needs authentication (or an SSL/SASL listener): every client would be User:ANONYMOUS".into());
        }
        let limits = &self.limits;
        if limits.connections_per_address_max == 0
            || limits.requests_per_s_per_address == 0
            || limits.requests_burst == 0
            || limits.authentication_ms_max == 0
            || limits.console_sessions_max == 0
        {
            return Err("security limits must be at least 1".into());
        }
        if limits.login_failure_delay_ms_base > limits.login_failure_delay_ms_max {
            return Err(
                "login_failure_delay_ms_base must not exceed login_failure_delay_ms_max".into(),
            );
        }
        Ok(())
    }

    /// Whether any part of the node authenticates or authorizes.
    pub fn is_enabled(&self) -> bool {
        self.authentication
            || self.authorizer.enabled
            || self.http_tls
            || self
                .kafka_listeners
                .iter()
                .any(|l| l.protocol != SecurityProtocol::Plaintext)
    }
}

/// Where the state is kept between changes.
pub trait SecurityStore: Send + Sync + std::fmt::Debug {
    /// Makes `state` durable (and visible to the other nodes); the change is lost if this fails.
    fn save(&self, state: &SecurityState) -> Result<(), BrokerError>;

    /// The state another node saved since this node last loaded or saved it, if any (a store
    /// shared by the cluster). A shared store that holds nothing yet is seeded with `current`.
    fn refresh(&self, _current: &SecurityState) -> Result<Option<SecurityState>, BrokerError> {
        Ok(None)
    }
}

/// `DATA/security.json`.
#[derive(Debug)]
pub struct FileStore {
    dir: PathBuf,
}

impl SecurityStore for FileStore {
    fn save(&self, state: &SecurityState) -> Result<(), BrokerError> {
        crate::json_file::store(&self.dir, SECURITY_FILE_NAME, state)
            .map_err(|e| BrokerError::Storage(format!("cannot write {SECURITY_FILE_NAME}: {e}")))
    }
}

/// The node's security, shared by every front-end.
pub struct Security {
    pub config: SecurityConfig,
    state: RwLock<Arc<SecurityState>>,
    store: RwLock<Arc<dyn SecurityStore>>,
    /// Serializes changes: read, change, save, publish.
    update_lock: tokio::sync::Mutex<()>,
    /// The node's bootstrap and inter-broker users were found in, or added to, the shared store
    /// (see [`Security::attach_store`]); until then [`Security::sync_with_store`] tries again.
    store_users_ensured: std::sync::atomic::AtomicBool,
    pub kafka_limits: ClientLimits,
    /// HTTP requests per second per client address.
    pub http_requests: Arc<RequestRate>,
    /// Failed HTTP logins (Basic, console) per client address.
    pub http_login_backoff: Arc<LoginBackoff>,
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Security")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn store_error(error: StoreError) -> BrokerError {
    BrokerError::InvalidField(error.to_string())
}

impl Security {
    /// Loads `DATA/security.json` (an empty state when absent) and creates the bootstrap user
    /// when it does not exist yet.
    pub fn open(config: SecurityConfig, data_dir: &Path) -> Result<Security, BrokerError> {
        let path = data_dir.join(SECURITY_FILE_NAME);
        let state: SecurityState = crate::json_file::load(&path)
            .map_err(|e| BrokerError::Storage(format!("cannot read {}: {e}", path.display())))?
            .unwrap_or_default();
        let limits = &config.limits;
        let kafka_limits = ClientLimits {
            connections: ConnectionsPerAddress::new(limits.connections_per_address_max),
            requests: Arc::new(RequestRate::new(
                limits.requests_per_s_per_address,
                limits.requests_burst,
            )),
            login_backoff: Arc::new(LoginBackoff::new(
                limits.login_failure_delay_ms_base,
                limits.login_failure_delay_ms_max,
            )),
        };
        let security = Security {
            http_requests: Arc::new(RequestRate::new(
                limits.requests_per_s_per_address,
                limits.requests_burst,
            )),
            http_login_backoff: Arc::new(LoginBackoff::new(
                limits.login_failure_delay_ms_base,
                limits.login_failure_delay_ms_max,
            )),
            config,
            state: RwLock::new(Arc::new(state)),
            store: RwLock::new(Arc::new(FileStore {
                dir: data_dir.to_path_buf(),
            })),
            update_lock: tokio::sync::Mutex::new(()),
            store_users_ensured: std::sync::atomic::AtomicBool::new(false),
            kafka_limits,
        };
        security.bootstrap()?;
        Ok(security)
    }

    /// Creates the bootstrap user when it does not exist (its password is never changed here:
    /// once created, the user is managed like any other).
    fn bootstrap(&self) -> Result<(), BrokerError> {
        let Some((user, password)) = &self.config.bootstrap_user else {
            return Ok(());
        };
        let mut state = (*self.snapshot()).clone();
        if state.users.contains_key(user) {
            return Ok(());
        }
        state
            .set_password(user, &password.0, yak_auth::scram::ITERATIONS_DEFAULT)
            .map_err(store_error)?;
        self.store_handle().save(&state)?;
        self.publish(state);
        tracing::info!(%user, "bootstrap user created");
        Ok(())
    }

    fn store_handle(&self) -> Arc<dyn SecurityStore> {
        Arc::clone(&self.store.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Moves the state to another store (the cluster's coordinator), saving it there first.
    pub fn set_store(&self, store: Arc<dyn SecurityStore>) {
        *self.store.write().unwrap_or_else(|e| e.into_inner()) = store;
    }

    /// Moves the state to a store shared by the cluster: loads what it holds (or seeds it with
    /// this node's state), then makes sure the bootstrap user and the inter-broker user exist
    /// there (nodes log in to each other as the latter, so a cluster started from nothing must
    /// have it). This happens once per start of the node: an existing user's password is never
    /// changed, and a user an operator deletes later stays deleted. Nodes starting together race
    /// for the store's version, so a refused change is retried up to
    /// `STORE_ATTACH_ATTEMPTS_MAX` times; a store that cannot be reached yet is not fatal: the
    /// cluster's periodic [`Security::sync_with_store`] finishes the job.
    pub async fn attach_store(self: &Arc<Self>, store: Arc<dyn SecurityStore>) {
        /// Attempts to load the shared state and add the node's users to it.
        const STORE_ATTACH_ATTEMPTS_MAX: u32 = 5;
        self.set_store(store);
        let mut last_error = None;
        for _ in 0..STORE_ATTACH_ATTEMPTS_MAX {
            match self.ensure_store_users().await {
                Ok(()) => return,
                Err(error) => last_error = Some(error),
            }
        }
        if let Some(error) = last_error {
            tracing::warn!(%error, "cannot load the cluster's users and ACLs yet; retrying");
        }
    }

    /// The shared store's periodic check (the cluster calls it every tick): finishes
    /// [`Security::attach_store`] if it could not, else reloads what another node changed.
    pub async fn sync_with_store(self: &Arc<Self>) -> Result<(), BrokerError> {
        use std::sync::atomic::Ordering;
        if self.store_users_ensured.load(Ordering::Acquire) {
            self.refresh().await.map(|_| ())
        } else {
            self.ensure_store_users().await
        }
    }

    /// Loads the shared state, then adds this node's bootstrap and inter-broker users if they
    /// are missing from it.
    async fn ensure_store_users(self: &Arc<Self>) -> Result<(), BrokerError> {
        self.refresh().await?;
        let missing: Vec<(String, Secret)> = [
            self.config.bootstrap_user.clone(),
            self.config.inter_broker_user.clone(),
        ]
        .into_iter()
        .flatten()
        .filter(|(user, _)| !self.snapshot().users.contains_key(user))
        .collect();
        if !missing.is_empty() {
            let created = self
                .update(move |state| {
                    let mut created = Vec::new();
                    for (user, password) in missing {
                        if !state.users.contains_key(&user) {
                            state
                                .set_password(
                                    &user,
                                    &password.0,
                                    yak_auth::scram::ITERATIONS_DEFAULT,
                                )
                                .map_err(store_error)?;
                            created.push(user);
                        }
                    }
                    Ok(created)
                })
                .await?;
            for user in created {
                tracing::info!(%user, "user created in the cluster at start-up");
            }
        }
        self.store_users_ensured
            .store(true, std::sync::atomic::Ordering::Release);
        Ok(())
    }

    /// Loads the state again if another node changed it (see [`SecurityStore::refresh`]).
    /// Serialized with [`Security::update`], and run in a task of its own, so a caller that
    /// goes away cannot leave the store's version and the published state apart.
    pub async fn refresh(self: &Arc<Self>) -> Result<bool, BrokerError> {
        let security = Arc::clone(self);
        tokio::spawn(async move {
            let _guard = security.update_lock.lock().await;
            let store = security.store_handle();
            let current = security.snapshot();
            let loaded = tokio::task::spawn_blocking(move || store.refresh(&current))
                .await
                .map_err(|e| BrokerError::Internal(format!("security load task failed: {e}")))??;
            match loaded {
                Some(state) => {
                    security.publish(state);
                    Ok(true)
                }
                None => Ok(false),
            }
        })
        .await
        .map_err(|e| BrokerError::Internal(format!("security refresh task failed: {e}")))?
    }

    /// The current users, ACLs and tokens.
    pub fn snapshot(&self) -> Arc<SecurityState> {
        Arc::clone(&self.state.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Replaces the state with one read from elsewhere (another node changed it).
    pub fn publish(&self, state: SecurityState) {
        *self.state.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(state);
    }

    /// Changes the state: `change` runs on a copy, the copy is saved, then published. Runs in
    /// a task of its own, so a caller that goes away mid-way cannot leave the store and the
    /// node disagreeing.
    pub async fn update<T, F>(self: &Arc<Self>, change: F) -> Result<T, BrokerError>
    where
        T: Send + 'static,
        F: FnOnce(&mut SecurityState) -> Result<T, BrokerError> + Send + 'static,
    {
        let security = Arc::clone(self);
        tokio::spawn(async move {
            let _guard = security.update_lock.lock().await;
            let mut state = (*security.snapshot()).clone();
            let answer = change(&mut state)?;
            let store = security.store_handle();
            let saving = state.clone();
            tokio::task::spawn_blocking(move || store.save(&saving))
                .await
                .map_err(|e| BrokerError::Internal(format!("security save task failed: {e}")))??;
            security.publish(state);
            Ok(answer)
        })
        .await
        .map_err(|e| BrokerError::Internal(format!("security update task failed: {e}")))?
    }

    pub fn credential(&self, user: &str, mechanism: ScramMechanism) -> Option<ScramCredential> {
        self.snapshot().credential(user, mechanism)
    }

    pub fn check_password(&self, user: &str, password: &str) -> bool {
        self.snapshot().verify_password(user, password)
    }

    /// The ACL decision for `principal` connected from `host`.
    pub fn authorize(
        &self,
        principal: &Principal,
        host: &str,
        operation: Operation,
        resource: &Resource,
    ) -> bool {
        if !self.config.authorizer.enabled {
            return true;
        }
        // Followers fetch, list offsets, truncate by epoch and forward topic creations as the
        // inter-broker user; Kafka requires that principal among the super users, and a
        // cluster that forgot would stop replicating the moment ACLs go on, so it is one here,
        // on Kafka and HTTP alike.
        let inter_broker = self
            .config
            .inter_broker_user
            .as_ref()
            .is_some_and(|(user, _)| {
                principal.principal_type == yak_auth::principal::USER_TYPE
                    && principal.name == *user
            });
        if inter_broker {
            return true;
        }
        self.snapshot().acls.authorize(
            &self.config.authorizer,
            principal,
            host,
            operation,
            resource,
        )
    }
}

/// A store error as the HTTP and Kafka front-ends report it.
pub fn to_broker_error(error: StoreError) -> BrokerError {
    store_error(error)
}
