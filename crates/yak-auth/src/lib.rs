//! YAK's security core, shared by the Kafka listener, the HTTP API and the cluster's nodes.
//!
//! - [`principal`]: who a request acts for (`User:alice`), however it authenticated.
//! - [`scram`]: salted SCRAM-SHA-256/512 credentials and both sides of the SCRAM exchange
//!   (RFC 5802, RFC 7677), built on RustCrypto's PBKDF2, HMAC and SHA-2.
//! - [`plain`]: the SASL PLAIN token (RFC 4616).
//! - [`acl`]: Kafka's ACL model (principal × resource × pattern × operation × allow/deny) and the
//!   authorizer every front-end asks.
//! - [`store`]: users, ACLs and bearer tokens as one serializable state.
//! - [`limits`]: failed-login backoff, per-client request rates, connections per address.
//! - [`tls`]: rustls configurations from PEM files, and the principal of a client certificate.
//!
//! Nothing here does network I/O; the front-ends drive these types.

pub mod acl;
pub mod limits;
pub mod plain;
pub mod principal;
pub mod scram;
pub mod store;
pub mod tls;

pub use acl::{
    AclBinding, AclBindingFilter, Acls, AuthorizerConfig, Operation, PatternType, Permission,
    Resource, ResourceType,
};
pub use principal::Principal;
pub use scram::{ScramClient, ScramCredential, ScramError, ScramMechanism, ScramServer, ScramStep};
pub use store::SecurityState;
