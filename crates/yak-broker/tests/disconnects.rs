//! Clients that vanish mid-request must not stall a partition: storms of HTTP and Kafka produce
//! requests whose connections are reset while they wait for their fsync, followed by writes to
//! every partition, which must all be acknowledged at once and leave the high watermark at the
//! log end offset (every record that was appended became durable, waited for or not).

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, ProduceRequest, RequestHeader, TopicName};
use kafka_protocol::protocol::{Encodable, StrBytes};
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use yak_broker::{BrokerConfig, Running};
use yak_log::OsFileSystem;

const PARTITIONS: i32 = 3;
/// Connections open at once during a storm.
const STORM_CONNECTIONS: usize = 48;
/// Requests each storm connection sends before it is reset.
const STORM_ROUNDS: usize = 25;
/// How long the follow-up write to each partition may take. A stalled partition never answers;
/// a healthy one answers in one fsync.
const FOLLOW_UP_TIMEOUT: Duration = Duration::from_secs(1);
/// How long records appended by the storm may take to become durable once it is over.
const DURABLE_TIMEOUT: Duration = Duration::from_secs(5);

fn config(data_dir: &std::path::Path) -> BrokerConfig {
    BrokerConfig {
        default_partitions: PARTITIONS,
        ..BrokerConfig::on_ephemeral_ports(data_dir.to_path_buf())
    }
}

async fn start(data: &tempfile::TempDir) -> Running {
    let running = yak_broker::start(config(data.path()), Arc::new(OsFileSystem))
        .await
        .expect("the broker starts");
    let created = reqwest::Client::new()
        .post(format!("http://{}/topics", running.http_addr))
        .json(&json!({"name": "storm", "partitions": PARTITIONS}))
        .send()
        .await
        .expect("create the topic");
    assert_eq!(created.status().as_u16(), 201);
    running
}

/// Resets the connection (RST, not FIN) after a random pause of up to `pause_us_max`, so some
/// requests are dropped before they are read, some while they wait for their fsync and some
/// after.
async fn reset_after_random_pause(stream: TcpStream, pause_us_max: u64) {
    let pause_us = rand::random_range(0..pause_us_max);
    tokio::time::sleep(Duration::from_micros(pause_us)).await;
    // Linger 0 makes close send RST at once.
    let _ = stream.set_zero_linger();
    drop(stream);
}

/// One write to each partition must be acknowledged within `FOLLOW_UP_TIMEOUT`, and then every
/// partition's high watermark must equal its log end offset.
async fn assert_every_partition_takes_writes(running: &Running) {
    let base = format!("http://{}", running.http_addr);
    let client = reqwest::Client::builder()
        .timeout(FOLLOW_UP_TIMEOUT)
        .build()
        .expect("client");
    for partition in 0..PARTITIONS {
        let response = client
            .post(format!("{base}/produce"))
            .json(&json!({"topic": "storm", "partition": partition, "payload": "after"}))
            .send()
            .await
            .unwrap_or_else(|error| panic!("partition {partition} is stalled: {error}"));
        assert_eq!(response.status().as_u16(), 200, "partition {partition}");
    }
    // Requests of the storm that the server read may still be finishing; whatever they
    // appended must become durable without anyone waiting for it.
    for partition in 0..PARTITIONS {
        let partition = running
            .broker
            .partition("storm", partition)
            .expect("partition");
        let mut high_watermark = partition.subscribe();
        let caught_up = tokio::time::timeout(DURABLE_TIMEOUT, async {
            while *high_watermark.borrow_and_update() < partition.log_end_offset() {
                if high_watermark.changed().await.is_err() {
                    break;
                }
            }
        })
        .await;
        assert!(
            caught_up.is_ok(),
            "partition {} has appended records that never became durable: high watermark {}, log end offset {}",
            partition.index,
            partition.high_watermark(),
            partition.log_end_offset()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_produce_storm_with_reset_connections_stalls_no_partition() {
    let data = tempfile::tempdir().expect("tempdir");
    let running = start(&data).await;
    let addr = running.http_addr;
    let mut storm = tokio::task::JoinSet::new();
    for connection in 0..STORM_CONNECTIONS {
        storm.spawn(async move {
            for round in 0..STORM_ROUNDS {
                let body = json!({
                    "topic": "storm",
                    "partition": (connection + round) as i32 % PARTITIONS,
                    "payload": {"connection": connection, "round": round},
                })
                .to_string();
                let request = format!(
                    "POST /produce HTTP/1.1\r\nhost: storm\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                let Ok(mut stream) = TcpStream::connect(addr).await else {
                    continue;
                };
                if stream.write_all(request.as_bytes()).await.is_ok() {
                    reset_after_random_pause(stream, 3_000).await;
                }
            }
        });
    }
    while let Some(joined) = storm.join_next().await {
        joined.expect("storm task");
    }
    assert_every_partition_takes_writes(&running).await;
    running.shutdown().await.expect("clean shutdown");
}

/// A Produce v7 request frame with one record in each partition, acks=1.
fn produce_frame(correlation_id: i32, value: &[u8]) -> Bytes {
    let mut partitions = Vec::new();
    for index in 0..PARTITIONS {
        let mut batch = Vec::new();
        yak_log::record::encode_batch(
            &[yak_log::record::RecordToWrite {
                key: None,
                value: Some(value),
                headers: &[],
                timestamp_ms: 1,
            }],
            &mut batch,
        );
        partitions.push(
            PartitionProduceData::default()
                .with_index(index)
                .with_records(Some(Bytes::from(batch))),
        );
    }
    let request = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str("storm")))
            .with_partition_data(partitions)]);
    let version = 7;
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::Produce as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("storm")));
    let header_version = ApiKey::Produce.request_header_version(version);
    let frame_bytes = header.compute_size(header_version).expect("size")
        + request.compute_size(version).expect("size");
    let mut frame = BytesMut::with_capacity(4 + frame_bytes);
    frame.put_u32(frame_bytes as u32);
    header.encode(&mut frame, header_version).expect("encode");
    request.encode(&mut frame, version).expect("encode");
    frame.freeze()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_produce_storm_with_reset_connections_stalls_no_partition() {
    let data = tempfile::tempdir().expect("tempdir");
    let running = start(&data).await;
    let addr = running.kafka_addr;
    let mut storm = tokio::task::JoinSet::new();
    for connection in 0..STORM_CONNECTIONS {
        storm.spawn(async move {
            for round in 0..STORM_ROUNDS {
                let Ok(mut stream) = TcpStream::connect(addr).await else {
                    continue;
                };
                // Several requests in flight on the connection when it goes.
                let mut sent = true;
                for correlation_id in 0..4 {
                    let value = format!("{connection}-{round}-{correlation_id}");
                    let frame = produce_frame(correlation_id, value.as_bytes());
                    if stream.write_all(&frame).await.is_err() {
                        sent = false;
                        break;
                    }
                }
                if sent {
                    reset_after_random_pause(stream, 3_000).await;
                }
            }
        });
    }
    while let Some(joined) = storm.join_next().await {
        joined.expect("storm task");
    }
    assert_every_partition_takes_writes(&running).await;
    running.shutdown().await.expect("clean shutdown");
}
