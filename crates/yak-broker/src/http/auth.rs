//! Who is asking: the middleware that resolves every HTTP request's principal, the console's
//! sessions, and the authorization check handlers call.
//!
//! A request is authenticated by the first of these it carries: an `Authorization` header
//! (`Basic` user:password, checked against the user's SCRAM credential, or `Bearer yak_…`, a
//! token), the console's `yak_session` cookie, or the principal of a verified HTTPS client
//! certificate. Without any, it is `User:ANONYMOUS`, which a node with `authentication` turned
//! on answers with 401 everywhere but [`is_public`] paths. Credentials that are presented are
//! always checked, so a wrong password is a 401 even on a node that needs none.
//!
//! A cookie is ambient (the browser sends it with any request to the node, whoever made the
//! request), so a write authenticated by one must also carry the session's `X-CSRF-Token`.
//! Basic and Bearer need none: a page from elsewhere cannot make the browser send them.
//!
//! Nothing here logs a password, token or cookie; failures log the address and the reason.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use yak_api::ErrorCode;
use yak_auth::store::UserRecord;
use yak_auth::{Operation, Principal, Resource, ScramCredential, ScramMechanism, SecurityState};

use super::{AppState, HttpError};
use crate::broker::Broker;
use crate::metrics::Metrics;
use crate::security::tls_listener::PeerInfo;

/// The console's session cookie.
pub const SESSION_COOKIE_NAME: &str = "yak_session";
/// The header a cookie-authenticated write carries its session's CSRF token in.
pub const CSRF_HEADER_NAME: &str = "x-csrf-token";
/// Random bytes in a session id and in a CSRF token (256 bits).
const SESSION_ID_BYTES: usize = 32;
/// How long a verified Basic password is trusted without running PBKDF2 again.
pub const PASSWORD_CACHE_TTL_MS: u64 = 60_000;
/// Most verified Basic passwords remembered at once.
pub const PASSWORD_CACHE_ENTRIES_MAX: usize = 10_000;
/// The listener name failed and successful HTTP logins count under in metrics.
const METRICS_LISTENER: &str = "http";

/// The principal of a request, where it came from, and its console session if any.
#[derive(Clone, Debug)]
pub struct Caller {
    pub principal: Principal,
    /// The client's IP address as text (what ACL hosts match), `*`-matching only when unknown.
    pub host: String,
    /// The client's address, when the connection knows it (login backoff counts by it).
    pub address: Option<IpAddr>,
    /// The console session the request was authenticated by.
    pub session: Option<SessionId>,
}

/// A console session's id (the cookie's value).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SessionId(String);

impl SessionId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The id is a credential: it never reaches a log.
        f.write_str("SessionId(***)")
    }
}

impl Caller {
    /// Whether the ACLs let the caller do `operation` on `resource`.
    pub fn may(&self, broker: &Broker, operation: Operation, resource: &Resource) -> bool {
        broker
            .security
            .authorize(&self.principal, &self.host, operation, resource)
    }

    /// 403 `forbidden` unless the ACLs let the caller do `operation` on `resource`.
    pub fn authorize(
        &self,
        broker: &Broker,
        operation: Operation,
        resource: &Resource,
    ) -> Result<(), HttpError> {
        if self.may(broker, operation, resource) {
            return Ok(());
        }
        Err(self.forbidden(broker, operation, resource))
    }

    /// The 403 for a refused `operation` on `resource`, counted in metrics.
    pub fn forbidden(
        &self,
        broker: &Broker,
        operation: Operation,
        resource: &Resource,
    ) -> HttpError {
        Metrics::add(&broker.metrics.denied_requests_total, 1);
        tracing::debug!(principal = %self.principal, host = %self.host, %operation, resource_type = %resource.resource_type, resource = %resource.name, "request denied");
        HttpError::new(
            ErrorCode::Forbidden,
            format!(
                "{} may not {} {} {:?}",
                self.principal, operation, resource.resource_type, resource.name
            ),
        )
    }

