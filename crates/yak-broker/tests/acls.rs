//! Kafka ACLs end to end: a node with an authorizer, a SASL_PLAINTEXT listener and users
//! admin (a super user), alice and bob, spoken to in raw Kafka frames as clients send them.
//! Proves that refusals carry the codes Kafka clients map to their authorization exceptions,
//! that LITERAL and PREFIXED ALLOW bindings open what they name, that DENY wins, and that the
//! ACL and SCRAM admin APIs work for a super user only.

use std::sync::Arc;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::alter_user_scram_credentials_request::ScramCredentialUpsertion;
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest,
    DescribeUserScramCredentialsRequest, GroupId, JoinGroupRequest, ProduceRequest, RequestHeader,
    ResponseHeader, SaslAuthenticateRequest, SaslHandshakeRequest, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use yak_auth::{AuthorizerConfig, ScramClient, ScramMechanism};
use yak_broker::security::{KafkaListener, Secret, SecurityConfig};
use yak_broker::{BrokerConfig, Running};
use yak_kafka::backend::error_code;
use yak_kafka::SecurityProtocol;
use yak_log::{OsFileSystem, RecordToWrite};

const ADMIN_PASSWORD: &str = "admin-secret";
const ALICE_PASSWORD: &str = "alice-secret";
const BOB_PASSWORD: &str = "bob-secret";
/// Kafka's codes of ACL fields (`AclOperation`, `PatternType`, ...).
const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_GROUP: i8 = 3;
const PATTERN_ANY: i8 = 1;
const PATTERN_LITERAL: i8 = 3;
const PATTERN_PREFIXED: i8 = 4;
const OPERATION_ANY: i8 = 1;
const OPERATION_READ: i8 = 3;
const OPERATION_WRITE: i8 = 4;
const PERMISSION_ANY: i8 = 1;
const PERMISSION_DENY: i8 = 2;
const PERMISSION_ALLOW: i8 = 3;
/// Most bytes of a response frame these tests accept.
const RESPONSE_BYTES_MAX: usize = 1 << 20;

const REPLICATOR_PASSWORD: &str = "replicator-secret";

/// A node with the authorizer on, one SASL_PLAINTEXT listener, and users alice and bob next
/// to the bootstrap super user admin; `replicator` is the inter-broker user.
async fn start(data: &tempfile::TempDir) -> Running {
    let config = BrokerConfig {
        default_partitions: 1,
        security: SecurityConfig {
            kafka_listeners: vec![KafkaListener {
                protocol: SecurityProtocol::SaslPlaintext,
                address: "127.0.0.1:0".parse().expect("an address"),
                advertised: None,
            }],
            authorizer: AuthorizerConfig {
                enabled: true,
                super_users: ["User:admin".to_string()].into(),
                allow_everyone_if_no_acl_found: false,
            },
            bootstrap_user: Some(("admin".into(), Secret(ADMIN_PASSWORD.into()))),
            inter_broker_user: Some(("replicator".into(), Secret(REPLICATOR_PASSWORD.into()))),
            ..SecurityConfig::default()
        },
        ..BrokerConfig::on_ephemeral_ports(data.path().to_path_buf())
    };
    let running = yak_broker::start(config, Arc::new(OsFileSystem))
        .await
        .expect("the broker starts");
    running
        .broker
        .security
        .update(|state| {
            for (user, password) in [
                ("alice", ALICE_PASSWORD),
                ("bob", BOB_PASSWORD),
                ("replicator", REPLICATOR_PASSWORD),
            ] {
                state
                    .set_password(user, password, yak_auth::scram::ITERATIONS_MIN)
                    .map_err(yak_broker::security::to_broker_error)?;
            }
            Ok(())
        })
        .await
        .expect("users are created");
    running
}

/// One Kafka connection.
struct Connection {
    stream: TcpStream,
    correlation_id: i32,
}

impl Connection {
    async fn open(running: &Running) -> Connection {
        let stream = TcpStream::connect(running.kafka_addr)
            .await
            .expect("connects");
        Connection {
            stream,
            correlation_id: 0,
        }
    }

