//! `yak bench produce|consume --protocol kafka`: the same load generator as `bench`, on the path
//! Kafka users take.
//!
//! Requests and responses are built and read with the `kafka-protocol` crate; only the framing
//! (a 4-byte big-endian length) is done here, by [`Connection`]. Like Kafka's own clients, each
//! connection keeps up to `--in-flight` requests pipelined and reads the answers in order,
//! matching each one's correlation id.
//!
//! - produce: each request carries one batch of `--batch-records` records per partition
//!   (partitions taken round-robin from Metadata), encoded once with
//!   `yak_log::record::encode_batch` and reused; `--acks 0` requests get no answer.
//! - consume: every partition is read from its log start offset to the high watermark seen at
//!   the start, split into offset ranges that the connections fetch side by side; records are
//!   counted from the batch headers.
//!
//! `--security-protocol` reaches any listener kind with the same client: SSL and SASL_SSL wrap
//! every connection in TLS (rustls, trusting `--ca-file`, presenting `--cert-file` when given),
//! and SASL_PLAINTEXT and SASL_SSL log in first with SaslHandshake v1 and SaslAuthenticate
//! (SCRAM-SHA-512/256 through `yak_auth::ScramClient`, or PLAIN), so a run over PLAINTEXT and one
//! over SASL_SSL differ only in what the listener does.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use clap::Args;
use futures::StreamExt;
use hdrhistogram::Histogram;
use indicatif::ProgressBar;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, BrokerId, CreateTopicsRequest, CreateTopicsResponse, FetchRequest, FetchResponse,
    ListOffsetsRequest, ListOffsetsResponse, MetadataRequest, MetadataResponse, ProduceRequest,
    ProduceResponse, RequestHeader, ResponseHeader, SaslAuthenticateRequest,
    SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;
use tokio_util::codec::{FramedRead, LengthDelimitedCodec};
use yak_auth::ScramClient;
use yak_kafka::session::SaslMechanism;
use yak_kafka::SecurityProtocol;
use yak_log::record::{encode_batch, RecordToWrite};

use crate::bench::{self, ConsumeBench, ProduceBench, Totals, LATENCY_US_MAX};

/// Largest response frame accepted, without its 4-byte length; a larger one closes the
/// connection. Also the largest request frame sent (the broker's own default limit).
pub const FRAME_BYTES_MAX: usize = 100 * 1024 * 1024;
/// Most pipelined requests one connection may keep waiting for (`--in-flight`); the broker
/// handles at most 100 at once per connection.
pub const IN_FLIGHT_REQUESTS_MAX: usize = 100;
/// Most connections one bench opens (`--concurrency`); the broker accepts 1024 by default.
pub const CONNECTIONS_MAX: usize = 512;
/// Bytes one Fetch may return for one partition, and for the whole response.
pub const FETCH_PARTITION_BYTES_MAX: i32 = 8 * 1024 * 1024;
/// Fewest records in one offset range of the consume bench. A Fetch returns up to its
/// max_bytes whatever the range, so short ranges would read far past their end; with 100-byte
/// records this is about 11 MB, more than one full Fetch.
pub const RANGE_RECORDS_MIN: i64 = 100_000;
/// How long a Fetch waits on the broker when no data is there (it always is, below the high
/// watermark seen at the start).
pub const FETCH_WAIT_MS_MAX: i32 = 500;
/// How long the broker may take to replicate a Produce (acks=all) or to create the topic.
pub const REQUEST_TIMEOUT_MS: i32 = 30_000;

/// The versions spoken: within what YAK advertises (crates/yak-kafka/src/versions.rs) and
/// flexible, as current clients send them.
const PRODUCE_VERSION: i16 = 9;
const FETCH_VERSION: i16 = 12;
const METADATA_VERSION: i16 = 12;
const LIST_OFFSETS_VERSION: i16 = 7;
const CREATE_TOPICS_VERSION: i16 = 7;
/// SaslHandshake v1: the mechanism is chosen here, the tokens travel in SaslAuthenticate.
const SASL_HANDSHAKE_VERSION: i16 = 1;
const SASL_AUTHENTICATE_VERSION: i16 = 2;

const CLIENT_ID: &str = "yak-bench";
/// Kafka's error codes that the bench tells apart.
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const TOPIC_ALREADY_EXISTS: i16 = 36;
/// ListOffsets timestamps meaning "log start offset" and "high watermark".
const EARLIEST_TIMESTAMP: i64 = -2;
const LATEST_TIMESTAMP: i64 = -1;

/// A request waiting for its response, with what its sender needs to account for it.
struct Awaiting<T> {
    correlation_id: i32,
    api_key: ApiKey,
    version: i16,
    tag: T,
}

