//! Logins, tokens, users and ACLs: `/auth/login`, `/auth/logout`, `/auth/whoami`,
//! `/auth/tokens`, `/users`, `/acls`.
//!
//! Every change goes through `Security::update`, which saves the new state before the node
//! uses it; a client that hangs up mid-way leaves the change either made or not made.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use yak_api::security::{
    AclCreated, AclEntry, AclFilter, AclList, CreateTokenRequest, CreatedToken, LoginRequest,
    TokenInfo, TokenList, UpsertUserRequest, UserInfo, UserList, UserMechanism, WhoAmI,
};
use yak_api::ErrorCode;
use yak_auth::acl::PatternFilter;
use yak_auth::{
    AclBinding, AclBindingFilter, Operation, PatternType, Permission, Principal, Resource,
    ResourceType, ScramCredential, ScramMechanism,
};

use super::auth::{Caller, SESSION_COOKIE_NAME};
use super::{AppState, HttpError};
use crate::error::BrokerError;

/// Longest token name.
pub const TOKEN_NAME_CHARS_MAX: usize = 128;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/login", post(login))
        .route("/auth/logout", post(logout))
        .route("/auth/whoami", get(whoami))
        .route("/auth/tokens", get(list_tokens).post(create_token))
        .route("/auth/tokens/{name}", delete(delete_token))
        .route("/users", get(list_users).post(upsert_user))
        .route("/users/{name}", delete(delete_user))
        .route("/acls", get(list_acls).post(create_acl).delete(delete_acls))
}

async fn json_body<T: serde::de::DeserializeOwned>(
    state: &AppState,
    body: Body,
) -> Result<T, HttpError> {
    let body =
        super::produce::read_body(body, state.broker.config.http_limits.body_bytes_max).await?;
    serde_json::from_slice(&body).map_err(|e| HttpError::new(ErrorCode::InvalidJson, e.to_string()))
}

fn who_am_i(state: &AppState, principal: &Principal, csrf_token: Option<String>) -> WhoAmI {
    let config = &state.broker.security.config;
    WhoAmI {
        principal: principal.to_string(),
        authentication_required: config.authentication,
        authorization_enabled: config.authorizer.enabled,
        csrf_token,
    }
}

/// The `Set-Cookie` of a session: never readable by scripts, never sent cross-site, and only
/// over TLS when the node serves TLS.
fn session_cookie(state: &AppState, value: &str, max_age_s: Option<u64>) -> Option<HeaderValue> {
    HeaderValue::from_str(&session_cookie_text(
        value,
        max_age_s,
        state.broker.security.config.http_tls,
    ))
    .ok()
}

/// `Secure` only under HTTPS: a browser drops a `Secure` cookie that arrives over plain HTTP,
/// which would make the console's login impossible on a node without TLS.
fn session_cookie_text(value: &str, max_age_s: Option<u64>, secure: bool) -> String {
    let mut cookie = format!("{SESSION_COOKIE_NAME}={value}; HttpOnly; SameSite=Strict; Path=/");
    if let Some(max_age_s) = max_age_s {
        cookie.push_str(&format!("; Max-Age={max_age_s}"));
    }
    if secure {
        cookie.push_str("; Secure");
    }
    cookie
}

#[utoipa::path(post, path = "/auth/login", tag = "security", request_body = LoginRequest,
    responses(
        (status = 200, description = "A console session: the cookie `yak_session`, and the CSRF token writes must carry", body = WhoAmI),
        (status = 400, description = "A body that is not a login (`invalid_json`)", body = yak_api::ErrorBody),
        (status = 401, description = "Wrong user name or password (answered after a delay that grows with failures)", body = yak_api::ErrorBody),
    ))]
