//! Between the HTTP API's JSON records and Kafka v2 record batches.
//!
//! Produce stores each payload as its JSON text, exactly as it came (no re-encoding: the raw
//! value is copied). A `msg_id` the client gave travels in the record header `yak.msg_id`; one the
//! client did not give is `topic-partition-offset`, stable and free to store. Consume turns a value
//! back into JSON when it parses as JSON, into a string when it is UTF-8, and into
//! `payload_base64` otherwise, so records from Kafka clients read back too.

use std::borrow::Cow;
use std::collections::BTreeMap;

use base64::Engine;
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
use yak_log::record;

/// The record header that carries a client's `msg_id`.
pub const MSG_ID_HEADER: &str = "yak.msg_id";

/// One record of a produce request, borrowed from the request body. A whole body has the same
/// shape: one record, or `{"topic"?, "messages": [...]}` (serde cannot flatten a borrowed raw
/// payload, so the batch form is this struct's own `messages` field).
#[derive(Debug, Deserialize)]
pub struct RecordIn<'a> {
    #[serde(borrow, default)]
    pub topic: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub key: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "present_payload")]
    pub payload: Option<&'a RawValue>,
    #[serde(default, deserialize_with = "yak_api::integer::option_i32")]
    pub partition: Option<i32>,
    #[serde(borrow, default)]
    pub msg_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub headers: Option<BTreeMap<Cow<'a, str>, Cow<'a, str>>>,
    #[serde(default, deserialize_with = "yak_api::integer::option_i64")]
    pub timestamp: Option<i64>,
    #[serde(borrow, default)]
    pub messages: Option<Vec<RecordIn<'a>>>,
}

/// A `payload` field that is present, even as `null`: the payload is any JSON value, and a bare
/// `Option<&RawValue>` would read `"payload": null` as an absent field.
fn present_payload<'de: 'a, 'a, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<&'a RawValue>, D::Error> {
    <&'a RawValue>::deserialize(deserializer).map(Some)
}

impl<'a> RecordIn<'a> {
    /// The records of a body: its `messages`, each with the body's topic when it names none,
    /// or the body itself as one record. Whether the body was a batch comes second.
    pub fn into_records(mut self) -> (Vec<RecordIn<'a>>, bool) {
        match self.messages.take() {
            Some(mut messages) => {
                for message in &mut messages {
                    if message.topic.is_none() {
                        message.topic = self.topic.clone();
                    }
                }
                (messages, true)
            }
            None => (vec![self], false),
        }
    }
}

/// Bytes a record adds to a batch beyond its key, value and headers (varints, deltas), an
/// upper bound used to split batches before encoding.
pub const RECORD_OVERHEAD_BYTES_MAX: usize = 32;

/// Upper bound of a record's encoded size.
pub fn record_bytes_estimate(record: &RecordIn<'_>) -> usize {
    let headers: usize = record
        .headers
        .iter()
        .flatten()
        .map(|(k, v)| k.len() + v.len() + 10)
        .sum();
    RECORD_OVERHEAD_BYTES_MAX
        + record.key.as_ref().map_or(0, |k| k.len())
        + record.payload.map_or(0, |p| p.get().len())
        + record
            .msg_id
            .as_ref()
            .map_or(0, |m| m.len() + MSG_ID_HEADER.len() + 10)
        + headers
}

/// A record's headers as the batch encoder takes them: name and optional value.
type RecordHeaders<'a> = Vec<(&'a [u8], Option<&'a [u8]>)>;

/// Encodes records into one uncompressed v2 batch in `out` (cleared first), ready to append:
/// the encoder's output needs no second check.
pub fn encode<'b>(
    records: &[&RecordIn<'_>],
    now_ms: i64,
    out: &'b mut Vec<u8>,
) -> yak_log::ValidBatch<'b> {
    let headers: Vec<RecordHeaders<'_>> = records
        .iter()
        .map(|r| {
            let mut headers: RecordHeaders<'_> = Vec::new();
            if let Some(msg_id) = &r.msg_id {
                headers.push((MSG_ID_HEADER.as_bytes(), Some(msg_id.as_bytes())));
            }
            for (k, v) in r.headers.iter().flatten() {
                headers.push((k.as_bytes(), Some(v.as_bytes())));
            }
            headers
        })
        .collect();
    let to_write: Vec<record::RecordToWrite<'_>> = records
        .iter()
        .zip(&headers)
        .map(|(r, headers)| record::RecordToWrite {
            key: r.key.as_ref().map(|k| k.as_bytes()),
            value: r.payload.map(|p| p.get().as_bytes()),
            headers,
            timestamp_ms: r.timestamp.unwrap_or(now_ms),
        })
        .collect();
    record::encode_valid_batch(&to_write, out)
}

/// A payload as consumers see it.
enum Payload<'a> {
    Json(&'a RawValue),
    Text(&'a str),
    Null,
}

impl Serialize for Payload<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Payload::Json(raw) => raw.serialize(serializer),
            Payload::Text(text) => serializer.serialize_str(text),
            Payload::Null => serializer.serialize_none(),
        }
    }
}

/// One record, borrowed from a stored batch, in the shape of `yak_api::ConsumedRecord`.
pub struct RecordOut<'a> {
    pub topic: &'a str,
    pub partition: i32,
    /// Whether `topic` and `partition` are written (streams) or left to the envelope (consume).
    pub with_location: bool,
    pub offset: i64,
    pub record: record::Record<'a>,
}

impl Serialize for RecordOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let base64 = base64::engine::general_purpose::STANDARD;
        let mut map = serializer.serialize_map(None)?;
        if self.with_location {
            map.serialize_entry("topic", self.topic)?;
            map.serialize_entry("partition", &self.partition)?;
        }
        map.serialize_entry("offset", &self.offset)?;
        let mut msg_id = None;
        let mut headers: BTreeMap<Cow<'_, str>, Cow<'_, str>> = BTreeMap::new();
        for (key, value) in &self.record.headers {
            let value = value
                .map(String::from_utf8_lossy)
                .unwrap_or(Cow::Borrowed(""));
            if *key == MSG_ID_HEADER.as_bytes() {
                msg_id = Some(value);
            } else {
                headers.insert(String::from_utf8_lossy(key), value);
            }
        }
        match msg_id {
            Some(id) => map.serialize_entry("msg_id", &id)?,
            None => map.serialize_entry(
                "msg_id",
                &format_args!("{}-{}-{}", self.topic, self.partition, self.offset),
            )?,
        }
        match self.record.key {
            None => map.serialize_entry("key", &None::<&str>)?,
            Some(key) => match std::str::from_utf8(key) {
                Ok(text) => map.serialize_entry("key", text)?,
                Err(_) => {
                    map.serialize_entry("key", &None::<&str>)?;
                    map.serialize_entry("key_base64", &base64.encode(key))?;
                }
            },
        }
        match self.record.value {
            None => map.serialize_entry("payload", &Payload::Null)?,
            Some(value) => match serde_json::from_slice::<&RawValue>(value) {
                Ok(raw) => map.serialize_entry("payload", &Payload::Json(raw))?,
                Err(_) => match std::str::from_utf8(value) {
                    Ok(text) => map.serialize_entry("payload", &Payload::Text(text))?,
                    Err(_) => {
                        map.serialize_entry("payload", &Payload::Null)?;
                        map.serialize_entry("payload_base64", &base64.encode(value))?;
                    }
                },
            },
        }
        map.serialize_entry("timestamp", &self.record.timestamp_ms)?;
        if !headers.is_empty() {
            map.serialize_entry("headers", &headers)?;
        }
        map.end()
    }
}
