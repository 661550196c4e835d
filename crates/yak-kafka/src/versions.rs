//! The API versions YAK advertises, and the ones it decodes.
//!
//! This is our own table, never `ApiKey::valid_versions()`: that lists versions the crate
//! cannot decode (InitProducerId 6, OffsetCommit 10, ...). Every range is capped by the
//! request type's `VERSIONS`, so we never advertise what `XxxRequest::decode` would refuse.

use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, ApiKey, ApiVersionsRequest, CreateAclsRequest,
    CreatePartitionsRequest, CreateTopicsRequest, DeleteAclsRequest, DeleteGroupsRequest,
    DeleteTopicsRequest, DescribeAclsRequest, DescribeClusterRequest, DescribeConfigsRequest,
    DescribeGroupsRequest, DescribeUserScramCredentialsRequest, FetchRequest,
    FindCoordinatorRequest, HeartbeatRequest, IncrementalAlterConfigsRequest,
    InitProducerIdRequest, JoinGroupRequest, LeaveGroupRequest, ListGroupsRequest,
    ListOffsetsRequest, MetadataRequest, OffsetCommitRequest, OffsetDeleteRequest,
    OffsetFetchRequest, OffsetForLeaderEpochRequest, ProduceRequest, SaslAuthenticateRequest,
    SaslHandshakeRequest, SyncGroupRequest,
};
use kafka_protocol::protocol::{Message, VersionRange};

/// One row of the table: what we advertise, and what we actually decode.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Support {
    pub api_key: ApiKey,
    pub advertised: VersionRange,
    pub decoded: VersionRange,
}

const fn capped(min: i16, max: i16, crate_range: VersionRange) -> VersionRange {
    VersionRange {
        min: if min > crate_range.min {
            min
        } else {
            crate_range.min
        },
        max: if max < crate_range.max {
            max
        } else {
            crate_range.max
        },
    }
}

const fn same(api_key: ApiKey, min: i16, max: i16, crate_range: VersionRange) -> Support {
    let range = capped(min, max, crate_range);
    Support {
        api_key,
        advertised: range,
        decoded: range,
    }
}

/// Produce is advertised from v0 although only v3+ is decoded: librdkafka before 2.11.1
/// (Debian's kcat included) compresses gzip/snappy/lz4 only when Produce v0 is in range.
/// No client sends v0-2 once it has seen magic-2 support; if one ever does, we close.
pub const PRODUCE_ADVERTISED_MIN: i16 = 0;

