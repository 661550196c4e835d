//! InitProducerId (key 22, v0-4): producer ids for idempotent producers (the default in Java,
//! kafka-python 3 and franz-go). Transactions are not served: a transactional id is refused.
//! A v3+ request that presents its old id and epoch (KIP-360) gets a fresh id, which is
//! allowed for idempotent producers; bumping the epoch instead needs backend support.
//!
//! Authorization, as Kafka's (KIP-679): without a transactional id the session needs
//! IDEMPOTENT_WRITE on the cluster or WRITE on some topic, else CLUSTER_AUTHORIZATION_FAILED;
//! with one, WRITE on that transactional id, else TRANSACTIONAL_ID_AUTHORIZATION_FAILED
//! (and INVALID_REQUEST after that, as transactions are not served).

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use yak_auth::{Operation, Resource};

use crate::backend::{error_code, Backend, BackendError};
use crate::session::Session;

/// Whether `session` may get a producer id for idempotent writes. Kafka asks whether any
/// WRITE binding could apply to the principal; asking about each existing topic answers the
/// same for every topic a produce could reach.
fn may_write_idempotently<B: Backend>(backend: &B, session: &Session) -> bool {
    backend.authorize(session, Operation::IdempotentWrite, &Resource::cluster())
        || backend.topics().iter().any(|topic| {
            backend.authorize_quietly(session, Operation::Write, &Resource::topic(&topic.name))
        })
}

pub async fn handle<B: Backend>(
    backend: &B,
    session: &Session,
    request: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let response = InitProducerIdResponse::default();
    let refused = match &request.transactional_id {
        Some(id)
            if !backend.authorize(
                session,
                Operation::Write,
                &Resource::transactional_id(id.0.as_str()),
            ) =>
        {
            Some(BackendError::TransactionalIdAuthorizationFailed)
        }
        None if !may_write_idempotently(backend, session) => {
            Some(BackendError::ClusterAuthorizationFailed)
        }
        _ => None,
    };
    if let Some(error) = refused {
        return response
            .with_error_code(error.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
    }
    if request.transactional_id.is_some() {
        return response
            .with_error_code(error_code::INVALID_REQUEST)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
    }
    match backend.init_producer_id().await {
        Ok((producer_id, producer_epoch)) => response
            .with_error_code(error_code::NONE)
            .with_producer_id(ProducerId(producer_id))
            .with_producer_epoch(producer_epoch),
        Err(error) => response
            .with_error_code(error.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory_backend::MemoryBackend;
    use crate::versions;
    use kafka_protocol::messages::{ApiKey, TransactionalId};
    use kafka_protocol::protocol::{Encodable, StrBytes};

    /// Proves ids are distinct, transactional ids are refused, and every version encodes.
    #[tokio::test]
    async fn hands_out_ids() {
        let backend = MemoryBackend::for_tests();
        for version in versions::decoded_versions(ApiKey::InitProducerId) {
            let plain = || InitProducerIdRequest::default().with_transactional_id(None);
            let first = handle(&backend, &Session::anonymous(), plain()).await;
            let second = handle(&backend, &Session::anonymous(), plain()).await;
            assert_eq!(first.error_code, 0);
            assert_ne!(first.producer_id, second.producer_id);
            let txn = handle(
                &backend,
                &Session::anonymous(),
                InitProducerIdRequest::default()
                    .with_transactional_id(Some(TransactionalId(StrBytes::from_static_str("t")))),
            )
            .await;
            assert_eq!(txn.error_code, 42);
            for r in [first, second, txn] {
                let mut buf = bytes::BytesMut::new();
                r.encode(&mut buf, version).expect("encodes");
            }
        }
    }
}