/// One Kafka connection: writes length-prefixed request frames and reads the responses in
/// request order, checking each correlation id. `T` is what the caller keeps per request.
struct Connection<T> {
    frames: FramedRead<ReadHalf<Stream>, LengthDelimitedCodec>,
    writer: WriteHalf<Stream>,
    correlation_id_next: i32,
    awaiting: VecDeque<Awaiting<T>>,
}

/// A byte stream to the listener: TCP, or TLS over TCP. Both kinds go through the same split
/// halves, so PLAINTEXT and SASL_SSL runs differ only in the stream underneath.
trait KafkaStream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<S: AsyncRead + AsyncWrite + Send + Unpin> KafkaStream for S {}
type Stream = Box<dyn KafkaStream>;

impl<T> Connection<T> {
    fn new(stream: Stream) -> Connection<T> {
        let (reader, writer) = tokio::io::split(stream);
        let codec = LengthDelimitedCodec::builder()
            .length_field_length(4)
            .big_endian()
            .max_frame_length(FRAME_BYTES_MAX)
            .new_codec();
        Connection {
            frames: FramedRead::new(reader, codec),
            writer,
            correlation_id_next: 0,
            awaiting: VecDeque::new(),
        }
    }

    /// The same connection with another kind of tag; nothing may be in flight.
    fn retag<U>(self) -> Connection<U> {
        assert!(
            self.awaiting.is_empty(),
            "a connection changes its tag type only when idle"
        );
        Connection {
            frames: self.frames,
            writer: self.writer,
            correlation_id_next: self.correlation_id_next,
            awaiting: VecDeque::new(),
        }
    }

    /// Requests sent and not yet answered.
    fn in_flight(&self) -> usize {
        self.awaiting.len()
    }

    /// Sends one request; `tag` is `None` when no response will come (Produce with acks=0).
    async fn send<R: Encodable>(
        &mut self,
        api_key: ApiKey,
        version: i16,
        body: &R,
        tag: Option<T>,
    ) -> anyhow::Result<()> {
        let correlation_id = self.correlation_id_next;
        self.correlation_id_next = self.correlation_id_next.wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(api_key as i16)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_static_str(CLIENT_ID)));
        let header_version = api_key.request_header_version(version);
        let frame_bytes = header.compute_size(header_version)? + body.compute_size(version)?;
        if frame_bytes > FRAME_BYTES_MAX {
            bail!("a {api_key:?} request of {frame_bytes} bytes exceeds frame_bytes_max ({FRAME_BYTES_MAX})");
        }
        let mut frame = BytesMut::with_capacity(4 + frame_bytes);
        frame.put_u32(frame_bytes as u32);
        header.encode(&mut frame, header_version)?;
        body.encode(&mut frame, version)?;
        // Paired with the size computed above: a mismatch is a bug in the codec, not bad input.
        assert_eq!(frame.len(), 4 + frame_bytes, "{api_key:?} v{version} size");
        self.writer.write_all(&frame).await?;
        // TLS may keep the tail of a record in its buffer until flushed; the response to this
        // request would then never come.
        self.writer.flush().await?;
        if let Some(tag) = tag {
            self.awaiting.push_back(Awaiting {
                correlation_id,
                api_key,
                version,
                tag,
            });
        }
        Ok(())
    }

    /// Reads the response to the oldest request in flight.
    async fn receive<R: Decodable>(&mut self) -> anyhow::Result<(R, T)> {
        let Some(awaiting) = self.awaiting.pop_front() else {
            bail!("no request is waiting for a response");
        };
        let mut frame = match self.frames.next().await {
            Some(frame) => frame.context("reading a response frame")?.freeze(),
            None => bail!("the broker closed the connection"),
        };
        let api_key = awaiting.api_key;
        let header = ResponseHeader::decode(
            &mut frame,
            api_key.response_header_version(awaiting.version),
        )
        .with_context(|| format!("bad {api_key:?} response header"))?;
        if header.correlation_id != awaiting.correlation_id {
            bail!(
                "{api_key:?} response has correlation id {}, expected {}",
                header.correlation_id,
                awaiting.correlation_id
            );
        }
        let body = R::decode(&mut frame, awaiting.version)
            .with_context(|| format!("bad {api_key:?} v{} response", awaiting.version))?;
        if frame.has_remaining() {
            bail!(
                "{} bytes left over after a {api_key:?} response",
                frame.remaining()
            );
        }
        Ok((body, awaiting.tag))
    }
}

impl Connection<()> {
    /// One request and its response, with nothing else in flight.
    async fn call<Q: Encodable, R: Decodable>(
        &mut self,
        api_key: ApiKey,
        version: i16,
        body: &Q,
    ) -> anyhow::Result<R> {
        self.send(api_key, version, body, Some(())).await?;
        Ok(self.receive::<R>().await?.0)
    }
}

