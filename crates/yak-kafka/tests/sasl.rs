//! The SASL phase and TLS of the Kafka listener, spoken to over real sockets with raw frames:
//! what a client may do before it has authenticated, and how a failed login ends.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, MetadataRequest, MetadataResponse, RequestHeader,
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::{
    encode_request_header_into_buffer, Decodable, Encodable, HeaderVersion, StrBytes,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use yak_auth::{ScramClient, ScramMechanism};
use yak_kafka::session::{ListenerSecurity, SaslMechanism, SecurityProtocol};
use yak_kafka::ServerConfig;

mod common;
use common::{peak_above, reset_peak, CountingAllocator, EmptyBackend};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Longest any one step of these tests may take before it counts as hung.
const STEP_MS_MAX: u64 = 10_000;

fn frame<R: Encodable + HeaderVersion>(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &R,
) -> Bytes {
    let header = RequestHeader::default()
        .with_request_api_key(api_key as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("sasl-test")));
    let mut buf = BytesMut::new();
    encode_request_header_into_buffer(&mut buf, &header).expect("header encodes");
    body.encode(&mut buf, version).expect("body encodes");
    let mut framed = BytesMut::new();
    framed.put_i32(buf.len() as i32);
    framed.put_slice(&buf);
    framed.freeze()
}

/// Reads one response and decodes its body (after the correlation id and the header's tags).
async fn response<S, R>(stream: &mut S, version: i16) -> R
where
    S: AsyncRead + Unpin,
    R: Decodable + HeaderVersion,
{
    let length = tokio::time::timeout(Duration::from_millis(STEP_MS_MAX), stream.read_i32())
        .await
        .expect("an answer in time")
        .expect("a response length");
    let mut body = vec![0; length as usize];
    stream.read_exact(&mut body).await.expect("a response body");
    let mut body = Bytes::from(body);
    body.advance(4);
    if R::header_version(version) >= 1 {
        body.advance(1);
    }
    R::decode(&mut body, version).expect("response decodes")
}

/// Reads until the server closes; answers what it sent before closing.
async fn until_closed<S: AsyncRead + Unpin>(stream: &mut S) -> Vec<u8> {
    let mut rest = Vec::new();
    tokio::time::timeout(
        Duration::from_millis(STEP_MS_MAX),
        stream.read_to_end(&mut rest),
    )
    .await
    .expect("the server closes the connection")
    .ok();
    rest
}

async fn start(security: ListenerSecurity) -> (std::net::SocketAddr, oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(yak_kafka::serve(
        listener,
        Arc::new(EmptyBackend::with_user("alice", "alice-secret")),
        ServerConfig::default(),
        security,
        async move {
            let _ = stopped.await;
        },
    ));
    (address, stop)
}

fn sasl_plaintext() -> ListenerSecurity {
    ListenerSecurity {
        protocol: SecurityProtocol::SaslPlaintext,
        sasl_mechanisms: vec![
            SaslMechanism::Scram(ScramMechanism::Sha512),
            SaslMechanism::Plain,
        ],
        ..ListenerSecurity::plaintext()
    }
}

/// SaslHandshake v1 for `mechanism`; answers the error code.
async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, mechanism: &str) -> i16 {
    let request =
        SaslHandshakeRequest::default().with_mechanism(StrBytes::from_string(mechanism.into()));
    stream
        .write_all(&frame(ApiKey::SaslHandshake, 1, 1, &request))
        .await
        .expect("write");
    let answer: SaslHandshakeResponse = response(stream, 1).await;
    answer.error_code
}

async fn authenticate<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    correlation_id: i32,
    bytes: Vec<u8>,
) -> SaslAuthenticateResponse {
    let request = SaslAuthenticateRequest::default().with_auth_bytes(bytes.into());
    stream
        .write_all(&frame(
            ApiKey::SaslAuthenticate,
            2,
            correlation_id,
            &request,
        ))
        .await
        .expect("write");
    response(stream, 2).await
}

