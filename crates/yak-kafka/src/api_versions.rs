//! ApiVersions (key 18): the handshake. Answers with `versions::TABLE`.
//!
//! A request above our maximum gets a v0-shaped body with UNSUPPORTED_VERSION and our ranges
//! (clients re-read it at v0 and retry at our maximum, or at v0 like librdkafka); the
//! connection stays open. The response header is always v0, even for flexible v3/v4: the
//! crate's `ApiVersionsResponse::header_version` already says so.

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::ApiVersionsResponse;

use crate::backend::error_code;
use crate::versions;

/// The version an UNSUPPORTED_VERSION answer is encoded at.
pub const UNSUPPORTED_RESPONSE_VERSION: i16 = 0;

/// Our advertised ranges, as the response lists them.
pub fn api_keys() -> Vec<ApiVersion> {
    versions::TABLE
        .iter()
        .map(|row| {
            ApiVersion::default()
                .with_api_key(row.api_key as i16)
                .with_min_version(row.advertised.min)
                .with_max_version(row.advertised.max)
        })
        .collect()
}

/// The answer to a request we can decode.
pub fn response() -> ApiVersionsResponse {
    ApiVersionsResponse::default()
        .with_error_code(error_code::NONE)
        .with_api_keys(api_keys())
}

/// The answer to a request above our maximum; encode it at `UNSUPPORTED_RESPONSE_VERSION`.
pub fn unsupported_response() -> ApiVersionsResponse {
    ApiVersionsResponse::default()
        .with_error_code(error_code::UNSUPPORTED_VERSION)
        .with_api_keys(api_keys())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::ApiKey;
    use kafka_protocol::protocol::{Decodable, Encodable};

    /// Proves the response encodes and round-trips at every advertised version.
    #[test]
    fn encodes_at_every_version() {
        for version in versions::decoded_versions(ApiKey::ApiVersions) {
            let mut buf = bytes::BytesMut::new();
            response().encode(&mut buf, version).expect("encodes");
            let decoded = ApiVersionsResponse::decode(&mut buf.freeze(), version).expect("decodes");
            assert_eq!(decoded.api_keys.len(), versions::TABLE.len());
        }
    }

    /// Proves the UNSUPPORTED_VERSION answer is a v0 body that lists ApiVersions 0-4.
    #[test]
    fn unsupported_is_v0_with_our_range() {
        let mut buf = bytes::BytesMut::new();
        unsupported_response()
            .encode(&mut buf, UNSUPPORTED_RESPONSE_VERSION)
            .expect("encodes");
        let decoded = ApiVersionsResponse::decode(&mut buf.freeze(), 0).expect("decodes");
        assert_eq!(decoded.error_code, 35);
        let row = decoded
            .api_keys
            .iter()
            .find(|k| k.api_key == ApiKey::ApiVersions as i16)
            .expect("listed");
        assert_eq!((row.min_version, row.max_version), (0, 4));
    }
}
