//! AlterUserScramCredentials (key 51, v0): sets and deletes users' SCRAM credentials. Clients
//! send the salt and the salted password (never the password); the node keeps only the
//! derived StoredKey and ServerKey (`ScramCredential::from_salted_password`). Needs ALTER on
//! the cluster (CLUSTER_AUTHORIZATION_FAILED per user otherwise). Answers one result per user,
//! and a user's changes apply together or not at all, as in Kafka: an unknown mechanism is
//! UNSUPPORTED_SASL_MECHANISM; iterations out of range, an empty user name or a bad salted
//! password UNACCEPTABLE_CREDENTIAL; a mechanism named twice for one user DUPLICATE_RESOURCE;
//! deleting a credential the user does not have RESOURCE_NOT_FOUND.

use std::collections::HashMap;

use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
};
use kafka_protocol::protocol::StrBytes;
use yak_auth::scram::{ITERATIONS_MAX, ITERATIONS_MIN};
use yak_auth::store::StoreError;
use yak_auth::{Operation, Resource, ScramCredential, ScramMechanism, SecurityState};

use crate::backend::{error_code, Backend, BackendError, UserScramChange};
use crate::session::Session;

fn mechanism(code: i8) -> Result<ScramMechanism, BackendError> {
    ScramMechanism::from_kafka_type(code).ok_or_else(|| {
        BackendError::UnsupportedSaslMechanism(format!("unknown SCRAM mechanism {code}"))
    })
}

/// One user's change, and the first error among its entries.
type Checked = (UserScramChange, Option<BackendError>);

/// Adds one request entry to its user's change (found through `positions`, so a request of
/// many users costs linear time); the first error of a user sticks, and a user with an error
/// takes no more entries, so no user holds more than one entry per mechanism plus one.
fn add_entry(
    changes: &mut Vec<Checked>,
    positions: &mut HashMap<String, usize>,
    user: &str,
    entry: impl FnOnce(&mut UserScramChange) -> Result<ScramMechanism, BackendError>,
) {
    let position = *positions.entry(user.to_owned()).or_insert_with(|| {
        changes.push((
            UserScramChange {
                user: user.to_owned(),
                deletions: Vec::new(),
                upsertions: Vec::new(),
            },
            None,
        ));
        changes.len() - 1
    });
    let (change, error) = &mut changes[position];
    if error.is_some() {
        return;
    }
    let outcome = entry(change).and_then(|added| {
        let times = change.deletions.iter().filter(|m| **m == added).count()
            + change
                .upsertions
                .iter()
                .filter(|c| c.mechanism == added)
                .count();
        if times > 1 {
            return Err(BackendError::DuplicateResource(format!(
                "{} is changed more than once for the user",
                added.name()
            )));
        }
        Ok(())
    });
    if let Err(failure) = outcome {
        *error = Some(failure);
    }
}

/// The request as checked changes per user, in the order users first appear; a user whose
/// entries failed a check carries that error instead.
pub fn changes(request: &AlterUserScramCredentialsRequest) -> Vec<Checked> {
    let mut changes = Vec::new();
    let mut positions = HashMap::new();
    for deletion in &request.deletions {
        add_entry(
            &mut changes,
            &mut positions,
            deletion.name.as_str(),
            |change| {
                let mechanism = mechanism(deletion.mechanism)?;
                change.deletions.push(mechanism);
                Ok(mechanism)
            },
        );
    }
    for upsertion in &request.upsertions {
        add_entry(
            &mut changes,
            &mut positions,
            upsertion.name.as_str(),
            |change| {
                let mechanism = mechanism(upsertion.mechanism)?;
                let iterations = u32::try_from(upsertion.iterations)
                    .ok()
                    .filter(|i| (ITERATIONS_MIN..=ITERATIONS_MAX).contains(i))
                    .ok_or_else(|| {
                        BackendError::UnacceptableCredential(format!(
                            "iterations must be {ITERATIONS_MIN}..={ITERATIONS_MAX}, got {}",
                            upsertion.iterations
                        ))
                    })?;
                let credential = ScramCredential::from_salted_password(
                    mechanism,
                    &upsertion.salted_password,
                    upsertion.salt.to_vec(),
                    iterations,
                )
                .map_err(|error| BackendError::UnacceptableCredential(error.to_string()))?;
                change.upsertions.push(credential);
                Ok(mechanism)
            },
        );
    }
    for (change, error) in &mut changes {
        if change.user.is_empty() {
            error.get_or_insert(BackendError::UnacceptableCredential(
                "the user name must not be empty".into(),
            ));
        }
    }
    changes
}