    /// Sends `body` at `version` and reads its response; Err when the connection closed.
    async fn call<R: Request>(&mut self, version: i16, body: &R) -> Result<R::Response, String> {
        self.correlation_id += 1;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("acls-test")));
        let mut frame = BytesMut::new();
        header
            .encode(&mut frame, R::header_version(version))
            .expect("header encodes");
        body.encode(&mut frame, version).expect("body encodes");
        let mut sized = BytesMut::with_capacity(frame.len() + 4);
        sized.put_u32(u32::try_from(frame.len()).expect("small frame"));
        sized.put_slice(&frame);
        self.stream
            .write_all(&sized)
            .await
            .map_err(|e| e.to_string())?;
        let size = self.stream.read_u32().await.map_err(|e| e.to_string())? as usize;
        assert!(size <= RESPONSE_BYTES_MAX, "a {size}-byte response");
        let mut bytes = vec![0; size];
        self.stream
            .read_exact(&mut bytes)
            .await
            .map_err(|e| e.to_string())?;
        let mut bytes = Bytes::from(bytes);
        let header = ResponseHeader::decode(&mut bytes, R::Response::header_version(version))
            .expect("response header");
        assert_eq!(header.correlation_id, self.correlation_id);
        let response = R::Response::decode(&mut bytes, version).expect("response body");
        assert!(!bytes.has_remaining(), "bytes after the response");
        Ok(response)
    }

    /// A connection logged in as `user` with SASL PLAIN (SaslHandshake v1, SaslAuthenticate).
    async fn plain(running: &Running, user: &str, password: &str) -> Connection {
        let mut connection = Connection::open(running).await;
        let handshake = connection
            .call(
                1,
                &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")),
            )
            .await
            .expect("handshake answered");
        assert_eq!(handshake.error_code, 0);
        let token = format!("\0{user}\0{password}");
        let answer = connection
            .call(
                2,
                &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token)),
            )
            .await
            .expect("authenticate answered");
        assert_eq!(answer.error_code, 0, "{user} logs in");
        connection
    }

    /// A SCRAM login: the SASL error code of the last step when it fails.
    async fn scram(
        running: &Running,
        mechanism: ScramMechanism,
        user: &str,
        password: &str,
    ) -> Result<Connection, i16> {
        /// What a failed SCRAM step on the client's side reads as.
        const CLIENT_SIDE_FAILURE: i16 = -1;
        let mut connection = Connection::open(running).await;
        let handshake = connection
            .call(
                1,
                &SaslHandshakeRequest::default()
                    .with_mechanism(StrBytes::from_static_str(mechanism.name())),
            )
            .await
            .expect("handshake answered");
        assert_eq!(handshake.error_code, 0);
        let mut client = ScramClient::new(mechanism, user, password);
        let first = connection
            .call(
                2,
                &SaslAuthenticateRequest::default()
                    .with_auth_bytes(Bytes::from(client.client_first())),
            )
            .await
            .expect("client-first answered");
        if first.error_code != 0 {
            return Err(first.error_code);
        }
        let last = client
            .client_final(&first.auth_bytes)
            .map_err(|_| CLIENT_SIDE_FAILURE)?;
        let answer = connection
            .call(
                2,
                &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(last)),
            )
            .await
            .expect("client-final answered");
        if answer.error_code != 0 {
            return Err(answer.error_code);
        }
        client
            .verify_server_final(&answer.auth_bytes)
            .map_err(|_| CLIENT_SIDE_FAILURE)?;
        Ok(connection)
    }

    /// Produces one record to partition 0 of `topic` and answers the partition's error code.
    async fn produce(&mut self, topic: &str) -> i16 {
        let value = b"value";
        let records = [RecordToWrite {
            key: None,
            value: Some(value),
            headers: &[],
            timestamp_ms: 1_700_000_000_000,
        }];
        let mut batch = Vec::new();
        yak_log::encode_batch(&records, &mut batch);
        let request = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(5_000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(Bytes::from(batch)))])]);
        let response = self.call(9, &request).await.expect("produce answered");
        response.responses[0].partition_responses[0].error_code
    }

    /// CreateAcls of one binding for `principal`; answers its error code.
    async fn create_acl(
        &mut self,
        resource_type: i8,
        name: &str,
        pattern_type: i8,
        principal: &str,
        operation: i8,
        permission: i8,
    ) -> i16 {
        let creation = AclCreation::default()
            .with_resource_type(resource_type)
            .with_resource_name(StrBytes::from_string(name.to_string()))
            .with_resource_pattern_type(pattern_type)
            .with_principal(StrBytes::from_string(principal.to_string()))
            .with_host(StrBytes::from_static_str("*"))
            .with_operation(operation)
            .with_permission_type(permission);
        let response = self
            .call(
                3,
                &CreateAclsRequest::default().with_creations(vec![creation]),
            )
            .await
            .expect("CreateAcls answered");
        response.results[0].error_code
    }
}

