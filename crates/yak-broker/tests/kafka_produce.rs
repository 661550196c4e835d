//! Kafka Produce through the broker's backend: a client's batch is checked once where it
//! enters, records included, and a bad one gets Kafka's code without touching the log.

use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use yak_broker::kafka::KafkaBackend;
use yak_broker::BrokerConfig;
use yak_kafka::backend::error_code;
use yak_log::{batch, BatchHeader, RecordToWrite, SimulatedFileSystem};

fn config(data_dir: &std::path::Path) -> BrokerConfig {
    BrokerConfig {
        default_partitions: 1,
        ..BrokerConfig::on_ephemeral_ports(data_dir.to_path_buf())
    }
}

/// An uncompressed batch of `count` records, as a producer sends it.
fn batch_of(count: usize) -> Vec<u8> {
    let values: Vec<String> = (0..count).map(|i| format!("value-{i}")).collect();
    let records: Vec<RecordToWrite<'_>> = values
        .iter()
        .map(|value| RecordToWrite {
            key: None,
            value: Some(value.as_bytes()),
            headers: &[],
            timestamp_ms: 1_700_000_000_000,
        })
        .collect();
    let mut out = Vec::new();
    yak_log::encode_batch(&records, &mut out);
    out
}

fn request(records: Vec<u8>) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(1000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str("checked")))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(Bytes::from(records)))])])
}

/// A batch whose header promises fewer records than it holds, with a correct CRC, is refused
/// with INVALID_RECORD and nothing is appended; an honest batch then lands at offset 0.
#[tokio::test]
async fn batch_whose_records_disagree_with_its_header_is_invalid_record() {
    let data = tempfile::tempdir().expect("tempdir");
    let fs = SimulatedFileSystem::new();
    let running = yak_broker::start(config(data.path()), Arc::new(fs))
        .await
        .expect("the broker starts");
    running
        .broker
        .topic_or_create("checked")
        .await
        .expect("the topic");
    let backend = KafkaBackend::new(Arc::clone(&running.broker));

    let mut lying = batch_of(3);
    let header = BatchHeader::parse(&lying).expect("a header");
    BatchHeader {
        last_offset_delta: 1,
        records_count: 2,
        ..header
    }
    .write(&mut lying);
    batch::seal(&mut lying);
    let response = yak_kafka::produce::handle(
        &backend,
        &yak_kafka::Session::anonymous(),
        9,
        request(lying),
    )
    .await;
    let yak_kafka::produce::ProduceReply::Response(response) = response else {
        panic!("acks=1 answers");
    };
    let answer = &response.responses[0].partition_responses[0];
    assert_eq!(answer.error_code, error_code::INVALID_RECORD, "{answer:?}");

    let response = yak_kafka::produce::handle(
        &backend,
        &yak_kafka::Session::anonymous(),
        9,
        request(batch_of(2)),
    )
    .await;
    let yak_kafka::produce::ProduceReply::Response(response) = response else {
        panic!("acks=1 answers");
    };
    let answer = &response.responses[0].partition_responses[0];
    assert_eq!(answer.error_code, error_code::NONE, "{answer:?}");
    assert_eq!(answer.base_offset, 0, "the refused batch took no offsets");
    running.shutdown().await.expect("clean shutdown");
}
