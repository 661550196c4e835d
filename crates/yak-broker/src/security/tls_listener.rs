//! The HTTP listener, plain or TLS, as an axum `Listener`.
//!
//! TLS handshakes run in tasks of their own, off the accept loop, so a client that opens a
//! connection and never finishes its handshake holds up no one; at most
//! [`HANDSHAKES_IN_FLIGHT_MAX`] run at once and each has [`HANDSHAKE_MS_MAX`]. Every connection
//! carries a [`PeerInfo`]: the client's address, and the principal of its client certificate.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::either::Either;
use yak_auth::Principal;

/// TLS handshakes under way at once; connections past it are closed at accept.
pub const HANDSHAKES_IN_FLIGHT_MAX: usize = 256;
/// Longest a TLS handshake may take.
pub const HANDSHAKE_MS_MAX: u64 = 10_000;
/// Finished handshakes waiting for the HTTP server to take them.
const READY_CONNECTIONS_MAX: usize = 64;

/// Who is at the other end of an HTTP connection.
#[derive(Clone, Debug)]
pub struct PeerInfo {
    pub address: SocketAddr,
    /// From a verified client certificate (`User:CN`).
    pub principal: Option<Principal>,
}

impl Connected<IncomingStream<'_, HttpListener>> for PeerInfo {
    fn connect_info(stream: IncomingStream<'_, HttpListener>) -> PeerInfo {
        stream.remote_addr().clone()
    }
}

/// The HTTP API's listener.
pub struct HttpListener {
    local: SocketAddr,
    kind: Kind,
}

enum Kind {
    Plain(TcpListener),
    Tls {
        ready: mpsc::Receiver<(TlsStream<TcpStream>, PeerInfo)>,
        acceptor_task: JoinHandle<()>,
    },
}

impl Drop for HttpListener {
    fn drop(&mut self) {
        if let Kind::Tls { acceptor_task, .. } = &self.kind {
            acceptor_task.abort();
        }
    }
}

impl HttpListener {
    pub fn plain(listener: TcpListener) -> std::io::Result<HttpListener> {
        Ok(HttpListener {
            local: listener.local_addr()?,
            kind: Kind::Plain(listener),
        })
    }

    pub fn tls(listener: TcpListener, acceptor: TlsAcceptor) -> std::io::Result<HttpListener> {
        let local = listener.local_addr()?;
        let (ready_tx, ready) = mpsc::channel(READY_CONNECTIONS_MAX);
        let acceptor_task = tokio::spawn(accept_tls(listener, acceptor, ready_tx));
        Ok(HttpListener {
            local,
            kind: Kind::Tls {
                ready,
                acceptor_task,
            },
        })
    }
}

async fn accept_tls(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    ready: mpsc::Sender<(TlsStream<TcpStream>, PeerInfo)>,
) {
    let handshakes = Arc::new(Semaphore::new(HANDSHAKES_IN_FLIGHT_MAX));
    loop {
        let (stream, address) = match TcpListener::accept(&listener).await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "HTTPS accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&handshakes).try_acquire_owned() else {
            tracing::warn!(%address, "too many TLS handshakes under way; closing");
            continue;
        };
        let acceptor = acceptor.clone();
        let ready = ready.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let handshake = tokio::time::timeout(
                Duration::from_millis(HANDSHAKE_MS_MAX),
                acceptor.accept(stream),
            )
            .await;
            match handshake {
                Ok(Ok(tls)) => {
                    let principal = yak_auth::tls::peer_principal(tls.get_ref().1);
                    // The server has gone when this fails; the connection just closes.
                    let _ = ready.send((tls, PeerInfo { address, principal })).await;
                }
                Ok(Err(error)) => tracing::info!(%address, %error, "HTTPS handshake failed"),
                Err(_) => tracing::info!(%address, "HTTPS handshake timed out"),
            }
        });
    }
}

impl Listener for HttpListener {
    type Io = Either<TcpStream, TlsStream<TcpStream>>;
    type Addr = PeerInfo;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match &mut self.kind {
            Kind::Plain(listener) => loop {
                match TcpListener::accept(listener).await {
                    Ok((stream, address)) => {
                        return (
                            Either::Left(stream),
                            PeerInfo {
                                address,
                                principal: None,
                            },
                        )
                    }
                    Err(error) => {
                        tracing::warn!(%error, "HTTP accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            },
            Kind::Tls { ready, .. } => match ready.recv().await {
                Some((stream, peer)) => (Either::Right(stream), peer),
                // The acceptor task never ends on its own; wait for shutdown.
                None => std::future::pending().await,
            },
        }
    }

    fn local_addr(&self) -> std::io::Result<PeerInfo> {
        Ok(PeerInfo {
            address: self.local,
            principal: None,
        })
    }
}
