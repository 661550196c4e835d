//! Logins, users, bearer tokens and ACLs over HTTP (`/auth/…`, `/users`, `/acls`).
//!
//! ACL fields use Kafka's upper-case names (`TOPIC`, `PREFIXED`, `READ`, `ALLOW`); parsing also
//! takes lower case and `-` for `_`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /auth/login`: starts a console session (cookie `yak_session`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

/// `GET /auth/whoami` and the answer to a login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WhoAmI {
    /// `User:alice`, or `User:ANONYMOUS` when the node needs no login.
    pub principal: String,
    /// Whether the node requires credentials on HTTP.
    pub authentication_required: bool,
    /// Whether ACLs decide requests.
    pub authorization_enabled: bool,
    /// For a console session: the token every write must carry in `X-CSRF-Token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
}

/// `POST /auth/tokens`: a bearer token for the caller (or, for a super user, for `principal`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreateTokenRequest {
    /// A name to list and revoke it by.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// How long it is valid; forever when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_ms: Option<u64>,
}

/// The token itself: shown once, kept by the node only as a digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreatedToken {
    pub name: String,
    pub principal: String,
    pub token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_ms: Option<u64>,
}

/// One token in `GET /auth/tokens` (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenInfo {
    pub name: String,
    pub principal: String,
    pub created_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenList {
    pub tokens: Vec<TokenInfo>,
}

/// `POST /users`: creates a user or sets its password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UpsertUserRequest {
    pub name: String,
    pub password: String,
    /// `SCRAM-SHA-256`, `SCRAM-SHA-512`; both when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mechanisms: Option<Vec<String>>,
    /// PBKDF2 iterations (4096 to 16384; 8192 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iterations: Option<u32>,
}

/// One user in `GET /users` (never a credential).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserInfo {
    pub name: String,
    /// `SCRAM-SHA-256`, `SCRAM-SHA-512`, with their iterations.
    pub mechanisms: Vec<UserMechanism>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserMechanism {
    pub mechanism: String,
    pub iterations: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserList {
    pub users: Vec<UserInfo>,
}

/// One ACL, as Kafka's `kafka-acls` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AclEntry {
    /// TOPIC, GROUP, CLUSTER, TRANSACTIONAL_ID.
    pub resource_type: String,
    /// A name, `*`, or `kafka-cluster` for CLUSTER.
    pub resource_name: String,
    /// LITERAL (the default) or PREFIXED.
    #[serde(default = "literal")]
    pub pattern_type: String,
    /// `User:alice` or `User:*`.
    pub principal: String,
    /// An IP address or `*` (the default).
    #[serde(default = "any_host")]
    pub host: String,
    /// READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS,
    /// ALTER_CONFIGS, IDEMPOTENT_WRITE, ALL.
    pub operation: String,
    /// ALLOW (the default) or DENY.
    #[serde(default = "allow")]
    pub permission: String,
}

fn literal() -> String {
    "LITERAL".into()
}
fn any_host() -> String {
    "*".into()
}
fn allow() -> String {
    "ALLOW".into()
}

/// `GET /acls` and `DELETE /acls` filter: every field optional (absent matches anything);
/// `pattern_type` also takes ANY and MATCH.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AclFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AclList {
    pub acls: Vec<AclEntry>,
}

/// The answer to `POST /acls`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AclCreated {
    /// False when the same ACL existed already.
    pub created: bool,
}
