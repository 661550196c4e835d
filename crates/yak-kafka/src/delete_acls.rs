//! DeleteAcls (key 31, v1-3): removes the bindings each filter matches and lists them. Needs
//! ALTER on the cluster (CLUSTER_AUTHORIZATION_FAILED per filter otherwise); a node without an
//! authorizer answers SECURITY_DISABLED. A filter with a code YAK does not know answers
//! INVALID_REQUEST; the others are applied by the backend in one change of its stored state.

use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::{DeleteAclsRequest, DeleteAclsResponse};
use kafka_protocol::protocol::StrBytes;
use yak_auth::{AclBinding, AclBindingFilter, Operation, Resource};

use crate::backend::{error_code, Backend, BackendError};
use crate::describe_acls::{filter, WireFilter};
use crate::session::Session;

fn matching_acl(binding: AclBinding) -> DeleteAclsMatchingAcl {
    DeleteAclsMatchingAcl::default()
        .with_error_code(error_code::NONE)
        .with_resource_type(binding.resource_type.kafka_code())
        .with_resource_name(StrBytes::from_string(binding.resource_name))
        .with_pattern_type(binding.pattern_type.kafka_code())
        .with_principal(StrBytes::from_string(binding.principal))
        .with_host(StrBytes::from_string(binding.host))
        .with_operation(binding.operation.kafka_code())
        .with_permission_type(binding.permission.kafka_code())
}

fn result(outcome: Result<Vec<AclBinding>, BackendError>) -> DeleteAclsFilterResult {
    match outcome {
        Ok(removed) => DeleteAclsFilterResult::default()
            .with_error_code(error_code::NONE)
            .with_matching_acls(removed.into_iter().map(matching_acl).collect()),
        Err(error) => DeleteAclsFilterResult::default()
            .with_error_code(error.code())
            .with_error_message(Some(StrBytes::from_string(
                error.message().unwrap_or_else(|| error.to_string()),
            ))),
    }
}

pub async fn handle<B: Backend>(
    backend: &B,
    session: &Session,
    request: DeleteAclsRequest,
) -> DeleteAclsResponse {
    if !backend.authorize(session, Operation::Alter, &Resource::cluster()) {
        let results = request
            .filters
            .iter()
            .map(|_| result(Err(BackendError::ClusterAuthorizationFailed)))
            .collect();
        return DeleteAclsResponse::default().with_filter_results(results);
    }
    let checked: Vec<Result<AclBindingFilter, BackendError>> = request
        .filters
        .iter()
        .map(|f| {
            filter(WireFilter {
                resource_type: f.resource_type_filter,
                resource_name: f.resource_name_filter.as_ref(),
                pattern_type: f.pattern_type_filter,
                principal: f.principal_filter.as_ref(),
                host: f.host_filter.as_ref(),
                operation: f.operation,
                permission_type: f.permission_type,
            })
        })
        .collect();
    let results =
        crate::create_acls::for_valid_entries(checked, |valid| backend.delete_acls(valid))
            .await
            .into_iter()
            .map(result)
            .collect();
    DeleteAclsResponse::default().with_filter_results(results)
}
