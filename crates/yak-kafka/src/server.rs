//! The listener: accept loop, connection limit, and one task per connection.
//!
//! A connection reads frames (4-byte big-endian length, at most `frame_bytes_max`) on a reader
//! task, decodes each one at once (a bad frame closes the connection, as Kafka does), and runs
//! up to `in_flight_requests_max` handlers concurrently. Responses are written in request
//! order (clients pipeline and match by order as well as by correlation id); a Produce with
//! acks=0 holds its place in the queue but writes nothing.
//!
//! Memory is bounded by configuration, not by what clients declare or ask for:
//! - a frame's buffer grows with the bytes that have arrived, never to the declared length
//!   up front;
//! - the bytes of requests read and not yet handled are counted per connection (at most
//!   `frame_bytes_max`) and per node (`queued_request_bytes_max`, Kafka's
//!   `queued.max.request.bytes`); reading waits for room, so a full node stops reading;
//! - the records a Fetch reads are counted per connection (at most `fetch_bytes_max`) and per
//!   node (`queued_response_bytes_max`) from before the log read until the response is
//!   written (see `memory`), and are written from the bytes the log read returned (vectored
//!   writes, no second copy).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use futures::stream::FuturesOrdered;
use futures::StreamExt;
use kafka_protocol::messages::ApiKey;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use yak_auth::limits::RequestRate;
use yak_auth::Principal;

use crate::backend::Backend;
use crate::fetch::FetchLimits;
use crate::memory::{self, FetchTurn, NodeBudgets, ResponseBudget, ResponseFrame};
use crate::request::{self, Body, EncodeError, HandlerConfig, Reply};
use crate::sasl::{self, Exchange, Outcome, SASL_FRAME_BYTES_MAX};
use crate::session::{ListenerSecurity, Session};

/// Bytes the reader buffers from the socket; a frame body larger than this is read straight
/// into its own buffer.
pub const READ_BUFFER_BYTES: usize = 64 * 1024;
/// An empty or full frame body's buffer grows by at least this much (and at most to the
/// frame's length); a full one otherwise doubles.
pub const FRAME_READ_STEP_BYTES: usize = 64 * 1024;

