//! `GET /consume` and `GET /consume/stream`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Query parameters of `GET /consume` and `GET /consume/stream`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, IntoParams)]
pub struct ConsumeParams {
    pub topic: Option<String>,
    /// Defaults to 0.
    pub partition: Option<i32>,
    /// A number, `earliest` or `latest`; defaults to `earliest`.
    pub offset: Option<String>,
    /// Most records to return (1 to 10,000; default 100).
    pub max: Option<i64>,
    /// How long to wait for a first record when none is there (0 to 30,000 ms; default 0).
    pub wait_ms: Option<i64>,
}

/// One record as consumers see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConsumedRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<i32>,
    pub offset: i64,
    pub msg_id: String,
    pub key: Option<String>,
    /// Set instead of `key` when the key is not UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_base64: Option<String>,
    /// The stored JSON value; a string when the value is not JSON; null when the value is absent.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    /// Set instead of `payload` when the value is not UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_base64: Option<String>,
    pub timestamp: i64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

/// The answer of `GET /consume`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConsumeResponse {
    pub topic: String,
    pub partition: i32,
    pub messages: Vec<ConsumedRecord>,
    /// The offset to ask for next.
    pub next_offset: i64,
    pub high_watermark: i64,
}