/// How the bench reaches the Kafka listener, as Kafka's clients name it (`security.protocol`,
/// `sasl.mechanism`, `ssl.truststore`, …).
#[derive(Debug, Clone, Args)]
pub struct KafkaSecurityArgs {
    /// The listener's security protocol: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.
    #[arg(long, default_value = "PLAINTEXT")]
    pub security_protocol: String,
    /// SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN (SASL_PLAINTEXT and SASL_SSL).
    #[arg(long, default_value = "SCRAM-SHA-512")]
    pub sasl_mechanism: String,
    /// The user to log in as (SASL_PLAINTEXT and SASL_SSL).
    #[arg(long)]
    pub user: Option<String>,
    /// A file whose first line is the user's password (a flag would show it in `ps`); without
    /// it, YAK_PASSWORD.
    #[arg(long)]
    pub password_file: Option<PathBuf>,
    /// PEM CA certificates that signed the broker's certificate (SSL and SASL_SSL).
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate presented to the broker (mTLS), with --key-file.
    #[arg(long)]
    pub cert_file: Option<PathBuf>,
    /// PEM private key of --cert-file.
    #[arg(long)]
    pub key_file: Option<PathBuf>,
}

/// Where the password of `--user` comes from when no file is given (as in the other commands).
const PASSWORD_VARIABLE: &str = "YAK_PASSWORD";

/// A SASL login: the mechanism, the user and the password.
struct Login {
    mechanism: SaslMechanism,
    user: String,
    password: String,
}

/// Opens connections to one listener: TCP, then TLS when the protocol has it, then the SASL
/// login when the protocol has it. Every connection of a run comes from the same connector.
pub struct Connector {
    address: String,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    login: Option<Login>,
}

/// The password file's first line.
fn read_password(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the password file {}", path.display()))?;
    let line = text.lines().next().unwrap_or_default();
    if line.is_empty() {
        bail!("the password file {} is empty", path.display());
    }
    Ok(line.to_string())
}

/// The name the broker's certificate must carry: the host of `host:port` (an IP address is
/// checked against the certificate's IP subject alternative names).
fn server_name(address: &str) -> anyhow::Result<ServerName<'static>> {
    let host = address
        .rsplit_once(':')
        .map(|(host, _)| host)
        .unwrap_or(address)
        .trim_start_matches('[')
        .trim_end_matches(']');
    ServerName::try_from(host.to_string())
        .with_context(|| format!("{host:?} is not a host name or IP address"))
}

impl Connector {
    pub fn new(address: &str, args: &KafkaSecurityArgs) -> anyhow::Result<Connector> {
        let protocol = SecurityProtocol::parse(&args.security_protocol).with_context(|| {
            format!(
                "--security-protocol {:?}: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL",
                args.security_protocol
            )
        })?;
        let tls = if protocol.uses_tls() {
            let ca_file = args
                .ca_file
                .as_deref()
                .with_context(|| format!("{protocol} needs --ca-file"))?;
            let client_certificate = match (&args.cert_file, &args.key_file) {
                (Some(cert), Some(key)) => Some((cert.as_path(), key.as_path())),
                (None, None) => None,
                _ => bail!("--cert-file and --key-file go together"),
            };
            let config = yak_auth::tls::client_config(ca_file, client_certificate)?;
            Some((TlsConnector::from(config), server_name(address)?))
        } else {
            None
        };
        let login = if protocol.uses_sasl() {
            let mechanism = SaslMechanism::parse(&args.sasl_mechanism).with_context(|| {
                format!(
                    "--sasl-mechanism {:?}: SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN",
                    args.sasl_mechanism
                )
            })?;
            let user = args
                .user
                .clone()
                .with_context(|| format!("{protocol} needs --user"))?;
            let password = match &args.password_file {
                Some(path) => read_password(path)?,
                None => std::env::var(PASSWORD_VARIABLE)
                    .ok()
                    .filter(|p| !p.is_empty())
                    .with_context(|| {
                        format!("{protocol} needs --password-file or {PASSWORD_VARIABLE}")
                    })?,
            };
            Some(Login {
                mechanism,
                user,
                password,
            })
        } else {
            None
        };
        Ok(Connector {
            address: address.to_string(),
            tls,
            login,
        })
    }

    /// A connection ready for requests: connected, encrypted and logged in as configured.
    async fn connect<T>(&self) -> anyhow::Result<Connection<T>> {
        let address = &self.address;
        let tcp = TcpStream::connect(address)
            .await
            .with_context(|| format!("cannot connect to the Kafka listener at {address}"))?;
        // Small pipelined requests (Fetch, acks=0 tails) should not wait for Nagle.
        tcp.set_nodelay(true)?;
        let stream: Stream = match &self.tls {
            None => Box::new(tcp),
            Some((connector, name)) => Box::new(
                connector
                    .connect(name.clone(), tcp)
                    .await
                    .with_context(|| format!("TLS handshake with {address}"))?,
            ),
        };
        let mut connection = Connection::<()>::new(stream);
        if let Some(login) = &self.login {
            authenticate(&mut connection, login)
                .await
                .with_context(|| format!("SASL login as {:?} at {address}", login.user))?;
        }
        Ok(connection.retag())
    }
}

