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