    /// CREATE on the cluster or on the topic, as Kafka asks of CreateTopics and of a produce
    /// that creates its topic.
    pub fn authorize_create_topic(&self, broker: &Broker, topic: &str) -> Result<(), HttpError> {
        if self.may(broker, Operation::Create, &Resource::cluster()) {
            return Ok(());
        }
        self.authorize(broker, Operation::Create, &Resource::topic(topic))
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Caller, HttpError> {
        // The middleware puts it there for every request; its absence is a wiring bug.
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| HttpError::new(ErrorCode::Internal, "request was not authenticated"))
    }
}

struct Session {
    principal: Principal,
    /// The user's credentials at login: a changed password or a deleted user ends the session.
    credentials: Option<UserRecord>,
    csrf_token: String,
    last_use: Instant,
}

struct VerifiedPassword {
    /// The user's credentials when the password was checked: a changed password (or a deleted
    /// user) no longer equals them, so the entry stops counting at once, on every node.
    record: UserRecord,
    expires: Instant,
}

/// Console sessions and recently verified Basic passwords, per node and in memory only.
#[derive(Default)]
pub struct Authenticator {
    sessions: Mutex<HashMap<SessionId, Session>>,
    /// By (user, SHA-256 of the password): PBKDF2 costs milliseconds per check, and a script
    /// that sends Basic credentials with every request would pay it every time.
    passwords: Mutex<HashMap<(String, [u8; 32]), VerifiedPassword>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator").finish_non_exhaustive()
    }
}

/// Locks a table that holds plain data; a panic elsewhere while it was held leaves entries
/// that are still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn random_text() -> String {
    let mut random = [0u8; SESSION_ID_BYTES];
    rand::rng().fill_bytes(&mut random);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random)
}

/// Compares secrets in time that does not depend on where they differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Authenticator {
    /// Starts a session for `principal`; answers its id and CSRF token. When the table is
    /// full, idle sessions go first, then the least recently used.
    pub fn create_session(
        &self,
        principal: Principal,
        credentials: Option<UserRecord>,
        sessions_max: usize,
        idle: Duration,
    ) -> (SessionId, String) {
        let now = Instant::now();
        let id = SessionId(random_text());
        let csrf_token = random_text();
        let mut sessions = lock(&self.sessions);
        if sessions.len() >= sessions_max {
            sessions.retain(|_, session| now.duration_since(session.last_use) < idle);
        }
        while sessions.len() >= sessions_max {
            let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, session)| session.last_use)
                .map(|(id, _)| id.clone())
            else {
                break;
            };
            sessions.remove(&oldest);
        }
        sessions.insert(
            id.clone(),
            Session {
                principal,
                credentials,
                csrf_token: csrf_token.clone(),
                last_use: now,
            },
        );
        (id, csrf_token)
    }

    /// The principal and CSRF token of a live session, marking it used. A session ends when
    /// it sat idle too long, or when its user's credentials are no longer those of the login.
    fn use_session(
        &self,
        id: &SessionId,
        idle: Duration,
        security: &SecurityState,
    ) -> Option<(Principal, String)> {
        let now = Instant::now();
        let mut sessions = lock(&self.sessions);
        let session = sessions.get_mut(id)?;
        let current = security.users.get(&session.principal.name);
        if now.duration_since(session.last_use) >= idle || current != session.credentials.as_ref() {
            sessions.remove(id);
            return None;
        }
        session.last_use = now;
        Some((session.principal.clone(), session.csrf_token.clone()))
    }

    /// The CSRF token of a live session, for `GET /auth/whoami`.
    pub fn csrf_token(&self, id: &SessionId) -> Option<String> {
        lock(&self.sessions)
            .get(id)
            .map(|session| session.csrf_token.clone())
    }

    pub fn end_session(&self, id: &SessionId) {
        lock(&self.sessions).remove(id);
    }

    /// Sessions open now (idle ones included until they are next looked at).
    pub fn session_count(&self) -> usize {
        lock(&self.sessions).len()
    }

    fn password_key(user: &str, password: &str) -> (String, [u8; 32]) {
        (user.to_string(), Sha256::digest(password.as_bytes()).into())
    }

    /// Whether `password` is `user`'s, by the cache when it was verified lately and the user's
    /// credentials have not changed since.
    async fn check_password(&self, broker: &Broker, user: &str, password: &str) -> bool {
        let key = Authenticator::password_key(user, password);
        let snapshot = broker.security.snapshot();
        let record = snapshot.users.get(user).cloned();
        let now = Instant::now();
        if let Some(record) = &record {
            let mut passwords = lock(&self.passwords);
            match passwords.get(&key) {
                Some(entry) if entry.expires > now && entry.record == *record => return true,
                Some(_) => {
                    passwords.remove(&key);
                }
                None => {}
            }
        }
        let verified = verify_password(snapshot, user.to_string(), password.to_string()).await;
        Metrics::authentication(&broker.metrics, METRICS_LISTENER, verified);
        if let (true, Some(record)) = (verified, record) {
            let mut passwords = lock(&self.passwords);
            if passwords.len() >= PASSWORD_CACHE_ENTRIES_MAX {
                passwords.retain(|_, entry| entry.expires > now);
                if passwords.len() >= PASSWORD_CACHE_ENTRIES_MAX {
                    // Full of live entries: start again rather than scan for the oldest on
                    // every insertion; the cost is one PBKDF2 per active user.
                    passwords.clear();
                }
            }
            passwords.insert(
                key,
                VerifiedPassword {
                    record,
                    expires: now + Duration::from_millis(PASSWORD_CACHE_TTL_MS),
                },
            );
        }
        verified
    }
}