/// The whole table, in API key order.
pub const TABLE: [Support; 31] = [
    Support {
        api_key: ApiKey::Produce,
        advertised: VersionRange {
            min: PRODUCE_ADVERTISED_MIN,
            max: capped(3, 9, ProduceRequest::VERSIONS).max,
        },
        decoded: capped(3, 9, ProduceRequest::VERSIONS),
    },
    same(ApiKey::Fetch, 4, 12, FetchRequest::VERSIONS),
    same(ApiKey::ListOffsets, 1, 7, ListOffsetsRequest::VERSIONS),
    same(ApiKey::Metadata, 0, 12, MetadataRequest::VERSIONS),
    // Advertised for librdkafka's LZ4 check (see `find_coordinator`); answers "not available"
    // until consumer groups exist. v4 is the first batched shape; v5-6 add nothing we need.
    same(
        ApiKey::FindCoordinator,
        0,
        4,
        FindCoordinatorRequest::VERSIONS,
    ),
    same(ApiKey::ApiVersions, 0, 4, ApiVersionsRequest::VERSIONS),
    same(ApiKey::CreateTopics, 2, 7, CreateTopicsRequest::VERSIONS),
    same(ApiKey::DeleteTopics, 1, 6, DeleteTopicsRequest::VERSIONS),
    same(
        ApiKey::InitProducerId,
        0,
        5,
        InitProducerIdRequest::VERSIONS,
    ),
    same(
        ApiKey::DescribeConfigs,
        1,
        4,
        DescribeConfigsRequest::VERSIONS,
    ),
    same(
        ApiKey::CreatePartitions,
        0,
        3,
        CreatePartitionsRequest::VERSIONS,
    ),
    same(
        ApiKey::IncrementalAlterConfigs,
        0,
        1,
        IncrementalAlterConfigsRequest::VERSIONS,
    ),
    same(
        ApiKey::DescribeCluster,
        0,
        1,
        DescribeClusterRequest::VERSIONS,
    ),
    // Followers truncate by it (KIP-101/279); v2 is the first with current_leader_epoch.
    same(
        ApiKey::OffsetForLeaderEpoch,
        2,
        4,
        OffsetForLeaderEpochRequest::VERSIONS,
    ),
    // The classic group protocol. OffsetCommit v9+ and OffsetFetch v9+ belong to KIP-848's
    // consumer protocol, which is not served.
    same(ApiKey::OffsetCommit, 2, 8, OffsetCommitRequest::VERSIONS),
    same(ApiKey::OffsetFetch, 1, 8, OffsetFetchRequest::VERSIONS),
    same(ApiKey::JoinGroup, 0, 9, JoinGroupRequest::VERSIONS),
    same(ApiKey::Heartbeat, 0, 4, HeartbeatRequest::VERSIONS),
    same(ApiKey::LeaveGroup, 0, 5, LeaveGroupRequest::VERSIONS),
    same(ApiKey::SyncGroup, 0, 5, SyncGroupRequest::VERSIONS),
    same(
        ApiKey::DescribeGroups,
        0,
        5,
        DescribeGroupsRequest::VERSIONS,
    ),
    same(ApiKey::ListGroups, 0, 5, ListGroupsRequest::VERSIONS),
    same(ApiKey::DeleteGroups, 0, 2, DeleteGroupsRequest::VERSIONS),
    same(ApiKey::OffsetDelete, 0, 0, OffsetDeleteRequest::VERSIONS),
    // librdkafka looks for v0 in the range before it will use SASL at all, so v0 is advertised;
    // a client that then sends raw v0 tokens outside Kafka's framing is closed on (every
    // current client uses v1 and SaslAuthenticate).
    same(ApiKey::SaslHandshake, 0, 1, SaslHandshakeRequest::VERSIONS),
    same(
        ApiKey::SaslAuthenticate,
        0,
        2,
        SaslAuthenticateRequest::VERSIONS,
    ),
    // The ACL APIs from v1 (the first with pattern types; Kafka 4 removed v0, and so did the
    // crate).
    same(ApiKey::DescribeAcls, 1, 3, DescribeAclsRequest::VERSIONS),
    same(ApiKey::CreateAcls, 1, 3, CreateAclsRequest::VERSIONS),
    same(ApiKey::DeleteAcls, 1, 3, DeleteAclsRequest::VERSIONS),
    same(
        ApiKey::DescribeUserScramCredentials,
        0,
        0,
        DescribeUserScramCredentialsRequest::VERSIONS,
    ),
    same(
        ApiKey::AlterUserScramCredentials,
        0,
        0,
        AlterUserScramCredentialsRequest::VERSIONS,
    ),
];

/// The row for `api_key`, or `None` when YAK does not serve that API.
pub fn support(api_key: ApiKey) -> Option<Support> {
    TABLE.iter().copied().find(|row| row.api_key == api_key)
}

/// Whether `version` of `api_key` can be decoded and answered.
pub fn is_decodable(api_key: ApiKey, version: i16) -> bool {
    support(api_key).is_some_and(|row| row.decoded.min <= version && version <= row.decoded.max)
}

