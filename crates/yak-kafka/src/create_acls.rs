//! CreateAcls (key 30, v1-3): adds ACL bindings. Needs ALTER on the cluster
//! (CLUSTER_AUTHORIZATION_FAILED per binding otherwise); a node without an authorizer answers
//! SECURITY_DISABLED, as Kafka does. Each binding is checked here (known codes, LITERAL or
//! PREFIXED, `yak_auth::AclBinding::validate`) and answers INVALID_REQUEST when it is not
//! valid; the valid ones are added by the backend in one change of its stored state. v0, which
//! has no pattern type, is not in the crate any more (Kafka 4 dropped it too).

use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::{CreateAclsRequest, CreateAclsResponse};
use kafka_protocol::protocol::StrBytes;
use yak_auth::{AclBinding, Acls, Operation, PatternType, Permission, Resource, ResourceType};

use crate::backend::{error_code, Backend, BackendError};
use crate::session::Session;

/// The binding a creation asks for, or why it cannot be one.
pub fn binding(creation: &AclCreation) -> Result<AclBinding, BackendError> {
    let code = |what: &str, code: i8| {
        BackendError::InvalidRequest(format!("{what} {code} cannot be stored in an ACL"))
    };
    let binding = AclBinding {
        resource_type: ResourceType::from_kafka_code(creation.resource_type)
            .ok_or_else(|| code("resource type", creation.resource_type))?,
        resource_name: creation.resource_name.as_str().to_owned(),
        pattern_type: PatternType::from_kafka_code(creation.resource_pattern_type)
            .ok_or_else(|| code("pattern type", creation.resource_pattern_type))?,
        principal: creation.principal.as_str().to_owned(),
        host: creation.host.as_str().to_owned(),
        operation: Operation::from_kafka_code(creation.operation)
            .ok_or_else(|| code("operation", creation.operation))?,
        permission: Permission::from_kafka_code(creation.permission_type)
            .ok_or_else(|| code("permission type", creation.permission_type))?,
    };
    binding
        .validate()
        .map_err(|error| BackendError::InvalidRequest(error.to_string()))?;
    Ok(binding)
}

/// Adds one checked binding to `acls`; a binding that exists already is a success, as in
/// Kafka. Backends call this inside their change of the stored state.
pub fn add(acls: &mut Acls, binding: AclBinding) -> Result<(), BackendError> {
    acls.add(binding)
        .map(|_| ())
        .map_err(|error| BackendError::InvalidRequest(error.to_string()))
}

fn result(outcome: Result<(), BackendError>) -> AclCreationResult {
    match outcome {
        Ok(()) => AclCreationResult::default().with_error_code(error_code::NONE),
        Err(error) => AclCreationResult::default()
            .with_error_code(error.code())
            .with_error_message(Some(StrBytes::from_string(
                error.message().unwrap_or_else(|| error.to_string()),
            ))),
    }
}

pub async fn handle<B: Backend>(
    backend: &B,
    session: &Session,
    request: CreateAclsRequest,
) -> CreateAclsResponse {
    if !backend.authorize(session, Operation::Alter, &Resource::cluster()) {
        let results = request
            .creations
            .iter()
            .map(|_| result(Err(BackendError::ClusterAuthorizationFailed)))
            .collect();
        return CreateAclsResponse::default().with_results(results);
    }
    let checked: Vec<Result<AclBinding, BackendError>> =
        request.creations.iter().map(binding).collect();
    let valid: Vec<AclBinding> = checked
        .iter()
        .filter_map(|c| c.as_ref().ok().cloned())
        .collect();
    let mut created = if valid.is_empty() {
        Vec::new()
    } else {
        backend.create_acls(valid).await
    }
    .into_iter();
    let results = checked
        .into_iter()
        .map(|checked| {
            result(match checked {
                Err(error) => Err(error),
                Ok(_) => created.next().unwrap_or_else(|| {
                    Err(BackendError::Unknown("the backend lost an answer".into()))
                }),
            })
        })
        .collect();
    CreateAclsResponse::default().with_results(results)
}