/// Checks a password on a blocking thread (PBKDF2 runs thousands of hash rounds). An unknown
/// user costs the same derivation as a known one, so the time of the answer does not tell which
/// users exist.
pub async fn verify_password(snapshot: Arc<SecurityState>, user: String, password: String) -> bool {
    tokio::task::spawn_blocking(move || {
        if snapshot.users.contains_key(&user) {
            return snapshot.verify_password(&user, &password);
        }
        let _ = ScramCredential::new(
            ScramMechanism::Sha512,
            &password,
            yak_auth::scram::ITERATIONS_DEFAULT,
        );
        false
    })
    .await
    .unwrap_or(false)
}

/// Paths anyone may reach: the health check, the login itself, and the console's page and
/// assets (which hold no data; the page asks `/auth/whoami` and shows its login form).
pub fn is_public(method: &Method, path: &str) -> bool {
    match path {
        "/health" | "/auth/login" => true,
        "/" | "/leader" => method == Method::GET,
        _ => method == Method::GET && path.starts_with("/ui/"),
    }
}

fn is_write(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

/// The value of cookie `name` in a request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// How a request presented itself.
enum Credentials {
    Basic { user: String, password: String },
    Bearer(String),
    Session(SessionId),
    Malformed(&'static str),
    None,
}

fn credentials_of(headers: &HeaderMap) -> Credentials {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let Ok(value) = value.to_str() else {
            return Credentials::Malformed("the Authorization header is not text");
        };
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(rest)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok());
            return match decoded.as_deref().and_then(|text| text.split_once(':')) {
                Some((user, password)) => Credentials::Basic {
                    user: user.to_string(),
                    password: password.to_string(),
                },
                None => Credentials::Malformed("Basic credentials are base64 of user:password"),
            };
        }
        if scheme.eq_ignore_ascii_case("bearer") {
            return Credentials::Bearer(rest.to_string());
        }
        return Credentials::Malformed("the Authorization scheme is Basic or Bearer");
    }
    match cookie(headers, SESSION_COOKIE_NAME) {
        Some(id) => Credentials::Session(SessionId(id.to_string())),
        None => Credentials::None,
    }
}

fn unauthenticated(message: &str) -> Response {
    let mut response = HttpError::new(ErrorCode::Unauthenticated, message).into_response();
    // Basic is named only as the scheme scripts may use; browsers would pop up their own dialog
    // for `Basic`, which the console does not want, so the realm goes with `Bearer` too.
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"yak\""),
    );
    response
}

