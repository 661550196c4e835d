//! InitProducerId (key 22, v0-4): producer ids for idempotent producers (the default in Java,
//! kafka-python 3 and franz-go). Transactions are not served: a transactional id is refused.
//! A v3+ request that presents its old id and epoch (KIP-360) gets a fresh id, which is
//! allowed for idempotent producers; bumping the epoch instead needs backend support.

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use crate::backend::{error_code, Backend};

pub async fn handle<B: Backend>(
    backend: &B,
    request: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let response = InitProducerIdResponse::default();
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
            let first = handle(&backend, plain()).await;
            let second = handle(&backend, plain()).await;
            assert_eq!(first.error_code, 0);
            assert_ne!(first.producer_id, second.producer_id);
            let txn = handle(
                &backend,
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