/// A SCRAM-SHA-512 login; answers the final SaslAuthenticate response.
async fn scram_login<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    user: &str,
    password: &str,
) -> SaslAuthenticateResponse {
    assert_eq!(handshake(stream, "SCRAM-SHA-512").await, 0);
    let mut client = ScramClient::new(ScramMechanism::Sha512, user, password);
    let first = authenticate(stream, 2, client.client_first()).await;
    assert_eq!(first.error_code, 0, "the client-first message is answered");
    let client_final = client
        .client_final(&first.auth_bytes)
        .expect("a valid server-first message");
    let last = authenticate(stream, 3, client_final).await;
    if last.error_code == 0 {
        client
            .verify_server_final(&last.auth_bytes)
            .expect("the server proves it knows the credential");
    }
    last
}

async fn metadata_works<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S) {
    stream
        .write_all(&frame(ApiKey::Metadata, 12, 9, &MetadataRequest::default()))
        .await
        .expect("write");
    let answer: MetadataResponse = response(stream, 12).await;
    assert_eq!(answer.cluster_id.as_deref(), Some("empty"));
}

/// Proves a SCRAM-SHA-512 login opens the connection to every other request, and PLAIN works.
#[tokio::test]
async fn scram_and_plain_logins_open_the_connection() {
    let (address, _stop) = start(sasl_plaintext()).await;
    let mut stream = TcpStream::connect(address).await.expect("connect");
    // ApiVersions is answered before the login, as clients ask it first.
    stream
        .write_all(&frame(
            ApiKey::ApiVersions,
            3,
            0,
            &ApiVersionsRequest::default(),
        ))
        .await
        .expect("write");
    let _: kafka_protocol::messages::ApiVersionsResponse = response(&mut stream, 3).await;
    let answer = scram_login(&mut stream, "alice", "alice-secret").await;
    assert_eq!(answer.error_code, 0);
    metadata_works(&mut stream).await;

    let mut plain = TcpStream::connect(address).await.expect("connect");
    assert_eq!(handshake(&mut plain, "PLAIN").await, 0);
    let answer = authenticate(&mut plain, 2, b"\0alice\0alice-secret".to_vec()).await;
    assert_eq!(answer.error_code, 0);
    metadata_works(&mut plain).await;
}

/// Proves a wrong password is answered SASL_AUTHENTICATION_FAILED with Kafka's message and the
/// connection closes; an unknown user fails the same way.
#[tokio::test]
async fn wrong_password_fails_and_closes_the_connection() {
    let (address, _stop) = start(sasl_plaintext()).await;
    for (user, password) in [("alice", "wrong"), ("mallory", "alice-secret")] {
        let mut stream = TcpStream::connect(address).await.expect("connect");
        let answer = scram_login(&mut stream, user, password).await;
        assert_eq!(
            answer.error_code, 58,
            "SASL_AUTHENTICATION_FAILED for {user}"
        );
        let message = answer.error_message.expect("a message");
        assert!(
            message.contains("invalid credentials with SASL mechanism SCRAM-SHA-512"),
            "{message}"
        );
        assert!(until_closed(&mut stream).await.is_empty());
    }
}

/// Proves a mechanism the listener does not offer is refused with the offered list.
#[tokio::test]
async fn unoffered_mechanism_is_refused() {
    let (address, _stop) = start(sasl_plaintext()).await;
    let mut stream = TcpStream::connect(address).await.expect("connect");
    assert_eq!(handshake(&mut stream, "GSSAPI").await, 33);
    assert!(until_closed(&mut stream).await.is_empty());
}

/// Proves nothing but ApiVersions and SASL is served before the login: a Metadata request
/// closes the connection unanswered.
#[tokio::test]
async fn request_before_login_closes_the_connection() {
    let (address, _stop) = start(sasl_plaintext()).await;
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream
        .write_all(&frame(ApiKey::Metadata, 12, 1, &MetadataRequest::default()))
        .await
        .expect("write");
    assert!(until_closed(&mut stream).await.is_empty());
}

/// Proves a client that has not logged in cannot make the node read a large frame: anything
/// over 64 KiB closes the connection.
#[tokio::test]
async fn large_frame_before_login_closes_the_connection() {
    let (address, _stop) = start(sasl_plaintext()).await;
    let mut stream = TcpStream::connect(address).await.expect("connect");
    let declared = (yak_kafka::sasl::SASL_FRAME_BYTES_MAX + 1) as i32;
    stream
        .write_all(&declared.to_be_bytes())
        .await
        .expect("write");
    assert!(until_closed(&mut stream).await.is_empty());
}

