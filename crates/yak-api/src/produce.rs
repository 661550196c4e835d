//! `POST /produce`: one record, a `messages` array, or an NDJSON stream of records.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;

/// One record to produce. `topic` may instead be given once at the top of a batch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProduceRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Picks the partition (murmur2, as Kafka's Java client) unless `partition` is given. Keyless
    /// records without `partition` spread over the partitions: each run of up to 100 of them in
    /// a request goes to the next partition of the topic, round-robin on the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Any JSON value; stored as its JSON text.
    pub payload: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<i32>,
    /// Generated as `topic-partition-offset` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msg_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, String>>,
    /// Milliseconds since the Unix epoch; the broker's clock when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
}

/// A batch: `{"topic"?, "messages": [...]}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProduceBatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    pub messages: Vec<ProduceRecord>,
}

/// Where one record landed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProduceResult {
    pub msg_id: String,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
}

/// One entry of a batch answer: a result, or the error that record met.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum ProduceOutcome {
    Ok(ProduceResult),
    Err { error: ApiError },
}

/// The answer to a batch: one outcome per record, in request order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProduceBatchResponse {
    pub results: Vec<ProduceOutcome>,
}

/// The JSON answer of `POST /produce`: a result for one record, or one outcome per record for
/// a batch (a `messages` array).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum ProduceAnswer {
    Record(ProduceResult),
    Batch(ProduceBatchResponse),
}

/// How many replicas must have a record before the broker answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
pub enum Acks {
    /// `0`: answer once the request is parsed.
    #[serde(rename = "0")]
    None,
    /// `1`: answer once the leader has written (and, under `--flush always`, fsynced) it.
    #[serde(rename = "1")]
    Leader,
    /// `all`: answer once every in-sync replica has it.
    #[default]
    #[serde(rename = "all", alias = "-1")]
    All,
}

/// Query parameters of `POST /produce`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProduceParams {
    /// `0`, `1` or `all` (default; `-1` is the same).
    #[param(value_type = Option<String>, pattern = "^(0|1|all|-1)$")]
    pub acks: Option<Acks>,
}