/// Proves a produce without WRITE answers TOPIC_AUTHORIZATION_FAILED, and the same produce
/// works once a LITERAL ALLOW binding for the topic exists.
#[tokio::test]
async fn denied_produce_is_topic_authorization_failed_until_allowed() {
    let data = tempfile::tempdir().expect("tempdir");
    let running = start(&data).await;
    running
        .broker
        .topic_or_create("orders")
        .await
        .expect("the topic");
    let mut admin = Connection::plain(&running, "admin", ADMIN_PASSWORD).await;
    assert_eq!(admin.produce("orders").await, 0, "a super user may write");
    let mut alice = Connection::plain(&running, "alice", ALICE_PASSWORD).await;
    assert_eq!(
        alice.produce("orders").await,
        error_code::TOPIC_AUTHORIZATION_FAILED
    );
    let code = admin
        .create_acl(
            RESOURCE_TOPIC,
            "orders",
            PATTERN_LITERAL,
            "User:alice",
            OPERATION_WRITE,
            PERMISSION_ALLOW,
        )
        .await;
    assert_eq!(code, 0);
    assert_eq!(alice.produce("orders").await, 0, "allowed now");
    let mut bob = Connection::plain(&running, "bob", BOB_PASSWORD).await;
    assert_eq!(
        bob.produce("orders").await,
        error_code::TOPIC_AUTHORIZATION_FAILED,
        "the binding names alice only"
    );
    running.shutdown().await.expect("the broker stops");
}

/// Proves a PREFIXED ALLOW opens every topic it prefixes and nothing else, and that a DENY on
/// one of them wins over the ALLOW.
#[tokio::test]
async fn prefixed_allow_works_and_deny_wins() {
    let data = tempfile::tempdir().expect("tempdir");
    let running = start(&data).await;
    for topic in ["logs-web", "logs-secret", "metrics"] {
        running
            .broker
            .topic_or_create(topic)
            .await
            .expect("the topic");
    }
    let mut admin = Connection::plain(&running, "admin", ADMIN_PASSWORD).await;
    let allow = admin
        .create_acl(
            RESOURCE_TOPIC,
            "logs-",
            PATTERN_PREFIXED,
            "User:alice",
            OPERATION_WRITE,
            PERMISSION_ALLOW,
        )
        .await;
    assert_eq!(allow, 0);
    let mut alice = Connection::plain(&running, "alice", ALICE_PASSWORD).await;
    assert_eq!(alice.produce("logs-web").await, 0);
    assert_eq!(alice.produce("logs-secret").await, 0);
    assert_eq!(
        alice.produce("metrics").await,
        error_code::TOPIC_AUTHORIZATION_FAILED
    );
    let deny = admin
        .create_acl(
            RESOURCE_TOPIC,
            "logs-secret",
            PATTERN_LITERAL,
            "User:alice",
            OPERATION_WRITE,
            PERMISSION_DENY,
        )
        .await;
    assert_eq!(deny, 0);
    assert_eq!(
        alice.produce("logs-secret").await,
        error_code::TOPIC_AUTHORIZATION_FAILED,
        "DENY wins over the prefixed ALLOW"
    );
    assert_eq!(alice.produce("logs-web").await, 0, "the rest stays open");
    running.shutdown().await.expect("the broker stops");
}

/// Proves JoinGroup without READ on the group answers GROUP_AUTHORIZATION_FAILED, and reaches
/// the coordinator once READ is allowed.
#[tokio::test]
async fn join_group_without_read_group_is_group_authorization_failed() {
    let data = tempfile::tempdir().expect("tempdir");
    let running = start(&data).await;
    let join = JoinGroupRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("billing")))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_member_id(StrBytes::default())
        .with_protocol_type(StrBytes::from_static_str("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(StrBytes::from_static_str("range"))
            .with_metadata(Bytes::from_static(b"\0\0\0\0\0\0"))]);
    let mut alice = Connection::plain(&running, "alice", ALICE_PASSWORD).await;
    let refused = alice.call(5, &join).await.expect("JoinGroup answered");
    assert_eq!(refused.error_code, error_code::GROUP_AUTHORIZATION_FAILED);
    let mut admin = Connection::plain(&running, "admin", ADMIN_PASSWORD).await;
    let code = admin
        .create_acl(
            RESOURCE_GROUP,
            "billing",
            PATTERN_LITERAL,
            "User:alice",
            OPERATION_READ,
            PERMISSION_ALLOW,
        )
        .await;
    assert_eq!(code, 0);
    let joined = alice.call(5, &join).await.expect("JoinGroup answered");
    // v5 asks a new member to come back with the id it is given (KIP-394).
    assert_eq!(
        joined.error_code, 79,
        "MEMBER_ID_REQUIRED from the coordinator"
    );
    running.shutdown().await.expect("the broker stops");
}

