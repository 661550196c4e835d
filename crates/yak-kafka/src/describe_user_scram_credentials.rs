//! DescribeUserScramCredentials (key 50, v0): each user's SCRAM mechanisms and iterations,
//! never a salt or key. Needs DESCRIBE on the cluster (a top-level
//! CLUSTER_AUTHORIZATION_FAILED otherwise). A null or empty user list describes every user;
//! a named user without credentials answers RESOURCE_NOT_FOUND, one named twice
//! DUPLICATE_RESOURCE, as Kafka does.

use std::collections::HashMap;

use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};
use kafka_protocol::protocol::StrBytes;
use yak_auth::{Operation, Resource, ScramMechanism};

use crate::backend::{error_code, Backend, BackendError};
use crate::session::Session;

fn described(
    user: &str,
    credentials: &[(ScramMechanism, u32)],
) -> DescribeUserScramCredentialsResult {
    DescribeUserScramCredentialsResult::default()
        .with_user(StrBytes::from_string(user.to_owned()))
        .with_error_code(error_code::NONE)
        .with_credential_infos(
            credentials
                .iter()
                .map(|(mechanism, iterations)| {
                    CredentialInfo::default()
                        .with_mechanism(mechanism.kafka_type())
                        .with_iterations(i32::try_from(*iterations).unwrap_or(i32::MAX))
                })
                .collect(),
        )
}

fn failed(user: &str, error: BackendError) -> DescribeUserScramCredentialsResult {
    DescribeUserScramCredentialsResult::default()
        .with_user(StrBytes::from_string(user.to_owned()))
        .with_error_code(error.code())
        .with_error_message(Some(StrBytes::from_string(
            error.message().unwrap_or_else(|| error.to_string()),
        )))
}

pub fn handle<B: Backend>(
    backend: &B,
    session: &Session,
    request: DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    if !backend.authorize(session, Operation::Describe, &Resource::cluster()) {
        let error = BackendError::ClusterAuthorizationFailed;
        return DescribeUserScramCredentialsResponse::default()
            .with_error_code(error.code())
            .with_error_message(Some(StrBytes::from_string(error.to_string())));
    }
    let users = backend.scram_users();
    let results = match request.users.filter(|named| !named.is_empty()) {
        None => users
            .iter()
            .map(|(user, credentials)| described(user, credentials))
            .collect(),
        Some(named) => {
            let by_name: HashMap<&str, &[(ScramMechanism, u32)]> = users
                .iter()
                .map(|(user, credentials)| (user.as_str(), credentials.as_slice()))
                .collect();
            let mut times_named: HashMap<&str, usize> = HashMap::new();
            for name in &named {
                *times_named.entry(name.name.as_str()).or_default() += 1;
            }
            let mut answered = std::collections::HashSet::new();
            named
                .iter()
                .map(|name| name.name.as_str())
                // A user named twice is answered once, with the error.
                .filter(|name| answered.insert(*name))
                .map(|name| {
                    if times_named.get(name).copied().unwrap_or(0) > 1 {
                        return failed(
                            name,
                            BackendError::DuplicateResource(
                                "the user is named more than once".into(),
                            ),
                        );
                    }
                    match by_name.get(name) {
                        Some(credentials) => described(name, credentials),
                        None => failed(
                            name,
                            BackendError::ResourceNotFound(
                                "the user has no SCRAM credential".into(),
                            ),
                        ),
                    }
                })
                .collect()
        }
    };
    DescribeUserScramCredentialsResponse::default()
        .with_error_code(error_code::NONE)
        .with_results(results)
}

/// Every user of `state` with its credentials' mechanisms and iterations (what a backend
/// answers `Backend::scram_users` with).
pub fn users(state: &yak_auth::SecurityState) -> Vec<(String, Vec<(ScramMechanism, u32)>)> {
    state
        .users
        .iter()
        .map(|(user, record)| {
            (
                user.clone(),
                record
                    .credentials
                    .values()
                    .map(|credential| (credential.mechanism, credential.iterations))
                    .collect(),
            )
        })
        .collect()
}