/// One SaslAuthenticate round: sends `token`, returns the broker's.
async fn sasl_authenticate(
    connection: &mut Connection<()>,
    token: Vec<u8>,
) -> anyhow::Result<Bytes> {
    let request = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token));
    let response: SaslAuthenticateResponse = connection
        .call(
            ApiKey::SaslAuthenticate,
            SASL_AUTHENTICATE_VERSION,
            &request,
        )
        .await?;
    if response.error_code != 0 {
        bail!(
            "SASL authentication failed (Kafka error {}): {}",
            response.error_code,
            response.error_message.as_deref().unwrap_or("")
        );
    }
    Ok(response.auth_bytes)
}

/// Logs in with SaslHandshake v1 and SaslAuthenticate (KIP-152), as Kafka's clients do.
async fn authenticate(connection: &mut Connection<()>, login: &Login) -> anyhow::Result<()> {
    let request = SaslHandshakeRequest::default()
        .with_mechanism(StrBytes::from_static_str(login.mechanism.name()));
    let response: SaslHandshakeResponse = connection
        .call(ApiKey::SaslHandshake, SASL_HANDSHAKE_VERSION, &request)
        .await?;
    if response.error_code != 0 {
        let offered: Vec<&str> = response.mechanisms.iter().map(|m| m.as_str()).collect();
        bail!(
            "the listener refused {} (Kafka error {}); it offers {offered:?}",
            login.mechanism.name(),
            response.error_code
        );
    }
    match login.mechanism {
        SaslMechanism::Plain => {
            // RFC 4616: authorization identity (empty), user, password, NUL-separated.
            let token = format!("\0{}\0{}", login.user, login.password);
            sasl_authenticate(connection, token.into_bytes()).await?;
        }
        SaslMechanism::Scram(mechanism) => {
            let mut client = ScramClient::new(mechanism, &login.user, &login.password);
            let server_first = sasl_authenticate(connection, client.client_first()).await?;
            let client_final = client
                .client_final(&server_first)
                .context("the broker's SCRAM server-first-message")?;
            let server_final = sasl_authenticate(connection, client_final).await?;
            client
                .verify_server_final(&server_final)
                .context("the broker could not prove it holds the SCRAM credential")?;
        }
    }
    Ok(())
}

fn topic_name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_owned()))
}

/// The topic's partition indexes, sorted, or `None` when the broker does not know the topic.
async fn partitions(
    connection: &mut Connection<()>,
    topic: &str,
) -> anyhow::Result<Option<Vec<i32>>> {
    let request = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(topic_name(topic)))
        ]))
        .with_allow_auto_topic_creation(false);
    let response: MetadataResponse = connection
        .call(ApiKey::Metadata, METADATA_VERSION, &request)
        .await?;
    let Some(found) = response
        .topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|name| name.0.as_str() == topic))
    else {
        return Ok(None);
    };
    match found.error_code {
        0 => {}
        UNKNOWN_TOPIC_OR_PARTITION => return Ok(None),
        code => bail!("Metadata for {topic:?} failed with Kafka error {code}"),
    }
    let mut indexes: Vec<i32> = found.partitions.iter().map(|p| p.partition_index).collect();
    indexes.sort_unstable();
    if indexes.is_empty() {
        bail!("topic {topic:?} has no partitions");
    }
    Ok(Some(indexes))
}

/// Creates the topic when it is absent and returns its partitions.
async fn ensure_topic(
    connection: &mut Connection<()>,
    topic: &str,
    partition_count: i32,
) -> anyhow::Result<Vec<i32>> {
    if let Some(found) = partitions(connection, topic).await? {
        return Ok(found);
    }
    let request = CreateTopicsRequest::default()
        .with_topics(vec![CreatableTopic::default()
            .with_name(topic_name(topic))
            .with_num_partitions(partition_count)
            .with_replication_factor(-1)])
        .with_timeout_ms(REQUEST_TIMEOUT_MS);
    let response: CreateTopicsResponse = connection
        .call(ApiKey::CreateTopics, CREATE_TOPICS_VERSION, &request)
        .await?;
    for result in &response.topics {
        if result.error_code != 0 && result.error_code != TOPIC_ALREADY_EXISTS {
            bail!(
                "cannot create the bench topic: Kafka error {} {}",
                result.error_code,
                result.error_message.as_deref().unwrap_or("")
            );
        }
    }
    partitions(connection, topic)
        .await?
        .context("the bench topic is missing right after its creation")
}