/// The versions `api_key` is answered at (empty iterator when unsupported); tests encode every
/// response builder at each of them.
pub fn decoded_versions(api_key: ApiKey) -> impl Iterator<Item = i16> {
    let range = support(api_key)
        .map(|row| row.decoded)
        .unwrap_or(VersionRange { min: 0, max: -1 });
    range.min..=range.max
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves the advertised table is the one `docs/kafka.md` lists.
    #[test]
    fn table_matches_the_plan() {
        let expect = [
            (ApiKey::Produce, 0, 9),
            (ApiKey::Fetch, 4, 12),
            (ApiKey::ListOffsets, 1, 7),
            (ApiKey::Metadata, 0, 12),
            (ApiKey::FindCoordinator, 0, 4),
            (ApiKey::ApiVersions, 0, 4),
            (ApiKey::CreateTopics, 2, 7),
            (ApiKey::DeleteTopics, 1, 6),
            (ApiKey::InitProducerId, 0, 5),
            (ApiKey::DescribeConfigs, 1, 4),
            (ApiKey::CreatePartitions, 0, 3),
            (ApiKey::IncrementalAlterConfigs, 0, 1),
            (ApiKey::DescribeCluster, 0, 1),
            (ApiKey::OffsetForLeaderEpoch, 2, 4),
            (ApiKey::OffsetCommit, 2, 8),
            (ApiKey::OffsetFetch, 1, 8),
            (ApiKey::JoinGroup, 0, 9),
            (ApiKey::Heartbeat, 0, 4),
            (ApiKey::LeaveGroup, 0, 5),
            (ApiKey::SyncGroup, 0, 5),
            (ApiKey::DescribeGroups, 0, 5),
            (ApiKey::ListGroups, 0, 5),
            (ApiKey::DeleteGroups, 0, 2),
            (ApiKey::OffsetDelete, 0, 0),
            (ApiKey::SaslHandshake, 0, 1),
            (ApiKey::SaslAuthenticate, 0, 2),
            (ApiKey::DescribeAcls, 1, 3),
            (ApiKey::CreateAcls, 1, 3),
            (ApiKey::DeleteAcls, 1, 3),
            (ApiKey::DescribeUserScramCredentials, 0, 0),
            (ApiKey::AlterUserScramCredentials, 0, 0),
        ];
        for (api_key, min, max) in expect {
            let row = support(api_key).expect("row exists");
            assert_eq!(
                (row.advertised.min, row.advertised.max),
                (min, max),
                "{api_key:?}"
            );
        }
        assert_eq!(support(ApiKey::Produce).map(|r| r.decoded.min), Some(3));
        assert!(!is_decodable(ApiKey::Produce, 2));
        assert!(is_decodable(ApiKey::Produce, 3));
    }

    /// Proves transactions and groups are not advertised in this step; FindCoordinator is,
    /// from v0, because librdkafka before 2.11.1 enables LZ4 only then (§2.3).
    #[test]
    fn transactions_are_not_advertised() {
        assert_eq!(
            support(ApiKey::FindCoordinator).map(|r| r.advertised.min),
            Some(0)
        );
        for api_key in [
            ApiKey::AddPartitionsToTxn,
            ApiKey::EndTxn,
            ApiKey::TxnOffsetCommit,
            ApiKey::ConsumerGroupHeartbeat,
        ] {
            assert!(support(api_key).is_none());
        }
    }

    /// Proves every advertised decode range lies inside what the crate can decode.
    #[test]
    fn ranges_inside_the_crate() {
        for row in TABLE {
            assert!(row.decoded.min <= row.decoded.max, "{:?}", row.api_key);
            assert!(row.advertised.min <= row.decoded.min);
            assert_eq!(row.advertised.max, row.decoded.max);
        }
    }

    /// kafka-python 2.0.2 guesses the broker version from the ranges; with Produce v8 and
    /// Fetch v11 in range it settles on 2.4 and sends Produce v7 / Fetch v4, which we decode.
    #[test]
    fn kafka_python_guesses_broker_2_4() {
        assert!(is_decodable(ApiKey::Produce, 8));
        assert!(is_decodable(ApiKey::Fetch, 11));
        assert!(is_decodable(ApiKey::Produce, 7));
        assert!(is_decodable(ApiKey::Fetch, 4));
        assert!(is_decodable(ApiKey::ListOffsets, 1));
    }
}
