//! Kafka's ACL model and the authorizer (Kafka's `StandardAuthorizer` rules).
//!
//! A binding says that a principal, connected from a host, is allowed or denied one operation
//! on the resources a name matches (LITERAL: that name, or every name when it is `*`;
//! PREFIXED: every name that starts with it). The authorizer is asked per partition per
//! request, so [`Acls`] keeps, next to the set of bindings it lists and saves, an index by
//! resource type and then by name: a question looks at the bindings of the resource's exact
//! name, of `*`, and of the prefixes of the name that some binding uses, and at nothing else.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::principal::{check_user_name, Principal, USER_TYPE};

/// Most ACL bindings a node keeps; CreateAcls past it fails.
pub const ACLS_MAX: usize = 100_000;
/// The resource name and principal wildcard (`*`).
pub const WILDCARD: &str = "*";
/// Longest resource name of a topic, group or transactional id binding (the cluster's one name
/// is fixed).
pub const RESOURCE_NAME_BYTES_MAX: usize = 255;
/// Kafka's wire code for "any" in a DescribeAcls/DeleteAcls filter's resource type, pattern
/// type, operation and permission (a `None` field of [`AclBindingFilter`]).
pub const KAFKA_CODE_ANY: i8 = 1;
/// Most characters of a client's text an error message repeats.
const QUOTED_CHARS_MAX: usize = 64;

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

/// Every binding of a node, kept in a set (adding one twice keeps one), and indexed for the
/// authorizer. Saved as a JSON array of bindings; loading one validates every binding, so a
/// damaged file is refused rather than half-applied.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(try_from = "Vec<AclBinding>", into = "Vec<AclBinding>")]
pub struct Acls {
    bindings: BTreeSet<AclBinding>,
    /// The bindings again, one index per resource type (see [`type_slot`]).
    index: [TypeIndex; RESOURCE_TYPES],
}

/// Gives each enum its Kafka wire code and its text name, from one table per enum. The text
/// name is lower case with `-` (`describe-configs`); Display prints Kafka's upper-case name
/// (`DESCRIBE_CONFIGS`), which is also the JSON form.
macro_rules! kafka_names {
    ($enum:ident { $($variant:ident = $code:literal, $name:literal;)+ }) => {
        impl $enum {
            /// Every value, in the order of Kafka's codes.
            pub const VALUES: &'static [$enum] = &[$($enum::$variant),+];

            /// Kafka's wire code.
            pub fn kafka_code(self) -> i8 {
                match self {
                    $($enum::$variant => $code,)+
                }
            }

            /// The value of a Kafka wire code; None for the codes this value cannot take
            /// (UNKNOWN, ANY where it does not apply, and codes of newer Kafka versions).
            pub fn from_kafka_code(code: i8) -> Option<$enum> {
                match code {
                    $($code => Some($enum::$variant),)+
                    _ => None,
                }
            }

            /// The text name the CLI and the HTTP API use (`transactional-id`).
            pub fn name(self) -> &'static str {
                match self {
                    $($enum::$variant => $name,)+
                }
            }

            /// Reads a text name, case-insensitive and with `-` and `_` alike, so both
            /// `describe-configs` and Kafka's `DESCRIBE_CONFIGS` parse.
            pub fn parse(text: &str) -> Option<$enum> {
                Self::VALUES
                    .iter()
                    .copied()
                    .find(|value| same_name(value.name(), text))
            }
        }

        impl fmt::Display for $enum {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_kafka_name(f, self.name())
            }
        }
    };
}

kafka_names!(ResourceType {
    Topic = 2, "topic";
    Group = 3, "group";
    Cluster = 4, "cluster";
    TransactionalId = 5, "transactional-id";
});

kafka_names!(PatternType {
    Literal = 3, "literal";
    Prefixed = 4, "prefixed";
});

kafka_names!(PatternFilter {
    Any = 1, "any";
    Match = 2, "match";
    Literal = 3, "literal";
    Prefixed = 4, "prefixed";
});

kafka_names!(Operation {
    All = 2, "all";
    Read = 3, "read";
    Write = 4, "write";
    Create = 5, "create";
    Delete = 6, "delete";
    Alter = 7, "alter";
    Describe = 8, "describe";
    ClusterAction = 9, "cluster-action";
    DescribeConfigs = 10, "describe-configs";
    AlterConfigs = 11, "alter-configs";
    IdempotentWrite = 12, "idempotent-write";
});

kafka_names!(Permission {
    Deny = 2, "deny";
    Allow = 3, "allow";
});

/// Whether `text` spells the text name `name` (lower case, `-`), ignoring case and taking `_`
/// for `-`.
fn same_name(name: &str, text: &str) -> bool {
    name.len() == text.len()
        && name.bytes().zip(text.bytes()).all(|(expected, got)| {
            let got = if got == b'_' { b'-' } else { got };
            expected == got.to_ascii_lowercase()
        })
}

/// Writes a text name as Kafka's upper-case name (`describe-configs` → `DESCRIBE_CONFIGS`).
fn write_kafka_name(f: &mut fmt::Formatter<'_>, name: &str) -> fmt::Result {
    for c in name.chars() {
        let c = if c == '-' {
            '_'
        } else {
            c.to_ascii_uppercase()
        };
        fmt::Write::write_char(f, c)?;
    }
    Ok(())
}

impl ResourceType {
    /// The operations Kafka accepts in a binding on this resource type.
    pub fn operations(self) -> &'static [Operation] {
        use Operation::*;
        match self {
            ResourceType::Topic => &[
                All,
                Read,
                Write,
                Create,
                Delete,
                Alter,
                Describe,
                DescribeConfigs,
                AlterConfigs,
            ],
            ResourceType::Group => &[All, Read, Delete, Describe],
            ResourceType::Cluster => &[
                All,
                Create,
                ClusterAction,
                DescribeConfigs,
                AlterConfigs,
                IdempotentWrite,
                Alter,
                Describe,
            ],
            ResourceType::TransactionalId => &[All, Describe, Write],
        }
    }
}

impl Operation {
    /// Whether an ALLOW binding for `self` allows `requested`: ALL allows everything, READ,
    /// WRITE, DELETE and ALTER allow DESCRIBE too, ALTER_CONFIGS allows DESCRIBE_CONFIGS.
    /// Kafka applies these implications to ALLOW only: a DENY binding denies just its own
    /// operation (or everything, for ALL).
    pub fn allow_implies(self, requested: Operation) -> bool {
        use Operation::*;
        self == All
            || self == requested
            || (requested == Describe && matches!(self, Read | Write | Delete | Alter))
            || (requested == DescribeConfigs && self == AlterConfigs)
    }
}

/// The start of a client's text, quoted, for an error message.
fn quoted(text: &str) -> String {
    format!(
        "{:?}",
        text.chars().take(QUOTED_CHARS_MAX).collect::<String>()
    )
}

fn invalid(message: String) -> AclError {
    AclError::Invalid(message)
}

