//! Starting and stopping a node: bind the listeners, open the broker, serve until told to stop,
//! then stop accepting, let in-flight requests finish, flush every log, and return.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use yak_log::{FileSystem, FlushPolicy};

use std::collections::BTreeMap;

use tokio_rustls::TlsAcceptor;
use yak_kafka::session::ListenerSecurity;
use yak_kafka::SecurityProtocol;

use crate::broker::Broker;
use crate::config::BrokerConfig;
use crate::error::BrokerError;
use crate::security::tls_listener::{HttpListener, PeerInfo};
use crate::security::KafkaListener;

/// How long shutdown waits for Kafka connections to finish their requests.
pub const SHUTDOWN_KAFKA_MS_MAX: u64 = 10_000;

/// How long shutdown waits for the cluster controller to give up the lease.
pub const SHUTDOWN_CONTROLLER_MS_MAX: u64 = 3_000;

/// The lock file in the data directory (Kafka's name for it).
pub const LOCK_FILE_NAME: &str = ".lock";

/// A node that is serving.
pub struct Running {
    pub broker: Arc<Broker>,
    pub http_addr: SocketAddr,
    /// The first Kafka listener's bound address.
    pub kafka_addr: SocketAddr,
    /// Every Kafka listener's bound address.
    pub kafka_listeners: Vec<(SecurityProtocol, SocketAddr)>,
    http: JoinHandle<std::io::Result<()>>,
    kafka: Vec<JoinHandle<()>>,
    background: Vec<JoinHandle<()>>,
    /// The cluster controller, which gives the lease up at shutdown.
    controller: Option<JoinHandle<()>>,
    /// The data directory's lock, held until shutdown has flushed every log.
    _data_dir_lock: File,
}

/// Takes the data directory's exclusive lock, so that a second broker pointed at the same
/// directory refuses to start instead of writing to the same files. The lock is an `flock` on
/// `DATA/.lock`: the kernel releases it when the process ends, however it ends, so a crash never
/// leaves a stale lock behind. The file holds the owner's process id, for the error message.
fn lock_data_dir(data_dir: &Path) -> Result<File, BrokerError> {
    let storage = |what: &str, error: std::io::Error| {
        BrokerError::Storage(format!("cannot {what} {}: {error}", data_dir.display()))
    };
    std::fs::create_dir_all(data_dir).map_err(|e| storage("create", e))?;
    let path = data_dir.join(LOCK_FILE_NAME);
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| storage("open the lock file in", e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(BrokerError::DataDirInUse {
                path: data_dir.to_path_buf(),
                lock_file: path,
            })
        }
        Err(TryLockError::Error(e)) => return Err(storage("lock", e)),
    }
    // Only informative: a failure to record the pid does not weaken the lock.
    let _ = file
        .set_len(0)
        .and_then(|()| writeln!(file, "{}", std::process::id()));
    Ok(file)
}

async fn bind(addr: SocketAddr, what: &str) -> Result<TcpListener, BrokerError> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| BrokerError::InvalidField(format!("cannot listen for {what} on {addr}: {e}")))
}

