//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) as Kafka uses them (KIP-84).
//!
//! STUB: interface fixed, bodies to be written.

use serde::{Deserialize, Serialize};

/// Fewest PBKDF2 iterations accepted for a stored credential (Kafka's minimum).
pub const ITERATIONS_MIN: u32 = 4096;
/// Most PBKDF2 iterations accepted (Kafka's maximum), so a credential cannot make every login
/// burn seconds of CPU.
pub const ITERATIONS_MAX: u32 = 16384;
/// Iterations of credentials YAK creates itself.
pub const ITERATIONS_DEFAULT: u32 = 8192;
/// Bytes of random salt of credentials YAK creates.
pub const SALT_BYTES: usize = 32;
/// Longest SCRAM message accepted from a client.
pub const MESSAGE_BYTES_MAX: usize = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ScramMechanism {
    #[serde(rename = "SCRAM-SHA-256")]
    Sha256,
    #[serde(rename = "SCRAM-SHA-512")]
    Sha512,
}

impl ScramMechanism {
    pub const ALL: [ScramMechanism; 2] = [ScramMechanism::Sha256, ScramMechanism::Sha512];

    /// The SASL mechanism name, `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    pub fn name(self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM-SHA-256",
            ScramMechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    pub fn from_name(name: &str) -> Option<ScramMechanism> {
        ScramMechanism::ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(name))
    }

    /// Kafka's `ScramMechanism` type code in Describe/AlterUserScramCredentials (1 = SHA-256,
    /// 2 = SHA-512).
    pub fn kafka_type(self) -> i8 {
        match self {
            ScramMechanism::Sha256 => 1,
            ScramMechanism::Sha512 => 2,
        }
    }

    pub fn from_kafka_type(code: i8) -> Option<ScramMechanism> {
        ScramMechanism::ALL
            .into_iter()
            .find(|m| m.kafka_type() == code)
    }
}

/// A stored credential: never the password, only what RFC 5802 lets a server keep.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScramCredential {
    pub mechanism: ScramMechanism,
    #[serde(with = "base64_bytes")]
    pub salt: Vec<u8>,
    #[serde(with = "base64_bytes")]
    pub stored_key: Vec<u8>,
    #[serde(with = "base64_bytes")]
    pub server_key: Vec<u8>,
    pub iterations: u32,
}

impl std::fmt::Debug for ScramCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys stay out of logs even in debug output.
        f.debug_struct("ScramCredential")
            .field("mechanism", &self.mechanism)
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScramError {
    /// The client's message does not follow RFC 5802 (or is too long).
    #[error("malformed SCRAM message: {0}")]
    Malformed(String),
    /// Unknown user or wrong proof; deliberately one variant, so callers cannot tell them apart.
    #[error("authentication failed")]
    AuthenticationFailed,
    /// A message arrived after the exchange ended or out of order.
    #[error("unexpected SCRAM message in state {0}")]
    InvalidState(&'static str),
    /// Something Kafka does not support either: channel binding, token authentication.
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("iterations must be {ITERATIONS_MIN}..={ITERATIONS_MAX}, got {0}")]
    BadIterations(u32),
}

impl ScramCredential {
    /// A new credential for `password` with a random salt.
    pub fn new(
        mechanism: ScramMechanism,
        password: &str,
        iterations: u32,
    ) -> Result<ScramCredential, ScramError> {
        let _ = (mechanism, password, iterations);
        todo!()
    }

    /// The credential from a salted password computed elsewhere (Kafka's
    /// AlterUserScramCredentials sends `salt` and `SaltedPassword`, never the password).
    pub fn from_salted_password(
        mechanism: ScramMechanism,
        salted_password: &[u8],
        salt: Vec<u8>,
        iterations: u32,
    ) -> Result<ScramCredential, ScramError> {
        let _ = (mechanism, salted_password, salt, iterations);
        todo!()
    }

    /// Whether `password` is this credential's password (PLAIN and HTTP Basic logins), compared
    /// in constant time.
    pub fn verify_password(&self, password: &str) -> bool {
        let _ = password;
        todo!()
    }
}

/// What the server sends after a client message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScramStep {
    /// server-first-message; the exchange goes on.
    Challenge(Vec<u8>),
    /// server-final-message (`v=…`); `username` authenticated.
    Success {
        server_final: Vec<u8>,
        username: String,
    },
}

/// The server side of one exchange. An unknown user gets a challenge built from a fake
/// credential derived from the user name, and fails at the proof like a wrong password, so a
/// client cannot tell which users exist.
pub struct ScramServer {
    _mechanism: ScramMechanism,
}

impl ScramServer {
    pub fn new(mechanism: ScramMechanism) -> ScramServer {
        ScramServer {
            _mechanism: mechanism,
        }
    }

    /// Feeds one client message: client-first, then client-final. `credentials` looks a user
    /// up (by the name after SASLprep-free `=2C`/`=3D` unescaping).
    pub fn step(
        &mut self,
        input: &[u8],
        credentials: &dyn Fn(&str) -> Option<ScramCredential>,
    ) -> Result<ScramStep, ScramError> {
        let _ = (input, credentials);
        todo!()
    }
}

/// The client side, for nodes authenticating to each other and for `yak` commands.
pub struct ScramClient {
    _mechanism: ScramMechanism,
}

impl ScramClient {
    pub fn new(mechanism: ScramMechanism, username: &str, password: &str) -> ScramClient {
        let _ = (username, password);
        ScramClient {
            _mechanism: mechanism,
        }
    }

    /// client-first-message.
    pub fn client_first(&mut self) -> Vec<u8> {
        todo!()
    }

    /// client-final-message, from the server's first message.
    pub fn client_final(&mut self, server_first: &[u8]) -> Result<Vec<u8>, ScramError> {
        let _ = server_first;
        todo!()
    }

    /// Checks the server's signature in server-final-message.
    pub fn verify_server_final(&self, server_final: &[u8]) -> Result<(), ScramError> {
        let _ = server_final;
        todo!()
    }
}

mod base64_bytes {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(serde::de::Error::custom)
    }
}