fn parse_acks(text: &str) -> anyhow::Result<i16> {
    match text {
        "0" => Ok(0),
        "1" => Ok(1),
        "all" | "-1" => Ok(-1),
        other => bail!("--acks must be 0, 1 or all, got {other:?}"),
    }
}

/// Checks the Kafka-only flags against their limits.
fn check_limits(concurrency: usize, in_flight: usize) -> anyhow::Result<()> {
    if !(1..=CONNECTIONS_MAX).contains(&concurrency) {
        bail!("--concurrency must be 1..={CONNECTIONS_MAX} connections with --protocol kafka");
    }
    if !(1..=IN_FLIGHT_REQUESTS_MAX).contains(&in_flight) {
        bail!("--in-flight must be 1..={IN_FLIGHT_REQUESTS_MAX} requests");
    }
    Ok(())
}

fn new_histogram() -> anyhow::Result<Histogram<u64>> {
    Ok(Histogram::<u64>::new_with_max(LATENCY_US_MAX, 3)?)
}

fn record_latency(latency: &mut Histogram<u64>, sent: Instant) {
    let _ = latency.record((sent.elapsed().as_micros() as u64).min(LATENCY_US_MAX));
}

/// Everything the produce connections share.
struct ProduceShared {
    connector: Connector,
    topic: TopicName,
    partitions: Vec<i32>,
    /// A batch of `--batch-records` records, encoded once and sent in every request.
    batch: Bytes,
    batch_records: u64,
    value: Vec<u8>,
    acks: i16,
    in_flight: usize,
    count: u64,
    deadline: Option<Instant>,
    /// Records handed out to connections so far; the run ends when this reaches `count`.
    claimed: AtomicU64,
    totals: Arc<Totals>,
    bar: ProgressBar,
}

/// A batch of `records` records whose values are `value`, timestamped now.
fn encode_records(value: &[u8], records: u64) -> Bytes {
    let timestamp_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let record = RecordToWrite {
        key: None,
        value: Some(value),
        headers: &[],
        timestamp_ms,
    };
    let records = vec![record; records as usize];
    let mut out = Vec::new();
    encode_batch(&records, &mut out);
    Bytes::from(out)
}

/// What a produce request carried: its send time and `(partition, records)` per batch.
type ProduceTag = (Instant, Vec<(i32, u64)>);