fn describe_all() -> DescribeAclsRequest {
    DescribeAclsRequest::default()
        .with_resource_type_filter(1)
        .with_resource_name_filter(None)
        .with_principal_filter(None)
        .with_host_filter(None)
        .with_pattern_type_filter(PATTERN_ANY)
        .with_operation(OPERATION_ANY)
        .with_permission_type(PERMISSION_ANY)
}

fn delete_for(principal: &str) -> DeleteAclsRequest {
    DeleteAclsRequest::default().with_filters(vec![DeleteAclsFilter::default()
        .with_resource_type_filter(1)
        .with_resource_name_filter(None)
        .with_host_filter(None)
        .with_pattern_type_filter(PATTERN_ANY)
        .with_principal_filter(Some(StrBytes::from_string(principal.to_string())))
        .with_operation(OPERATION_ANY)
        .with_permission_type(PERMISSION_ANY)])
}

/// Proves CreateAcls, DescribeAcls and DeleteAcls round-trip for a super user, and answer
/// CLUSTER_AUTHORIZATION_FAILED to a user without ALTER/DESCRIBE on the cluster.
#[tokio::test]
async fn acl_apis_round_trip_for_a_super_user_and_refuse_others() {
    let data = tempfile::tempdir().expect("tempdir");
    let running = start(&data).await;
    let mut admin = Connection::plain(&running, "admin", ADMIN_PASSWORD).await;
    let created = admin
        .create_acl(
            RESOURCE_TOPIC,
            "payments-",
            PATTERN_PREFIXED,
            "User:bob",
            OPERATION_READ,
            PERMISSION_ALLOW,
        )
        .await;
    assert_eq!(created, 0);
    let described = admin.call(3, &describe_all()).await.expect("answered");
    assert_eq!(described.error_code, 0);
    assert_eq!(described.resources.len(), 1);
    let resource = &described.resources[0];
    assert_eq!(
        (
            resource.resource_type,
            resource.resource_name.as_str(),
            resource.pattern_type
        ),
        (RESOURCE_TOPIC, "payments-", PATTERN_PREFIXED)
    );
    assert_eq!(resource.acls[0].principal.as_str(), "User:bob");
    assert_eq!(resource.acls[0].operation, OPERATION_READ);

    let mut bob = Connection::plain(&running, "bob", BOB_PASSWORD).await;
    let refused = bob
        .create_acl(
            RESOURCE_TOPIC,
            "payments-",
            PATTERN_PREFIXED,
            "User:bob",
            OPERATION_WRITE,
            PERMISSION_ALLOW,
        )
        .await;
    assert_eq!(refused, error_code::CLUSTER_AUTHORIZATION_FAILED);
    let refused = bob.call(3, &describe_all()).await.expect("answered");
    assert_eq!(refused.error_code, error_code::CLUSTER_AUTHORIZATION_FAILED);
    assert!(refused.resources.is_empty());
    let refused = bob
        .call(3, &delete_for("User:bob"))
        .await
        .expect("answered");
    assert_eq!(
        refused.filter_results[0].error_code,
        error_code::CLUSTER_AUTHORIZATION_FAILED
    );
    assert_eq!(
        running.broker.security.snapshot().acls.len(),
        1,
        "a refused request changes nothing"
    );

    let deleted = admin
        .call(3, &delete_for("User:bob"))
        .await
        .expect("answered");
    assert_eq!(deleted.filter_results[0].error_code, 0);
    let removed = &deleted.filter_results[0].matching_acls;
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0].resource_name.as_str(), "payments-");
    let described = admin.call(3, &describe_all()).await.expect("answered");
    assert!(described.resources.is_empty());
    running.shutdown().await.expect("the broker stops");
}

/// The salted password of RFC 5802 (Hi), as a Kafka admin client computes it.
fn salted_password(password: &str, salt: &[u8], iterations: u32) -> Vec<u8> {
    let mut out = vec![0; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password.as_bytes(), salt, iterations, &mut out);
    out
}

