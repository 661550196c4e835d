//! The HTTP front-end (axum): one router per resource.
//!
//! - [`produce`]: `POST /produce` (one record, a `messages` array, an NDJSON stream).
//! - [`consume`]: `GET /consume` (long-poll) and `GET /consume/stream` (server-sent events).
//! - [`topics`]: `GET/POST /topics`, `GET/DELETE /topics/{name}`.
//! - [`status`]: `/health`, `/cluster`, `/metadata/leader`, `/metrics`.
//! - [`groups`]: `/groups`, `/groups/{group}` (describe, delete, reset offsets, commit).
//! - [`events`]: the console's live feed, `GET /events` and `GET /activity`.
//! - [`console`]: the embedded web console at `/`, `/leader` and `/ui/…`.
//! - [`auth`]: the middleware that resolves every request's principal (Basic, bearer token,
//!   console session, client certificate), the console's sessions and CSRF tokens, and the ACL
//!   check handlers call.
//! - [`security`]: `/auth/…` (login, logout, whoami, tokens), `/users` and `/acls`.
//! - [`records`]: between JSON records and Kafka record batches.
//! - [`openapi`]: the OpenAPI document at `/openapi.json`, generated from the handlers.

pub mod auth;
pub mod console;
pub mod consume;
pub mod events;
pub mod groups;
pub mod openapi;
pub mod produce;
pub mod records;
pub mod security;
pub mod status;
pub mod topics;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;
use yak_api::{ApiError, ErrorBody, ErrorCode};

use crate::broker::Broker;
use crate::error::BrokerError;

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    pub broker: Arc<Broker>,
    /// Open server-sent-event streams, held against `HttpLimits::streams_max`.
    pub streams_open: Arc<AtomicUsize>,
    /// Console sessions and recently verified passwords.
    pub auth: Arc<auth::Authenticator>,
}

/// Counts an open stream for as long as it lives.
pub struct StreamSlot(Arc<AtomicUsize>);

impl AppState {
    pub fn stream_slot(&self) -> Result<StreamSlot, HttpError> {
        let limit = self.broker.config.http_limits.streams_max;
        let previous = self.streams_open.fetch_add(1, Ordering::AcqRel);
        if previous >= limit {
            self.streams_open.fetch_sub(1, Ordering::AcqRel);
            return Err(HttpError::new(
                ErrorCode::Unavailable,
                format!("{limit} streams are open, the most this node serves"),
            ));
        }
        Ok(StreamSlot(Arc::clone(&self.streams_open)))
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// An error answer: the status that goes with the code, and `{"error":{…}}`.
#[derive(Debug)]
pub struct HttpError(pub ApiError);

impl HttpError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> HttpError {
        HttpError(ApiError::new(code, message))
    }
}

impl From<BrokerError> for HttpError {
    fn from(error: BrokerError) -> HttpError {
        if matches!(
            error,
            BrokerError::Internal(_) | BrokerError::Storage(_) | BrokerError::CorruptLog { .. }
        ) {
            tracing::error!(%error, "request failed");
        }
        HttpError(error.to_api())
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let too_large = self.0.code == ErrorCode::BodyTooLarge;
        let mut response = (status, axum::Json(ErrorBody { error: self.0 })).into_response();
        if too_large {
            // The rest of the body was never read, so the connection cannot carry another
            // request; without this header a client reuses it and its next request fails.
            response.headers_mut().insert(
                axum::http::header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
        }
        response
    }
}

/// The whole API and the console.
pub fn router(broker: Arc<Broker>) -> Router {
    let openapi = openapi::router(&broker.config.http_limits);
    let state = AppState {
        broker,
        streams_open: Arc::new(AtomicUsize::new(0)),
        auth: Arc::new(auth::Authenticator::default()),
    };
    Router::new()
        .merge(produce::router())
        .merge(consume::router())
        .merge(topics::router())
        .merge(status::router())
        .merge(groups::router())
        .merge(events::router())
        .merge(security::router())
        .merge(openapi)
        .merge(console::router())
        .fallback(|| async { HttpError::new(ErrorCode::NotFound, "no such path") })
        // Around the fallback too: an unknown path answers 401 before 404 to a stranger, so
        // probing cannot map the API without credentials.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .with_state(state)
}