impl ProduceShared {
    /// The next request: one batch per partition, starting at partition `*next`, or `None`
    /// once --count or --duration-s is reached.
    fn next_request(&self, next: &mut usize) -> Option<(ProduceRequest, Vec<(i32, u64)>)> {
        let mut data = Vec::with_capacity(self.partitions.len());
        let mut carried = Vec::with_capacity(self.partitions.len());
        for _ in 0..self.partitions.len() {
            if self.deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            let claim = self
                .claimed
                .fetch_add(self.batch_records, Ordering::Relaxed);
            if claim >= self.count {
                break;
            }
            let records = self.batch_records.min(self.count - claim);
            let batch = if records == self.batch_records {
                self.batch.clone()
            } else {
                encode_records(&self.value, records)
            };
            let partition = self.partitions[*next % self.partitions.len()];
            *next = next.wrapping_add(1);
            data.push(
                PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(batch)),
            );
            carried.push((partition, records));
        }
        if data.is_empty() {
            return None;
        }
        let request = ProduceRequest::default()
            .with_acks(self.acks)
            .with_timeout_ms(REQUEST_TIMEOUT_MS)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(self.topic.clone())
                .with_partition_data(data)]);
        Some((request, carried))
    }

    /// Counts a produce response: records of the batches the broker took, an error per batch
    /// it refused or left out.
    fn account(&self, response: &ProduceResponse, carried: &[(i32, u64)]) {
        for &(partition, records) in carried {
            let error_code = response
                .responses
                .iter()
                .filter(|t| t.name == self.topic)
                .flat_map(|t| t.partition_responses.iter())
                .find(|p| p.index == partition)
                .map(|p| p.error_code);
            if error_code == Some(0) {
                self.totals.records.fetch_add(records, Ordering::Relaxed);
                self.bar.inc(records);
            } else {
                self.totals.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// One produce connection, until the shared budget is spent.
async fn produce_connection(
    shared: &ProduceShared,
    first_partition: usize,
    latency: &mut Histogram<u64>,
) -> anyhow::Result<()> {
    let mut connection = shared.connector.connect::<ProduceTag>().await?;
    let mut next = first_partition;
    let mut done = false;
    loop {
        while !done && connection.in_flight() < shared.in_flight {
            let Some((request, carried)) = shared.next_request(&mut next) else {
                done = true;
                break;
            };
            let sent = Instant::now();
            if shared.acks == 0 {
                // No response comes: the request counts once it is written.
                connection
                    .send(ApiKey::Produce, PRODUCE_VERSION, &request, None)
                    .await?;
                record_latency(latency, sent);
                shared.totals.requests.fetch_add(1, Ordering::Relaxed);
                let records: u64 = carried.iter().map(|(_, r)| r).sum();
                shared.totals.records.fetch_add(records, Ordering::Relaxed);
                shared.bar.inc(records);
            } else {
                connection
                    .send(
                        ApiKey::Produce,
                        PRODUCE_VERSION,
                        &request,
                        Some((sent, carried)),
                    )
                    .await?;
            }
        }
        if connection.in_flight() == 0 {
            return Ok(());
        }
        let (response, (sent, carried)) = connection.receive::<ProduceResponse>().await?;
        record_latency(latency, sent);
        shared.totals.requests.fetch_add(1, Ordering::Relaxed);
        shared.account(&response, &carried);
    }
}

pub async fn produce(bench: ProduceBench) -> anyhow::Result<()> {
    let common = &bench.common;
    if bench.count.is_none() && bench.duration_s.is_none() {
        bail!("give --count or --duration-s");
    }
    check_limits(common.concurrency, common.in_flight)?;
    if bench.batch_records == 0 || bench.batch_records > i32::MAX as usize {
        bail!("--batch-records must be at least 1 and fit Kafka's i32 record count");
    }
    let acks = parse_acks(bench.acks.as_deref().unwrap_or("1"))?;
    let connector = Connector::new(&common.kafka, &common.kafka_security)?;
    let mut connection = connector.connect::<()>().await?;
    let partitions = ensure_topic(&mut connection, &common.topic, bench.partitions).await?;
    drop(connection);
    let value = vec![b'x'; bench.record_bytes];
    let batch = encode_records(&value, bench.batch_records as u64);
    let request_bytes = batch.len().saturating_mul(partitions.len());
    if request_bytes > FRAME_BYTES_MAX {
        bail!("one batch per partition makes {request_bytes}-byte requests, above frame_bytes_max ({FRAME_BYTES_MAX}): lower --batch-records");
    }
    let totals = Totals::new();
    let bar = bench::progress(common.quiet, bench.count, "records");
    let rss = bench::sample_rss(common.broker_pid, Arc::clone(&totals));
    let shared = Arc::new(ProduceShared {
        connector,
        topic: topic_name(&common.topic),
        partitions,
        batch,
        batch_records: bench.batch_records as u64,
        value,
        acks,
        in_flight: common.in_flight,
        count: bench.count.unwrap_or(u64::MAX),
        deadline: bench
            .duration_s
            .map(|s| Instant::now() + Duration::from_secs(s)),
        claimed: AtomicU64::new(0),
        totals: Arc::clone(&totals),
        bar: bar.clone(),
    });
    let started = Instant::now();
    let mut workers = Vec::new();
    for index in 0..common.concurrency {
        let shared = Arc::clone(&shared);
        workers.push(tokio::spawn(async move {
            let mut latency = new_histogram()?;
            if let Err(error) = produce_connection(&shared, index, &mut latency).await {
                shared.totals.errors.fetch_add(1, Ordering::Relaxed);
                eprintln!("yak bench: a Kafka connection failed: {error:#}");
            }
            anyhow::Ok(latency)
        }));
    }
    let latency = join_latencies(workers).await?;
    let elapsed = started.elapsed();
    let payload_bytes = totals.records.load(Ordering::Relaxed) * bench.record_bytes as u64;
    bench::finish(
        "kafka-produce",
        &totals,
        &latency,
        elapsed,
        &bar,
        rss,
        payload_bytes,
    )
    .await
}

async fn join_latencies(
    workers: Vec<tokio::task::JoinHandle<anyhow::Result<Histogram<u64>>>>,
) -> anyhow::Result<Histogram<u64>> {
    let mut latency = new_histogram()?;
    for worker in workers {
        latency.add(worker.await??)?;
    }
    Ok(latency)
}

/// The offset of every partition at `timestamp` (earliest or latest), by partition index.
async fn list_offsets(
    connection: &mut Connection<()>,
    topic: &str,
    partitions: &[i32],
    timestamp: i64,
) -> anyhow::Result<Vec<i64>> {
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(
                partitions
                    .iter()
                    .map(|&p| {
                        ListOffsetsPartition::default()
                            .with_partition_index(p)
                            .with_timestamp(timestamp)
                    })
                    .collect(),
            )]);
    let response: ListOffsetsResponse = connection
        .call(ApiKey::ListOffsets, LIST_OFFSETS_VERSION, &request)
        .await?;
    let mut offsets = Vec::with_capacity(partitions.len());
    for &partition in partitions {
        let Some(found) = response
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .find(|p| p.partition_index == partition)
        else {
            bail!("ListOffsets left out partition {partition}");
        };
        if found.error_code != 0 {
            bail!(
                "ListOffsets of partition {partition} failed with Kafka error {}",
                found.error_code
            );
        }
        offsets.push(found.offset);
    }
    Ok(offsets)
}

/// An offset range of one partition that one connection reads, fetch after fetch.
#[derive(Debug, Clone, Copy)]
struct Range {
    partition: i32,
    /// The next offset to fetch.
    from: i64,
    /// One past the last offset to count.
    to: i64,
    /// Bytes per record and largest batch seen in this range's last Fetch, once known: they
    /// size the next Fetch so it does not read far past `to`.
    bytes_per_record: Option<u64>,
    batch_bytes_max: u64,
}

impl Range {
    /// What to ask of the next Fetch: all of the rest of the range and one batch more, within
    /// the per-partition limit.
    fn fetch_bytes(&self) -> i32 {
        let Some(bytes_per_record) = self.bytes_per_record else {
            return FETCH_PARTITION_BYTES_MAX;
        };
        let rest = (self.to - self.from).max(0) as u64;
        let wanted = rest
            .saturating_mul(bytes_per_record)
            .saturating_add(self.batch_bytes_max);
        wanted.min(FETCH_PARTITION_BYTES_MAX as u64) as i32
    }
}

/// Splits every partition's `[start, end)` into up to `ranges_per_partition` ranges of at least
/// `RANGE_RECORDS_MIN` records.
fn split(targets: &[(i32, i64, i64)], ranges_per_partition: i64) -> Vec<Range> {
    let mut ranges = Vec::new();
    for &(partition, start, end) in targets {
        let ranges_per_partition = ranges_per_partition
            .min((end - start + RANGE_RECORDS_MIN - 1) / RANGE_RECORDS_MIN)
            .max(1);
        let span = ((end - start) + ranges_per_partition - 1) / ranges_per_partition;
        for index in 0..ranges_per_partition {
            let from = start + index * span;
            let to = (from + span).min(end);
            if from < to {
                ranges.push(Range {
                    partition,
                    from,
                    to,
                    bytes_per_record: None,
                    batch_bytes_max: 0,
                });
            }
        }
    }
    ranges
}

fn fetch_request(topic: &TopicName, range: &Range) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(FETCH_WAIT_MS_MAX)
        .with_min_bytes(1)
        .with_max_bytes(range.fetch_bytes())
        .with_isolation_level(0)
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic.clone())
            .with_partitions(vec![FetchPartition::default()
                .with_partition(range.partition)
                .with_fetch_offset(range.from)
                .with_partition_max_bytes(range.fetch_bytes())])])
}