/// An IP address as the authorizer compares it: an IPv4-mapped IPv6 address (what a
/// dual-stack listener reports for an IPv4 client) is the IPv4 address, and IPv6 text forms
/// (`::1`, `0:0:0:0:0:0:0:1`) are one address.
fn parse_ip(text: &str) -> Option<IpAddr> {
    text.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

/// Whether two host texts of bindings or filters name the same host.
fn same_host(a: &str, b: &str) -> bool {
    a == b || matches!((parse_ip(a), parse_ip(b)), (Some(a), Some(b)) if a == b)
}

impl AclBinding {
    /// Checks a binding before it is stored: names non-empty, the cluster resource named
    /// `kafka-cluster`, the principal `TYPE:NAME`, the host `*` or an IP address, operations
    /// that make sense for the resource type (Kafka's rules).
    pub fn validate(&self) -> Result<(), AclError> {
        if self.resource_name.is_empty() {
            return Err(invalid("resource_name must not be empty".to_string()));
        }
        if self.resource_type == ResourceType::Cluster {
            if self.resource_name != CLUSTER_RESOURCE_NAME {
                return Err(invalid(format!(
                    "resource_name of a CLUSTER binding must be {CLUSTER_RESOURCE_NAME:?}, got {}",
                    quoted(&self.resource_name)
                )));
            }
            if self.pattern_type != PatternType::Literal {
                return Err(invalid(format!(
                    "pattern_type of a CLUSTER binding must be LITERAL, got {}",
                    self.pattern_type
                )));
            }
        } else if self.resource_name.len() > RESOURCE_NAME_BYTES_MAX {
            return Err(invalid(format!(
                "resource_name is {} bytes, more than {RESOURCE_NAME_BYTES_MAX}",
                self.resource_name.len()
            )));
        }
        let principal = Principal::parse(&self.principal)
            .map_err(|error| invalid(format!("principal: {error}")))?;
        // The name is held to the rules of user names so a binding stays printable and small.
        check_user_name(&principal.name).map_err(|error| invalid(format!("principal: {error}")))?;
        if self.host != WILDCARD && parse_ip(&self.host).is_none() {
            return Err(invalid(format!(
                "host must be * or an IP address, got {}",
                quoted(&self.host)
            )));
        }
        if !self.resource_type.operations().contains(&self.operation) {
            return Err(invalid(format!(
                "operation {} does not apply to resource_type {}",
                self.operation, self.resource_type
            )));
        }
        Ok(())
    }
}

impl AclBindingFilter {
    /// The filter every binding matches (Kafka's ANY everywhere).
    pub fn any() -> AclBindingFilter {
        AclBindingFilter {
            resource_type: None,
            resource_name: None,
            pattern_filter: PatternFilter::Any,
            principal: None,
            host: None,
            operation: None,
            permission: None,
        }
    }

    pub fn matches(&self, binding: &AclBinding) -> bool {
        self.resource_type
            .is_none_or(|resource_type| resource_type == binding.resource_type)
            && self.matches_pattern(binding)
            && self
                .principal
                .as_ref()
                .is_none_or(|principal| *principal == binding.principal)
            && self
                .host
                .as_ref()
                .is_none_or(|host| same_host(host, &binding.host))
            && self
                .operation
                .is_none_or(|operation| operation == binding.operation)
            && self
                .permission
                .is_none_or(|permission| permission == binding.permission)
    }

    /// The resource name and pattern type part of the filter (Kafka's `ResourcePatternFilter`).
    fn matches_pattern(&self, binding: &AclBinding) -> bool {
        let name = self.resource_name.as_deref();
        let pattern_type = match self.pattern_filter {
            PatternFilter::Any => return name.is_none_or(|name| name == binding.resource_name),
            PatternFilter::Match => {
                return name.is_none_or(|name| match binding.pattern_type {
                    PatternType::Literal => {
                        binding.resource_name == name || binding.resource_name == WILDCARD
                    }
                    PatternType::Prefixed => name.starts_with(binding.resource_name.as_str()),
                })
            }
            PatternFilter::Literal => PatternType::Literal,
            PatternFilter::Prefixed => PatternType::Prefixed,
        };
        binding.pattern_type == pattern_type
            && name.is_none_or(|name| name == binding.resource_name)
    }
}

/// How many resource types there are: the length of [`Acls`]'s index.
const RESOURCE_TYPES: usize = 4;

/// The place of a resource type in [`Acls`]'s index.
fn type_slot(resource_type: ResourceType) -> usize {
    match resource_type {
        ResourceType::Topic => 0,
        ResourceType::Group => 1,
        ResourceType::Cluster => 2,
        ResourceType::TransactionalId => 3,
    }
}

/// The bindings of one resource type, by name.
#[derive(Clone, Default)]
struct TypeIndex {
    /// LITERAL bindings by resource name, `*` included. No list is empty.
    literal: HashMap<String, Vec<IndexedAcl>>,
    /// PREFIXED bindings by prefix. No list is empty.
    prefixed: HashMap<String, Vec<IndexedAcl>>,
    /// How many prefixes of `prefixed` have each length in bytes, so that a lookup tries only
    /// the lengths some prefix has instead of every prefix of the resource name.
    prefix_lengths: BTreeMap<usize, usize>,
}

/// What the authorizer needs of a binding once its resource matched, parsed once when it is
/// added rather than per question.
#[derive(Clone, Debug, PartialEq, Eq)]
struct IndexedAcl {
    principal_type: String,
    principal_name: String,
    /// None: any host (`*`).
    host: Option<IpAddr>,
    operation: Operation,
    permission: Permission,
}

impl IndexedAcl {
    /// None when the binding is not valid (every stored binding is validated first).
    fn of(binding: &AclBinding) -> Option<IndexedAcl> {
        let principal = Principal::parse(&binding.principal).ok()?;
        let host = if binding.host == WILDCARD {
            None
        } else {
            Some(parse_ip(&binding.host)?)
        };
        Some(IndexedAcl {
            principal_type: principal.principal_type,
            principal_name: principal.name,
            host,
            operation: binding.operation,
            permission: binding.permission,
        })
    }

    /// Whether the binding names this principal (or `User:*`) and this host (or `*`). A
    /// client whose address is unknown matches only `*` bindings.
    fn applies_to(&self, principal: &Principal, host: Option<IpAddr>) -> bool {
        let principal_matches = (self.principal_type == principal.principal_type
            && self.principal_name == principal.name)
            || (self.principal_type == USER_TYPE && self.principal_name == WILDCARD);
        principal_matches && self.host.is_none_or(|acl_host| Some(acl_host) == host)
    }
}

impl TypeIndex {
    fn insert(&mut self, binding: &AclBinding, acl: IndexedAcl) {
        let name = binding.resource_name.clone();
        match binding.pattern_type {
            PatternType::Literal => self.literal.entry(name).or_default().push(acl),
            PatternType::Prefixed => {
                *self.prefix_lengths.entry(name.len()).or_default() += 1;
                self.prefixed.entry(name).or_default().push(acl);
            }
        }
    }

    fn remove(&mut self, binding: &AclBinding, acl: &IndexedAcl) {
        let name = binding.resource_name.as_str();
        let map = match binding.pattern_type {
            PatternType::Literal => &mut self.literal,
            PatternType::Prefixed => &mut self.prefixed,
        };
        let Some(acls) = map.get_mut(name) else {
            return;
        };
        let Some(position) = acls.iter().position(|indexed| indexed == acl) else {
            return;
        };
        acls.swap_remove(position);
        if acls.is_empty() {
            map.remove(name);
            if binding.pattern_type == PatternType::Prefixed {
                if let Some(count) = self.prefix_lengths.get_mut(&name.len()) {
                    *count -= 1;
                    if *count == 0 {
                        self.prefix_lengths.remove(&name.len());
                    }
                }
            }
        }
    }

    /// Every binding whose resource part matches `name`, whatever its principal, host,
    /// operation and permission: LITERAL `name` and `*`, and PREFIXED bindings on a prefix of
    /// `name`. Allocates nothing.
    fn on_resource<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a IndexedAcl> + 'a {
        let literal = self.literal.get(name);
        let wildcard = if name == WILDCARD {
            None
        } else {
            self.literal.get(WILDCARD)
        };
        let prefixed = self
            .prefix_lengths
            .range(..=name.len())
            .filter_map(move |(&length, _)| name.get(..length))
            .filter_map(move |prefix| self.prefixed.get(prefix));
        literal
            .into_iter()
            .chain(wildcard)
            .chain(prefixed)
            .flatten()
    }
}