/// Binds the listeners and opens the broker (recovering every log) before answering anyone.
///
/// The data directory is locked first, so a second broker on the same directory stops with
/// [`BrokerError::DataDirInUse`] before it binds, opens or writes anything.
pub async fn start(config: BrokerConfig, fs: Arc<dyn FileSystem>) -> Result<Running, BrokerError> {
    let data_dir_lock = lock_data_dir(&config.data_dir)?;
    let tls_config = match &config.security.tls {
        Some(files) => Some(
            yak_auth::tls::server_config(files)
                .map_err(|e| BrokerError::InvalidField(format!("TLS: {e}")))?,
        ),
        None => None,
    };
    // SASL_SSL listeners authenticate by SASL and never ask for client certificates, as Kafka
    // does since KIP-684 (`ssl.client.auth` applies to SSL listeners and HTTPS only).
    let sasl_tls_config = match &config.security.tls {
        Some(files) => Some(
            yak_auth::tls::server_config(&yak_auth::tls::TlsFiles {
                client_auth: yak_auth::tls::ClientAuth::None,
                ..files.clone()
            })
            .map_err(|e| BrokerError::InvalidField(format!("TLS: {e}")))?,
        ),
        None => None,
    };
    let http_listener = bind(config.http, "HTTP").await?;
    let http_addr = http_listener
        .local_addr()
        .map_err(|e| BrokerError::Internal(e.to_string()))?;
    let listener_configs = if config.security.kafka_listeners.is_empty() {
        vec![KafkaListener {
            protocol: SecurityProtocol::Plaintext,
            address: config.kafka,
            advertised: config.advertise_kafka.clone(),
        }]
    } else {
        config.security.kafka_listeners.clone()
    };
    let mut kafka_listeners = Vec::new();
    let mut advertised_listeners = BTreeMap::new();
    for listener_config in &listener_configs {
        let protocol = listener_config.protocol;
        let listener = bind(listener_config.address, &format!("Kafka {protocol}")).await?;
        let address = listener
            .local_addr()
            .map_err(|e| BrokerError::Internal(e.to_string()))?;
        advertised_listeners.insert(
            protocol,
            listener_config
                .advertised
                .clone()
                .unwrap_or_else(|| address.to_string()),
        );
        kafka_listeners.push((protocol, address, listener));
    }
    let kafka_addr = kafka_listeners
        .first()
        .map(|(_, address, _)| *address)
        .ok_or_else(|| BrokerError::InvalidField("no Kafka listener".into()))?;
    let advertised_http = config.advertise_http.clone().unwrap_or_else(|| {
        let scheme = if config.security.http_tls {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{http_addr}")
    });

    let open_config = config.clone();
    let broker = tokio::task::spawn_blocking(move || {
        Broker::open(open_config, fs, advertised_http, advertised_listeners)
    })
    .await
    .map_err(|e| BrokerError::Internal(format!("start-up task failed: {e}")))??;

    let mut background = Vec::new();
    if let FlushPolicy::IntervalMs(interval_ms) = config.flush {
        let broker = Arc::clone(&broker);
        background.push(tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_millis(interval_ms));
            loop {
                tokio::select! {
                    _ = ticker.tick() => {}
                    _ = broker.shutdown.cancelled() => return,
                }
                let flushing = Arc::clone(&broker);
                // Failures are logged by flush_all; the next tick tries again.
                let _ = tokio::task::spawn_blocking(move || flushing.flush_all()).await;
            }
        }));
    }
    background.push(broker.spawn_retention());
    let groups = Arc::new(crate::groups::GroupCoordinator::new(
        Arc::downgrade(&broker),
        crate::groups::Limits {
            offsets_retention_ms: config.offsets_retention_ms,
            ..crate::groups::Limits::default()
        },
    ));
    broker.attach_groups(Arc::clone(&groups));
    background.push(groups.spawn_ticker(&broker));
    if config.coordinator.is_none() {
        // A standalone node coordinates its groups from the start; a clustered one when it
        // starts leading.
        groups.load().await?;
    }
    let controller = match &config.coordinator {
        Some(cluster_config) => {
            let client_security =
                crate::cluster::kafka_client::ClientSecurity::from_config(&config.security)
                    .map_err(BrokerError::InvalidField)?;
            let cluster = Arc::new(crate::cluster::Cluster::new(
                cluster_config.clone(),
                &config.cluster,
                config.node_id,
                &config.data_dir,
                broker.advertised_http.clone(),
                broker.advertised_kafka.clone(),
                broker
                    .advertised_listeners
                    .iter()
                    .map(|(protocol, address)| (protocol.name().to_string(), address.clone()))
                    .collect(),
                client_security,
            )?);
            // A node Redis refuses never joins; then users and ACLs come from the cluster.
            cluster.check_coordinator().await?;
            broker
                .security
                .attach_store(Arc::new(cluster.security_store()?))
                .await;
            broker.attach_cluster(Arc::clone(&cluster));
            Some(cluster.spawn(Arc::clone(&broker)))
        }
        None => None,
    };
    let mut kafka = Vec::new();
    let mut kafka_addresses = Vec::new();
    for (protocol, address, listener) in kafka_listeners {
        let tls = if protocol.uses_sasl() {
            sasl_tls_config.as_ref()
        } else {
            tls_config.as_ref()
        };
        let security = listener_security(&broker, protocol, tls);
        kafka.push(crate::kafka::spawn(Arc::clone(&broker), listener, security));
        kafka_addresses.push((protocol, address));
    }

    let app =
        crate::http::router(Arc::clone(&broker)).into_make_service_with_connect_info::<PeerInfo>();
    let http_listener = match (&tls_config, config.security.http_tls) {
        (Some(tls), true) => HttpListener::tls(http_listener, TlsAcceptor::from(Arc::clone(tls))),
        _ => HttpListener::plain(http_listener),
    }
    .map_err(|e| BrokerError::Internal(e.to_string()))?;
    let shutdown = broker.shutdown.clone();
    let http = tokio::spawn(async move {
        axum::serve(http_listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await
    });
    tracing::info!(%http_addr, listeners = ?kafka_addresses, data_dir = %config.data_dir.display(), flush = %config.flush, "broker started");
    Ok(Running {
        broker,
        http_addr,
        kafka_addr,
        kafka_listeners: kafka_addresses,
        http,
        kafka,
        background,
        controller,
        _data_dir_lock: data_dir_lock,
    })
}