/// Counts the records of `range` in one Fetch response and moves `range.from` past the last
/// whole batch, or says why this range cannot go on.
fn count_fetched(
    response: &FetchResponse,
    topic: &TopicName,
    range: &mut Range,
    totals: &Totals,
    bar: &ProgressBar,
) -> anyhow::Result<()> {
    if response.error_code != 0 {
        bail!("Fetch failed with Kafka error {}", response.error_code);
    }
    let Some(data) = response
        .responses
        .iter()
        .filter(|t| t.topic == *topic)
        .flat_map(|t| t.partitions.iter())
        .find(|p| p.partition_index == range.partition)
    else {
        bail!("Fetch left out partition {}", range.partition);
    };
    if data.error_code != 0 {
        bail!(
            "Fetch of partition {} failed with Kafka error {}",
            range.partition,
            data.error_code
        );
    }
    let records = data.records.as_deref().unwrap_or(&[]);
    let (mut counted, mut bytes, mut next) = (0u64, 0u64, range.from);
    let (mut whole_records, mut whole_bytes) = (0u64, 0u64);
    for batch in yak_log::batch::batches(records) {
        // A partial batch at the end is normal when max_bytes cuts it; the whole ones count.
        let Ok((header, whole)) = batch else { break };
        let first = header.base_offset.max(range.from);
        let end = header.last_offset().saturating_add(1).min(range.to);
        if end > first {
            counted += (end - first) as u64;
            bytes += whole.len() as u64;
        }
        next = next.max(header.last_offset().saturating_add(1));
        whole_records += header.records_count.max(1) as u64;
        whole_bytes += whole.len() as u64;
        range.batch_bytes_max = range.batch_bytes_max.max(whole.len() as u64);
    }
    if whole_records > 0 {
        range.bytes_per_record = Some(whole_bytes.div_ceil(whole_records));
    }
    if next <= range.from {
        bail!(
            "Fetch of partition {} at offset {} returned no whole batch",
            range.partition,
            range.from
        );
    }
    range.from = next;
    totals.records.fetch_add(counted, Ordering::Relaxed);
    totals.bytes.fetch_add(bytes, Ordering::Relaxed);
    bar.inc(counted);
    Ok(())
}