impl Acls {
    /// Adds a validated binding; false when it was there already.
    pub fn add(&mut self, binding: AclBinding) -> Result<bool, AclError> {
        binding.validate()?;
        if self.bindings.contains(&binding) {
            return Ok(false);
        }
        if self.bindings.len() >= ACLS_MAX {
            return Err(AclError::TooMany);
        }
        let acl = IndexedAcl::of(&binding)
            .ok_or_else(|| invalid("principal or host does not parse".to_string()))?;
        self.index[type_slot(binding.resource_type)].insert(&binding, acl);
        self.bindings.insert(binding);
        Ok(true)
    }

    /// Removes and returns the bindings `filter` matches.
    pub fn remove_matching(&mut self, filter: &AclBindingFilter) -> Vec<AclBinding> {
        let removed = self.matching(filter);
        for binding in &removed {
            self.bindings.remove(binding);
            if let Some(acl) = IndexedAcl::of(binding) {
                self.index[type_slot(binding.resource_type)].remove(binding, &acl);
            }
        }
        removed
    }

    /// The bindings `filter` matches.
    pub fn matching(&self, filter: &AclBindingFilter) -> Vec<AclBinding> {
        self.bindings
            .iter()
            .filter(|binding| filter.matches(binding))
            .cloned()
            .collect()
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
    ///
    /// `host` is the client's IP address as text; a client whose address does not parse
    /// matches only bindings for host `*`.
    pub fn authorize(
        &self,
        config: &AuthorizerConfig,
        principal: &Principal,
        host: &str,
        operation: Operation,
        resource: &Resource,
    ) -> bool {
        if !config.enabled || is_super_user(config, principal) {
            return true;
        }
        let host = parse_ip(host);
        // "No ACL found" means no binding on the resource for anyone, from anywhere: a binding
        // for another principal or host closes the resource to this one (KAFKA-14435).
        let mut resource_has_acls = false;
        let mut allowed = false;
        for acl in self.index[type_slot(resource.resource_type)].on_resource(&resource.name) {
            resource_has_acls = true;
            if !acl.applies_to(principal, host) {
                continue;
            }
            match acl.permission {
                Permission::Deny => {
                    if acl.operation == Operation::All || acl.operation == operation {
                        return false;
                    }
                }
                Permission::Allow => allowed |= acl.operation.allow_implies(operation),
            }
        }
        allowed || (!resource_has_acls && config.allow_everyone_if_no_acl_found)
    }
}

/// Whether the principal's `TYPE:NAME` is among the super users. The list is short, so it is
/// walked rather than the principal printed into a new string per question.
fn is_super_user(config: &AuthorizerConfig, principal: &Principal) -> bool {
    config.super_users.iter().any(|super_user| {
        super_user.split_once(':')
            == Some((principal.principal_type.as_str(), principal.name.as_str()))
    })
}

impl PartialEq for Acls {
    /// Two sets of ACLs are equal when they hold the same bindings (the index follows).
    fn eq(&self, other: &Acls) -> bool {
        self.bindings == other.bindings
    }
}

impl Eq for Acls {}

impl fmt::Debug for Acls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(&self.bindings).finish()
    }
}

impl TryFrom<Vec<AclBinding>> for Acls {
    type Error = AclError;

    /// Rebuilds the set and its index from saved bindings, checking each as `add` does.
    fn try_from(bindings: Vec<AclBinding>) -> Result<Acls, AclError> {
        let mut acls = Acls::default();
        for binding in bindings {
            acls.add(binding)?;
        }
        Ok(acls)
    }
}