/// Applies one user's change to `state`, all of it or none. Backends call this inside their
/// change of the stored state.
pub fn apply(state: &mut SecurityState, change: &UserScramChange) -> Result<(), BackendError> {
    let mut changed = state.clone();
    for mechanism in &change.deletions {
        changed
            .delete_credential(&change.user, *mechanism)
            .map_err(|error| match error {
                StoreError::NoSuchUser(_) | StoreError::NoSuchCredential { .. } => {
                    BackendError::ResourceNotFound(error.to_string())
                }
                other => BackendError::UnacceptableCredential(other.to_string()),
            })?;
    }
    for credential in &change.upsertions {
        changed
            .set_credential(&change.user, credential.clone())
            .map_err(|error| BackendError::UnacceptableCredential(error.to_string()))?;
    }
    *state = changed;
    Ok(())
}

fn result(user: &str, outcome: Result<(), BackendError>) -> AlterUserScramCredentialsResult {
    let result = AlterUserScramCredentialsResult::default()
        .with_user(StrBytes::from_string(user.to_owned()));
    match outcome {
        Ok(()) => result.with_error_code(error_code::NONE),
        Err(error) => result
            .with_error_code(error.code())
            .with_error_message(Some(StrBytes::from_string(
                error.message().unwrap_or_else(|| error.to_string()),
            ))),
    }
}

