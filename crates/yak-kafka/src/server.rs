//! The listener: accept loop, connection limit, and one task per connection.
//!
//! A connection reads frames (4-byte big-endian length, at most `frame_bytes_max`), decodes
//! each one at once (a bad frame closes the connection, as Kafka does), and runs up to
//! `in_flight_requests_max` handlers concurrently. Responses are written in request order
//! (clients pipeline and match by order as well as by correlation id); a Produce with acks=0
//! holds its place in the queue but writes nothing.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;

use bytes::BytesMut;
use futures::stream::FuturesOrdered;
use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::codec::{FramedRead, LengthDelimitedCodec};
use tokio_util::sync::CancellationToken;

use crate::backend::Backend;
use crate::request::{self, EncodeError, HandlerConfig};

/// Limits of the Kafka listener.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Open connections at once; further connections are closed right after accept.
    pub connections_max: usize,
    /// Largest request frame, without its 4-byte length (Kafka's `socket.request.max.bytes`).
    pub frame_bytes_max: usize,
    /// Requests being handled at once on one connection; reading pauses at the limit.
    pub in_flight_requests_max: usize,
    /// Longest a Fetch may long-poll, whatever its `max_wait_ms` asks.
    pub fetch_wait_ms_max: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            connections_max: 1024,
            frame_bytes_max: 100 * 1024 * 1024,
            in_flight_requests_max: 100,
            fetch_wait_ms_max: 30_000,
        }
    }
}

impl ServerConfig {
    /// Checks the limits at start-up.
    pub fn validate(&self) -> Result<(), String> {
        if self.connections_max == 0 {
            return Err("connections_max must be at least 1".into());
        }
        if self.frame_bytes_max < request::FRAME_BYTES_MIN {
            return Err(format!(
                "frame_bytes_max must be at least {} bytes",
                request::FRAME_BYTES_MIN
            ));
        }
        if self.frame_bytes_max > i32::MAX as usize {
            return Err("frame_bytes_max must fit Kafka's i32 frame length".into());
        }
        if self.in_flight_requests_max == 0 {
            return Err("in_flight_requests_max must be at least 1".into());
        }
        Ok(())
    }
}

/// Serves the Kafka protocol on `listener` until `shutdown` resolves, then closes every
/// connection and returns once their tasks have ended.
pub async fn serve<B: Backend>(
    listener: TcpListener,
    backend: Arc<B>,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    config
        .validate()
        .map_err(|reason| io::Error::new(io::ErrorKind::InvalidInput, reason))?;
    let connections = Arc::new(Semaphore::new(config.connections_max));
    let cancel = CancellationToken::new();
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    tracing::info!(address = ?listener.local_addr().ok(), "kafka listener started");
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
            // Reap finished connection tasks so the set does not grow without bound.
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Running out of file descriptors and similar are transient; keep listening.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&connections).try_acquire_owned() else {
            tracing::warn!(%peer, connections_max = config.connections_max, "too many connections; closing");
            drop(stream);
            continue;
        };
        let backend = Arc::clone(&backend);
        let config = config.clone();
        let cancel = cancel.child_token();
        tasks.spawn(async move {
            let _permit = permit;
            tracing::debug!(%peer, "connection opened");
            match connection(stream, backend, &config, cancel).await {
                Ok(()) => tracing::debug!(%peer, "connection closed"),
                Err(error) => tracing::debug!(%peer, %error, "connection ended"),
            }
        });
    }
    tracing::info!("kafka listener stopping");
    cancel.cancel();
    while tasks.join_next().await.is_some() {}
    Ok(())
}

type Pending = Pin<Box<dyn Future<Output = Result<Option<BytesMut>, EncodeError>> + Send>>;

/// Serves one connection until the client closes it, a frame is bad, or `cancel` fires.
async fn connection<B: Backend>(
    stream: TcpStream,
    backend: Arc<B>,
    config: &ServerConfig,
    cancel: CancellationToken,
) -> io::Result<()> {
    // Kafka clients pipeline small requests; do not let Nagle hold their responses.
    stream.set_nodelay(true)?;
    let (reader, mut writer) = stream.into_split();
    let codec = LengthDelimitedCodec::builder()
        .length_field_length(4)
        .big_endian()
        .max_frame_length(config.frame_bytes_max)
        .new_codec();
    let mut frames = FramedRead::new(reader, codec);
    let handler_config = HandlerConfig {
        fetch_wait_ms_max: config.fetch_wait_ms_max,
    };
    let mut pending: FuturesOrdered<Pending> = FuturesOrdered::new();
    let mut reading = true;
    loop {
        if !reading && pending.is_empty() {
            break;
        }
        tokio::select! {
            () = cancel.cancelled() => break,
            frame = frames.next(), if reading && pending.len() < config.in_flight_requests_max => {
                match frame {
                    Some(Ok(frame)) => match request::decode(frame.freeze()) {
                        Ok(request) => {
                            tracing::trace!(api_key = ?request.api_key, version = request.version, correlation_id = request.correlation_id, "request");
                            let backend = Arc::clone(&backend);
                            pending.push_back(Box::pin(async move {
                                request::handle(&*backend, handler_config, request).await
                            }));
                        }
                        Err(error) => {
                            // Kafka closes the connection on these; answer what is in flight first.
                            tracing::info!(%error, "closing connection after a bad request");
                            reading = false;
                        }
                    },
                    Some(Err(error)) => {
                        tracing::info!(%error, "closing connection after a bad frame");
                        reading = false;
                    }
                    None => reading = false,
                }
            }
            Some(response) = pending.next(), if !pending.is_empty() => {
                match response {
                    Ok(Some(frame)) => writer.write_all(&frame).await?,
                    Ok(None) => {}
                    Err(error) => {
                        tracing::error!(%error, "closing connection: a response could not be encoded");
                        break;
                    }
                }
            }
        }
    }
    writer.shutdown().await.ok();
    Ok(())
}
