//! Principals: `User:NAME`, as Kafka writes them in ACLs and logs.
//!
//! A SASL login, an HTTP login, a bearer token and a client certificate all end in a
//! `Principal`; ACLs name principals the same way (`User:*` matches every user).

use std::fmt;

use serde::{Deserialize, Serialize};

/// The principal type Kafka uses for people and programs alike.
pub const USER_TYPE: &str = "User";
/// The principal of a connection that did not authenticate (a PLAINTEXT or SSL listener
/// without a client certificate), Kafka's `User:ANONYMOUS`.
pub const ANONYMOUS_NAME: &str = "ANONYMOUS";
/// Longest user name accepted anywhere (Kafka bounds SCRAM user names the same way in effect:
/// they travel in a 2-byte-length string).
pub const USER_NAME_BYTES_MAX: usize = 256;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Principal {
    pub principal_type: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrincipalError {
    #[error("a principal is TYPE:NAME, as User:alice; got {0:?}")]
    Malformed(String),
    #[error(
        "user names are 1 to {USER_NAME_BYTES_MAX} bytes without control characters; got {0:?}"
    )]
    BadName(String),
}

impl Principal {
    pub fn user(name: impl Into<String>) -> Principal {
        Principal {
            principal_type: USER_TYPE.to_string(),
            name: name.into(),
        }
    }

    pub fn anonymous() -> Principal {
        Principal::user(ANONYMOUS_NAME)
    }

    pub fn is_anonymous(&self) -> bool {
        self.principal_type == USER_TYPE && self.name == ANONYMOUS_NAME
    }

    /// Parses `TYPE:NAME` (`User:alice`, `User:*`).
    pub fn parse(text: &str) -> Result<Principal, PrincipalError> {
        let (principal_type, name) = text
            .split_once(':')
            .filter(|(kind, name)| !kind.is_empty() && !name.is_empty())
            .ok_or_else(|| PrincipalError::Malformed(text.to_string()))?;
        Ok(Principal {
            principal_type: principal_type.to_string(),
            name: name.to_string(),
        })
    }
}

/// Checks a user name before it is stored or looked up.
pub fn check_user_name(name: &str) -> Result<(), PrincipalError> {
    if name.is_empty() || name.len() > USER_NAME_BYTES_MAX || name.chars().any(|c| c.is_control()) {
        return Err(PrincipalError::BadName(name.chars().take(64).collect()));
    }
    Ok(())
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.principal_type, self.name)
    }
}

impl TryFrom<String> for Principal {
    type Error = PrincipalError;
    fn try_from(text: String) -> Result<Principal, PrincipalError> {
        Principal::parse(&text)
    }
}

impl From<Principal> for String {
    fn from(principal: Principal) -> String {
        principal.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves principals print and parse as Kafka writes them.
    #[test]
    fn principals_round_trip_through_text() {
        let alice = Principal::parse("User:alice").expect("parses");
        assert_eq!(alice, Principal::user("alice"));
        assert_eq!(alice.to_string(), "User:alice");
        assert!(Principal::parse("alice").is_err());
        assert!(Principal::parse("User:").is_err());
        assert!(Principal::anonymous().is_anonymous());
        assert!(check_user_name("bob").is_ok());
        assert!(check_user_name("").is_err());
        assert!(check_user_name("a\nb").is_err());
    }
}