pub async fn login(
    State(state): State<AppState>,
    caller: Caller,
    body: Body,
) -> Result<Response, HttpError> {
    let request: LoginRequest = json_body(&state, body).await?;
    let broker = &state.broker;
    let address = caller.address;
    let snapshot = broker.security.snapshot();
    let verified = super::auth::verify_password(
        std::sync::Arc::clone(&snapshot),
        request.username.clone(),
        request.password.clone(),
    )
    .await;
    broker.metrics.authentication("http", verified);
    if !verified {
        tracing::info!(host = ?address, "console login failed");
        return Ok(super::auth::refuse_login(broker, address, "wrong user name or password").await);
    }
    if let Some(address) = address {
        broker.security.http_login_backoff.succeeded(address);
    }
    let principal = Principal::user(&request.username);
    let limits = &broker.security.config.limits;
    let (id, csrf_token) = state.auth.create_session(
        principal.clone(),
        snapshot.users.get(&request.username).cloned(),
        limits.console_sessions_max,
        Duration::from_millis(limits.console_session_idle_ms),
    );
    tracing::info!(%principal, "console session started");
    let mut response = Json(who_am_i(&state, &principal, Some(csrf_token))).into_response();
    if let Some(cookie) = session_cookie(&state, id.as_str(), None) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

#[utoipa::path(post, path = "/auth/logout", tag = "security",
    responses((status = 204, description = "The session is over; its cookie is cleared")))]
pub async fn logout(State(state): State<AppState>, caller: Caller) -> Response {
    if let Some(id) = &caller.session {
        state.auth.end_session(id);
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Some(cookie) = session_cookie(&state, "", Some(0)) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

#[utoipa::path(get, path = "/auth/whoami", tag = "security",
    responses(
        (status = 200, description = "The caller's principal, and whether the node requires login", body = WhoAmI),
        (status = 401, description = "No credentials, and the node requires them", body = yak_api::ErrorBody),
    ))]
pub async fn whoami(State(state): State<AppState>, caller: Caller) -> Json<WhoAmI> {
    let csrf_token = caller
        .session
        .as_ref()
        .and_then(|id| state.auth.csrf_token(id));
    Json(who_am_i(&state, &caller.principal, csrf_token))
}

fn check_token_name(name: &str) -> Result<(), HttpError> {
    if name.is_empty()
        || name.chars().count() > TOKEN_NAME_CHARS_MAX
        || name.chars().any(char::is_control)
    {
        return Err(HttpError::new(
            ErrorCode::InvalidField,
            format!("name: 1 to {TOKEN_NAME_CHARS_MAX} characters without control characters"),
        ));
    }
    Ok(())
}

#[utoipa::path(post, path = "/auth/tokens", tag = "security", request_body = CreateTokenRequest,
    responses(
        (status = 201, description = "The token, shown this once", body = CreatedToken),
        (status = 400, description = "A bad body, name or principal (`invalid_json`, `invalid_field`)", body = yak_api::ErrorBody),
        (status = 401, description = "An anonymous caller has no one to make a token for", body = yak_api::ErrorBody),
        (status = 403, description = "A token for someone else needs ALTER on the cluster", body = yak_api::ErrorBody),
    ))]
pub async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    body: Body,
) -> Result<Response, HttpError> {
    let request: CreateTokenRequest = json_body(&state, body).await?;
    check_token_name(&request.name)?;
    let principal = match &request.principal {
        Some(text) => Principal::parse(text)
            .map_err(|e| HttpError::new(ErrorCode::InvalidField, format!("principal: {e}")))?,
        None => caller.principal.clone(),
    };
    if principal != caller.principal {
        caller.authorize(&state.broker, Operation::Alter, &Resource::cluster())?;
    } else if principal.is_anonymous() {
        return Err(HttpError::new(
            ErrorCode::Unauthenticated,
            "log in to create a token: User:ANONYMOUS cannot have one",
        ));
    }
    let now_ms = crate::now_ms().max(0) as u64;
    let expires_ms = request
        .expires_in_ms
        .map(|expires_in_ms| now_ms.saturating_add(expires_in_ms));
    let name = request.name.clone();
    let for_principal = principal.clone();
    let token = state
        .broker
        .security
        .update(move |security| {
            security
                .create_token(&name, for_principal, now_ms, expires_ms)
                .map_err(crate::security::to_broker_error)
        })
        .await?;
    tracing::info!(principal = %caller.principal, token_principal = %principal, name = %request.name, "bearer token created");
    let created = CreatedToken {
        name: request.name,
        principal: principal.to_string(),
        token,
        expires_ms,
    };
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

#[utoipa::path(get, path = "/auth/tokens", tag = "security",
    responses((status = 200, description = "The caller's tokens (every token, with ALTER on the cluster); never the tokens themselves", body = TokenList)))]
