//! Users, ACLs and bearer tokens as one state, saved as JSON: `DATA/security.json` on a
//! standalone node, one key in the coordinator (Redis) in a cluster, so every node answers
//! logins and authorizes alike.
//!
//! No password is ever stored: a user has SCRAM credentials (salt, StoredKey, ServerKey), and a
//! bearer token is kept as its SHA-256 digest.

use std::collections::BTreeMap;

use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::acl::Acls;
use crate::principal::{check_user_name, Principal, PrincipalError};
use crate::scram::{ScramCredential, ScramError, ScramMechanism};

/// Most users a node keeps.
pub const USERS_MAX: usize = 10_000;
/// Most bearer tokens a node keeps.
pub const TOKENS_MAX: usize = 10_000;
/// Random bytes in a bearer token.
pub const TOKEN_BYTES: usize = 32;
/// Every bearer token starts with this, so a leaked one is easy to grep for.
pub const TOKEN_PREFIX: &str = "yak_";

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub credentials: BTreeMap<ScramMechanism, ScramCredential>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub name: String,
    pub principal: Principal,
    pub created_ms: u64,
    /// None: the token lives until it is revoked.
    pub expires_ms: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SecurityState {
    pub users: BTreeMap<String, UserRecord>,
    pub acls: Acls,
    /// By the hex SHA-256 of the token.
    pub tokens: BTreeMap<String, TokenRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Principal(#[from] PrincipalError),
    #[error(transparent)]
    Scram(#[from] ScramError),
    #[error("{0} users exist, the most a node keeps")]
    TooManyUsers(usize),
    #[error("{0} tokens exist, the most a node keeps")]
    TooManyTokens(usize),
    #[error("no user {0:?}")]
    NoSuchUser(String),
    #[error("no credential of {mechanism} for user {user:?}")]
    NoSuchCredential {
        user: String,
        mechanism: &'static str,
    },
}

fn token_digest(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

impl SecurityState {
    pub fn credential(&self, user: &str, mechanism: ScramMechanism) -> Option<ScramCredential> {
        self.users.get(user)?.credentials.get(&mechanism).cloned()
    }

    /// Whether `password` is `user`'s (PLAIN and HTTP Basic), checked against the strongest
    /// credential the user has.
    pub fn verify_password(&self, user: &str, password: &str) -> bool {
        let Some(record) = self.users.get(user) else {
            return false;
        };
        record
            .credentials
            .values()
            .next_back()
            .is_some_and(|credential| credential.verify_password(password))
    }

    /// Sets `user`'s credential of `mechanism` (creating the user).
    pub fn set_credential(
        &mut self,
        user: &str,
        credential: ScramCredential,
    ) -> Result<(), StoreError> {
        check_user_name(user)?;
        if !self.users.contains_key(user) && self.users.len() >= USERS_MAX {
            return Err(StoreError::TooManyUsers(USERS_MAX));
        }
        self.users
            .entry(user.to_string())
            .or_default()
            .credentials
            .insert(credential.mechanism, credential);
        Ok(())
    }

    /// Sets `user`'s password under every SCRAM mechanism.
    pub fn set_password(
        &mut self,
        user: &str,
        password: &str,
        iterations: u32,
    ) -> Result<(), StoreError> {
        for mechanism in ScramMechanism::ALL {
            let credential = ScramCredential::new(mechanism, password, iterations)?;
            self.set_credential(user, credential)?;
        }
        Ok(())
    }

    /// Removes one credential; the user goes with its last one.
    pub fn delete_credential(
        &mut self,
        user: &str,
        mechanism: ScramMechanism,
    ) -> Result<(), StoreError> {
        let record = self
            .users
            .get_mut(user)
            .ok_or_else(|| StoreError::NoSuchUser(user.to_string()))?;
        if record.credentials.remove(&mechanism).is_none() {
            return Err(StoreError::NoSuchCredential {
                user: user.to_string(),
                mechanism: mechanism.name(),
            });
        }
        if record.credentials.is_empty() {
            self.users.remove(user);
        }
        Ok(())
    }

    pub fn delete_user(&mut self, user: &str) -> Result<(), StoreError> {
        self.users
            .remove(user)
            .map(|_| ())
            .ok_or_else(|| StoreError::NoSuchUser(user.to_string()))
    }

    /// Creates a bearer token for `principal` and answers it; only its digest is kept.
    pub fn create_token(
        &mut self,
        name: &str,
        principal: Principal,
        now_ms: u64,
        expires_ms: Option<u64>,
    ) -> Result<String, StoreError> {
        if self.tokens.len() >= TOKENS_MAX {
            return Err(StoreError::TooManyTokens(TOKENS_MAX));
        }
        let mut random = [0u8; TOKEN_BYTES];
        rand::rng().fill_bytes(&mut random);
        let token = format!(
            "{TOKEN_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random)
        );
        self.tokens.insert(
            token_digest(&token),
            TokenRecord {
                name: name.to_string(),
                principal,
                created_ms: now_ms,
                expires_ms,
            },
        );
        Ok(token)
    }

    /// The principal a bearer token stands for, while it has not expired.
    pub fn token_principal(&self, token: &str, now_ms: u64) -> Option<Principal> {
        let record = self.tokens.get(&token_digest(token))?;
        if record.expires_ms.is_some_and(|expires| expires <= now_ms) {
            return None;
        }
        Some(record.principal.clone())
    }

    /// Revokes the tokens named `name`; answers how many went.
    pub fn revoke_tokens(&mut self, name: &str) -> usize {
        let before = self.tokens.len();
        self.tokens.retain(|_, record| record.name != name);
        before - self.tokens.len()
    }
}
