//! DescribeAcls (key 29, v1-3): the bindings a filter matches, grouped by resource pattern.
//! Needs DESCRIBE on the cluster (CLUSTER_AUTHORIZATION_FAILED otherwise); a node without an
//! authorizer answers SECURITY_DISABLED. A filter with a code YAK does not know answers
//! INVALID_REQUEST. Kafka's ANY (code 1) and a null name, principal or host match anything;
//! the pattern filter MATCH finds the bindings that would apply to the named resource.

use std::collections::HashMap;

use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{DescribeAclsRequest, DescribeAclsResponse};
use kafka_protocol::protocol::StrBytes;
use yak_auth::acl::{PatternFilter, KAFKA_CODE_ANY};
use yak_auth::{AclBinding, AclBindingFilter, Operation, Permission, Resource, ResourceType};

use crate::backend::{error_code, Backend, BackendError};
use crate::session::Session;

/// A filter's fields as they travel in DescribeAcls and DeleteAcls.
pub struct WireFilter<'a> {
    pub resource_type: i8,
    pub resource_name: Option<&'a StrBytes>,
    pub pattern_type: i8,
    pub principal: Option<&'a StrBytes>,
    pub host: Option<&'a StrBytes>,
    pub operation: i8,
    pub permission_type: i8,
}

/// `code` as a value of `T`, `None` for ANY, or an INVALID_REQUEST naming `what`.
fn any_or<T>(
    what: &str,
    code: i8,
    parse: impl Fn(i8) -> Option<T>,
) -> Result<Option<T>, BackendError> {
    if code == KAFKA_CODE_ANY {
        return Ok(None);
    }
    parse(code)
        .map(Some)
        .ok_or_else(|| BackendError::InvalidRequest(format!("unknown {what} {code} in a filter")))
}

/// The filter a request's fields describe, or why they describe none.
pub fn filter(wire: WireFilter<'_>) -> Result<AclBindingFilter, BackendError> {
    let text = |value: Option<&StrBytes>| value.map(|v| v.as_str().to_owned());
    Ok(AclBindingFilter {
        resource_type: any_or(
            "resource type",
            wire.resource_type,
            ResourceType::from_kafka_code,
        )?,
        resource_name: text(wire.resource_name),
        pattern_filter: PatternFilter::from_kafka_code(wire.pattern_type).ok_or_else(|| {
            BackendError::InvalidRequest(format!(
                "unknown pattern type {} in a filter",
                wire.pattern_type
            ))
        })?,
        principal: text(wire.principal),
        host: text(wire.host),
        operation: any_or("operation", wire.operation, Operation::from_kafka_code)?,
        permission: any_or(
            "permission type",
            wire.permission_type,
            Permission::from_kafka_code,
        )?,
    })
}

/// The response's resources: one entry per resource pattern, its bindings under it.
pub fn resources(bindings: Vec<AclBinding>) -> Vec<DescribeAclsResource> {
    let mut resources: Vec<DescribeAclsResource> = Vec::new();
    // Where each resource pattern's entry is, so that many bindings group in linear time.
    let mut positions: HashMap<(i8, String, i8), usize> = HashMap::new();
    for binding in bindings {
        let acl = AclDescription::default()
            .with_principal(StrBytes::from_string(binding.principal))
            .with_host(StrBytes::from_string(binding.host))
            .with_operation(binding.operation.kafka_code())
            .with_permission_type(binding.permission.kafka_code());
        let key = (
            binding.resource_type.kafka_code(),
            binding.resource_name,
            binding.pattern_type.kafka_code(),
        );
        match positions.get(&key) {
            Some(&position) => resources[position].acls.push(acl),
            None => {
                positions.insert(key.clone(), resources.len());
                let (resource_type, resource_name, pattern_type) = key;
                resources.push(
                    DescribeAclsResource::default()
                        .with_resource_type(resource_type)
                        .with_resource_name(StrBytes::from_string(resource_name))
                        .with_pattern_type(pattern_type)
                        .with_acls(vec![acl]),
                );
            }
        }
    }
    resources
}

pub fn handle<B: Backend>(
    backend: &B,
    session: &Session,
    request: DescribeAclsRequest,
) -> DescribeAclsResponse {
    let failed = |error: BackendError| {
        DescribeAclsResponse::default()
            .with_error_code(error.code())
            .with_error_message(Some(StrBytes::from_string(
                error.message().unwrap_or_else(|| error.to_string()),
            )))
    };
    if !backend.authorize(session, Operation::Describe, &Resource::cluster()) {
        return failed(BackendError::ClusterAuthorizationFailed);
    }
    let wanted = filter(WireFilter {
        resource_type: request.resource_type_filter,
        resource_name: request.resource_name_filter.as_ref(),
        pattern_type: request.pattern_type_filter,
        principal: request.principal_filter.as_ref(),
        host: request.host_filter.as_ref(),
        operation: request.operation,
        permission_type: request.permission_type,
    });
    match wanted.and_then(|wanted| backend.describe_acls(&wanted)) {
        Ok(bindings) => DescribeAclsResponse::default()
            .with_error_code(error_code::NONE)
            .with_resources(resources(bindings)),
        Err(error) => failed(error),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::memory_backend::MemoryBackend;

    /// DescribeAcls of every topic binding that would apply to `name` (MATCH), or of every
    /// binding.
    pub(crate) fn describe(backend: &MemoryBackend, name: Option<&str>) -> DescribeAclsResponse {
        let request = DescribeAclsRequest::default()
            .with_resource_type_filter(if name.is_some() {
                ResourceType::Topic.kafka_code()
            } else {
                KAFKA_CODE_ANY
            })
            .with_resource_name_filter(name.map(|n| StrBytes::from_string(n.to_owned())))
            .with_pattern_type_filter(if name.is_some() {
                PatternFilter::Match.kafka_code()
            } else {
                KAFKA_CODE_ANY
            })
            .with_principal_filter(None)
            .with_host_filter(None)
            .with_operation(KAFKA_CODE_ANY)
            .with_permission_type(KAFKA_CODE_ANY);
        handle(backend, &Session::anonymous(), request)
    }
}
