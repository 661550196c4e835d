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
    let results = for_valid_entries(checked, |valid| backend.create_acls(valid))
        .await
        .into_iter()
        .map(result)
        .collect();
    CreateAclsResponse::default().with_results(results)
}

/// Runs `run` on the entries that passed their checks (not at all when none did), and answers
/// every entry in the request's order: its own error, or what `run` answered for it.
pub(crate) async fn for_valid_entries<T, A, F, Fut>(
    checked: Vec<Result<T, BackendError>>,
    run: F,
) -> Vec<Result<A, BackendError>>
where
    T: Clone,
    F: FnOnce(Vec<T>) -> Fut,
    Fut: std::future::Future<Output = Vec<Result<A, BackendError>>>,
{
    let valid: Vec<T> = checked
        .iter()
        .filter_map(|c| c.as_ref().ok().cloned())
        .collect();
    let mut answered = if valid.is_empty() {
        Vec::new()
    } else {
        run(valid).await
    }
    .into_iter();
    checked
        .into_iter()
        .map(|checked| match checked {
            Err(error) => Err(error),
            Ok(_) => answered
                .next()
                .unwrap_or_else(|| Err(BackendError::Unknown("the backend lost an answer".into()))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::describe_acls::tests::describe;
    use crate::memory_backend::MemoryBackend;
    use crate::versions;
    use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
    use kafka_protocol::messages::{ApiKey, DeleteAclsRequest};
    use kafka_protocol::protocol::Encodable;

    pub(crate) fn creation(name: &str, pattern_type: i8, operation: i8) -> AclCreation {
        AclCreation::default()
            .with_resource_type(ResourceType::Topic.kafka_code())
            .with_resource_name(StrBytes::from_string(name.to_owned()))
            .with_resource_pattern_type(pattern_type)
            .with_principal(StrBytes::from_static_str("User:alice"))
            .with_host(StrBytes::from_static_str("*"))
            .with_operation(operation)
            .with_permission_type(Permission::Allow.kafka_code())
    }

    fn request(creations: Vec<AclCreation>) -> CreateAclsRequest {
        CreateAclsRequest::default().with_creations(creations)
    }

    fn codes(response: &CreateAclsResponse) -> Vec<i16> {
        response.results.iter().map(|r| r.error_code).collect()
    }

    /// Proves a node without an authorizer answers SECURITY_DISABLED, as Kafka does.
    #[tokio::test]
    async fn without_an_authorizer_is_security_disabled() {
        let backend = MemoryBackend::for_tests();
        let read = Operation::Read.kafka_code();
        let response = handle(
            &backend,
            &Session::anonymous(),
            request(vec![creation("t", 3, read)]),
        )
        .await;
        assert_eq!(codes(&response), vec![error_code::SECURITY_DISABLED]);
        let described = describe(&backend, None);
        assert_eq!(described.error_code, error_code::SECURITY_DISABLED);
    }

    /// Proves creations are checked one by one (an unknown pattern type, an operation that
    /// does not apply to topics, a bad principal: INVALID_REQUEST), the valid ones stored,
    /// and that DescribeAcls and DeleteAcls find them with a MATCH filter.
    #[tokio::test]
    async fn create_describe_delete_round_trip() {
        let backend = MemoryBackend::for_tests();
        backend.enable_security();
        let read = Operation::Read.kafka_code();
        let prefixed = PatternType::Prefixed.kafka_code();
        let mut bad_principal = creation("t", 3, read);
        bad_principal.principal = StrBytes::from_static_str("alice");
        let response = handle(
            &backend,
            &Session::anonymous(),
            request(vec![
                creation("logs-", prefixed, read),
                creation("t", 2, read),
                creation("t", 3, Operation::IdempotentWrite.kafka_code()),
                bad_principal,
                creation("logs-", prefixed, read),
            ]),
        )
        .await;
        assert_eq!(
            codes(&response),
            vec![
                0,
                error_code::INVALID_REQUEST,
                error_code::INVALID_REQUEST,
                error_code::INVALID_REQUEST,
                0
            ]
        );
        assert!(response.results[1].error_message.is_some());
        for version in versions::decoded_versions(ApiKey::CreateAcls) {
            let mut buf = bytes::BytesMut::new();
            response.encode(&mut buf, version).expect("encodes");
        }
        assert_eq!(backend.security_state().map(|s| s.acls.len()), Some(1));

        let described = describe(&backend, Some("logs-web"));
        assert_eq!(described.error_code, 0);
        assert_eq!(described.resources.len(), 1);
        assert_eq!(described.resources[0].resource_name.as_str(), "logs-");
        assert!(describe(&backend, Some("metrics")).resources.is_empty());

        let delete = DeleteAclsRequest::default().with_filters(vec![
            DeleteAclsFilter::default()
                .with_resource_type_filter(ResourceType::Topic.kafka_code())
                .with_resource_name_filter(Some(StrBytes::from_static_str("logs-web")))
                .with_pattern_type_filter(PatternFilter::Match.kafka_code())
                .with_principal_filter(None)
                .with_host_filter(None)
                .with_operation(KAFKA_CODE_ANY)
                .with_permission_type(KAFKA_CODE_ANY),
            DeleteAclsFilter::default().with_pattern_type_filter(0),
        ]);
        let deleted = crate::delete_acls::handle(&backend, &Session::anonymous(), delete).await;
        assert_eq!(deleted.filter_results[0].error_code, 0);
        assert_eq!(deleted.filter_results[0].matching_acls.len(), 1);
        assert_eq!(
            deleted.filter_results[1].error_code,
            error_code::INVALID_REQUEST,
            "pattern type UNKNOWN is no filter"
        );
        assert_eq!(backend.security_state().map(|s| s.acls.len()), Some(0));
        for version in versions::decoded_versions(ApiKey::DeleteAcls) {
            let mut buf = bytes::BytesMut::new();
            deleted.encode(&mut buf, version).expect("encodes");
        }
    }

    /// Proves the ACL APIs need ALTER (create, delete) or DESCRIBE (describe) on the cluster.
    #[tokio::test]
    async fn without_cluster_rights_is_cluster_authorization_failed() {
        let backend = MemoryBackend::for_tests();
        backend.enable_security();
        backend.allow_only(Vec::new());
        let read = Operation::Read.kafka_code();
        let response = handle(
            &backend,
            &Session::anonymous(),
            request(vec![creation("t", 3, read)]),
        )
        .await;
        assert_eq!(
            codes(&response),
            vec![error_code::CLUSTER_AUTHORIZATION_FAILED]
        );
        assert_eq!(backend.security_state().map(|s| s.acls.len()), Some(0));
        assert_eq!(
            describe(&backend, None).error_code,
            error_code::CLUSTER_AUTHORIZATION_FAILED
        );
    }

    use yak_auth::acl::{PatternFilter, KAFKA_CODE_ANY};
}
