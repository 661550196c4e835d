//! SASL PLAIN (RFC 4616): `authzid NUL authcid NUL passwd`.
//!
//! STUB: interface fixed, body to be written.

/// Longest PLAIN token accepted.
pub const TOKEN_BYTES_MAX: usize = 1024;

#[derive(Clone, PartialEq, Eq)]
pub struct PlainToken {
    /// Empty, or equal to `username` (Kafka refuses to act for someone else).
    pub authorization_id: String,
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for PlainToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlainToken")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlainError {
    #[error("malformed PLAIN token: {0}")]
    Malformed(&'static str),
    #[error("authorization id differs from the user name")]
    ImpersonationRefused,
}

/// Parses a token; refuses an authorization id naming another user.
pub fn parse(token: &[u8]) -> Result<PlainToken, PlainError> {
    let _ = token;
    todo!()
}