/// How the Kafka listener of `protocol` secures its connections.
fn listener_security(
    broker: &Broker,
    protocol: SecurityProtocol,
    tls: Option<&Arc<rustls::ServerConfig>>,
) -> ListenerSecurity {
    let security = &broker.security;
    ListenerSecurity {
        protocol,
        tls: tls
            .filter(|_| protocol.uses_tls())
            .map(|config| TlsAcceptor::from(Arc::clone(config))),
        sasl_mechanisms: if protocol.uses_sasl() {
            security.config.sasl_mechanisms.clone()
        } else {
            Vec::new()
        },
        authentication_ms_max: security.config.limits.authentication_ms_max,
        limits: Some(security.kafka_limits.clone()),
    }
}

impl Running {
    /// Stops accepting, waits for in-flight requests (long-polls and streams end at once), then
    /// fsyncs every log.
    pub async fn shutdown(self) -> Result<(), BrokerError> {
        tracing::info!("shutting down");
        self.broker.shutdown.cancel();
        match self.http.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!(%error, "HTTP server stopped with an error"),
            Err(error) => tracing::error!(%error, "HTTP server task failed"),
        }
        // The Kafka listener stops accepting on the same token and returns once its connections
        // have ended; a connection stuck past the limit is dropped, and whatever it wrote is
        // still fsynced below (it was never acknowledged).
        if tokio::time::timeout(
            Duration::from_millis(SHUTDOWN_KAFKA_MS_MAX),
            futures::future::join_all(self.kafka),
        )
        .await
        .is_err()
        {
            tracing::warn!("Kafka connections did not end in time; closing them");
        }
        for task in self.background {
            task.abort();
        }
        if let Some(controller) = self.controller {
            // It stops copying and releases the lease, so a follower takes over at once.
            if tokio::time::timeout(
                Duration::from_millis(SHUTDOWN_CONTROLLER_MS_MAX),
                controller,
            )
            .await
            .is_err()
            {
                tracing::warn!("the cluster controller did not stop in time");
            }
        }
        let broker = Arc::clone(&self.broker);
        tokio::task::spawn_blocking(move || broker.close_all())
            .await
            .map_err(|e| BrokerError::Internal(format!("final flush task failed: {e}")))??;
        tracing::info!("every log flushed and closed; stopped");
        Ok(())
    }
}
