//! Kafka's ACL model and the authorizer (Kafka's `StandardAuthorizer` rules).
//!
//! STUB: interface fixed, bodies to be written.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::principal::Principal;

/// Most ACL bindings a node keeps; CreateAcls past it fails.
pub const ACLS_MAX: usize = 100_000;
/// The resource name and principal wildcard (`*`).
pub const WILDCARD: &str = "*";

/// Kafka's resource types, with Kafka's codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ResourceType {
    Topic,
    Group,
    Cluster,
    TransactionalId,
}

/// Kafka's pattern types of a stored binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PatternType {
    Literal,
    Prefixed,
}

/// Kafka's operations, with Kafka's codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Operation {
    All,
    Read,
    Write,
    Create,
    Delete,
    Alter,
    Describe,
    ClusterAction,
    DescribeConfigs,
    AlterConfigs,
    IdempotentWrite,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Permission {
    Deny,
    Allow,
}

/// The one name of the cluster resource (Kafka's `kafka-cluster`).
pub const CLUSTER_RESOURCE_NAME: &str = "kafka-cluster";

/// What a request acts on.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Resource {
    pub resource_type: ResourceType,
    pub name: String,
}

impl Resource {
    pub fn topic(name: impl Into<String>) -> Resource {
        Resource {
            resource_type: ResourceType::Topic,
            name: name.into(),
        }
    }
    pub fn group(name: impl Into<String>) -> Resource {
        Resource {
            resource_type: ResourceType::Group,
            name: name.into(),
        }
    }
    pub fn cluster() -> Resource {
        Resource {
            resource_type: ResourceType::Cluster,
            name: CLUSTER_RESOURCE_NAME.to_string(),
        }
    }
    pub fn transactional_id(name: impl Into<String>) -> Resource {
        Resource {
            resource_type: ResourceType::TransactionalId,
            name: name.into(),
        }
    }
}

/// One ACL: `principal` is `permission`ed to do `operation` from `host` on the resources
/// `resource_name` matches under `pattern_type`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AclBinding {
    pub resource_type: ResourceType,
    pub resource_name: String,
    pub pattern_type: PatternType,
    /// `User:NAME` or `User:*`.
    pub principal: String,
    /// An IP address as text, or `*`.
    pub host: String,
    pub operation: Operation,
    pub permission: Permission,
}

/// How a filter matches pattern types (Kafka's ANY, MATCH, LITERAL, PREFIXED).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PatternFilter {
    /// Every binding whatever its pattern type (with `resource_name`: that exact name).
    Any,
    /// The bindings that would apply to the resource `resource_name` names: literal equal,
    /// literal `*`, and prefixed bindings that are a prefix of it.
    Match,
    Literal,
    Prefixed,
}

/// DescribeAcls/DeleteAcls filter: `None` matches anything (Kafka's ANY and null).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclBindingFilter {
    pub resource_type: Option<ResourceType>,
    pub resource_name: Option<String>,
    pub pattern_filter: PatternFilter,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: Option<Operation>,
    pub permission: Option<Permission>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AclError {
    #[error("invalid ACL: {0}")]
    Invalid(String),
    #[error("{ACLS_MAX} ACLs exist, the most a node keeps")]
    TooMany,
}

/// How the authorizer decides.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthorizerConfig {
    /// Off: every principal may do everything (the default of a node without security).
    pub enabled: bool,
    /// Principals (`User:admin`) allowed everything, whatever the ACLs say.
    pub super_users: BTreeSet<String>,
    /// Kafka's `allow.everyone.if.no.acl.found`: a resource no ACL matches is open. Off by
    /// default: deny by default.
    pub allow_everyone_if_no_acl_found: bool,
}

/// Every binding of a node, kept in a set (adding one twice keeps one).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acls {
    bindings: BTreeSet<AclBinding>,
}

impl AclBinding {
    /// Checks a binding before it is stored: names non-empty, the cluster resource named
    /// `kafka-cluster`, the principal `TYPE:NAME`, the host `*` or an IP address, operations
    /// that make sense for the resource type (Kafka's rules).
    pub fn validate(&self) -> Result<(), AclError> {
        todo!()
    }
}

impl AclBindingFilter {
    pub fn matches(&self, binding: &AclBinding) -> bool {
        let _ = binding;
        todo!()
    }
}

impl Acls {
    /// Adds a validated binding; false when it was there already.
    pub fn add(&mut self, binding: AclBinding) -> Result<bool, AclError> {
        let _ = binding;
        todo!()
    }

    /// Removes and returns the bindings `filter` matches.
    pub fn remove_matching(&mut self, filter: &AclBindingFilter) -> Vec<AclBinding> {
        let _ = filter;
        todo!()
    }

    /// The bindings `filter` matches.
    pub fn matching(&self, filter: &AclBindingFilter) -> Vec<AclBinding> {
        let _ = filter;
        todo!()
    }

    pub fn len(&self) -> usize {
        self.bindings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bindings.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &AclBinding> {
        self.bindings.iter()
    }

    /// Whether `principal` connected from `host` may do `operation` on `resource`, by Kafka's
    /// rules: super users may do everything; a matching DENY (for the operation or ALL) wins
    /// over any ALLOW; DESCRIBE is implied by READ, WRITE, DELETE and ALTER, DESCRIBE_CONFIGS
    /// by ALTER_CONFIGS; ALL allows every operation; a binding for `User:*` or host `*`
    /// matches everyone; a resource no ACL matches is denied unless
    /// `allow_everyone_if_no_acl_found`.
    pub fn authorize(
        &self,
        config: &AuthorizerConfig,
        principal: &Principal,
        host: &str,
        operation: Operation,
        resource: &Resource,
    ) -> bool {
        let _ = (config, principal, host, operation, resource);
        todo!()
    }
}