/// Limits of the Kafka listener.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Open connections at once; further connections are closed right after accept.
    pub connections_max: usize,
    /// Largest request frame, without its 4-byte length (Kafka's `socket.request.max.bytes`).
    /// Also the most request bytes one connection may have read and not yet handled.
    pub frame_bytes_max: usize,
    /// Requests being handled at once on one connection; reading pauses at the limit.
    pub in_flight_requests_max: usize,
    /// Longest a Fetch may long-poll, whatever its `max_wait_ms` asks.
    pub fetch_wait_ms_max: u64,
    /// Most record bytes in one Fetch response, whatever the client asks (Kafka's
    /// `fetch.max.bytes`); also the most one connection may hold queued.
    pub fetch_bytes_max: usize,
    /// Request bytes read and not yet handled, over all connections (Kafka's
    /// `queued.max.request.bytes`).
    pub queued_request_bytes_max: usize,
    /// Fetched record bytes read and not yet written, over all connections.
    pub queued_response_bytes_max: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            connections_max: 1024,
            frame_bytes_max: 100 * 1024 * 1024,
            in_flight_requests_max: 100,
            fetch_wait_ms_max: 30_000,
            fetch_bytes_max: 55 * 1024 * 1024,
            queued_request_bytes_max: 256 * 1024 * 1024,
            queued_response_bytes_max: 256 * 1024 * 1024,
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
        if self.fetch_bytes_max == 0 || self.fetch_bytes_max > i32::MAX as usize {
            return Err("fetch_bytes_max must be between 1 and 2147483647 bytes".into());
        }
        // A request or a response that can never fit its budget would wait forever.
        if self.queued_request_bytes_max < self.frame_bytes_max
            || self.queued_request_bytes_max > u32::MAX as usize
        {
            return Err(format!(
                "queued_request_bytes_max must be between frame_bytes_max ({}) and {} bytes",
                self.frame_bytes_max,
                u32::MAX
            ));
        }
        if self.queued_response_bytes_max < self.fetch_bytes_max
            || self.queued_response_bytes_max > u32::MAX as usize
        {
            return Err(format!(
                "queued_response_bytes_max must be between fetch_bytes_max ({}) and {} bytes",
                self.fetch_bytes_max,
                u32::MAX
            ));
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
    security: ListenerSecurity,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    config
        .validate()
        .map_err(|reason| io::Error::new(io::ErrorKind::InvalidInput, reason))?;
    let connections = Arc::new(Semaphore::new(config.connections_max));
    let budgets = NodeBudgets {
        requests: Arc::new(Semaphore::new(config.queued_request_bytes_max)),
        responses: Arc::new(Semaphore::new(config.queued_response_bytes_max)),
    };
    let cancel = CancellationToken::new();
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    let security = Arc::new(security);
    tracing::info!(address = ?listener.local_addr().ok(), listener = %security.protocol, "kafka listener started");
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
        let address_slot = match &security.limits {
            None => None,
            Some(limits) => match limits.connections.try_open(peer.ip()) {
                Some(slot) => Some(slot),
                None => {
                    tracing::warn!(%peer, connections_max_per_address = limits.connections.max, "too many connections from one address; closing");
                    drop(stream);
                    continue;
                }
            },
        };
        let security = Arc::clone(&security);
        let backend = Arc::clone(&backend);
        let config = config.clone();
        let budgets = budgets.clone();
        let cancel = cancel.child_token();
        tasks.spawn(async move {
            let _permit = permit;
            let _address_slot = address_slot;
            tracing::debug!(%peer, "connection opened");
            match accept_connection(stream, backend, &config, security, budgets, cancel).await {
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

type Pending = Pin<Box<dyn Future<Output = Result<Reply, EncodeError>> + Send>>;

/// Why reading frames stopped on a connection.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame length {length} is outside 0..={frame_bytes_max}")]
    BadLength { length: i32, frame_bytes_max: usize },
    #[error("connection closed inside a frame")]
    Truncated,
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// One request frame (without its length) and the request bytes it holds in the budgets.
#[derive(Debug)]
pub struct Frame {
    pub bytes: Bytes,
    pub permits: Vec<OwnedSemaphorePermit>,
}

/// Reads one frame: `Ok(None)` when the peer closed between frames. The body's buffer grows
/// as its bytes arrive (it doubles when full: at most twice what arrived, plus
/// `FRAME_READ_STEP_BYTES`), so a declared length costs nothing until it is sent; its bytes
/// are taken from `connection` and `node` first, which waits while either is full.
///
/// `frame_bytes_max` is read once the length has arrived, not before: a connection raises it
/// when its login succeeds, while this may already be waiting for the next frame.
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    frame_bytes_max: &AtomicUsize,
    connection: &Arc<Semaphore>,
    node: &Arc<Semaphore>,
) -> Result<Option<Frame>, FrameError> {
    let mut length_field = [0u8; 4];
    let mut filled = 0;
    while filled < length_field.len() {
        match reader.read(&mut length_field[filled..]).await? {
            0 if filled == 0 => return Ok(None),
            0 => return Err(FrameError::Truncated),
            read => filled += read,
        }
    }
    let length = i32::from_be_bytes(length_field);
    let frame_bytes_max = frame_bytes_max.load(Ordering::Acquire);
    let body_bytes = usize::try_from(length)
        .ok()
        .filter(|bytes| *bytes <= frame_bytes_max)
        .ok_or(FrameError::BadLength {
            length,
            frame_bytes_max,
        })?;
    let mut permits = Vec::with_capacity(2);
    permits.extend(memory::acquire(connection, body_bytes).await);
    permits.extend(memory::acquire(node, body_bytes).await);
    let mut body = BytesMut::new();
    while body.len() < body_bytes {
        let left_bytes = body_bytes - body.len();
        if body.capacity() == body.len() {
            body.reserve(left_bytes.min(FRAME_READ_STEP_BYTES));
        }
        let read = (&mut *reader)
            .take(left_bytes as u64)
            .read_buf(&mut body)
            .await?;
        if read == 0 {
            return Err(FrameError::Truncated);
        }
    }
    Ok(Some(Frame {
        bytes: body.freeze(),
        permits,
    }))
}

/// Writes a response frame with vectored writes, its stored batches straight from their
/// buffers.
pub async fn write_frame<W: AsyncWrite + Unpin>(
    writer: &mut W,
    frame: ResponseFrame,
) -> io::Result<()> {
    let mut buf = frame.into_buf();
    while buf.has_remaining() {
        let written = std::future::poll_fn(|cx| {
            tokio_util::io::poll_write_buf(Pin::new(&mut *writer), cx, &mut buf)
        })
        .await?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
    }
    Ok(())
}

/// The reader task of one connection: frames into `frames` until the peer closes, a frame is
/// bad, or the connection task goes away.
async fn read_frames<R: AsyncRead + Unpin>(
    reader: R,
    frame_bytes_max: Arc<AtomicUsize>,
    rate: Option<(Arc<RequestRate>, IpAddr)>,
    connection: Arc<Semaphore>,
    node: Arc<Semaphore>,
    frames: mpsc::Sender<Result<Frame, FrameError>>,
) {
    let mut reader = BufReader::with_capacity(READ_BUFFER_BYTES, reader);
    loop {
        // A client over its request rate is throttled the way a Kafka quota mutes a channel:
        // its next request is not read until the rate allows it, so it simply waits.
        if let Some((rate, host)) = &rate {
            while let Err(wait) = rate.acquire(*host, std::time::Instant::now()) {
                tokio::time::sleep(wait).await;
            }
        }
        let frame = read_frame(&mut reader, &frame_bytes_max, &connection, &node).await;
        let last = !matches!(frame, Ok(Some(_)));
        let Some(frame) = frame.transpose() else {
            return;
        };
        if frames.send(frame).await.is_err() || last {
            return;
        }
    }
}

/// Opens one connection: the TLS handshake on SSL and SASL_SSL listeners (a client
/// certificate names the principal), then serves it. The handshake and the SASL exchange
/// together must end within the listener's `authentication_ms_max`.
async fn accept_connection<B: Backend>(
    stream: TcpStream,
    backend: Arc<B>,
    config: &ServerConfig,
    security: Arc<ListenerSecurity>,
    budgets: NodeBudgets,
    cancel: CancellationToken,
) -> io::Result<()> {
    // Kafka clients pipeline small requests; do not let Nagle hold their responses.
    stream.set_nodelay(true)?;
    let client_host = stream.peer_addr().ok().map(|addr| addr.ip());
    let deadline = tokio::time::Instant::now()
        + std::time::Duration::from_millis(security.authentication_ms_max);
    match &security.tls {
        None => {
            let (reader, writer) = stream.into_split();
            let peer = Peer {
                host: client_host,
                principal: None,
                deadline,
            };
            connection(
                reader, writer, peer, backend, config, security, budgets, cancel,
            )
            .await
        }
        Some(acceptor) => {
            let tls = match tokio::time::timeout_at(deadline, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(error)) => {
                    // Plain text on a TLS port, a bad certificate, an unknown CA: the client
                    // gets a TLS alert (or nothing) and the connection ends here.
                    tracing::info!(host = ?client_host, %error, "TLS handshake failed");
                    backend.authentication_result(security.protocol, false);
                    return Ok(());
                }
                Err(_) => {
                    tracing::info!(host = ?client_host, "TLS handshake timed out");
                    return Ok(());
                }
            };
            let principal = yak_auth::tls::peer_principal(tls.get_ref().1);
            let (reader, writer) = tokio::io::split(tls);
            let peer = Peer {
                host: client_host,
                principal,
                deadline,
            };
            connection(
                reader, writer, peer, backend, config, security, budgets, cancel,
            )
            .await
        }
    }
}

/// What is known of a client before its first request.
struct Peer {
    host: Option<IpAddr>,
    /// From its TLS client certificate.
    principal: Option<Principal>,
    /// When authentication must have ended.
    deadline: tokio::time::Instant,
}

/// Serves one connection until the client closes it, a frame is bad, or `cancel` fires.
#[allow(clippy::too_many_arguments)]
async fn connection<B, R, W>(
    reader: R,
    mut writer: W,
    peer: Peer,
    backend: Arc<B>,
    config: &ServerConfig,
    security: Arc<ListenerSecurity>,
    budgets: NodeBudgets,
    cancel: CancellationToken,
) -> io::Result<()>
where
    B: Backend,
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin,
{
    let client_host = peer.host;
    let connection_requests = Arc::new(Semaphore::new(config.frame_bytes_max));
    let connection_responses = Arc::new(Semaphore::new(config.fetch_bytes_max));
    // One frame waits in the channel at most; the reader then stops reading the socket.
    let (frames_tx, mut frames) = mpsc::channel(1);
    // Until a SASL client has authenticated, its frames are capped far below the usual limit.
    let needs_sasl = security.protocol.uses_sasl();
    let frame_bytes_max = Arc::new(AtomicUsize::new(if needs_sasl {
        SASL_FRAME_BYTES_MAX.min(config.frame_bytes_max)
    } else {
        config.frame_bytes_max
    }));
    let rate = match (&security.limits, client_host) {
        (Some(limits), Some(host)) => Some((Arc::clone(&limits.requests), host)),
        _ => None,
    };
    // Dropping the set when this function returns aborts the reader.
    let mut reader_task = JoinSet::new();
    reader_task.spawn(read_frames(
        reader,
        Arc::clone(&frame_bytes_max),
        rate,
        connection_requests,
        Arc::clone(&budgets.requests),
        frames_tx,
    ));
    let mut principal = peer.principal.unwrap_or_else(Principal::anonymous);
    if needs_sasl {
        let full_limit = (&*frame_bytes_max, config.frame_bytes_max);
        let phase = sasl_phase(
            &*backend,
            &security,
            client_host,
            &mut frames,
            &mut writer,
            full_limit,
        );
        let authenticated = tokio::select! {
            () = cancel.cancelled() => None,
            result = tokio::time::timeout_at(peer.deadline, phase) => match result {
                Ok(result) => result?,
                Err(_) => {
                    tracing::info!(host = ?client_host, "SASL authentication timed out");
                    None
                }
            },
        };
        let Some(authenticated) = authenticated else {
            writer.shutdown().await.ok();
            return Ok(());
        };
        principal = authenticated;
    }
    let session = Arc::new(Session::new(principal, client_host, security.protocol));
    tracing::debug!(principal = %session.principal, listener = %session.listener, "session started");
    let handler_config = HandlerConfig {
        fetch: FetchLimits {
            wait_ms_max: config.fetch_wait_ms_max,
            fetch_bytes_max: config.fetch_bytes_max,
        },
        client_host,
        session,
    };
    let mut last_fetch_turn: Option<oneshot::Receiver<()>> = None;
    let mut pending: FuturesOrdered<Pending> = FuturesOrdered::new();
    let mut reading = true;
    loop {
        if !reading && pending.is_empty() {
            break;
        }
        tokio::select! {
            () = cancel.cancelled() => break,
            frame = frames.recv(), if reading && pending.len() < config.in_flight_requests_max => {
                match frame {
                    Some(Ok(frame)) => match request::decode(frame.bytes) {
                        Ok(request) => {
                            tracing::trace!(api_key = ?request.api_key, version = request.version, correlation_id = request.correlation_id, "request");
                            let budget = (request.api_key == ApiKey::Fetch).then(|| {
                                ResponseBudget::new(
                                    Arc::clone(&budgets.responses),
                                    Arc::clone(&connection_responses),
                                    config.fetch_bytes_max,
                                    FetchTurn::after(&mut last_fetch_turn),
                                )
                            });
                            let backend = Arc::clone(&backend);
                            let request_permits = frame.permits;
                            let handler_config = handler_config.clone();
                            pending.push_back(Box::pin(async move {
                                let reply = request::handle(&*backend, handler_config, request, budget).await;
                                // The request's bytes (and any batch sliced from them) are
                                // done with; give them back before the response waits its turn.
                                drop(request_permits);
                                reply
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
                    Ok(Reply::Send(frame, permits)) => {
                        write_frame(&mut writer, frame).await?;
                        drop(permits);
                    }
                    Ok(Reply::Nothing) => {}
                    Ok(Reply::Close) => {
                        tracing::info!("closing connection after a failed acks=0 produce");
                        break;
                    }
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

/// Runs the SASL phase: answers ApiVersions, SaslHandshake and SaslAuthenticate one at a time
/// until the client has authenticated (`Some(principal)`), or closes on anything else
/// (`None`).
async fn sasl_phase<B: Backend, W: AsyncWrite + Unpin>(
    backend: &B,
    security: &ListenerSecurity,
    client_host: Option<IpAddr>,
    frames: &mut mpsc::Receiver<Result<Frame, FrameError>>,
    writer: &mut W,
    (frame_bytes_max, full_bytes): (&AtomicUsize, usize),
) -> io::Result<Option<Principal>> {
    let mut exchange = Exchange::new(client_host);
    loop {
        let Some(Ok(frame)) = frames.recv().await else {
            return Ok(None);
        };
        let request = match request::decode(frame.bytes) {
            Ok(request) => request,
            Err(error) => {
                tracing::info!(host = ?client_host, %error, "closing connection after a bad request before authentication");
                return Ok(None);
            }
        };
        if !sasl::allowed_before_authentication(request.api_key) {
            tracing::info!(host = ?client_host, api_key = ?request.api_key, "closing connection: request before SASL authentication");
            return Ok(None);
        }
        let (api_key, version, correlation_id) =
            (request.api_key, request.version, request.correlation_id);
        let (frame, done) = match request.body {
            Body::ApiVersions(_) | Body::ApiVersionsUnsupported => {
                // The same answer as after authentication.
                let config = HandlerConfig {
                    fetch: FetchLimits {
                        wait_ms_max: 0,
                        fetch_bytes_max: 0,
                    },
                    client_host,
                    session: Arc::new(Session::anonymous()),
                };
                match request::handle(backend, config, request, None).await {
                    Ok(Reply::Send(frame, _)) => (frame, None),
                    _ => return Ok(None),
                }
            }
            Body::SaslHandshake(body) => {
                let outcome = exchange.handshake(security, body);
                match step((api_key, version, correlation_id), outcome)? {
                    Some(step) => step,
                    None => return Ok(None),
                }
            }
            Body::SaslAuthenticate(body) => {
                let outcome = exchange.authenticate(backend, security, body).await;
                match step((api_key, version, correlation_id), outcome)? {
                    Some(step) => step,
                    None => return Ok(None),
                }
            }
            _ => return Ok(None),
        };
        // Raised before the client can see its login succeeded: its next request, which may
        // be large, is read under the full limit (the reader checks the limit once a frame's
        // length has arrived).
        if matches!(done, Some(Some(_))) {
            frame_bytes_max.store(full_bytes, Ordering::Release);
        }
        write_frame(writer, frame).await?;
        if let Some(result) = done {
            if result.is_none() {
                writer.flush().await.ok();
            }
            return Ok(result);
        }
    }
}

/// What one SASL response does: the frame to send, and `Some(result)` when the phase ends
/// with it (`Some(principal)` logged in, `None` failed); `None` to close without a word.
#[allow(clippy::type_complexity)]
fn step<R>(
    (api_key, version, correlation_id): (kafka_protocol::messages::ApiKey, i16, i32),
    outcome: Outcome<R>,
) -> io::Result<Option<(ResponseFrame, Option<Option<Principal>>)>>
where
    R: kafka_protocol::protocol::Encodable + kafka_protocol::protocol::HeaderVersion,
{
    let encoded = |response: &R| encode(api_key, version, correlation_id, response);
    Ok(match outcome {
        Outcome::Continue(response) => Some((encoded(&response)?, None)),
        Outcome::Authenticated(response, principal) => {
            Some((encoded(&response)?, Some(Some(principal))))
        }
        Outcome::Fail(Some(response)) => Some((encoded(&response)?, Some(None))),
        Outcome::Fail(None) => None,
    })
}

fn encode<R>(
    api_key: kafka_protocol::messages::ApiKey,
    version: i16,
    correlation_id: i32,
    response: &R,
) -> io::Result<ResponseFrame>
where
    R: kafka_protocol::protocol::Encodable + kafka_protocol::protocol::HeaderVersion,
{
    request::encode_response(api_key, version, correlation_id, response)
        .map_err(|error| io::Error::other(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory_backend::{test_batch, MemoryBackend};
    use crate::metadata::topic_name;
    use bytes::BufMut;
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{
        ApiVersionsRequest, FetchRequest, FetchResponse, ProduceRequest, RequestHeader,
    };
    use kafka_protocol::protocol::{
        encode_request_header_into_buffer, Decodable, Encodable, StrBytes,
    };

    fn frame<R: Encodable>(api_key: ApiKey, version: i16, correlation_id: i32, body: &R) -> Bytes {
        let header = RequestHeader::default()
            .with_request_api_key(api_key as i16)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("test")));
        let mut buf = BytesMut::new();
        encode_request_header_into_buffer(&mut buf, &header).expect("header encodes");
        body.encode(&mut buf, version).expect("body encodes");
        let mut framed = BytesMut::new();
        framed.put_i32(buf.len() as i32);
        framed.put_slice(&buf);
        framed.freeze()
    }

    async fn start(
        backend: Arc<MemoryBackend>,
        config: ServerConfig,
    ) -> (std::net::SocketAddr, oneshot::Sender<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(serve(
            listener,
            backend,
            config,
            ListenerSecurity::plaintext(),
            async move {
                let _ = stopped.await;
            },
        ));
        (address, stop)
    }

    async fn read_response(stream: &mut TcpStream) -> Bytes {
        let length = stream.read_i32().await.expect("a response length");
        let mut body = vec![0; length as usize];
        stream.read_exact(&mut body).await.expect("a response body");
        Bytes::from(body)
    }

    /// Regression: a failed acks=0 Produce was dropped silently and the connection kept
    /// serving; Kafka closes it, so the client notices and refreshes its metadata.
    #[tokio::test]
    async fn failed_acks_zero_produce_closes_the_connection() {
        let backend = Arc::new(MemoryBackend::for_tests());
        backend.add_topic("t1", 1);
        let (address, _stop) = start(backend, ServerConfig::default()).await;
        let mut stream = TcpStream::connect(address).await.expect("connect");
        let produce = ProduceRequest::default()
            .with_acks(0)
            .with_timeout_ms(1000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(topic_name("missing"))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(test_batch(&[b"a"])))])]);
        stream
            .write_all(&frame(ApiKey::Produce, 9, 1, &produce))
            .await
            .expect("write");
        stream
            .write_all(&frame(
                ApiKey::ApiVersions,
                3,
                2,
                &ApiVersionsRequest::default(),
            ))
            .await
            .expect("write");
        let mut rest = Vec::new();
        // Bounded, so a server that keeps the connection open fails the test instead of
        // hanging it.
        tokio::time::timeout(
            std::time::Duration::from_secs(10),
            stream.read_to_end(&mut rest),
        )
        .await
        .expect("the server closes the connection")
        .expect("closed cleanly");
        assert!(
            rest.is_empty(),
            "nothing is answered after the failed produce"
        );
    }

    fn fetch_request(max_bytes: i32) -> FetchRequest {
        FetchRequest::default()
            .with_max_wait_ms(0)
            .with_min_bytes(1)
            .with_max_bytes(max_bytes)
            .with_topics(vec![FetchTopic::default()
                .with_topic(topic_name("t1"))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(0)
                    .with_fetch_offset(0)
                    .with_partition_max_bytes(max_bytes)])])
    }

    /// Proves a Fetch asking for 2 GiB gets at most `fetch_bytes_max` of records over the
    /// wire, the stored batches intact.
    #[tokio::test]
    async fn fetch_response_is_capped_by_fetch_bytes_max() {
        let backend = Arc::new(MemoryBackend::for_tests());
        backend.add_topic("t1", 1);
        let value = vec![b'x'; 10_000];
        let batch = test_batch(&[&value]);
        for _ in 0..20 {
            backend.append("t1", 0, batch.clone()).expect("appends");
        }
        let config = ServerConfig {
            fetch_bytes_max: 5 * batch.len(),
            ..ServerConfig::default()
        };
        let (address, _stop) = start(backend, config).await;
        let mut stream = TcpStream::connect(address).await.expect("connect");
        stream
            .write_all(&frame(ApiKey::Fetch, 12, 3, &fetch_request(i32::MAX)))
            .await
            .expect("write");
        let mut response = read_response(&mut stream).await;
        assert_eq!(response.get_i32(), 3, "correlation id");
        // v12 responses have a flexible header: an empty tagged-field section.
        assert_eq!(response.get_u8(), 0);
        let decoded = FetchResponse::decode(&mut response, 12).expect("decodes");
        let records = decoded.responses[0].partitions[0]
            .records
            .clone()
            .expect("records");
        assert_eq!(records.len(), 5 * batch.len());
        // Past base offset, length and leader epoch, the first batch is as the client sent it.
        assert_eq!(records[16..batch.len()], batch[16..]);
    }
}