/// Proves a client that never finishes logging in is closed once `authentication_ms_max` has
/// passed.
#[tokio::test]
async fn login_that_never_ends_is_closed() {
    let (address, _stop) = start(ListenerSecurity {
        authentication_ms_max: 200,
        ..sasl_plaintext()
    })
    .await;
    let mut stream = TcpStream::connect(address).await.expect("connect");
    assert_eq!(handshake(&mut stream, "SCRAM-SHA-512").await, 0);
    assert!(until_closed(&mut stream).await.is_empty());
}

/// A CA, and a node certificate for 127.0.0.1 it signed.
struct TestCertificates {
    ca: rcgen::Certificate,
    acceptor: tokio_rustls::TlsAcceptor,
}

fn certificates() -> TestCertificates {
    let ca_key = rcgen::KeyPair::generate().expect("CA key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("CA");
    let node_key = rcgen::KeyPair::generate().expect("node key");
    let node_params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .expect("node params");
    let node = node_params
        .signed_by(&node_key, &ca, &ca_key)
        .expect("node certificate");
    let dir = tempfile_dir();
    let cert_file = dir.join("node.pem");
    let key_file = dir.join("node.key");
    std::fs::write(&cert_file, node.pem()).expect("write");
    std::fs::write(&key_file, node_key.serialize_pem()).expect("write");
    let config = yak_auth::tls::server_config(&yak_auth::tls::TlsFiles {
        cert_file,
        key_file,
        ca_file: None,
        client_auth: yak_auth::tls::ClientAuth::None,
    })
    .expect("server config");
    TestCertificates {
        ca,
        acceptor: tokio_rustls::TlsAcceptor::from(config),
    }
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "yak-sasl-test-{}-{}",
        std::process::id(),
        uuid_like()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn uuid_like() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Proves a SASL_SSL listener serves a SCRAM login over TLS, and refuses a client that speaks
/// plain Kafka to it: no Kafka answer, the connection closes.
#[tokio::test]
async fn sasl_ssl_works_over_tls_and_refuses_plain_text() {
    let certificates = certificates();
    let (address, _stop) = start(ListenerSecurity {
        protocol: SecurityProtocol::SaslSsl,
        tls: Some(certificates.acceptor.clone()),
        ..sasl_plaintext()
    })
    .await;

    let mut plain = TcpStream::connect(address).await.expect("connect");
    plain
        .write_all(&frame(
            ApiKey::ApiVersions,
            3,
            0,
            &ApiVersionsRequest::default(),
        ))
        .await
        .expect("write");
    let answer = until_closed(&mut plain).await;
    // At most a TLS alert record (content type 21), never a Kafka response.
    assert!(
        answer.is_empty() || answer[0] == 21,
        "plain text got {answer:?}"
    );

    let mut roots = rustls::RootCertStore::empty();
    roots.add(certificates.ca.der().clone()).expect("CA");
    let client_config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config));
    let tcp = TcpStream::connect(address).await.expect("connect");
    let server_name = rustls_pki_types::ServerName::try_from("127.0.0.1").expect("a server name");
    let mut tls = connector.connect(server_name, tcp).await.expect("TLS");
    let answer = scram_login(&mut tls, "alice", "alice-secret").await;
    assert_eq!(answer.error_code, 0);
    metadata_works(&mut tls).await;
}

/// The bytes a real TLS client opens with (its ClientHello), for the fuzz test to mutate.
fn client_hello() -> Vec<u8> {
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("a name");
    let mut connection =
        rustls::ClientConnection::new(Arc::new(config), name).expect("a client connection");
    let mut hello = Vec::new();
    connection.write_tls(&mut hello).expect("a ClientHello");
    hello
}

fn random_bytes(rng: &mut rand::rngs::StdRng, length_max: usize) -> Vec<u8> {
    use rand::{Rng, RngCore};
    let mut bytes = vec![0; rng.random_range(0..=length_max)];
    rng.fill_bytes(&mut bytes);
    bytes
}

/// Flips, cuts or extends `bytes` at random.
fn mutate(rng: &mut rand::rngs::StdRng, mut bytes: Vec<u8>) -> Vec<u8> {
    use rand::Rng;
    match rng.random_range(0..3) {
        0 if !bytes.is_empty() => {
            for _ in 0..rng.random_range(1..8) {
                let at = rng.random_range(0..bytes.len());
                bytes[at] = rng.random();
            }
        }
        1 => bytes.truncate(rng.random_range(0..=bytes.len())),
        _ => bytes.extend(random_bytes(rng, 64)),
    }
    bytes
}