/// One consume connection: fetches its ranges, up to `in_flight` of them at once.
async fn consume_connection(
    connector: &Connector,
    topic: &TopicName,
    mut ranges: VecDeque<Range>,
    in_flight: usize,
    totals: &Totals,
    bar: &ProgressBar,
    latency: &mut Histogram<u64>,
) -> anyhow::Result<()> {
    let mut connection = connector.connect::<(Instant, Range)>().await?;
    loop {
        while connection.in_flight() < in_flight {
            let Some(range) = ranges.pop_front() else {
                break;
            };
            let request = fetch_request(topic, &range);
            connection
                .send(
                    ApiKey::Fetch,
                    FETCH_VERSION,
                    &request,
                    Some((Instant::now(), range)),
                )
                .await?;
        }
        if connection.in_flight() == 0 {
            return Ok(());
        }
        let (response, (sent, mut range)) = connection.receive::<FetchResponse>().await?;
        record_latency(latency, sent);
        totals.requests.fetch_add(1, Ordering::Relaxed);
        match count_fetched(&response, topic, &mut range, totals, bar) {
            Ok(()) if range.from < range.to => ranges.push_back(range),
            Ok(()) => {}
            Err(error) => {
                totals.errors.fetch_add(1, Ordering::Relaxed);
                eprintln!("yak bench: {error:#}");
            }
        }
    }
}

pub async fn consume(bench: ConsumeBench) -> anyhow::Result<()> {
    let common = &bench.common;
    check_limits(common.concurrency, common.in_flight)?;
    let connector = Arc::new(Connector::new(&common.kafka, &common.kafka_security)?);
    let mut connection = connector.connect::<()>().await?;
    let partitions = partitions(&mut connection, &common.topic)
        .await?
        .context("the bench topic must exist: run `yak bench produce --protocol kafka` first")?;
    let starts = list_offsets(
        &mut connection,
        &common.topic,
        &partitions,
        EARLIEST_TIMESTAMP,
    )
    .await?;
    let ends = list_offsets(
        &mut connection,
        &common.topic,
        &partitions,
        LATEST_TIMESTAMP,
    )
    .await?;
    drop(connection);
    let targets: Vec<(i32, i64, i64)> = partitions
        .iter()
        .zip(starts.iter().zip(ends.iter()))
        .map(|(&p, (&start, &end))| (p, start, end.max(start)))
        .collect();
    let total: i64 = targets.iter().map(|(_, start, end)| end - start).sum();
    // Enough ranges that every connection can keep --in-flight fetches going.
    let slots = (common.concurrency * common.in_flight) as i64;
    let ranges = split(&targets, (slots / targets.len() as i64).max(1));
    let mut per_connection = vec![VecDeque::new(); common.concurrency];
    for (index, range) in ranges.into_iter().enumerate() {
        per_connection[index % common.concurrency].push_back(range);
    }
    let totals = Totals::new();
    let bar = bench::progress(common.quiet, Some(total as u64), "records");
    let rss = bench::sample_rss(common.broker_pid, Arc::clone(&totals));
    let topic = topic_name(&common.topic);
    let started = Instant::now();
    let mut workers = Vec::new();
    for ranges in per_connection.into_iter().filter(|r| !r.is_empty()) {
        let (connector, topic, totals, bar) = (
            Arc::clone(&connector),
            topic.clone(),
            Arc::clone(&totals),
            bar.clone(),
        );
        let in_flight = common.in_flight;
        workers.push(tokio::spawn(async move {
            let mut latency = new_histogram()?;
            let result = consume_connection(
                &connector,
                &topic,
                ranges,
                in_flight,
                &totals,
                &bar,
                &mut latency,
            )
            .await;
            if let Err(error) = result {
                totals.errors.fetch_add(1, Ordering::Relaxed);
                eprintln!("yak bench: a Kafka connection failed: {error:#}");
            }
            anyhow::Ok(latency)
        }));
    }
    let latency = join_latencies(workers).await?;
    let elapsed = started.elapsed();
    let bytes = totals.bytes.load(Ordering::Relaxed);
    bench::finish(
        "kafka-consume",
        &totals,
        &latency,
        elapsed,
        &bar,
        rss,
        bytes,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves the ranges cover every partition's offsets exactly once.
    #[test]
    fn split_covers_each_offset_once() {
        let targets = [(0, 0, 1000), (1, 5, 6), (2, 7, 7)];
        for ranges_per_partition in 1..12 {
            let ranges = split(&targets, ranges_per_partition);
            for &(partition, start, end) in &targets {
                let mut covered: Vec<_> = ranges
                    .iter()
                    .filter(|r| r.partition == partition)
                    .map(|r| (r.from, r.to))
                    .collect();
                covered.sort_unstable();
                let mut at = start;
                for (from, to) in covered {
                    assert_eq!(from, at);
                    assert!(to > from);
                    at = to;
                }
                assert_eq!(at, end);
            }
        }
    }
}