pub async fn list_tokens(State(state): State<AppState>, caller: Caller) -> Json<TokenList> {
    let all = caller.may(&state.broker, Operation::Alter, &Resource::cluster());
    let snapshot = state.broker.security.snapshot();
    let mut tokens: Vec<TokenInfo> = snapshot
        .tokens
        .values()
        .filter(|record| all || record.principal == caller.principal)
        .map(|record| TokenInfo {
            name: record.name.clone(),
            principal: record.principal.to_string(),
            created_ms: record.created_ms,
            expires_ms: record.expires_ms,
        })
        .collect();
    tokens.sort_by(|a, b| (&a.principal, &a.name).cmp(&(&b.principal, &b.name)));
    Json(TokenList { tokens })
}

#[utoipa::path(delete, path = "/auth/tokens/{name}", tag = "security",
    params(("name" = String, Path, description = "Token name")),
    responses(
        (status = 204, description = "The caller's tokens of that name (anyone's, with ALTER on the cluster) are revoked"),
        (status = 404, description = "No such token", body = yak_api::ErrorBody),
    ))]
pub async fn delete_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, HttpError> {
    let all = caller.may(&state.broker, Operation::Alter, &Resource::cluster());
    let principal = caller.principal.clone();
    let revoked_name = name.clone();
    let revoked = state
        .broker
        .security
        .update(move |security| {
            let before = security.tokens.len();
            security.tokens.retain(|_, record| {
                !(record.name == revoked_name && (all || record.principal == principal))
            });
            Ok(before - security.tokens.len())
        })
        .await?;
    if revoked == 0 {
        return Err(HttpError::new(
            ErrorCode::NotFound,
            format!("no token named {name:?}"),
        ));
    }
    tracing::info!(principal = %caller.principal, %name, revoked, "bearer tokens revoked");
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/users", tag = "security",
    responses(
        (status = 200, description = "Every user and its SCRAM mechanisms (never a credential)", body = UserList),
        (status = 403, description = "Needs DESCRIBE on the cluster", body = yak_api::ErrorBody),
    ))]
pub async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<UserList>, HttpError> {
    caller.authorize(&state.broker, Operation::Describe, &Resource::cluster())?;
    let snapshot = state.broker.security.snapshot();
    let users = snapshot
        .users
        .iter()
        .map(|(name, record)| UserInfo {
            name: name.clone(),
            mechanisms: record
                .credentials
                .values()
                .map(|credential| UserMechanism {
                    mechanism: credential.mechanism.name().to_string(),
                    iterations: credential.iterations,
                })
                .collect(),
        })
        .collect();
    Ok(Json(UserList { users }))
}

#[utoipa::path(post, path = "/users", tag = "security", request_body = UpsertUserRequest,
    responses(
        (status = 201, description = "The user exists with this password", body = UserInfo),
        (status = 400, description = "A bad body, name, mechanism or iterations (`invalid_json`, `invalid_field`)", body = yak_api::ErrorBody),
        (status = 403, description = "Needs ALTER on the cluster", body = yak_api::ErrorBody),
    ))]
