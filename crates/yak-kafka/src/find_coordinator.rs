//! FindCoordinator (key 10, v0-4): where a group's (or a transactional id's) coordinator lives.
//!
//! Groups: the backend's coordinator (this node standalone; the leader in a cluster), or the
//! retriable COORDINATOR_NOT_AVAILABLE while there is none. Transactions do not exist yet:
//! COORDINATOR_NOT_AVAILABLE. (The API is advertised from v0 also because librdkafka before
//! 2.11.1 and confluent-kafka up to at least 2.16 enable LZ4 only when it is in range.)
//!
//! Shapes differ by version: v0-3 answer one key in top-level
//! fields (`error_message` from v1); v4+ answer each of `coordinator_keys` in `coordinators`
//! and the top-level fields must stay at their defaults or the response will not encode.
//!
//! Authorization, as Kafka's: DESCRIBE on the group (key type 0), else
//! GROUP_AUTHORIZATION_FAILED; DESCRIBE on the transactional id (key type 1), else
//! TRANSACTIONAL_ID_AUTHORIZATION_FAILED; per key from v4.

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use yak_auth::{Operation, Resource};

use crate::backend::{error_code, Backend, NodeInfo};
use crate::session::Session;

/// `key_type` 0: the key is a consumer group id.
pub const KEY_TYPE_GROUP: i8 = 0;
/// `key_type` 1: the key is a transactional id.
pub const KEY_TYPE_TRANSACTION: i8 = 1;
/// The first version that batches keys in `coordinator_keys` / `coordinators` (KIP-699).
pub const BATCHED_VERSION_MIN: i16 = 4;

/// Said with COORDINATOR_NOT_AVAILABLE for a group while no coordinator is available.
const NOT_AVAILABLE_MESSAGE: &str = "no group coordinator is available right now; retry";
/// Said with COORDINATOR_NOT_AVAILABLE for a transactional id.
const NO_TRANSACTIONS_MESSAGE: &str = "transactions are not available on this broker";
/// Said when `key_type` is neither groups nor transactions (Kafka answers INVALID_REQUEST).
const UNKNOWN_KEY_TYPE_MESSAGE: &str = "unknown coordinator key type";

/// The node fields of an answer without a coordinator, as Kafka fills them.
const NO_NODE_ID: i32 = -1;
const NO_PORT: i32 = -1;

/// The coordinator, or the error code and message, every key of this request gets.
fn answer(key_type: i8, coordinator: Option<&NodeInfo>) -> Result<&NodeInfo, (i16, &'static str)> {
    match (key_type, coordinator) {
        (KEY_TYPE_GROUP, Some(node)) => Ok(node),
        (KEY_TYPE_GROUP, None) => {
            Err((error_code::COORDINATOR_NOT_AVAILABLE, NOT_AVAILABLE_MESSAGE))
        }
        (KEY_TYPE_TRANSACTION, _) => Err((
            error_code::COORDINATOR_NOT_AVAILABLE,
            NO_TRANSACTIONS_MESSAGE,
        )),
        _ => Err((error_code::INVALID_REQUEST, UNKNOWN_KEY_TYPE_MESSAGE)),
    }
}

/// Said when the session may not DESCRIBE the key.
const REFUSED_MESSAGE: &str = "not authorized to find this coordinator";

/// The answer for one key: refused when the session may not DESCRIBE it.
fn answer_key(
    key_type: i8,
    coordinator: Option<&NodeInfo>,
    authorized: bool,
) -> Result<&NodeInfo, (i16, &'static str)> {
    match key_type {
        KEY_TYPE_GROUP if !authorized => {
            Err((error_code::GROUP_AUTHORIZATION_FAILED, REFUSED_MESSAGE))
        }
        KEY_TYPE_TRANSACTION if !authorized => Err((
            error_code::TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
            REFUSED_MESSAGE,
        )),
        _ => answer(key_type, coordinator),
    }
}

pub fn handle<B: Backend>(
    backend: &B,
    session: &Session,
    version: i16,
    request: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let key_type = request.key_type;
    respond(
        version,
        request,
        backend.group_coordinator(session.listener),
        |key| {
            let resource = match key_type {
                KEY_TYPE_GROUP => Resource::group(key),
                KEY_TYPE_TRANSACTION => Resource::transactional_id(key),
                // Answered INVALID_REQUEST whatever the ACLs say.
                _ => return true,
            };
            backend.authorize(session, Operation::Describe, &resource)
        },
    )
}