/// Proves AlterUserScramCredentials creates a credential a SCRAM login then accepts (and the
/// old nothing, a wrong password, still fails), DescribeUserScramCredentials shows it, and a
/// user without ALTER on the cluster is refused.
#[tokio::test]
async fn altered_scram_credential_logs_in() {
    let data = tempfile::tempdir().expect("tempdir");
    let running = start(&data).await;
    let salt = b"a salt of the client's choosing".to_vec();
    let iterations = 4096;
    let upsertion = ScramCredentialUpsertion::default()
        .with_name(StrBytes::from_static_str("carol"))
        .with_mechanism(ScramMechanism::Sha256.kafka_type())
        .with_iterations(iterations)
        .with_salt(Bytes::from(salt.clone()))
        .with_salted_password(Bytes::from(salted_password(
            "carol-secret",
            &salt,
            iterations as u32,
        )));
    let alter = AlterUserScramCredentialsRequest::default().with_upsertions(vec![upsertion]);

    let mut bob = Connection::plain(&running, "bob", BOB_PASSWORD).await;
    let refused = bob.call(0, &alter).await.expect("answered");
    assert_eq!(
        refused.results[0].error_code,
        error_code::CLUSTER_AUTHORIZATION_FAILED
    );
    assert!(
        Connection::scram(&running, ScramMechanism::Sha256, "carol", "carol-secret")
            .await
            .is_err(),
        "no credential yet"
    );

    let mut admin = Connection::plain(&running, "admin", ADMIN_PASSWORD).await;
    let altered = admin.call(0, &alter).await.expect("answered");
    assert_eq!(altered.results[0].user.as_str(), "carol");
    assert_eq!(altered.results[0].error_code, 0);
    let mut carol = Connection::scram(&running, ScramMechanism::Sha256, "carol", "carol-secret")
        .await
        .expect("carol logs in with the new credential");
    running
        .broker
        .topic_or_create("anything")
        .await
        .expect("the topic");
    assert_eq!(
        carol.produce("anything").await,
        error_code::TOPIC_AUTHORIZATION_FAILED,
        "logged in as carol, who has no ACLs"
    );
    assert_eq!(
        Connection::scram(&running, ScramMechanism::Sha256, "carol", "wrong")
            .await
            .err(),
        Some(error_code::SASL_AUTHENTICATION_FAILED)
    );

    let described = admin
        .call(
            0,
            &DescribeUserScramCredentialsRequest::default().with_users(Some(vec![
                UserName::default().with_name(StrBytes::from_static_str("carol")),
                UserName::default().with_name(StrBytes::from_static_str("nobody")),
            ])),
        )
        .await
        .expect("answered");
    assert_eq!(described.error_code, 0);
    assert_eq!(described.results[0].error_code, 0);
    let infos = &described.results[0].credential_infos;
    assert_eq!(infos.len(), 1);
    assert_eq!(
        (infos[0].mechanism, infos[0].iterations),
        (ScramMechanism::Sha256.kafka_type(), iterations)
    );
    assert_eq!(
        described.results[1].error_code,
        error_code::RESOURCE_NOT_FOUND
    );
    running.shutdown().await.expect("the broker stops");
}

/// Proves the inter-broker user is not refused without ACLs of its own (Kafka requires it
/// among the super users; a cluster would otherwise stop replicating), while another user
/// without ACLs is.
#[tokio::test]
async fn inter_broker_user_is_never_refused() {
    let data = tempfile::tempdir().expect("tempdir");
    let running = start(&data).await;
    running
        .broker
        .topic_or_create("replicated")
        .await
        .expect("the topic");
    let mut replicator = Connection::plain(&running, "replicator", REPLICATOR_PASSWORD).await;
    assert_eq!(replicator.produce("replicated").await, 0);
    let mut bob = Connection::plain(&running, "bob", BOB_PASSWORD).await;
    assert_eq!(
        bob.produce("replicated").await,
        error_code::TOPIC_AUTHORIZATION_FAILED
    );
    running.shutdown().await.expect("the broker stops");
}

/// Proves topics hidden from an all-topics Metadata are not counted as denied requests
/// (Kafka does not log those either), while a refused produce is.
#[tokio::test]
async fn hidden_topics_are_not_counted_as_denied_requests() {
    use std::sync::atomic::Ordering;
    let data = tempfile::tempdir().expect("tempdir");
    let running = start(&data).await;
    for topic in ["a", "b", "c"] {
        running
            .broker
            .topic_or_create(topic)
            .await
            .expect("the topic");
    }
    let denied = || {
        running
            .broker
            .metrics
            .denied_requests_total
            .load(Ordering::Relaxed)
    };
    let before = denied();
    let mut alice = Connection::plain(&running, "alice", ALICE_PASSWORD).await;
    let metadata = alice
        .call(
            12,
            &kafka_protocol::messages::MetadataRequest::default().with_topics(None),
        )
        .await
        .expect("Metadata answered");
    assert!(metadata.topics.is_empty(), "alice may describe no topic");
    assert_eq!(denied(), before);
    assert_eq!(
        alice.produce("a").await,
        error_code::TOPIC_AUTHORIZATION_FAILED
    );
    assert_eq!(denied(), before + 1);
    running.shutdown().await.expect("the broker stops");
}