pub async fn upsert_user(
    State(state): State<AppState>,
    caller: Caller,
    body: Body,
) -> Result<Response, HttpError> {
    caller.authorize(&state.broker, Operation::Alter, &Resource::cluster())?;
    let request: UpsertUserRequest = json_body(&state, body).await?;
    yak_auth::principal::check_user_name(&request.name)
        .map_err(|e| HttpError::new(ErrorCode::InvalidField, format!("name: {e}")))?;
    let mechanisms = match &request.mechanisms {
        None => ScramMechanism::ALL.to_vec(),
        Some(names) if names.is_empty() => {
            return Err(HttpError::new(
                ErrorCode::InvalidField,
                "mechanisms: at least one of SCRAM-SHA-256, SCRAM-SHA-512",
            ))
        }
        Some(names) => names
            .iter()
            .map(|name| {
                ScramMechanism::from_name(name).ok_or_else(|| {
                    HttpError::new(
                        ErrorCode::InvalidField,
                        format!("mechanisms: {name:?} is not SCRAM-SHA-256 or SCRAM-SHA-512"),
                    )
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let iterations = request
        .iterations
        .unwrap_or(yak_auth::scram::ITERATIONS_DEFAULT);
    // Salting runs PBKDF2: off the async threads, and before the state is locked.
    let password = request.password;
    let credentials = tokio::task::spawn_blocking(move || {
        mechanisms
            .into_iter()
            .map(|mechanism| ScramCredential::new(mechanism, &password, iterations))
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(|e| HttpError::new(ErrorCode::Internal, format!("salting task failed: {e}")))?
    .map_err(|e| HttpError::new(ErrorCode::InvalidField, e.to_string()))?;
    let info = UserInfo {
        name: request.name.clone(),
        mechanisms: credentials
            .iter()
            .map(|credential| UserMechanism {
                mechanism: credential.mechanism.name().to_string(),
                iterations: credential.iterations,
            })
            .collect(),
    };
    let name = request.name.clone();
    state
        .broker
        .security
        .update(move |security| {
            for credential in credentials {
                security
                    .set_credential(&name, credential)
                    .map_err(crate::security::to_broker_error)?;
            }
            Ok(())
        })
        .await?;
    tracing::info!(principal = %caller.principal, user = %request.name, "user credentials set");
    Ok((StatusCode::CREATED, Json(info)).into_response())
}

#[utoipa::path(delete, path = "/users/{name}", tag = "security",
    params(("name" = String, Path, description = "User name")),
    responses(
        (status = 204, description = "The user and its credentials are gone"),
        (status = 403, description = "Needs ALTER on the cluster", body = yak_api::ErrorBody),
        (status = 404, description = "No such user", body = yak_api::ErrorBody),
    ))]
pub async fn delete_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, HttpError> {
    caller.authorize(&state.broker, Operation::Alter, &Resource::cluster())?;
    let user = name.clone();
    let existed = state
        .broker
        .security
        .update(move |security| Ok(security.delete_user(&user).is_ok()))
        .await?;
    if !existed {
        return Err(HttpError::new(
            ErrorCode::NotFound,
            format!("no user {name:?}"),
        ));
    }
    tracing::info!(principal = %caller.principal, user = %name, "user deleted");
    Ok(StatusCode::NO_CONTENT)
}

fn invalid(field: &str, value: &str, expected: &str) -> HttpError {
    HttpError::new(
        ErrorCode::InvalidField,
        format!(
            "{field}: {:?} is not one of {expected}",
            value.chars().take(64).collect::<String>()
        ),
    )
}

/// An ACL of the API as the authorizer keeps it.
pub fn binding_of(entry: &AclEntry) -> Result<AclBinding, HttpError> {
    let binding = AclBinding {
        resource_type: ResourceType::parse(&entry.resource_type).ok_or_else(|| {
            invalid(
                "resource_type",
                &entry.resource_type,
                "TOPIC, GROUP, CLUSTER, TRANSACTIONAL_ID",
            )
        })?,
        resource_name: entry.resource_name.clone(),
        pattern_type: PatternType::parse(&entry.pattern_type)
            .ok_or_else(|| invalid("pattern_type", &entry.pattern_type, "LITERAL, PREFIXED"))?,
        principal: entry.principal.clone(),
        host: entry.host.clone(),
        operation: Operation::parse(&entry.operation)
            .ok_or_else(|| invalid("operation", &entry.operation, "Kafka's operations"))?,
        permission: Permission::parse(&entry.permission)
            .ok_or_else(|| invalid("permission", &entry.permission, "ALLOW, DENY"))?,
    };
    binding
        .validate()
        .map_err(|e| HttpError::new(ErrorCode::InvalidField, e.to_string()))?;
    Ok(binding)
}

/// An ACL as the API shows it, in Kafka's upper-case names (`DESCRIBE_CONFIGS`).
pub fn entry_of(binding: &AclBinding) -> AclEntry {
    AclEntry {
        resource_type: binding.resource_type.to_string(),
        resource_name: binding.resource_name.clone(),
        pattern_type: binding.pattern_type.to_string(),
        principal: binding.principal.clone(),
        host: binding.host.clone(),
        operation: binding.operation.to_string(),
        permission: binding.permission.to_string(),
    }
}

/// The authorizer's filter for the API's; `None` fields match anything.
pub fn filter_of(filter: &AclFilter) -> Result<AclBindingFilter, HttpError> {
    fn field<T>(
        value: &Option<String>,
        parse: impl Fn(&str) -> Option<T>,
        name: &str,
        expected: &str,
    ) -> Result<Option<T>, HttpError> {
        value
            .as_deref()
            .map(|text| parse(text).ok_or_else(|| invalid(name, text, expected)))
            .transpose()
    }
    Ok(AclBindingFilter {
        resource_type: field(
            &filter.resource_type,
            ResourceType::parse,
            "resource_type",
            "TOPIC, GROUP, CLUSTER, TRANSACTIONAL_ID",
        )?,
        resource_name: filter.resource_name.clone(),
        pattern_filter: field(
            &filter.pattern_type,
            PatternFilter::parse,
            "pattern_type",
            "ANY, MATCH, LITERAL, PREFIXED",
        )?
        .unwrap_or(PatternFilter::Any),
        principal: filter.principal.clone(),
        host: filter.host.clone(),
        operation: field(
            &filter.operation,
            Operation::parse,
            "operation",
            "Kafka's operations",
        )?,
        permission: field(
            &filter.permission,
            Permission::parse,
            "permission",
            "ALLOW, DENY",
        )?,
    })
}

fn filter_of_query(query: &HashMap<String, String>) -> Result<AclFilter, HttpError> {
    const FIELDS: [&str; 7] = [
        "resource_type",
        "resource_name",
        "pattern_type",
        "principal",
        "host",
        "operation",
        "permission",
    ];
    if let Some(unknown) = query.keys().find(|key| !FIELDS.contains(&key.as_str())) {
        return Err(HttpError::new(
            ErrorCode::InvalidField,
            format!(
                "unknown ACL filter field {:?}; fields are {}",
                unknown.chars().take(64).collect::<String>(),
                FIELDS.join(", ")
            ),
        ));
    }
    let get = |name: &str| query.get(name).cloned();
    Ok(AclFilter {
        resource_type: get("resource_type"),
        resource_name: get("resource_name"),
        pattern_type: get("pattern_type"),
        principal: get("principal"),
        host: get("host"),
        operation: get("operation"),
        permission: get("permission"),
    })
}

#[utoipa::path(get, path = "/acls", tag = "security", params(AclFilterParams),
    responses(
        (status = 200, description = "The ACLs the filter matches", body = AclList),
        (status = 400, description = "A filter field that does not parse (`invalid_field`)", body = yak_api::ErrorBody),
        (status = 403, description = "Needs DESCRIBE on the cluster", body = yak_api::ErrorBody),
    ))]
pub async fn list_acls(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<AclList>, HttpError> {
    caller.authorize(&state.broker, Operation::Describe, &Resource::cluster())?;
    let filter = filter_of(&filter_of_query(&query)?)?;
    let acls = state
        .broker
        .security
        .snapshot()
        .acls
        .matching(&filter)
        .iter()
        .map(entry_of)
        .collect();
    Ok(Json(AclList { acls }))
}

#[utoipa::path(post, path = "/acls", tag = "security", request_body = AclEntry,
    responses(
        (status = 201, description = "The ACL exists", body = AclCreated),
        (status = 400, description = "A field that does not parse, or an operation that does not apply to the resource type (`invalid_field`)", body = yak_api::ErrorBody),
        (status = 403, description = "Needs ALTER on the cluster", body = yak_api::ErrorBody),
    ))]
pub async fn create_acl(
    State(state): State<AppState>,
    caller: Caller,
    body: Body,
) -> Result<Response, HttpError> {
    caller.authorize(&state.broker, Operation::Alter, &Resource::cluster())?;
    let entry: AclEntry = json_body(&state, body).await?;
    let binding = binding_of(&entry)?;
    let created = state
        .broker
        .security
        .update(move |security| {
            security
                .acls
                .add(binding)
                .map_err(|e| BrokerError::InvalidField(e.to_string()))
        })
        .await?;
    tracing::info!(principal = %caller.principal, acl = ?entry, created, "ACL added");
    Ok((StatusCode::CREATED, Json(AclCreated { created })).into_response())
}

#[utoipa::path(delete, path = "/acls", tag = "security", params(AclFilterParams),
    responses(
        (status = 200, description = "The ACLs that were deleted", body = AclList),
        (status = 400, description = "An empty filter (it would delete every ACL) or a field that does not parse (`invalid_field`)", body = yak_api::ErrorBody),
        (status = 403, description = "Needs ALTER on the cluster", body = yak_api::ErrorBody),
    ))]