pub async fn handle<B: Backend>(
    backend: &B,
    session: &Session,
    request: AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    if !backend.authorize(session, Operation::Alter, &Resource::cluster()) {
        // One answer per user, found without checking (nor deriving keys for) a refused
        // request's credentials.
        let mut users = std::collections::HashSet::new();
        let results = request
            .deletions
            .iter()
            .map(|d| &d.name)
            .chain(request.upsertions.iter().map(|u| &u.name))
            .filter(|name| users.insert(name.as_str()))
            .map(|name| result(name.as_str(), Err(BackendError::ClusterAuthorizationFailed)))
            .collect();
        return AlterUserScramCredentialsResponse::default().with_results(results);
    }
    let checked = changes(&request);
    let valid: Vec<UserScramChange> = checked
        .iter()
        .filter(|(_, error)| error.is_none())
        .map(|(change, _)| change.clone())
        .collect();
    let mut applied = if valid.is_empty() {
        Vec::new()
    } else {
        backend.alter_scram_credentials(valid).await
    }
    .into_iter();
    let results = checked
        .into_iter()
        .map(|(change, error)| {
            let outcome = match error {
                Some(error) => Err(error),
                None => applied.next().unwrap_or_else(|| {
                    Err(BackendError::Unknown("the backend lost an answer".into()))
                }),
            };
            result(&change.user, outcome)
        })
        .collect();
    AlterUserScramCredentialsResponse::default().with_results(results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory_backend::MemoryBackend;
    use kafka_protocol::messages::alter_user_scram_credentials_request::{
        ScramCredentialDeletion, ScramCredentialUpsertion,
    };
    use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
    use kafka_protocol::messages::DescribeUserScramCredentialsRequest;

    fn upsertion(user: &str, mechanism: i8, iterations: i32) -> ScramCredentialUpsertion {
        // A SHA-256 salted password is 32 bytes; its value does not matter here.
        ScramCredentialUpsertion::default()
            .with_name(StrBytes::from_string(user.to_owned()))
            .with_mechanism(mechanism)
            .with_iterations(iterations)
            .with_salt(bytes::Bytes::from_static(b"salt"))
            .with_salted_password(bytes::Bytes::from(vec![7u8; 32]))
    }

    fn deletion(user: &str, mechanism: i8) -> ScramCredentialDeletion {
        ScramCredentialDeletion::default()
            .with_name(StrBytes::from_string(user.to_owned()))
            .with_mechanism(mechanism)
    }

    fn answered(response: &AlterUserScramCredentialsResponse) -> Vec<(String, i16)> {
        response
            .results
            .iter()
            .map(|r| (r.user.to_string(), r.error_code))
            .collect()
    }

    /// Proves each user gets Kafka's code: bad iterations UNACCEPTABLE_CREDENTIAL, an unknown
    /// mechanism UNSUPPORTED_SASL_MECHANISM, a mechanism twice DUPLICATE_RESOURCE, deleting a
    /// missing credential RESOURCE_NOT_FOUND; a failed user changes nothing, a good one is
    /// stored and described with its iterations.
    #[tokio::test]
    async fn per_user_errors_and_describe() {
        let backend = MemoryBackend::for_tests();
        backend.enable_security();
        let sha256 = ScramMechanism::Sha256.kafka_type();
        let request = AlterUserScramCredentialsRequest::default()
            .with_deletions(vec![deletion("dave", sha256), deletion("erin", sha256)])
            .with_upsertions(vec![
                upsertion("alice", sha256, 4096),
                upsertion("bob", sha256, 100),
                upsertion("carol", 9, 4096),
                upsertion("dave", sha256, 4096),
                upsertion("", sha256, 4096),
            ]);
        let response = handle(&backend, &Session::anonymous(), request).await;
        assert_eq!(
            answered(&response),
            vec![
                ("dave".into(), error_code::DUPLICATE_RESOURCE),
                ("erin".into(), error_code::RESOURCE_NOT_FOUND),
                ("alice".into(), 0),
                ("bob".into(), error_code::UNACCEPTABLE_CREDENTIAL),
                ("carol".into(), error_code::UNSUPPORTED_SASL_MECHANISM),
                ("".into(), error_code::UNACCEPTABLE_CREDENTIAL),
            ]
        );
        let state = backend.security_state().expect("enabled");
        assert_eq!(state.users.keys().collect::<Vec<_>>(), vec!["alice"]);

        let describe = |users: Option<Vec<&'static str>>| {
            crate::describe_user_scram_credentials::handle(
                &backend,
                &Session::anonymous(),
                DescribeUserScramCredentialsRequest::default().with_users(users.map(|users| {
                    users
                        .into_iter()
                        .map(|u| UserName::default().with_name(StrBytes::from_static_str(u)))
                        .collect()
                })),
            )
        };
        let all = describe(None);
        assert_eq!(all.results.len(), 1);
        assert_eq!(all.results[0].credential_infos[0].iterations, 4096);
        let named = describe(Some(vec!["alice", "nobody", "bob", "bob"]));
        let codes: Vec<(String, i16)> = named
            .results
            .iter()
            .map(|r| (r.user.to_string(), r.error_code))
            .collect();
        assert_eq!(
            codes,
            vec![
                ("alice".into(), 0),
                ("nobody".into(), error_code::RESOURCE_NOT_FOUND),
                ("bob".into(), error_code::DUPLICATE_RESOURCE),
            ]
        );

        backend.allow_only(Vec::new());
        let refused = handle(
            &backend,
            &Session::anonymous(),
            AlterUserScramCredentialsRequest::default()
                .with_deletions(vec![deletion("alice", sha256)]),
        )
        .await;
        assert_eq!(
            answered(&refused),
            vec![("alice".into(), error_code::CLUSTER_AUTHORIZATION_FAILED)]
        );
        assert!(backend
            .security_state()
            .is_some_and(|s| s.users.contains_key("alice")));
        assert_eq!(
            describe(None).error_code,
            error_code::CLUSTER_AUTHORIZATION_FAILED
        );
    }
}