impl From<Acls> for Vec<AclBinding> {
    fn from(acls: Acls) -> Vec<AclBinding> {
        acls.bindings.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use proptest::prelude::*;

    const ALICE_HOST: &str = "10.0.0.1";

    fn binding(
        resource_type: ResourceType,
        resource_name: &str,
        pattern_type: PatternType,
        principal: &str,
        host: &str,
        operation: Operation,
        permission: Permission,
    ) -> AclBinding {
        AclBinding {
            resource_type,
            resource_name: resource_name.to_string(),
            pattern_type,
            principal: principal.to_string(),
            host: host.to_string(),
            operation,
            permission,
        }
    }

    fn topic_acl(
        name: &str,
        pattern_type: PatternType,
        principal: &str,
        operation: Operation,
        permission: Permission,
    ) -> AclBinding {
        binding(
            ResourceType::Topic,
            name,
            pattern_type,
            principal,
            WILDCARD,
            operation,
            permission,
        )
    }

    fn acls_of(bindings: impl IntoIterator<Item = AclBinding>) -> Acls {
        let mut acls = Acls::default();
        for binding in bindings {
            acls.add(binding).expect("a valid binding");
        }
        acls
    }

    fn enabled() -> AuthorizerConfig {
        AuthorizerConfig {
            enabled: true,
            ..AuthorizerConfig::default()
        }
    }

    fn alice() -> Principal {
        Principal::user("alice")
    }

    fn bob() -> Principal {
        Principal::user("bob")
    }

    /// Asks as alice from ALICE_HOST under an enabled, deny-by-default authorizer.
    fn alice_may(acls: &Acls, operation: Operation, resource: &Resource) -> bool {
        acls.authorize(&enabled(), &alice(), ALICE_HOST, operation, resource)
    }

    /// Proves the wire codes are Kafka's and round-trip, and unknown codes are refused.
    #[test]
    fn kafka_codes_round_trip_and_match_kafka() {
        assert_eq!(ResourceType::Topic.kafka_code(), 2);
        assert_eq!(ResourceType::TransactionalId.kafka_code(), 5);
        assert_eq!(PatternType::Literal.kafka_code(), 3);
        assert_eq!(PatternType::Prefixed.kafka_code(), 4);
        assert_eq!(PatternFilter::Any.kafka_code(), KAFKA_CODE_ANY);
        assert_eq!(PatternFilter::Match.kafka_code(), 2);
        assert_eq!(Operation::All.kafka_code(), 2);
        assert_eq!(Operation::IdempotentWrite.kafka_code(), 12);
        assert_eq!(Permission::Deny.kafka_code(), 2);
        assert_eq!(Permission::Allow.kafka_code(), 3);
        for &value in ResourceType::VALUES {
            assert_eq!(
                ResourceType::from_kafka_code(value.kafka_code()),
                Some(value)
            );
        }
        for &value in PatternType::VALUES {
            assert_eq!(
                PatternType::from_kafka_code(value.kafka_code()),
                Some(value)
            );
        }
        for &value in PatternFilter::VALUES {
            assert_eq!(
                PatternFilter::from_kafka_code(value.kafka_code()),
                Some(value)
            );
        }
        for &value in Operation::VALUES {
            assert_eq!(Operation::from_kafka_code(value.kafka_code()), Some(value));
        }
        for &value in Permission::VALUES {
            assert_eq!(Permission::from_kafka_code(value.kafka_code()), Some(value));
        }
        for code in [-1, 0, KAFKA_CODE_ANY, 13, i8::MAX] {
            assert_eq!(Operation::from_kafka_code(code), None, "code {code}");
        }
        assert_eq!(ResourceType::from_kafka_code(6), None);
        assert_eq!(PatternType::from_kafka_code(2), None);
        assert_eq!(Permission::from_kafka_code(KAFKA_CODE_ANY), None);
    }

    /// Proves text names parse in any case with `-` or `_`, and print as Kafka's names.
    #[test]
    fn names_parse_loosely_and_print_as_kafka() {
        assert_eq!(
            ResourceType::parse("transactional-id"),
            Some(ResourceType::TransactionalId)
        );
        assert_eq!(
            ResourceType::parse("TRANSACTIONAL_ID"),
            Some(ResourceType::TransactionalId)
        );
        assert_eq!(ResourceType::parse("Topic"), Some(ResourceType::Topic));
        assert_eq!(
            Operation::parse("describe_configs"),
            Some(Operation::DescribeConfigs)
        );
        assert_eq!(
            Operation::parse("Idempotent-Write"),
            Some(Operation::IdempotentWrite)
        );
        assert_eq!(PatternType::parse("PREFIXED"), Some(PatternType::Prefixed));
        assert_eq!(PatternFilter::parse("match"), Some(PatternFilter::Match));
        assert_eq!(Permission::parse("Allow"), Some(Permission::Allow));
        assert_eq!(Operation::parse("describeconfigs"), None);
        assert_eq!(Operation::parse("read "), None);
        assert_eq!(Operation::parse(""), None);
        assert_eq!(Operation::DescribeConfigs.to_string(), "DESCRIBE_CONFIGS");
        assert_eq!(
            ResourceType::TransactionalId.to_string(),
            "TRANSACTIONAL_ID"
        );
        assert_eq!(Permission::Deny.to_string(), "DENY");
        assert_eq!(Operation::ClusterAction.name(), "cluster-action");
        for &value in Operation::VALUES {
            assert_eq!(Operation::parse(value.name()), Some(value));
            assert_eq!(Operation::parse(&value.to_string()), Some(value));
            // Display and the JSON form agree.
            let json = serde_json::to_string(&value).expect("serializes");
            assert_eq!(json, format!("\"{value}\""));
        }
    }

    /// Proves a literal binding applies to its name only.
    #[test]
    fn literal_binding_applies_to_its_name_only() {
        let acls = acls_of([topic_acl(
            "orders",
            PatternType::Literal,
            "User:alice",
            Operation::Read,
            Permission::Allow,
        )]);
        assert!(alice_may(
            &acls,
            Operation::Read,
            &Resource::topic("orders")
        ));
        assert!(!alice_may(
            &acls,
            Operation::Read,
            &Resource::topic("orders2")
        ));
        assert!(!alice_may(
            &acls,
            Operation::Read,
            &Resource::topic("order")
        ));
        assert!(!alice_may(
            &acls,
            Operation::Write,
            &Resource::topic("orders")
        ));
        assert!(!alice_may(
            &acls,
            Operation::Read,
            &Resource::group("orders")
        ));
        assert!(!acls.authorize(
            &enabled(),
            &bob(),
            ALICE_HOST,
            Operation::Read,
            &Resource::topic("orders")
        ));
    }

    /// Proves a prefixed binding applies to every name starting with it, and not to shorter or
    /// different names.
    #[test]
    fn prefixed_binding_applies_to_names_it_starts() {
        let acls = acls_of([topic_acl(
            "orders.",
            PatternType::Prefixed,
            "User:alice",
            Operation::Write,
            Permission::Allow,
        )]);
        assert!(alice_may(
            &acls,
            Operation::Write,
            &Resource::topic("orders.")
        ));
        assert!(alice_may(
            &acls,
            Operation::Write,
            &Resource::topic("orders.eu")
        ));
        assert!(!alice_may(
            &acls,
            Operation::Write,
            &Resource::topic("orders")
        ));
        assert!(!alice_may(
            &acls,
            Operation::Write,
            &Resource::topic("xorders.eu")
        ));
        // A name whose byte at the prefix's length falls inside a character.
        assert!(!"ordeéé".is_char_boundary("orders.".len()));
        assert!(!alice_may(
            &acls,
            Operation::Write,
            &Resource::topic("ordeéé")
        ));
    }

    /// Proves a literal `*` binding applies to every resource of its type.
    #[test]
    fn wildcard_name_applies_to_every_resource_of_its_type() {
        let acls = acls_of([binding(
            ResourceType::Group,
            WILDCARD,
            PatternType::Literal,
            "User:alice",
            WILDCARD,
            Operation::Read,
            Permission::Allow,
        )]);
        assert!(alice_may(&acls, Operation::Read, &Resource::group("g1")));
        assert!(alice_may(
            &acls,
            Operation::Read,
            &Resource::group("anything")
        ));
        assert!(!alice_may(&acls, Operation::Read, &Resource::topic("g1")));
    }

    /// Proves a `User:*` binding applies to every user, and a prefixed `*` is no wildcard.
    #[test]
    fn wildcard_principal_applies_to_every_user() {
        let acls = acls_of([
            topic_acl(
                "public",
                PatternType::Literal,
                "User:*",
                Operation::Read,
                Permission::Allow,
            ),
            topic_acl(
                "*",
                PatternType::Prefixed,
                "User:alice",
                Operation::Read,
                Permission::Allow,
            ),
        ]);
        let public = Resource::topic("public");
        for user in [alice(), bob(), Principal::anonymous()] {
            assert!(acls.authorize(&enabled(), &user, ALICE_HOST, Operation::Read, &public));
        }
        assert!(!alice_may(
            &acls,
            Operation::Read,
            &Resource::topic("private")
        ));
        assert!(alice_may(&acls, Operation::Read, &Resource::topic("*x")));
    }

    /// Proves a host filter: a binding for one address applies from that address only, in any
    /// of its text forms, and `*` from everywhere.
    #[test]
    fn host_filter_applies_from_its_address_only() {
        let acls = acls_of([
            binding(
                ResourceType::Topic,
                "t",
                PatternType::Literal,
                "User:alice",
                "10.0.0.1",
                Operation::Read,
                Permission::Allow,
            ),
            binding(
                ResourceType::Topic,
                "t",
                PatternType::Literal,
                "User:alice",
                "::1",
                Operation::Write,
                Permission::Allow,
            ),
        ]);
        let t = Resource::topic("t");
        let config = enabled();
        let user = alice();
        assert!(acls.authorize(&config, &user, "10.0.0.1", Operation::Read, &t));
        assert!(acls.authorize(&config, &user, "::ffff:10.0.0.1", Operation::Read, &t));
        assert!(!acls.authorize(&config, &user, "10.0.0.2", Operation::Read, &t));
        assert!(!acls.authorize(&config, &user, "not an address", Operation::Read, &t));
        assert!(acls.authorize(&config, &user, "0:0:0:0:0:0:0:1", Operation::Write, &t));
        assert!(!acls.authorize(&config, &user, "10.0.0.1", Operation::Write, &t));
        let anywhere = acls_of([topic_acl(
            "t",
            PatternType::Literal,
            "User:alice",
            Operation::Read,
            Permission::Allow,
        )]);
        assert!(anywhere.authorize(&config, &user, "not an address", Operation::Read, &t));
    }

    /// Proves a literal DENY wins over a prefixed ALLOW, and a prefixed DENY over a literal
    /// ALLOW.
    #[test]
    fn deny_wins_over_allow_whatever_the_pattern() {
        let literal_deny = acls_of([
            topic_acl(
                "orders",
                PatternType::Prefixed,
                "User:alice",
                Operation::Read,
                Permission::Allow,
            ),
            topic_acl(
                "orders.secret",
                PatternType::Literal,
                "User:alice",
                Operation::Read,
                Permission::Deny,
            ),
        ]);
        assert!(alice_may(
            &literal_deny,
            Operation::Read,
            &Resource::topic("orders.eu")
        ));
        assert!(!alice_may(
            &literal_deny,
            Operation::Read,
            &Resource::topic("orders.secret")
        ));

        let prefixed_deny = acls_of([
            topic_acl(
                "orders.secret",
                PatternType::Literal,
                "User:alice",
                Operation::Read,
                Permission::Allow,
            ),
            binding(
                ResourceType::Topic,
                "orders.",
                PatternType::Prefixed,
                "User:*",
                "10.0.0.1",
                Operation::All,
                Permission::Deny,
            ),
        ]);
        assert!(!alice_may(
            &prefixed_deny,
            Operation::Read,
            &Resource::topic("orders.secret")
        ));
        assert!(prefixed_deny.authorize(
            &enabled(),
            &alice(),
            "10.0.0.9",
            Operation::Read,
            &Resource::topic("orders.secret")
        ));
    }

    /// Proves READ, WRITE, DELETE and ALTER allow DESCRIBE, and ALTER_CONFIGS allows
    /// DESCRIBE_CONFIGS, while other operations imply nothing.
    #[test]
    fn allow_implies_describe() {
        let topic = Resource::topic("t");
        for operation in [
            Operation::Read,
            Operation::Write,
            Operation::Delete,
            Operation::Alter,
        ] {
            let acls = acls_of([topic_acl(
                "t",
                PatternType::Literal,
                "User:alice",
                operation,
                Permission::Allow,
            )]);
            assert!(alice_may(&acls, Operation::Describe, &topic), "{operation}");
            assert!(
                !alice_may(&acls, Operation::DescribeConfigs, &topic),
                "{operation}"
            );
        }
        let alter_configs = acls_of([topic_acl(
            "t",
            PatternType::Literal,
            "User:alice",
            Operation::AlterConfigs,
            Permission::Allow,
        )]);
        assert!(alice_may(
            &alter_configs,
            Operation::DescribeConfigs,
            &topic
        ));
        assert!(!alice_may(&alter_configs, Operation::Describe, &topic));
        let create = acls_of([topic_acl(
            "t",
            PatternType::Literal,
            "User:alice",
            Operation::Create,
            Permission::Allow,
        )]);
        assert!(!alice_may(&create, Operation::Describe, &topic));
        let describe = acls_of([topic_acl(
            "t",
            PatternType::Literal,
            "User:alice",
            Operation::Describe,
            Permission::Allow,
        )]);
        assert!(!alice_may(&describe, Operation::Read, &topic));
    }

    /// Proves Kafka's rule that implications are for ALLOW only: DENY READ leaves DESCRIBE
    /// (allowed by WRITE) allowed, and DENY ALTER_CONFIGS leaves DESCRIBE_CONFIGS allowed.
    #[test]
    fn deny_read_does_not_deny_describe() {
        let acls = acls_of([
            topic_acl(
                "t",
                PatternType::Literal,
                "User:alice",
                Operation::Write,
                Permission::Allow,
            ),
            topic_acl(
                "t",
                PatternType::Literal,
                "User:alice",
                Operation::Read,
                Permission::Deny,
            ),
            topic_acl(
                "t",
                PatternType::Literal,
                "User:alice",
                Operation::DescribeConfigs,
                Permission::Allow,
            ),
            topic_acl(
                "t",
                PatternType::Literal,
                "User:alice",
                Operation::AlterConfigs,
                Permission::Deny,
            ),
        ]);
        let topic = Resource::topic("t");
        assert!(alice_may(&acls, Operation::Describe, &topic));
        assert!(!alice_may(&acls, Operation::Read, &topic));
        assert!(alice_may(&acls, Operation::DescribeConfigs, &topic));
        assert!(!alice_may(&acls, Operation::AlterConfigs, &topic));
    }

    /// Proves ALLOW ALL allows every operation and DENY ALL denies every one, ALL included.
    #[test]
    fn all_allows_and_denies_every_operation() {
        let allow_all = acls_of([binding(
            ResourceType::Cluster,
            CLUSTER_RESOURCE_NAME,
            PatternType::Literal,
            "User:alice",
            WILDCARD,
            Operation::All,
            Permission::Allow,
        )]);
        let cluster = Resource::cluster();
        for &operation in ResourceType::Cluster.operations() {
            assert!(alice_may(&allow_all, operation, &cluster), "{operation}");
        }
        let mut deny_all = allow_all.clone();
        deny_all
            .add(binding(
                ResourceType::Cluster,
                CLUSTER_RESOURCE_NAME,
                PatternType::Literal,
                "User:*",
                WILDCARD,
                Operation::All,
                Permission::Deny,
            ))
            .expect("valid");
        for &operation in ResourceType::Cluster.operations() {
            assert!(!alice_may(&deny_all, operation, &cluster), "{operation}");
        }
    }

    /// Proves super users may do everything, even against a DENY, and only they.
    #[test]
    fn super_users_may_do_everything() {
        let acls = acls_of([topic_acl(
            "t",
            PatternType::Literal,
            "User:*",
            Operation::All,
            Permission::Deny,
        )]);
        let config = AuthorizerConfig {
            enabled: true,
            super_users: ["User:admin".to_string()].into(),
            allow_everyone_if_no_acl_found: false,
        };
        let topic = Resource::topic("t");
        assert!(acls.authorize(
            &config,
            &Principal::user("admin"),
            ALICE_HOST,
            Operation::Delete,
            &topic
        ));
        assert!(acls.authorize(
            &config,
            &Principal::user("admin"),
            ALICE_HOST,
            Operation::Read,
            &Resource::topic("no-acl")
        ));
        assert!(!acls.authorize(&config, &alice(), ALICE_HOST, Operation::Read, &topic));
        let other_type = Principal {
            principal_type: "Group".to_string(),
            name: "admin".to_string(),
        };
        assert!(!acls.authorize(&config, &other_type, ALICE_HOST, Operation::Read, &topic));
    }

    /// Proves a disabled authorizer allows everything, even against a DENY.
    #[test]
    fn disabled_authorizer_allows_everything() {
        let acls = acls_of([topic_acl(
            "t",
            PatternType::Literal,
            "User:*",
            Operation::All,
            Permission::Deny,
        )]);
        let config = AuthorizerConfig::default();
        assert!(acls.authorize(
            &config,
            &alice(),
            ALICE_HOST,
            Operation::Read,
            &Resource::topic("t")
        ));
    }

    /// Proves deny-by-default: a resource without ACLs is closed unless
    /// allow_everyone_if_no_acl_found.
    #[test]
    fn resource_without_acls_follows_allow_everyone_if_no_acl_found() {
        let acls = acls_of([topic_acl(
            "other",
            PatternType::Literal,
            "User:alice",
            Operation::Read,
            Permission::Allow,
        )]);
        let open = AuthorizerConfig {
            allow_everyone_if_no_acl_found: true,
            ..enabled()
        };
        let topic = Resource::topic("t");
        assert!(!alice_may(&acls, Operation::Read, &topic));
        assert!(acls.authorize(&open, &bob(), ALICE_HOST, Operation::Read, &topic));
        assert!(Acls::default().authorize(&open, &bob(), ALICE_HOST, Operation::Write, &topic));
        assert!(!Acls::default().authorize(
            &enabled(),
            &bob(),
            ALICE_HOST,
            Operation::Write,
            &topic
        ));
    }

    /// Regression (Kafka's KAFKA-14435): with allow_everyone_if_no_acl_found, a resource that
    /// has ACLs only for other principals, other hosts or other operations is closed, not
    /// open: "no ACL found" means none on the resource, not none for this principal.
    #[test]
    fn allow_everyone_if_no_acl_found_ignores_acls_of_other_principals_kafka_14435() {
        let open = AuthorizerConfig {
            allow_everyone_if_no_acl_found: true,
            ..enabled()
        };
        let acls = acls_of([
            topic_acl(
                "secret",
                PatternType::Literal,
                "User:alice",
                Operation::Read,
                Permission::Allow,
            ),
            binding(
                ResourceType::Topic,
                "restricted.",
                PatternType::Prefixed,
                "User:bob",
                "10.0.0.7",
                Operation::Read,
                Permission::Allow,
            ),
        ]);
        let secret = Resource::topic("secret");
        assert!(acls.authorize(&open, &alice(), ALICE_HOST, Operation::Read, &secret));
        assert!(!acls.authorize(&open, &bob(), ALICE_HOST, Operation::Read, &secret));
        assert!(!acls.authorize(&open, &alice(), ALICE_HOST, Operation::Write, &secret));
        let restricted = Resource::topic("restricted.x");
        assert!(acls.authorize(&open, &bob(), "10.0.0.7", Operation::Read, &restricted));
        assert!(!acls.authorize(&open, &bob(), "10.0.0.8", Operation::Read, &restricted));
        assert!(acls.authorize(
            &open,
            &bob(),
            ALICE_HOST,
            Operation::Read,
            &Resource::topic("x")
        ));
    }

    /// Proves validation refuses each bad field with a message naming it.
    #[test]
    fn validation_names_the_bad_field() {
        let good = topic_acl(
            "t",
            PatternType::Literal,
            "User:alice",
            Operation::Read,
            Permission::Allow,
        );
        assert_eq!(good.validate(), Ok(()));
        let cases: Vec<(AclBinding, &str)> = vec![
            (
                AclBinding {
                    resource_name: String::new(),
                    ..good.clone()
                },
                "resource_name",
            ),
            (
                AclBinding {
                    resource_name: "x".repeat(RESOURCE_NAME_BYTES_MAX + 1),
                    ..good.clone()
                },
                "resource_name",
            ),
            (
                AclBinding {
                    resource_type: ResourceType::Cluster,
                    resource_name: "my-cluster".to_string(),
                    operation: Operation::Alter,
                    ..good.clone()
                },
                "resource_name",
            ),
            (
                AclBinding {
                    resource_type: ResourceType::Cluster,
                    resource_name: CLUSTER_RESOURCE_NAME.to_string(),
                    pattern_type: PatternType::Prefixed,
                    operation: Operation::Alter,
                    ..good.clone()
                },
                "pattern_type",
            ),
            (
                AclBinding {
                    principal: "alice".to_string(),
                    ..good.clone()
                },
                "principal",
            ),
            (
                AclBinding {
                    principal: "User:".to_string(),
                    ..good.clone()
                },
                "principal",
            ),
            (
                AclBinding {
                    principal: "User:a\nb".to_string(),
                    ..good.clone()
                },
                "principal",
            ),
            (
                AclBinding {
                    host: "example.com".to_string(),
                    ..good.clone()
                },
                "host",
            ),
            (
                AclBinding {
                    host: String::new(),
                    ..good.clone()
                },
                "host",
            ),
            (
                AclBinding {
                    operation: Operation::IdempotentWrite,
                    ..good.clone()
                },
                "operation",
            ),
            (
                AclBinding {
                    resource_type: ResourceType::Group,
                    operation: Operation::Write,
                    ..good.clone()
                },
                "operation",
            ),
            (
                AclBinding {
                    resource_type: ResourceType::TransactionalId,
                    operation: Operation::Read,
                    ..good.clone()
                },
                "operation",
            ),
            (
                AclBinding {
                    resource_type: ResourceType::Cluster,
                    resource_name: CLUSTER_RESOURCE_NAME.to_string(),
                    operation: Operation::Read,
                    ..good.clone()
                },
                "operation",
            ),
        ];
        for (binding, field) in cases {
            match binding.validate() {
                Err(AclError::Invalid(message)) => {
                    assert!(message.contains(field), "{message:?} should name {field}")
                }
                other => panic!("{binding:?} gave {other:?}, wanted an error on {field}"),
            }
            let mut acls = Acls::default();
            assert!(acls.add(binding).is_err());
            assert!(acls.is_empty());
        }
        let wildcard_principal_and_ipv6 = AclBinding {
            principal: "User:*".to_string(),
            host: "fe80::1".to_string(),
            resource_name: "x".repeat(RESOURCE_NAME_BYTES_MAX),
            ..good.clone()
        };
        assert_eq!(wildcard_principal_and_ipv6.validate(), Ok(()));
        let cluster = binding(
            ResourceType::Cluster,
            CLUSTER_RESOURCE_NAME,
            PatternType::Literal,
            "User:alice",
            WILDCARD,
            Operation::IdempotentWrite,
            Permission::Allow,
        );
        assert_eq!(cluster.validate(), Ok(()));
    }

    /// The bindings of the filter tests: the same name under both patterns, `*`, a prefix of
    /// the name, and another name.
    fn filter_fixture() -> Acls {
        acls_of([
            topic_acl(
                "orders",
                PatternType::Literal,
                "User:alice",
                Operation::Read,
                Permission::Allow,
            ),
            topic_acl(
                "orders",
                PatternType::Prefixed,
                "User:bob",
                Operation::Write,
                Permission::Deny,
            ),
            topic_acl(
                "*",
                PatternType::Literal,
                "User:alice",
                Operation::Describe,
                Permission::Allow,
            ),
            topic_acl(
                "ord",
                PatternType::Prefixed,
                "User:alice",
                Operation::Read,
                Permission::Allow,
            ),
            topic_acl(
                "payments",
                PatternType::Literal,
                "User:alice",
                Operation::Read,
                Permission::Allow,
            ),
            binding(
                ResourceType::Group,
                "orders",
                PatternType::Literal,
                "User:alice",
                "10.0.0.1",
                Operation::Read,
                Permission::Allow,
            ),
        ])
    }

    fn names_matching(acls: &Acls, filter: &AclBindingFilter) -> Vec<(String, PatternType)> {
        acls.matching(filter)
            .into_iter()
            .map(|binding| (binding.resource_name, binding.pattern_type))
            .collect()
    }

    fn topic_filter(name: Option<&str>, pattern_filter: PatternFilter) -> AclBindingFilter {
        AclBindingFilter {
            resource_type: Some(ResourceType::Topic),
            resource_name: name.map(str::to_string),
            pattern_filter,
            ..AclBindingFilter::any()
        }
    }

    /// Proves each pattern filter selects what Kafka's does, with and without a name.
    #[test]
    fn filters_match_like_kafka_for_each_pattern_filter() {
        use PatternType::{Literal, Prefixed};
        let acls = filter_fixture();
        let owned = |list: &[(&str, PatternType)]| -> Vec<(String, PatternType)> {
            list.iter()
                .map(|(name, pattern)| (name.to_string(), *pattern))
                .collect()
        };
        assert_eq!(acls.matching(&AclBindingFilter::any()).len(), 6);
        assert_eq!(
            names_matching(&acls, &topic_filter(None, PatternFilter::Any)).len(),
            5
        );
        assert_eq!(
            names_matching(&acls, &topic_filter(Some("orders"), PatternFilter::Any)),
            owned(&[("orders", Literal), ("orders", Prefixed)])
        );
        assert_eq!(
            names_matching(&acls, &topic_filter(Some("orders"), PatternFilter::Match)),
            owned(&[
                ("*", Literal),
                ("ord", Prefixed),
                ("orders", Literal),
                ("orders", Prefixed)
            ])
        );
        assert_eq!(
            names_matching(&acls, &topic_filter(Some("ord"), PatternFilter::Match)),
            owned(&[("*", Literal), ("ord", Prefixed)])
        );
        assert_eq!(
            names_matching(&acls, &topic_filter(None, PatternFilter::Match)).len(),
            5
        );
        assert_eq!(
            names_matching(&acls, &topic_filter(Some("orders"), PatternFilter::Literal)),
            owned(&[("orders", Literal)])
        );
        assert_eq!(
            names_matching(&acls, &topic_filter(None, PatternFilter::Literal)),
            owned(&[("*", Literal), ("orders", Literal), ("payments", Literal)])
        );
        assert_eq!(
            names_matching(
                &acls,
                &topic_filter(Some("orders"), PatternFilter::Prefixed)
            ),
            owned(&[("orders", Prefixed)])
        );
        assert_eq!(
            names_matching(&acls, &topic_filter(None, PatternFilter::Prefixed)),
            owned(&[("ord", Prefixed), ("orders", Prefixed)])
        );
        // The entry fields: exact principal (no wildcard expansion), host, operation,
        // permission.
        let bob_deny = AclBindingFilter {
            principal: Some("User:bob".to_string()),
            permission: Some(Permission::Deny),
            ..AclBindingFilter::any()
        };
        assert_eq!(
            names_matching(&acls, &bob_deny),
            owned(&[("orders", Prefixed)])
        );
        let host = AclBindingFilter {
            host: Some("::ffff:10.0.0.1".to_string()),
            ..AclBindingFilter::any()
        };
        assert_eq!(acls.matching(&host).len(), 1);
        let describe = AclBindingFilter {
            operation: Some(Operation::Describe),
            ..AclBindingFilter::any()
        };
        assert_eq!(names_matching(&acls, &describe), owned(&[("*", Literal)]));
    }

    /// Proves adding a binding twice keeps one and says so.
    #[test]
    fn adding_twice_keeps_one() {
        let acl = topic_acl(
            "t",
            PatternType::Literal,
            "User:alice",
            Operation::Read,
            Permission::Allow,
        );
        let mut acls = Acls::default();
        assert_eq!(acls.add(acl.clone()), Ok(true));
        assert_eq!(acls.add(acl.clone()), Ok(false));
        assert_eq!(acls.len(), 1);
        // Removing the one copy leaves nothing behind in the index either.
        assert_eq!(acls.remove_matching(&AclBindingFilter::any()), vec![acl]);
        assert!(!alice_may(&acls, Operation::Read, &Resource::topic("t")));
    }

    /// Proves remove_matching removes exactly what matching lists, and the authorizer stops
    /// seeing it.
    #[test]
    fn remove_matching_removes_from_the_set_and_the_authorizer() {
        let mut acls = filter_fixture();
        let orders = Resource::topic("orders.x");
        assert!(alice_may(&acls, Operation::Read, &orders));
        let filter = topic_filter(Some("orders.x"), PatternFilter::Match);
        let expected = acls.matching(&filter);
        assert_eq!(expected.len(), 3);
        let removed = acls.remove_matching(&filter);
        assert_eq!(removed, expected);
        assert_eq!(acls.len(), 3);
        assert!(acls.matching(&filter).is_empty());
        assert!(!alice_may(&acls, Operation::Read, &orders));
        // With allow_everyone_if_no_acl_found, the resource is open again: nothing of the
        // removed bindings lingers in the index.
        let open = AuthorizerConfig {
            allow_everyone_if_no_acl_found: true,
            ..enabled()
        };
        assert!(acls.authorize(&open, &bob(), ALICE_HOST, Operation::Write, &orders));
        assert!(acls.remove_matching(&filter).is_empty());
        assert!(alice_may(
            &acls,
            Operation::Read,
            &Resource::topic("payments")
        ));
    }

    /// Proves the store refuses the binding past ACLS_MAX but still accepts a duplicate.
    #[test]
    fn acls_max_limits_the_bindings_kept() {
        let mut acls = Acls::default();
        for index in 0..ACLS_MAX {
            let acl = topic_acl(
                &format!("t{index}"),
                PatternType::Literal,
                "User:alice",
                Operation::Read,
                Permission::Allow,
            );
            assert_eq!(acls.add(acl), Ok(true));
        }
        let first = topic_acl(
            "t0",
            PatternType::Literal,
            "User:alice",
            Operation::Read,
            Permission::Allow,
        );
        assert_eq!(acls.add(first), Ok(false));
        let one_more = topic_acl(
            "one-more",
            PatternType::Literal,
            "User:alice",
            Operation::Read,
            Permission::Allow,
        );
        assert_eq!(acls.add(one_more.clone()), Err(AclError::TooMany));
        assert_eq!(acls.len(), ACLS_MAX);
        assert!(!alice_may(
            &acls,
            Operation::Read,
            &Resource::topic("one-more")
        ));
        acls.remove_matching(&topic_filter(Some("t0"), PatternFilter::Literal));
        assert_eq!(acls.add(one_more), Ok(true));
    }

    /// Proves ACLs save as a JSON array of bindings and load back with a working index, and
    /// that a saved invalid binding is refused.
    #[test]
    fn json_round_trip_keeps_bindings_and_index() {
        let acls = filter_fixture();
        let json = serde_json::to_value(&acls).expect("serializes");
        let array = json.as_array().expect("an array");
        assert_eq!(array.len(), acls.len());
        assert_eq!(array[0]["resource_type"], "TOPIC");
        assert_eq!(array[0]["pattern_type"], "LITERAL");
        let loaded: Acls = serde_json::from_value(json).expect("deserializes");
        assert_eq!(loaded, acls);
        let orders = Resource::topic("orders.x");
        assert!(alice_may(&loaded, Operation::Read, &orders));
        assert!(!alice_may(&loaded, Operation::Write, &orders));

        let bad = serde_json::json!([{
            "resource_type": "CLUSTER",
            "resource_name": "other",
            "pattern_type": "LITERAL",
            "principal": "User:alice",
            "host": "*",
            "operation": "ALTER",
            "permission": "ALLOW",
        }]);
        let error = serde_json::from_value::<Acls>(bad).expect_err("refused");
        assert!(error.to_string().contains("resource_name"), "{error}");
    }

    /// The reference authorizer: Kafka's rules read straight off the list of bindings, with
    /// no index, to compare the real one against.
    fn reference_authorize(
        bindings: &[AclBinding],
        config: &AuthorizerConfig,
        principal: &Principal,
        host: &str,
        operation: Operation,
        resource: &Resource,
    ) -> bool {
        if !config.enabled || config.super_users.contains(&principal.to_string()) {
            return true;
        }
        let on_resource: Vec<&AclBinding> = bindings
            .iter()
            .filter(|binding| {
                binding.resource_type == resource.resource_type
                    && match binding.pattern_type {
                        PatternType::Literal => {
                            binding.resource_name == resource.name || binding.resource_name == "*"
                        }
                        PatternType::Prefixed => resource.name.starts_with(&binding.resource_name),
                    }
            })
            .collect();
        let applies = |binding: &&&AclBinding| {
            (binding.principal == principal.to_string() || binding.principal == "User:*")
                && (binding.host == "*" || binding.host == host)
        };
        let implied_by: &[Operation] = match operation {
            Operation::Describe => &[
                Operation::Describe,
                Operation::Read,
                Operation::Write,
                Operation::Delete,
                Operation::Alter,
            ],
            Operation::DescribeConfigs => &[Operation::DescribeConfigs, Operation::AlterConfigs],
            _ => &[],
        };
        if on_resource.iter().filter(applies).any(|binding| {
            binding.permission == Permission::Deny
                && (binding.operation == operation || binding.operation == Operation::All)
        }) {
            return false;
        }
        if on_resource.iter().filter(applies).any(|binding| {
            binding.permission == Permission::Allow
                && (binding.operation == operation
                    || binding.operation == Operation::All
                    || implied_by.contains(&binding.operation))
        }) {
            return true;
        }
        on_resource.is_empty() && config.allow_everyone_if_no_acl_found
    }

    const NAMES: &[&str] = &["a", "ab", "abc", "b", "*", "é", "éa"];
    const PRINCIPALS: &[&str] = &["User:alice", "User:bob", "User:*", "Group:alice"];
    const HOSTS: &[&str] = &["*", "10.0.0.1", "10.0.0.2"];
    const TYPES: &[ResourceType] = &[
        ResourceType::Topic,
        ResourceType::Group,
        ResourceType::TransactionalId,
    ];

    fn arbitrary_binding() -> impl Strategy<Value = AclBinding> {
        (
            prop::sample::select(TYPES),
            prop::sample::select(NAMES),
            any::<bool>(),
            prop::sample::select(PRINCIPALS),
            prop::sample::select(HOSTS),
            any::<prop::sample::Index>(),
            any::<bool>(),
        )
            .prop_map(
                |(resource_type, name, prefixed, principal, host, operation, allow)| {
                    let operations = resource_type.operations();
                    binding(
                        resource_type,
                        name,
                        if prefixed {
                            PatternType::Prefixed
                        } else {
                            PatternType::Literal
                        },
                        principal,
                        host,
                        operations[operation.index(operations.len())],
                        if allow {
                            Permission::Allow
                        } else {
                            Permission::Deny
                        },
                    )
                },
            )
    }

    proptest! {
        /// Proves the indexed authorizer answers as the reference does, for random small sets
        /// of bindings (added and partly removed again) and random questions.
        #[test]
        fn authorize_agrees_with_the_reference(
            bindings in prop::collection::vec(arbitrary_binding(), 0..12),
            removed in prop::collection::vec(arbitrary_binding(), 0..3),
            questions in prop::collection::vec(
                (
                    prop::sample::select(TYPES),
                    prop::sample::select(NAMES),
                    prop::sample::select(&["alice", "bob", "carol"][..]),
                    prop::sample::select(&["10.0.0.1", "10.0.0.2", "10.0.0.3"][..]),
                    prop::sample::select(Operation::VALUES),
                ),
                1..16,
            ),
            enabled in any::<bool>(),
            carol_is_super_user in any::<bool>(),
            allow_everyone_if_no_acl_found in any::<bool>(),
        ) {
            let mut acls = acls_of(bindings.iter().cloned().chain(removed.iter().cloned()));
            for binding in &removed {
                let filter = AclBindingFilter {
                    resource_type: Some(binding.resource_type),
                    resource_name: Some(binding.resource_name.clone()),
                    pattern_filter: PatternFilter::from_kafka_code(binding.pattern_type.kafka_code())
                        .expect("a pattern type is a filter"),
                    principal: Some(binding.principal.clone()),
                    host: Some(binding.host.clone()),
                    operation: Some(binding.operation),
                    permission: Some(binding.permission),
                };
                acls.remove_matching(&filter);
            }
            let kept: Vec<AclBinding> = acls.iter().cloned().collect();
            let reference_kept: BTreeSet<AclBinding> = bindings
                .iter()
                .filter(|binding| !removed.contains(binding))
                .cloned()
                .collect();
            prop_assert_eq!(&kept, &reference_kept.into_iter().collect::<Vec<_>>());
            let mut super_users = BTreeSet::new();
            if carol_is_super_user {
                super_users.insert("User:carol".to_string());
            }
            let config = AuthorizerConfig { enabled, super_users, allow_everyone_if_no_acl_found };
            for (resource_type, name, user, host, operation) in questions {
                let resource = Resource { resource_type, name: name.to_string() };
                let principal = Principal::user(user);
                prop_assert_eq!(
                    acls.authorize(&config, &principal, host, operation, &resource),
                    reference_authorize(&kept, &config, &principal, host, operation, &resource),
                    "{} {} from {} on {:?}", principal, operation, host, resource
                );
            }
        }
    }
}
