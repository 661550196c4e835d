//! The SASL phase of a SASL_PLAINTEXT or SASL_SSL connection (KIP-43, KIP-152).
//!
//! Until a client has authenticated, it may send only ApiVersions, SaslHandshake (v1) and
//! SaslAuthenticate, one at a time, in frames of at most [`SASL_FRAME_BYTES_MAX`]; anything else
//! closes the connection, as Kafka does. PLAIN takes one SaslAuthenticate, SCRAM two. A failed
//! login is answered SASL_AUTHENTICATION_FAILED after the listener's login backoff (longer with
//! each consecutive failure from the same address), and the connection closes.
//!
//! SaslHandshake v0 (raw SASL tokens without Kafka framing) is not served: every client of the
//! last seven years uses v1 with SaslAuthenticate.

use std::net::IpAddr;
use std::time::Instant;

use kafka_protocol::messages::{
    ApiKey, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;
use yak_auth::{Principal, ScramServer, ScramStep};

use crate::backend::Backend;
use crate::session::{ListenerSecurity, SaslMechanism};

/// Largest frame a client may send before it has authenticated (Kafka's
/// `sasl.server.max.receive.size` is 512 KiB; nothing in this phase needs more than a few
/// hundred bytes).
pub const SASL_FRAME_BYTES_MAX: usize = 64 * 1024;

/// Kafka's error codes of this phase.
pub mod error_code {
    pub const ILLEGAL_SASL_STATE: i16 = 34;
    pub const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
    pub const SASL_AUTHENTICATION_FAILED: i16 = 58;
}

/// Where one connection's exchange stands.
enum Stage {
    /// Waiting for SaslHandshake.
    Handshake,
    /// The mechanism is chosen; waiting for SaslAuthenticate.
    Plain,
    Scram(Box<ScramServer>, yak_auth::ScramMechanism),
}

/// What the connection does with a request of this phase.
pub enum Outcome<R> {
    /// Send this response and go on reading.
    Continue(R),
    /// Send this response; the client is now `Principal`.
    Authenticated(R, Principal),
    /// Send this response (if any), then close the connection.
    Fail(Option<R>),
}

/// One connection's SASL exchange.
pub struct Exchange {
    stage: Stage,
    host: Option<IpAddr>,
}

/// Kafka's message for a failed login (clients show it as it is).
fn failure_message(mechanism: &str) -> String {
    format!("Authentication failed during authentication due to invalid credentials with SASL mechanism {mechanism}")
}

impl Exchange {
    pub fn new(host: Option<IpAddr>) -> Exchange {
        Exchange {
            stage: Stage::Handshake,
            host,
        }
    }

    /// SaslHandshake: picks the mechanism, or refuses one the listener does not offer.
    pub fn handshake(
        &mut self,
        security: &ListenerSecurity,
        request: SaslHandshakeRequest,
    ) -> Outcome<SaslHandshakeResponse> {
        let offered: Vec<StrBytes> = security
            .sasl_mechanisms
            .iter()
            .map(|m| StrBytes::from_static_str(m.name()))
            .collect();
        let response = SaslHandshakeResponse::default().with_mechanisms(offered);
        if !matches!(self.stage, Stage::Handshake) {
            return Outcome::Fail(Some(
                response.with_error_code(error_code::ILLEGAL_SASL_STATE),
            ));
        }
        let chosen = SaslMechanism::parse(request.mechanism.as_str())
            .filter(|m| security.sasl_mechanisms.contains(m));
        match chosen {
            None => {
                tracing::info!(mechanism = %request.mechanism.as_str().chars().take(64).collect::<String>(), "SASL mechanism not offered");
                Outcome::Fail(Some(
                    response.with_error_code(error_code::UNSUPPORTED_SASL_MECHANISM),
                ))
            }
            Some(SaslMechanism::Plain) => {
                self.stage = Stage::Plain;
                Outcome::Continue(response)
            }
            Some(SaslMechanism::Scram(scram)) => {
                self.stage = Stage::Scram(Box::new(ScramServer::new(scram)), scram);
                Outcome::Continue(response)
            }
        }
    }

    /// SaslAuthenticate: one step of the chosen mechanism. A failure waits out the listener's
    /// login backoff before answering.
    pub async fn authenticate<B: Backend>(
        &mut self,
        backend: &B,
        security: &ListenerSecurity,
        request: SaslAuthenticateRequest,
    ) -> Outcome<SaslAuthenticateResponse> {
        let response = SaslAuthenticateResponse::default();
        let (result, mechanism) = match &mut self.stage {
            Stage::Handshake => {
                return Outcome::Fail(Some(
                    response
                        .with_error_code(error_code::ILLEGAL_SASL_STATE)
                        .with_error_message(Some(StrBytes::from_static_str(
                            "SaslAuthenticate before SaslHandshake",
                        ))),
                ))
            }
            Stage::Plain => {
                let result = match yak_auth::plain::parse(&request.auth_bytes) {
                    Ok(token) if backend.check_password(&token.username, &token.password) => {
                        Ok((Vec::new(), Some(token.username)))
                    }
                    Ok(_) => Err(()),
                    Err(error) => {
                        tracing::debug!(%error, "bad PLAIN token");
                        Err(())
                    }
                };
                (result, "PLAIN")
            }
            Stage::Scram(server, scram) => {
                let scram = *scram;
                let lookup = |user: &str| backend.scram_credential(user, scram);
                let result = match server.step(&request.auth_bytes, &lookup) {
                    Ok(ScramStep::Challenge(challenge)) => Ok((challenge, None)),
                    Ok(ScramStep::Success {
                        server_final,
                        username,
                    }) => Ok((server_final, Some(username))),
                    Err(error) => {
                        tracing::debug!(%error, "SCRAM exchange failed");
                        Err(())
                    }
                };
                (result, scram.name())
            }
        };
        match result {
            Ok((bytes, None)) => Outcome::Continue(response.with_auth_bytes(bytes.into())),
            Ok((bytes, Some(username))) => {
                if let (Some(limits), Some(host)) = (&security.limits, self.host) {
                    limits.login_backoff.succeeded(host);
                }
                backend.authentication_result(security.protocol, true);
                self.stage = Stage::Handshake;
                Outcome::Authenticated(
                    response.with_auth_bytes(bytes.into()),
                    Principal::user(username),
                )
            }
            Err(()) => {
                backend.authentication_result(security.protocol, false);
                if let (Some(limits), Some(host)) = (&security.limits, self.host) {
                    let delay = limits.login_backoff.failed(host, Instant::now());
                    tokio::time::sleep(delay).await;
                }
                Outcome::Fail(Some(
                    response
                        .with_error_code(error_code::SASL_AUTHENTICATION_FAILED)
                        .with_error_message(Some(StrBytes::from_string(failure_message(
                            mechanism,
                        )))),
                ))
            }
        }
    }
}

/// Whether a request of `api_key` may come before authentication.
pub fn allowed_before_authentication(api_key: ApiKey) -> bool {
    matches!(
        api_key,
        ApiKey::ApiVersions | ApiKey::SaslHandshake | ApiKey::SaslAuthenticate
    )
}