/// Delays the answer to a failed login from `address` (see `LoginBackoff`), then answers 401.
pub async fn refuse_login(broker: &Broker, address: Option<IpAddr>, message: &str) -> Response {
    if let Some(address) = address {
        let delay = broker
            .security
            .http_login_backoff
            .failed(address, Instant::now());
        tokio::time::sleep(delay).await;
    }
    unauthenticated(message)
}

/// The middleware in front of every route: request rate, then credentials, then CSRF.
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let broker = &state.broker;
    let security = &broker.security;
    let peer = request
        .extensions()
        .get::<ConnectInfo<PeerInfo>>()
        .map(|ConnectInfo(peer)| peer.clone());
    let address = peer.as_ref().map(|peer| peer.address.ip());
    if let Some(address) = address {
        if let Err(wait) = security.http_requests.acquire(address, Instant::now()) {
            let mut response = HttpError::new(
                ErrorCode::RateLimited,
                "too many requests from this address; retry after Retry-After seconds",
            )
            .into_response();
            let seconds = wait.as_millis().div_ceil(1000).max(1);
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            return response;
        }
    }
    let host = address.map_or_else(|| "unknown".to_string(), |a| a.to_string());
    let certificate = peer.and_then(|peer| peer.principal);
    let public = is_public(request.method(), request.uri().path());
    let required = security.config.authentication;
    let idle = Duration::from_millis(security.config.limits.console_session_idle_ms);

    let mut session = None;
    let principal = if public {
        // The login and the console's page must answer whatever stale cookie or header the
        // browser still sends; they act on no one's behalf.
        certificate.unwrap_or_else(Principal::anonymous)
    } else {
        match credentials_of(request.headers()) {
            Credentials::Basic { user, password } => {
                if !state.auth.check_password(broker, &user, &password).await {
                    tracing::info!(%host, "HTTP Basic authentication failed");
                    return refuse_login(broker, address, "wrong user name or password").await;
                }
                if let Some(address) = address {
                    security.http_login_backoff.succeeded(address);
                }
                Principal::user(user)
            }
            Credentials::Bearer(token) => {
                match security
                    .snapshot()
                    .token_principal(&token, crate::now_ms().max(0) as u64)
                {
                    Some(principal) => principal,
                    None => {
                        Metrics::authentication(&broker.metrics, METRICS_LISTENER, false);
                        tracing::info!(%host, "HTTP bearer token refused");
                        return refuse_login(broker, address, "unknown, revoked or expired token")
                            .await;
                    }
                }
            }
            Credentials::Session(id) => match state.auth.use_session(&id, idle, &security.snapshot())
            {
                Some((principal, csrf_token)) => {
                    if is_write(request.method()) {
                        let presented = request
                            .headers()
                            .get(CSRF_HEADER_NAME)
                            .map(|value| value.as_bytes())
                            .unwrap_or_default();
                        if !same_secret(presented, csrf_token.as_bytes()) {
                            return HttpError::new(
                                ErrorCode::CsrfTokenInvalid,
                                "a console write must carry its session's X-CSRF-Token",
                            )
                            .into_response();
                        }
                    }
                    session = Some(id);
                    principal
                }
                // An ended or expired session on a node that needs no login is just a visitor.
                None if !required => Principal::anonymous(),
                None => return unauthenticated("the session has ended; log in again"),
            },
            Credentials::Malformed(reason) => return unauthenticated(reason),
            Credentials::None => match certificate {
                Some(principal) => principal,
                None if required => {
                    return unauthenticated(
                        "this node requires credentials: Basic, a bearer token, a console session or a client certificate",
                    )
                }
                None => Principal::anonymous(),
            },
        }
    };
    request.extensions_mut().insert(Caller {
        principal,
        host,
        address,
        session,
    });
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("theme=dark; yak_session=abc; other=1"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE_NAME), Some("abc"));
        assert_eq!(cookie(&headers, "missing"), None);
    }

    #[test]
    fn full_session_table_drops_the_least_recently_used() {
        let auth = Authenticator::default();
        let none = SecurityState::default();
        let idle = Duration::from_secs(3600);
        let (first, _) = auth.create_session(Principal::user("a"), None, 2, idle);
        let (second, _) = auth.create_session(Principal::user("b"), None, 2, idle);
        // Using the first makes the second the least recently used.
        assert!(auth.use_session(&first, idle, &none).is_some());
        let (third, _) = auth.create_session(Principal::user("c"), None, 2, idle);
        assert_eq!(auth.session_count(), 2);
        assert!(auth.use_session(&second, idle, &none).is_none());
        assert!(auth.use_session(&first, idle, &none).is_some());
        assert!(auth.use_session(&third, idle, &none).is_some());
    }

    #[test]
    fn idle_session_expires() {
        let auth = Authenticator::default();
        let none = SecurityState::default();
        let (id, _) =
            auth.create_session(Principal::user("a"), None, 10, Duration::from_secs(3600));
        assert!(auth.use_session(&id, Duration::ZERO, &none).is_none());
        assert_eq!(auth.session_count(), 0);
    }

    /// A session ends when its user's password changes or the user goes.
    #[test]
    fn session_ends_when_the_credentials_change() {
        let auth = Authenticator::default();
        let idle = Duration::from_secs(3600);
        let mut security = SecurityState::default();
        security
            .set_password("alice", "one", yak_auth::scram::ITERATIONS_MIN)
            .expect("set a password");
        let record = security.users.get("alice").cloned();
        let (id, _) = auth.create_session(Principal::user("alice"), record, 10, idle);
        assert!(auth.use_session(&id, idle, &security).is_some());
        security
            .set_password("alice", "two", yak_auth::scram::ITERATIONS_MIN)
            .expect("set a password");
        assert!(auth.use_session(&id, idle, &security).is_none());
        assert_eq!(auth.session_count(), 0);
    }

    /// A client over its request rate gets 429 `rate_limited` with Retry-After, and another
    /// address is not held back by it.
    #[tokio::test]
    async fn request_rate_over_the_limit_answers_429_with_retry_after() {
        use tower::ServiceExt;

        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = crate::config::BrokerConfig::on_ephemeral_ports(dir.path().to_path_buf());
        config.security.limits.requests_per_s_per_address = 1;
        config.security.limits.requests_burst = 1;
        let broker = Broker::open(
            config,
            Arc::new(yak_log::OsFileSystem),
            "http://127.0.0.1:0".into(),
            [(
                yak_kafka::SecurityProtocol::Plaintext,
                "127.0.0.1:0".to_string(),
            )]
            .into(),
        )
        .expect("broker opens");
        let app = super::super::router(broker);
        let request_from = |address: &str| {
            let mut request = Request::builder()
                .uri("/health")
                .body(axum::body::Body::empty())
                .expect("request");
            request.extensions_mut().insert(ConnectInfo(PeerInfo {
                address: address.parse().expect("address"),
                principal: None,
            }));
            request
        };
        let first = app.clone().oneshot(request_from("10.0.0.1:1000")).await;
        assert_eq!(first.expect("answer").status().as_u16(), 200);
        let second = app
            .clone()
            .oneshot(request_from("10.0.0.1:1001"))
            .await
            .expect("answer");
        assert_eq!(second.status().as_u16(), 429);
        assert!(second.headers().contains_key(header::RETRY_AFTER));
        let other = app.oneshot(request_from("10.0.0.2:1000")).await;
        assert_eq!(other.expect("answer").status().as_u16(), 200);
    }

    #[test]
    fn secrets_compare_by_content() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"ab"));
    }

    #[test]
    fn public_paths_are_the_health_check_login_and_console_assets() {
        assert!(is_public(&Method::GET, "/health"));
        assert!(is_public(&Method::POST, "/auth/login"));
        assert!(is_public(&Method::GET, "/ui/app.js"));
        assert!(!is_public(&Method::GET, "/topics"));
        assert!(!is_public(&Method::GET, "/auth/whoami"));
        assert!(!is_public(&Method::POST, "/ui/app.js"));
    }
}