/// One malformed conversation: what to send, and whether to the TLS listener.
fn malformed_input(rng: &mut rand::rngs::StdRng, hello: &[u8]) -> (Vec<u8>, bool) {
    use rand::Rng;
    let handshake = |mechanism: &[u8]| {
        frame(
            ApiKey::SaslHandshake,
            1,
            1,
            &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_string(
                String::from_utf8_lossy(mechanism).into_owned(),
            )),
        )
    };
    let authenticate = |bytes: Vec<u8>| {
        frame(
            ApiKey::SaslAuthenticate,
            2,
            2,
            &SaslAuthenticateRequest::default().with_auth_bytes(bytes.into()),
        )
    };
    let mut out = Vec::new();
    match rng.random_range(0..6) {
        0 => {
            out.extend_from_slice(&handshake(&random_bytes(rng, 300)));
            out.extend_from_slice(&authenticate(random_bytes(rng, 300)));
        }
        1 => {
            out.extend_from_slice(&handshake(b"SCRAM-SHA-512"));
            out.extend_from_slice(&authenticate(random_bytes(rng, 6000)));
        }
        2 => {
            let mut client = ScramClient::new(ScramMechanism::Sha512, "alice", "alice-secret");
            out.extend_from_slice(&handshake(b"SCRAM-SHA-512"));
            out.extend_from_slice(&authenticate(mutate(rng, client.client_first())));
            out.extend_from_slice(&authenticate(mutate(
                rng,
                b"c=biws,r=abc,p=dGVzdA==".to_vec(),
            )));
        }
        3 => out = random_bytes(rng, 2000),
        4 => {
            out.extend_from_slice(&rng.random::<i32>().to_be_bytes());
            out.extend(random_bytes(rng, 100));
        }
        _ => return (mutate(rng, hello.to_vec()), true),
    }
    // Any of it may also be cut short or damaged as a whole.
    if rng.random_bool(0.3) {
        out = mutate(rng, out);
    }
    (out, false)
}

/// Proves malformed SASL exchanges (bad mechanisms, random and mutated SCRAM messages, huge
/// declared lengths, cut frames) and malformed TLS handshakes (mutated and cut ClientHellos,
/// random bytes), 40 connections at a time, crash nothing and cost bounded memory; a good
/// login works afterwards. The seed is printed; set YAK_FUZZ_SEED to replay one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_sasl_and_tls_input_is_refused_in_bounded_memory() {
    use rand::SeedableRng;
    const ROUNDS: usize = 20;
    const CONNECTIONS_PER_ROUND: usize = 40;
    /// Far above what 40 refused connections need, far below what a declared length (up to
    /// 2 GiB) or an unbounded buffer would take.
    const PEAK_BYTES_MAX: usize = 32 * 1024 * 1024;
    let seed = std::env::var("YAK_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        });
    println!("YAK_FUZZ_SEED={seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let certificates = certificates();
    let quick = |security: ListenerSecurity| ListenerSecurity {
        authentication_ms_max: 500,
        ..security
    };
    let (plain_address, _stop_plain) = start(quick(sasl_plaintext())).await;
    let (tls_address, _stop_tls) = start(quick(ListenerSecurity {
        protocol: SecurityProtocol::SaslSsl,
        tls: Some(certificates.acceptor.clone()),
        ..sasl_plaintext()
    }))
    .await;
    let hello = client_hello();
    // A panic in a connection task would only close that connection; count them instead.
    static PANICS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        previous_hook(info);
    }));
    let baseline = reset_peak();
    for _ in 0..ROUNDS {
        let mut connections = tokio::task::JoinSet::new();
        for _ in 0..CONNECTIONS_PER_ROUND {
            let (bytes, to_tls) = malformed_input(&mut rng, &hello);
            let address = if to_tls { tls_address } else { plain_address };
            connections.spawn(async move {
                let mut stream = TcpStream::connect(address).await.expect("connect");
                // The server may close mid-way; that is one of the outcomes looked for.
                let _ = stream.write_all(&bytes).await;
                let _ = stream.shutdown().await;
                let mut sink = [0u8; 4096];
                loop {
                    match tokio::time::timeout(
                        Duration::from_millis(STEP_MS_MAX),
                        stream.read(&mut sink),
                    )
                    .await
                    {
                        Ok(Ok(0)) | Ok(Err(_)) => return true,
                        Ok(Ok(_)) => continue,
                        Err(_) => return false,
                    }
                }
            });
        }
        while let Some(closed) = connections.join_next().await {
            assert!(
                closed.expect("a client task"),
                "a malformed connection was left open (seed {seed})"
            );
        }
    }
    let peak = peak_above(baseline);
    println!("peak bytes above the baseline: {peak}");
    assert_eq!(
        PANICS.load(std::sync::atomic::Ordering::Relaxed),
        0,
        "malformed input panicked the server (seed {seed})"
    );
    assert!(
        peak < PEAK_BYTES_MAX,
        "malformed input took {peak} bytes at once (seed {seed})"
    );
    let mut stream = TcpStream::connect(plain_address).await.expect("connect");
    assert_eq!(
        scram_login(&mut stream, "alice", "alice-secret")
            .await
            .error_code,
        0,
        "a good login still works (seed {seed})"
    );
}

