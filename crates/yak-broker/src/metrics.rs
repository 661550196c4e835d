//! Counters of the node, named as Kafka's broker metrics are (`BrokerTopicMetrics` MessagesIn,
//! BytesIn, BytesOut, …), and their Prometheus text form.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Metrics {
    pub messages_in_total: AtomicU64,
    pub bytes_in_total: AtomicU64,
    pub messages_out_total: AtomicU64,
    pub bytes_out_total: AtomicU64,
    pub produce_requests_total: AtomicU64,
    pub fetch_requests_total: AtomicU64,
    pub failed_produce_requests_total: AtomicU64,
    pub failed_fetch_requests_total: AtomicU64,
    pub log_segments_deleted_total: AtomicU64,
    pub log_bytes_deleted_total: AtomicU64,
    pub successful_authentication_total: AtomicU64,
    pub failed_authentication_total: AtomicU64,
    pub denied_requests_total: AtomicU64,
}

fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

impl Metrics {
    pub fn add(counter: &AtomicU64, value: u64) {
        counter.fetch_add(value, Ordering::Relaxed);
    }

    /// Counts a login (SASL, TLS client certificate, HTTP) on `listener`.
    pub fn authentication(&self, _listener: &str, success: bool) {
        let counter = if success {
            &self.successful_authentication_total
        } else {
            &self.failed_authentication_total
        };
        Metrics::add(counter, 1);
    }

    /// The node-wide counters as (name, help, value), shared by the text and JSON forms.
    pub fn counters(&self) -> Vec<(&'static str, &'static str, u64)> {
        vec![
            (
                "yak_server_brokertopicmetrics_messages_in_total",
                "Records appended to logs on this node.",
                get(&self.messages_in_total),
            ),
            (
                "yak_server_brokertopicmetrics_bytes_in_total",
                "Bytes of record batches appended on this node.",
                get(&self.bytes_in_total),
            ),
            (
                "yak_server_brokertopicmetrics_messages_out_total",
                "Records sent to consumers.",
                get(&self.messages_out_total),
            ),
            (
                "yak_server_brokertopicmetrics_bytes_out_total",
                "Bytes of record batches sent to consumers.",
                get(&self.bytes_out_total),
            ),
            (
                "yak_server_brokertopicmetrics_total_produce_requests_total",
                "Produce requests received.",
                get(&self.produce_requests_total),
            ),
            (
                "yak_server_brokertopicmetrics_total_fetch_requests_total",
                "Fetch and consume requests received.",
                get(&self.fetch_requests_total),
            ),
            (
                "yak_server_brokertopicmetrics_failed_produce_requests_total",
                "Produce requests that failed.",
                get(&self.failed_produce_requests_total),
            ),
            (
                "yak_server_brokertopicmetrics_failed_fetch_requests_total",
                "Fetch and consume requests that failed.",
                get(&self.failed_fetch_requests_total),
            ),
            (
                "yak_log_segments_deleted_total",
                "Log segments deleted by retention.",
                get(&self.log_segments_deleted_total),
            ),
            (
                "yak_log_bytes_deleted_total",
                "Bytes of log segments deleted by retention.",
                get(&self.log_bytes_deleted_total),
            ),
            (
                "yak_server_socket_server_metrics_successful_authentication_total",
                "Logins that succeeded (SASL, HTTP), Kafka's successful-authentication-total.",
                get(&self.successful_authentication_total),
            ),
            (
                "yak_server_socket_server_metrics_failed_authentication_total",
                "Logins and TLS handshakes that failed, Kafka's failed-authentication-total.",
                get(&self.failed_authentication_total),
            ),
            (
                "yak_server_authorizer_denied_requests_total",
                "Operations the ACLs denied, on HTTP and Kafka.",
                get(&self.denied_requests_total),
            ),
        ]
    }
}

/// One partition's gauges.
pub struct PartitionGauges<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
    pub high_watermark: i64,
    pub size_bytes: u64,
}

/// A per-partition gauge: name, help, and how to read it.
type Gauge = (
    &'static str,
    &'static str,
    fn(&PartitionGauges<'_>) -> String,
);

/// Prometheus text exposition format, version 0.0.4.
pub fn prometheus_text(metrics: &Metrics, partitions: &[PartitionGauges<'_>]) -> String {
    let mut out = String::with_capacity(4096);
    for (name, help, value) in metrics.counters() {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
        );
    }
    let gauges: [Gauge; 4] = [
        (
            "yak_log_log_start_offset",
            "First offset of the partition's log.",
            |p| p.log_start_offset.to_string(),
        ),
        (
            "yak_log_log_end_offset",
            "Offset the next appended record gets.",
            |p| p.log_end_offset.to_string(),
        ),
        (
            "yak_cluster_partition_high_watermark",
            "Offset below which records are committed and readable.",
            |p| p.high_watermark.to_string(),
        ),
        (
            "yak_log_size_bytes",
            "Bytes of the partition's log on disk.",
            |p| p.size_bytes.to_string(),
        ),
    ];
    for (name, help, value) in gauges {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for partition in partitions {
            let _ = writeln!(
                out,
                "{name}{{topic=\"{}\",partition=\"{}\"}} {}",
                partition.topic,
                partition.partition,
                value(partition)
            );
        }
    }
    out
}
