//! YAK's Kafka wire-protocol front-end: unmodified Kafka clients (kcat/librdkafka,
//! confluent-kafka, kafka-python, aiokafka, Java, franz-go) talk to YAK through it.
//!
//! The chain from the socket to the broker:
//!
//! - [`server`]: accept loop, connection limit, per-connection task (4-byte length framing,
//!   `frame_bytes_max`, in-flight limits in requests and bytes, responses in request order).
//! - [`request`]: frame → typed request (version checks against [`versions`]) → handler →
//!   response frame.
//! - [`versions`]: the API versions we advertise and decode (our table, not the crate's).
//! - One module per API key: [`api_versions`], [`metadata`], [`produce`], [`fetch`],
//!   [`list_offsets`], [`create_topics`], [`delete_topics`], [`create_partitions`],
//!   [`find_coordinator`], [`init_producer_id`], [`describe_configs`],
//!   [`incremental_alter_configs`], [`describe_cluster`], [`create_acls`], [`describe_acls`],
//!   [`delete_acls`], [`describe_user_scram_credentials`], [`alter_user_scram_credentials`];
//!   the group APIs in [`groups`], authorized in [`group_authorization`].
//! - [`memory`]: response frames that keep stored batches by reference, and the byte budgets
//!   that bound requests read and responses queued, per connection and per node.
//! - [`session`]: listeners by security protocol (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL) and
//!   the session (principal, host) every request is authorized against.
//! - [`sasl`]: the SASL phase of a connection (SaslHandshake, SaslAuthenticate; PLAIN, SCRAM).
//! - [`backend`]: the [`Backend`] trait the broker implements (topics, logs, producer ids,
//!   ACLs and SCRAM credentials). Every handler asks `Backend::authorize` with the
//!   connection's session before it acts, by Kafka's rules (see `docs/kafka.md`).
//! - `memory_backend` (tests only): an in-memory backend for the unit tests of the request
//!   handlers and the fuzz harness, which cannot reach the broker crate above them.
//!
//! Wire formats come from the `kafka-protocol` crate. Record batches are checked once on
//! Produce with `yak-log`'s batch codec (`yak_log::ValidBatch`), the project's one definition
//! of the v2 layout, and otherwise travel as bytes (stored as received, served as stored).

pub mod alter_user_scram_credentials;
pub mod api_versions;
#[cfg(test)]
mod authorization_tests;
pub mod backend;
pub mod create_acls;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_acls;
pub mod delete_topics;
pub mod describe_acls;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_user_scram_credentials;
pub mod fetch;
pub mod find_coordinator;
pub mod group_authorization;
pub mod groups;
pub mod incremental_alter_configs;
pub mod init_producer_id;
pub mod list_offsets;
pub mod memory;
#[cfg(test)]
pub mod memory_backend;
pub mod metadata;
pub mod offset_for_leader_epoch;
pub mod produce;
pub mod request;
pub mod sasl;
pub mod server;
pub mod session;
pub mod versions;

pub use backend::{
    Backend, BackendError, FetchOutcome, NodeInfo, PartitionMeta, ProduceOutcome, TopicMeta,
    UserScramChange,
};
pub use server::{serve, ServerConfig};
pub use session::{ListenerSecurity, SecurityProtocol, Session};