/// Proves the per-address connection limit closes a connection past it at once, and frees
/// its place when a connection ends.
#[tokio::test]
async fn connections_past_the_per_address_limit_are_closed() {
    use yak_auth::limits::{ConnectionsPerAddress, LoginBackoff, RequestRate};
    let limits = yak_kafka::session::ClientLimits {
        connections: ConnectionsPerAddress::new(2),
        requests: Arc::new(RequestRate::new(1_000, 1_000)),
        login_backoff: Arc::new(LoginBackoff::new(1, 10)),
    };
    let (address, _stop) = start(ListenerSecurity {
        limits: Some(limits),
        ..ListenerSecurity::plaintext()
    })
    .await;
    let mut first = TcpStream::connect(address).await.expect("connect");
    let mut second = TcpStream::connect(address).await.expect("connect");
    // Both are served (a response proves the server has counted them).
    metadata_works(&mut first).await;
    metadata_works(&mut second).await;
    let mut third = TcpStream::connect(address).await.expect("connect");
    assert!(
        until_closed(&mut third).await.is_empty(),
        "the third is closed"
    );
    drop(first);
    // The place frees once the server has seen the first close; retry until it has.
    let deadline = tokio::time::Instant::now() + Duration::from_millis(STEP_MS_MAX);
    loop {
        let mut again = TcpStream::connect(address).await.expect("connect");
        again
            .write_all(&frame(ApiKey::Metadata, 12, 9, &MetadataRequest::default()))
            .await
            .expect("write");
        let mut length = [0u8; 4];
        if again.read_exact(&mut length).await.is_ok() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the place of a closed connection was never freed"
        );
        tokio::task::yield_now().await;
    }
}

/// Regression: the login-phase limit of 64 KiB was raised only after the final
/// SaslAuthenticate response had been written, and the reader took the limit before waiting
/// for the next frame, so a client whose first request after logging in was large (a
/// producer's first Produce) was disconnected. Now that request is answered.
#[tokio::test]
async fn large_request_right_after_login_is_served() {
    let (address, _stop) = start(sasl_plaintext()).await;
    let mut stream = TcpStream::connect(address).await.expect("connect");
    assert_eq!(
        scram_login(&mut stream, "alice", "alice-secret")
            .await
            .error_code,
        0
    );
    let topics = (0..3_000)
        .map(|i| {
            kafka_protocol::messages::metadata_request::MetadataRequestTopic::default().with_name(
                Some(kafka_protocol::messages::TopicName(StrBytes::from_string(
                    format!("topic-with-a-long-name-{i:08}"),
                ))),
            )
        })
        .collect();
    let request = MetadataRequest::default()
        .with_topics(Some(topics))
        .with_allow_auto_topic_creation(false);
    let bytes = frame(ApiKey::Metadata, 12, 9, &request);
    assert!(bytes.len() > yak_kafka::sasl::SASL_FRAME_BYTES_MAX);
    stream.write_all(&bytes).await.expect("write");
    let answer: MetadataResponse = response(&mut stream, 12).await;
    assert_eq!(answer.topics.len(), 3_000);
}