/// The response for `coordinator`, each key allowed or not by `authorized`.
pub fn respond(
    version: i16,
    request: FindCoordinatorRequest,
    coordinator: Option<NodeInfo>,
    authorized: impl Fn(&str) -> bool,
) -> FindCoordinatorResponse {
    let response = FindCoordinatorResponse::default();
    if version >= BATCHED_VERSION_MIN {
        let coordinators = request
            .coordinator_keys
            .into_iter()
            .map(|key| {
                let answer = answer_key(
                    request.key_type,
                    coordinator.as_ref(),
                    authorized(key.as_str()),
                );
                let entry = Coordinator::default().with_key(key);
                match answer {
                    Ok(node) => entry
                        .with_node_id(BrokerId(node.node_id))
                        .with_host(StrBytes::from_string(node.host.clone()))
                        .with_port(node.port)
                        .with_error_code(error_code::NONE),
                    Err((code, message)) => entry
                        .with_node_id(BrokerId(NO_NODE_ID))
                        .with_host(StrBytes::default())
                        .with_port(NO_PORT)
                        .with_error_code(code)
                        .with_error_message(Some(StrBytes::from_static_str(message))),
                }
            })
            .collect();
        return response.with_coordinators(coordinators);
    }
    let answer = answer_key(
        request.key_type,
        coordinator.as_ref(),
        authorized(request.key.as_str()),
    );
    match answer {
        Ok(node) => response
            .with_error_code(error_code::NONE)
            .with_node_id(BrokerId(node.node_id))
            .with_host(StrBytes::from_string(node.host.clone()))
            .with_port(node.port),
        Err((code, message)) => response
            .with_error_code(code)
            .with_error_message(Some(StrBytes::from_static_str(message)))
            .with_node_id(BrokerId(NO_NODE_ID))
            .with_host(StrBytes::default())
            .with_port(NO_PORT),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::versions;
    use kafka_protocol::messages::ApiKey;
    use kafka_protocol::protocol::{Decodable, Encodable};

    fn request(version: i16, key_type: i8, keys: &[&'static str]) -> FindCoordinatorRequest {
        let request = if version >= 1 {
            FindCoordinatorRequest::default().with_key_type(key_type)
        } else {
            FindCoordinatorRequest::default()
        };
        if version >= BATCHED_VERSION_MIN {
            request
                .with_coordinator_keys(keys.iter().map(|k| StrBytes::from_static_str(k)).collect())
        } else {
            request.with_key(StrBytes::from_static_str(keys[0]))
        }
    }

    fn round_trip(response: &FindCoordinatorResponse, version: i16) -> FindCoordinatorResponse {
        let mut buf = bytes::BytesMut::new();
        response.encode(&mut buf, version).expect("encodes");
        FindCoordinatorResponse::decode(&mut buf.freeze(), version).expect("decodes")
    }

    /// Proves every advertised version answers COORDINATOR_NOT_AVAILABLE in its own shape and
    /// encodes: top-level fields up to v3, one `coordinators` entry per key from v4.
    #[test]
    fn no_coordinator_at_every_version() {
        let advertised: Vec<i16> = versions::decoded_versions(ApiKey::FindCoordinator).collect();
        assert_eq!(advertised, vec![0, 1, 2, 3, 4]);
        for version in advertised {
            let key_types: &[i8] = if version >= 1 {
                &[KEY_TYPE_GROUP, KEY_TYPE_TRANSACTION]
            } else {
                &[KEY_TYPE_GROUP]
            };
            for &key_type in key_types {
                let sent = request(version, key_type, &["group-a", "group-b"]);
                let response = round_trip(&respond(version, sent, None, |_| true), version);
                if version >= BATCHED_VERSION_MIN {
                    assert_eq!(
                        response.error_code, 0,
                        "v{version}: top level stays default"
                    );
                    let keys: Vec<&str> = response
                        .coordinators
                        .iter()
                        .map(|c| c.key.as_str())
                        .collect();
                    assert_eq!(keys, ["group-a", "group-b"], "v{version}");
                    for coordinator in &response.coordinators {
                        assert_eq!(coordinator.error_code, 15);
                        assert_eq!(coordinator.node_id, BrokerId(-1));
                        assert_eq!(coordinator.host.as_str(), "");
                        assert_eq!(coordinator.port, -1);
                        assert!(coordinator.error_message.is_some());
                    }
                } else {
                    assert_eq!(response.error_code, 15, "v{version}");
                    assert_eq!(response.node_id, BrokerId(-1));
                    assert_eq!(response.host.as_str(), "");
                    assert_eq!(response.port, -1);
                    assert!(response.coordinators.is_empty());
                    // v0 has no error_message field on the wire; v1+ carries it.
                    if version >= 1 {
                        assert!(response.error_message.is_some(), "v{version}");
                    }
                }
            }
        }
    }

    /// Proves a group key gets the backend's coordinator at every version, in its shape.
    #[test]
    fn groups_get_the_coordinator() {
        let node = NodeInfo {
            node_id: 3,
            host: "10.0.0.3".into(),
            port: 9093,
        };
        for version in versions::decoded_versions(ApiKey::FindCoordinator) {
            let sent = request(version, KEY_TYPE_GROUP, &["g"]);
            let response = round_trip(
                &respond(version, sent, Some(node.clone()), |_| true),
                version,
            );
            let (code, id, host, port) = if version >= BATCHED_VERSION_MIN {
                let c = &response.coordinators[0];
                (c.error_code, c.node_id, c.host.to_string(), c.port)
            } else {
                (
                    response.error_code,
                    response.node_id,
                    response.host.to_string(),
                    response.port,
                )
            };
            assert_eq!(
                (code, id, host.as_str(), port),
                (0, BrokerId(3), "10.0.0.3", 9093),
                "v{version}"
            );
        }
    }

    /// Proves a v4 request with no keys gets an empty, encodable answer, and an unknown key
    /// type gets INVALID_REQUEST as in Kafka.
    #[test]
    fn empty_batches_and_unknown_key_types() {
        let empty = respond(4, FindCoordinatorRequest::default(), None, |_| true);
        assert!(round_trip(&empty, 4).coordinators.is_empty());
        for version in 1..=3 {
            let response = respond(version, request(version, 7, &["g"]), None, |_| true);
            assert_eq!(round_trip(&response, version).error_code, 42);
        }
        let response = respond(4, request(4, 7, &["g"]), None, |_| true);
        assert_eq!(round_trip(&response, 4).coordinators[0].error_code, 42);
    }
}