pub async fn delete_acls(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<AclList>, HttpError> {
    caller.authorize(&state.broker, Operation::Alter, &Resource::cluster())?;
    let filter = filter_of_query(&query)?;
    if filter == AclFilter::default() {
        return Err(HttpError::new(
            ErrorCode::InvalidField,
            "an empty filter would delete every ACL; name at least one field (resource_type=TOPIC, …)",
        ));
    }
    let filter = filter_of(&filter)?;
    let deleted = state
        .broker
        .security
        .update(move |security| Ok(security.acls.remove_matching(&filter)))
        .await?;
    tracing::info!(principal = %caller.principal, deleted = deleted.len(), "ACLs deleted");
    Ok(Json(AclList {
        acls: deleted.iter().map(entry_of).collect(),
    }))
}

/// The query parameters of `GET /acls` and `DELETE /acls`, for the OpenAPI document.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct AclFilterParams {
    /// TOPIC, GROUP, CLUSTER, TRANSACTIONAL_ID.
    resource_type: Option<String>,
    resource_name: Option<String>,
    /// ANY (the default), MATCH, LITERAL, PREFIXED.
    pattern_type: Option<String>,
    /// `User:alice`.
    principal: Option<String>,
    host: Option<String>,
    operation: Option<String>,
    /// ALLOW or DENY.
    permission: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The session cookie is HttpOnly and SameSite=Strict always, and Secure exactly under HTTPS.
    #[test]
    fn session_cookie_is_secure_only_under_https() {
        let https = session_cookie_text("abc", None, true);
        let flags: Vec<&str> = https.split("; ").collect();
        assert_eq!(
            flags,
            [
                "yak_session=abc",
                "HttpOnly",
                "SameSite=Strict",
                "Path=/",
                "Secure"
            ]
        );
        let http = session_cookie_text("abc", Some(0), false);
        assert!(!http.contains("Secure"), "{http}");
        assert!(http.contains("HttpOnly; SameSite=Strict"), "{http}");
        assert!(http.ends_with("Max-Age=0"), "{http}");
    }

    /// ACLs read in Kafka's names come back in them, and a filter field that does not parse is
    /// refused rather than read as "anything".
    #[test]
    fn acl_entries_round_trip_and_bad_filters_are_refused() {
        let entry = AclEntry {
            resource_type: "topic".into(),
            resource_name: "orders".into(),
            pattern_type: "prefixed".into(),
            principal: "User:alice".into(),
            host: "*".into(),
            operation: "describe-configs".into(),
            permission: "allow".into(),
        };
        let shown = entry_of(&binding_of(&entry).expect("a valid ACL"));
        assert_eq!(
            (
                shown.resource_type.as_str(),
                shown.pattern_type.as_str(),
                shown.operation.as_str(),
                shown.permission.as_str()
            ),
            ("TOPIC", "PREFIXED", "DESCRIBE_CONFIGS", "ALLOW")
        );
        let bad = AclFilter {
            operation: Some("fly".into()),
            ..AclFilter::default()
        };
        assert!(filter_of(&bad).is_err());
    }
}
