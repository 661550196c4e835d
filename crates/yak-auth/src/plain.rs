//! SASL PLAIN (RFC 4616): `authzid NUL authcid NUL passwd`.
//!
//! Kafka's profile: the authorization id is empty or the user itself, and neither the user name
//! nor the password may be empty.

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
    if token.len() > TOKEN_BYTES_MAX {
        return Err(PlainError::Malformed("token too long"));
    }
    let text = std::str::from_utf8(token).map_err(|_| PlainError::Malformed("not UTF-8"))?;
    let mut parts = text.split('\0');
    let (Some(authorization_id), Some(username), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(PlainError::Malformed(
            "a token has exactly two NUL separators",
        ));
    };
    if username.is_empty() {
        return Err(PlainError::Malformed("empty user name"));
    }
    if password.is_empty() {
        return Err(PlainError::Malformed("empty password"));
    }
    if !authorization_id.is_empty() && authorization_id != username {
        return Err(PlainError::ImpersonationRefused);
    }
    Ok(PlainToken {
        authorization_id: authorization_id.to_string(),
        username: username.to_string(),
        password: password.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A token with an empty authorization id, and one naming the user itself, both parse.
    #[test]
    fn parses_with_and_without_authorization_id() {
        let token = parse(b"\0alice\0secret").unwrap();
        assert_eq!(token.username, "alice");
        assert_eq!(token.password, "secret");
        assert_eq!(token.authorization_id, "");
        let token = parse(b"alice\0alice\0pass\xc3\xa9").unwrap();
        assert_eq!(token.authorization_id, "alice");
        assert_eq!(token.password, "pass\u{e9}");
    }

    /// Acting for another user is refused with its own error.
    #[test]
    fn authorization_id_of_another_user_is_refused() {
        assert_eq!(
            parse(b"bob\0alice\0secret"),
            Err(PlainError::ImpersonationRefused)
        );
    }

    /// Wrong separator counts, empty fields, bad UTF-8 and oversized tokens are malformed.
    #[test]
    fn malformed_tokens_are_refused() {
        for token in [
            &b""[..],
            b"alice",
            b"\0alice",
            b"\0alice\0secret\0",
            b"\0\0\0",
            b"\0\0secret",
            b"\0alice\0",
            b"\0al\xffice\0secret",
        ] {
            assert!(
                matches!(parse(token), Err(PlainError::Malformed(_))),
                "{token:?} parsed"
            );
        }
        let mut long = b"\0alice\0".to_vec();
        long.resize(TOKEN_BYTES_MAX + 1, b'x');
        assert_eq!(parse(&long), Err(PlainError::Malformed("token too long")));
        long.truncate(TOKEN_BYTES_MAX);
        assert!(parse(&long).is_ok());
    }

    proptest! {
        /// Arbitrary bytes never panic; whatever parses round-trips to the same token.
        #[test]
        fn arbitrary_bytes_never_panic(token in proptest::collection::vec(any::<u8>(), 0..1200)) {
            if let Ok(parsed) = parse(&token) {
                let rebuilt = format!(
                    "{}\0{}\0{}",
                    parsed.authorization_id, parsed.username, parsed.password
                );
                prop_assert_eq!(rebuilt.as_bytes(), &token[..]);
            }
        }
    }
}
