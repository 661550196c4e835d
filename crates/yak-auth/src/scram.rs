//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) as Kafka uses them (KIP-84).
//!
//! The primitives (PBKDF2, HMAC, SHA-2, constant-time comparison, the random source) come from
//! RustCrypto's crates and `rand`; the message parsing and the state machines are ours, because
//! no maintained, openly licensed crate serves SCRAM-SHA-512 on the server side.
//!
//! Kafka's profile of SCRAM: no channel binding (gs2 flag `n` or `y`), no authorization id other
//! than the user itself, user names without SASLprep (only the `=2C`/`=3D` escapes), and the
//! delegation-token extension `tokenauth=true` refused (YAK has no delegation tokens).

use std::sync::OnceLock;

use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;

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

/// Bytes of random server nonce appended to the client's (RFC 5802 asks for enough randomness
/// that nonces never repeat; 18 bytes is Kafka's floor, 24 gives 32 base64 characters).
const NONCE_RANDOM_BYTES: usize = 24;

/// The three primitives of one mechanism, dispatched on the hash function.
impl ScramMechanism {
    /// Bytes of the hash's output: the length of every key, proof and signature.
    fn output_bytes(self) -> usize {
        match self {
            ScramMechanism::Sha256 => 32,
            ScramMechanism::Sha512 => 64,
        }
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => Sha256::digest(data).to_vec(),
            ScramMechanism::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => hmac_with::<Hmac<Sha256>>(key, data),
            ScramMechanism::Sha512 => hmac_with::<Hmac<Sha512>>(key, data),
        }
    }

    /// SaltedPassword = Hi(password, salt, i), which is PBKDF2 with HMAC as the PRF.
    fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        let mut out = vec![0u8; self.output_bytes()];
        match self {
            ScramMechanism::Sha256 => {
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out)
            }
            ScramMechanism::Sha512 => {
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out)
            }
        }
        out
    }
}

fn hmac_with<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = match <M as hmac::digest::KeyInit>::new_from_slice(key) {
        Ok(mac) => mac,
        // HMAC pads or hashes keys of any length; only fixed-key MACs refuse a length.
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    };
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn base64_encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn base64_decode(text: &str, what: &str) -> Result<Vec<u8>, ScramError> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| ScramError::Malformed(format!("{what} is not base64")))
}

fn random_bytes(count: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; count];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

fn random_nonce() -> String {
    base64_encode(&random_bytes(NONCE_RANDOM_BYTES))
}

fn iterations_checked(iterations: u32) -> Result<u32, ScramError> {
    if (ITERATIONS_MIN..=ITERATIONS_MAX).contains(&iterations) {
        Ok(iterations)
    } else {
        Err(ScramError::BadIterations(iterations))
    }
}

fn xor(left: &[u8], right: &[u8]) -> Vec<u8> {
    left.iter().zip(right).map(|(l, r)| l ^ r).collect()
}

impl ScramCredential {
    /// A new credential for `password` with a random salt.
    pub fn new(
        mechanism: ScramMechanism,
        password: &str,
        iterations: u32,
    ) -> Result<ScramCredential, ScramError> {
        let iterations = iterations_checked(iterations)?;
        let salt = random_bytes(SALT_BYTES);
        let salted = mechanism.salted_password(password.as_bytes(), &salt, iterations);
        ScramCredential::from_salted_password(mechanism, &salted, salt, iterations)
    }

    /// The credential from a salted password computed elsewhere (Kafka's
    /// AlterUserScramCredentials sends `salt` and `SaltedPassword`, never the password).
    pub fn from_salted_password(
        mechanism: ScramMechanism,
        salted_password: &[u8],
        salt: Vec<u8>,
        iterations: u32,
    ) -> Result<ScramCredential, ScramError> {
        let iterations = iterations_checked(iterations)?;
        if salted_password.len() != mechanism.output_bytes() {
            return Err(ScramError::Malformed(format!(
                "a {} salted password has {} bytes, got {}",
                mechanism.name(),
                mechanism.output_bytes(),
                salted_password.len()
            )));
        }
        if salt.is_empty() {
            return Err(ScramError::Malformed("empty salt".to_string()));
        }
        let client_key = mechanism.hmac(salted_password, b"Client Key");
        Ok(ScramCredential {
            mechanism,
            stored_key: mechanism.hash(&client_key),
            server_key: mechanism.hmac(salted_password, b"Server Key"),
            salt,
            iterations,
        })
    }

    /// Whether `password` is this credential's password (PLAIN and HTTP Basic logins), compared
    /// in constant time.
    pub fn verify_password(&self, password: &str) -> bool {
        // A stored credential outside the limits (a hand-edited store) would let one login burn
        // unbounded CPU; it matches no password instead.
        if iterations_checked(self.iterations).is_err() {
            return false;
        }
        let mechanism = self.mechanism;
        let salted = mechanism.salted_password(password.as_bytes(), &self.salt, self.iterations);
        let stored_key = mechanism.hash(&mechanism.hmac(&salted, b"Client Key"));
        let server_key = mechanism.hmac(&salted, b"Server Key");
        (stored_key.ct_eq(&self.stored_key) & server_key.ct_eq(&self.server_key)).into()
    }

    /// A credential for a user that does not exist, the same for every exchange naming `username`
    /// in this process, so repeated probes see one stable salt as for a real user.
    fn fake(mechanism: ScramMechanism, username: &str) -> ScramCredential {
        static SECRET: OnceLock<Vec<u8>> = OnceLock::new();
        let secret = SECRET.get_or_init(|| random_bytes(32));
        let derive = |label: &[u8]| {
            let mut data = label.to_vec();
            data.extend_from_slice(mechanism.name().as_bytes());
            data.push(0);
            data.extend_from_slice(username.as_bytes());
            mechanism.hmac(secret, &data)
        };
        let mut salt = derive(b"salt");
        salt.truncate(SALT_BYTES);
        ScramCredential {
            mechanism,
            salt,
            stored_key: derive(b"stored key"),
            server_key: derive(b"server key"),
            iterations: ITERATIONS_DEFAULT,
        }
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

/// Where a server exchange stands.
enum ServerState {
    /// Waiting for client-first-message.
    Initial,
    /// server-first-message sent; waiting for client-final-message.
    Challenged(Box<Challenged>),
    /// Succeeded or failed; every further message is refused.
    Ended,
}

/// What the server keeps between its first message and the client's final one.
struct Challenged {
    username: String,
    /// False when `credential` is the fake one of an unknown user: the proof then fails even
    /// if it happened to verify.
    user_known: bool,
    credential: ScramCredential,
    /// The gs2 header exactly as the client sent it; `c=` must carry it back.
    gs2_header: String,
    client_first_bare: String,
    server_first: String,
    nonce: String,
}

/// The server side of one exchange. An unknown user gets a challenge built from a fake
/// credential derived from the user name, and fails at the proof like a wrong password, so a
/// client cannot tell which users exist.
pub struct ScramServer {
    mechanism: ScramMechanism,
    state: ServerState,
    /// The server's part of the nonce; fixed only by tests reproducing RFC 7677's exchange.
    server_nonce: Option<String>,
}

impl ScramServer {
    pub fn new(mechanism: ScramMechanism) -> ScramServer {
        ScramServer {
            mechanism,
            state: ServerState::Initial,
            server_nonce: None,
        }
    }

    /// A server whose nonce part is `server_nonce` instead of a random one.
    #[cfg(test)]
    fn with_server_nonce(mechanism: ScramMechanism, server_nonce: &str) -> ScramServer {
        ScramServer {
            server_nonce: Some(server_nonce.to_string()),
            ..ScramServer::new(mechanism)
        }
    }

    /// Feeds one client message: client-first, then client-final. `credentials` looks a user
    /// up (by the name after SASLprep-free `=2C`/`=3D` unescaping).
    pub fn step(
        &mut self,
        input: &[u8],
        credentials: &dyn Fn(&str) -> Option<ScramCredential>,
    ) -> Result<ScramStep, ScramError> {
        // Whatever happens below, this exchange is over unless it moves on to Challenged.
        let state = std::mem::replace(&mut self.state, ServerState::Ended);
        match state {
            ServerState::Initial => {
                let challenged = self.client_first(input, credentials)?;
                let challenge = challenged.server_first.clone().into_bytes();
                self.state = ServerState::Challenged(Box::new(challenged));
                Ok(ScramStep::Challenge(challenge))
            }
            ServerState::Challenged(challenged) => self.client_final(input, &challenged),
            ServerState::Ended => Err(ScramError::InvalidState("ended")),
        }
    }

    fn client_first(
        &self,
        input: &[u8],
        credentials: &dyn Fn(&str) -> Option<ScramCredential>,
    ) -> Result<Challenged, ScramError> {
        let text = message_text(input)?;
        let (gs2_header, client_first_bare) = split_gs2_header(text)?;
        let first = parse_client_first_bare(client_first_bare)?;
        if let Some(authorization_id) = &gs2_header.authorization_id {
            if *authorization_id != first.username {
                return Err(ScramError::Unsupported(
                    "an authorization id other than the user".to_string(),
                ));
            }
        }
        let (credential, user_known) = match credentials(&first.username) {
            // A credential of the other mechanism cannot answer this exchange; the user is
            // treated as unknown for it.
            Some(credential) if credential.mechanism == self.mechanism => (credential, true),
            _ => (
                ScramCredential::fake(self.mechanism, &first.username),
                false,
            ),
        };
        let server_nonce = self.server_nonce.clone().unwrap_or_else(random_nonce);
        let nonce = format!("{}{}", first.nonce, server_nonce);
        let server_first = format!(
            "r={nonce},s={},i={}",
            base64_encode(&credential.salt),
            credential.iterations
        );
        Ok(Challenged {
            username: first.username,
            user_known,
            credential,
            gs2_header: gs2_header.text.to_string(),
            client_first_bare: client_first_bare.to_string(),
            server_first,
            nonce,
        })
    }

    fn client_final(&self, input: &[u8], challenged: &Challenged) -> Result<ScramStep, ScramError> {
        let text = message_text(input)?;
        let (without_proof, proof) = text
            .rsplit_once(",p=")
            .ok_or_else(|| ScramError::Malformed("client-final-message without p=".to_string()))?;
        let mut attributes = without_proof.split(',');
        let channel_binding = attributes
            .next()
            .and_then(|a| a.strip_prefix("c="))
            .ok_or_else(|| ScramError::Malformed("client-final-message without c=".to_string()))?;
        let nonce = attributes
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or_else(|| ScramError::Malformed("client-final-message without r=".to_string()))?;
        for extension in attributes {
            parse_extension(extension)?;
        }
        if base64_decode(channel_binding, "c=")? != challenged.gs2_header.as_bytes() {
            return Err(ScramError::Malformed(
                "channel binding differs from the gs2 header".to_string(),
            ));
        }
        // RFC 5802 wants the nonce echoed exactly; librdkafka sends its own nonce again in front
        // of it, and Kafka's server accepts any nonce that ends with the server-first one (its
        // ScramSaslServer checks `endsWith`). The server's random part is still required.
        if !nonce.ends_with(challenged.nonce.as_str()) {
            return Err(ScramError::Malformed(
                "nonce differs from the server's".to_string(),
            ));
        }
        let proof = base64_decode(proof, "p=")?;
        let mechanism = self.mechanism;
        let credential = &challenged.credential;
        let auth_message = format!(
            "{},{},{}",
            challenged.client_first_bare, challenged.server_first, without_proof
        );
        let client_signature = mechanism.hmac(&credential.stored_key, auth_message.as_bytes());
        if proof.len() != client_signature.len() {
            return Err(ScramError::AuthenticationFailed);
        }
        let client_key = xor(&proof, &client_signature);
        let proof_ok: bool = mechanism
            .hash(&client_key)
            .ct_eq(&credential.stored_key)
            .into();
        if !(proof_ok && challenged.user_known) {
            return Err(ScramError::AuthenticationFailed);
        }
        let server_signature = mechanism.hmac(&credential.server_key, auth_message.as_bytes());
        Ok(ScramStep::Success {
            server_final: format!("v={}", base64_encode(&server_signature)).into_bytes(),
            username: challenged.username.clone(),
        })
    }
}

/// A client message as text, refused when too long or not UTF-8.
fn message_text(input: &[u8]) -> Result<&str, ScramError> {
    if input.len() > MESSAGE_BYTES_MAX {
        return Err(ScramError::Malformed(format!(
            "message of {} bytes, more than {MESSAGE_BYTES_MAX}",
            input.len()
        )));
    }
    std::str::from_utf8(input).map_err(|_| ScramError::Malformed("not UTF-8".to_string()))
}

struct Gs2Header<'a> {
    /// The header with its trailing comma, as `c=` must echo it.
    text: &'a str,
    authorization_id: Option<String>,
}

/// Splits `gs2-cbind-flag "," [authzid] ","` off the client-first-message.
fn split_gs2_header(text: &str) -> Result<(Gs2Header<'_>, &str), ScramError> {
    let malformed = || ScramError::Malformed("bad gs2 header".to_string());
    let (flag, rest) = text.split_once(',').ok_or_else(malformed)?;
    match flag {
        "n" | "y" => {}
        _ if flag.starts_with("p=") => {
            return Err(ScramError::Unsupported("channel binding".to_string()))
        }
        _ => return Err(malformed()),
    }
    let (authorization_id, bare) = rest.split_once(',').ok_or_else(malformed)?;
    let authorization_id = match authorization_id {
        "" => None,
        _ => {
            let name = authorization_id.strip_prefix("a=").ok_or_else(malformed)?;
            Some(unescape_name(name)?)
        }
    };
    let header_len = text.len() - bare.len();
    Ok((
        Gs2Header {
            text: &text[..header_len],
            authorization_id,
        },
        bare,
    ))
}

struct ClientFirst {
    username: String,
    nonce: String,
}

/// Parses `n=user,r=nonce[,extensions]`.
fn parse_client_first_bare(bare: &str) -> Result<ClientFirst, ScramError> {
    let mut attributes = bare.split(',');
    let first = attributes.next().unwrap_or_default();
    if first.starts_with("m=") {
        return Err(ScramError::Unsupported("mandatory extensions".to_string()));
    }
    let username = first
        .strip_prefix("n=")
        .ok_or_else(|| ScramError::Malformed("client-first-message without n=".to_string()))?;
    let username = unescape_name(username)?;
    if username.is_empty() {
        return Err(ScramError::Malformed("empty user name".to_string()));
    }
    let nonce = attributes
        .next()
        .and_then(|a| a.strip_prefix("r="))
        .ok_or_else(|| ScramError::Malformed("client-first-message without r=".to_string()))?;
    check_nonce(nonce)?;
    for extension in attributes {
        let (name, value) = parse_extension(extension)?;
        // Kafka's delegation-token login; YAK has no delegation tokens.
        if name == "tokenauth" && value.eq_ignore_ascii_case("true") {
            return Err(ScramError::Unsupported("delegation tokens".to_string()));
        }
    }
    Ok(ClientFirst {
        username,
        nonce: nonce.to_string(),
    })
}

/// An extension `name=value`; names are letters (RFC 5802's attr-val, Kafka's longer names).
fn parse_extension(extension: &str) -> Result<(&str, &str), ScramError> {
    match extension.split_once('=') {
        Some((name, value))
            if !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            Ok((name, value))
        }
        _ => Err(ScramError::Malformed("bad extension".to_string())),
    }
}

/// A nonce is printable ASCII without ',' (RFC 5802's `printable`).
fn check_nonce(nonce: &str) -> Result<(), ScramError> {
    if !nonce.is_empty()
        && nonce
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b',')
    {
        Ok(())
    } else {
        Err(ScramError::Malformed("bad nonce".to_string()))
    }
}

/// `saslname` to a name: `=2C` is ',', `=3D` is '='; any other '=' is malformed.
fn unescape_name(escaped: &str) -> Result<String, ScramError> {
    let mut name = String::with_capacity(escaped.len());
    let mut rest = escaped;
    while let Some(at) = rest.find('=') {
        name.push_str(&rest[..at]);
        let escape = rest.get(at..at + 3);
        match escape {
            Some("=2C") => name.push(','),
            Some("=3D") => name.push('='),
            _ => return Err(ScramError::Malformed("bad escape in user name".to_string())),
        }
        rest = &rest[at + 3..];
    }
    name.push_str(rest);
    if name.contains('\0') {
        return Err(ScramError::Malformed("NUL in user name".to_string()));
    }
    Ok(name)
}

fn escape_name(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

/// Where a client exchange stands.
enum ClientState {
    Initial,
    /// client-first-message sent.
    FirstSent {
        client_first_bare: String,
    },
    /// client-final-message sent; the server must prove it knows the key.
    FinalSent {
        server_signature: Vec<u8>,
    },
    Ended,
}

/// The client side, for nodes authenticating to each other and for `yak` commands.
pub struct ScramClient {
    mechanism: ScramMechanism,
    username: String,
    password: String,
    nonce: String,
    state: ClientState,
}

impl ScramClient {
    pub fn new(mechanism: ScramMechanism, username: &str, password: &str) -> ScramClient {
        ScramClient::with_nonce(mechanism, username, password, random_nonce())
    }

    /// A client whose nonce is given: random in production, RFC 7677's in its test.
    fn with_nonce(
        mechanism: ScramMechanism,
        username: &str,
        password: &str,
        nonce: String,
    ) -> ScramClient {
        ScramClient {
            mechanism,
            username: username.to_string(),
            password: password.to_string(),
            nonce,
            state: ClientState::Initial,
        }
    }

    /// client-first-message.
    pub fn client_first(&mut self) -> Vec<u8> {
        let client_first_bare = format!("n={},r={}", escape_name(&self.username), self.nonce);
        let message = format!("n,,{client_first_bare}");
        self.state = ClientState::FirstSent { client_first_bare };
        message.into_bytes()
    }

    /// client-final-message, from the server's first message.
    pub fn client_final(&mut self, server_first: &[u8]) -> Result<Vec<u8>, ScramError> {
        let state = std::mem::replace(&mut self.state, ClientState::Ended);
        let ClientState::FirstSent { client_first_bare } = state else {
            return Err(ScramError::InvalidState("client-first-message not sent"));
        };
        let server_first = message_text(server_first)?;
        if server_first.starts_with("e=") {
            return Err(ScramError::AuthenticationFailed);
        }
        let mut attributes = server_first.split(',');
        let first = attributes.next().unwrap_or_default();
        if first.starts_with("m=") {
            return Err(ScramError::Unsupported("mandatory extensions".to_string()));
        }
        let nonce = first
            .strip_prefix("r=")
            .ok_or_else(|| ScramError::Malformed("server-first-message without r=".to_string()))?;
        let salt = attributes
            .next()
            .and_then(|a| a.strip_prefix("s="))
            .ok_or_else(|| ScramError::Malformed("server-first-message without s=".to_string()))?;
        let iterations = attributes
            .next()
            .and_then(|a| a.strip_prefix("i="))
            .ok_or_else(|| ScramError::Malformed("server-first-message without i=".to_string()))?;
        for extension in attributes {
            parse_extension(extension)?;
        }
        // The server must extend our nonce, or the exchange could be a replay.
        check_nonce(nonce)?;
        if nonce.len() <= self.nonce.len() || !nonce.starts_with(&self.nonce) {
            return Err(ScramError::Malformed(
                "server nonce does not extend the client's".to_string(),
            ));
        }
        let iterations: u32 = iterations
            .parse()
            .map_err(|_| ScramError::Malformed("bad iteration count".to_string()))?;
        let iterations = iterations_checked(iterations)?;
        let salt = base64_decode(salt, "s=")?;
        if salt.is_empty() {
            return Err(ScramError::Malformed("empty salt".to_string()));
        }

        let mechanism = self.mechanism;
        let salted = mechanism.salted_password(self.password.as_bytes(), &salt, iterations);
        let client_key = mechanism.hmac(&salted, b"Client Key");
        let stored_key = mechanism.hash(&client_key);
        let server_key = mechanism.hmac(&salted, b"Server Key");
        // c=biws is base64 of the gs2 header "n,," this client always sends.
        let without_proof = format!("c={},r={nonce}", base64_encode(b"n,,"));
        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let client_signature = mechanism.hmac(&stored_key, auth_message.as_bytes());
        let proof = xor(&client_key, &client_signature);
        let server_signature = mechanism.hmac(&server_key, auth_message.as_bytes());
        self.state = ClientState::FinalSent { server_signature };
        Ok(format!("{without_proof},p={}", base64_encode(&proof)).into_bytes())
    }

    /// Checks the server's signature in server-final-message.
    pub fn verify_server_final(&self, server_final: &[u8]) -> Result<(), ScramError> {
        let ClientState::FinalSent { server_signature } = &self.state else {
            return Err(ScramError::InvalidState("client-final-message not sent"));
        };
        let server_final = message_text(server_final)?;
        if server_final.starts_with("e=") {
            return Err(ScramError::AuthenticationFailed);
        }
        let verifier = server_final
            .split(',')
            .next()
            .and_then(|a| a.strip_prefix("v="))
            .ok_or_else(|| ScramError::Malformed("server-final-message without v=".to_string()))?;
        let verifier = base64_decode(verifier, "v=")?;
        if bool::from(verifier.ct_eq(server_signature)) {
            Ok(())
        } else {
            Err(ScramError::AuthenticationFailed)
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const RFC_CLIENT_NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
    const RFC_SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    const RFC_SALT: &str = "W22ZaJ0SNY7soEsUEjb6gQ==";

    /// Iterations for tests' own credentials: the fewest allowed, to keep debug builds quick.
    const TEST_ITERATIONS: u32 = ITERATIONS_MIN;

    fn credential(mechanism: ScramMechanism, password: &str) -> ScramCredential {
        ScramCredential::new(mechanism, password, TEST_ITERATIONS).unwrap()
    }

    /// A credential lookup knowing only `user` with `credential`.
    fn only(
        user: &'static str,
        credential: ScramCredential,
    ) -> impl Fn(&str) -> Option<ScramCredential> {
        move |name: &str| (name == user).then(|| credential.clone())
    }

    /// Runs a whole exchange; answers the server's verdict on the final message.
    fn exchange(
        mechanism: ScramMechanism,
        user: &str,
        password: &str,
        lookup: &dyn Fn(&str) -> Option<ScramCredential>,
    ) -> Result<ScramStep, ScramError> {
        let mut client = ScramClient::new(mechanism, user, password);
        let mut server = ScramServer::new(mechanism);
        let ScramStep::Challenge(challenge) = server.step(&client.client_first(), lookup)? else {
            panic!("client-first answered with success");
        };
        let client_final = client.client_final(&challenge)?;
        let step = server.step(&client_final, lookup)?;
        if let ScramStep::Success { server_final, .. } = &step {
            client.verify_server_final(server_final)?;
        }
        Ok(step)
    }

    /// RFC 7677's SCRAM-SHA-256 example, reproduced byte for byte by both sides.
    #[test]
    fn rfc7677_sha256_exchange() {
        let salt = base64_decode(RFC_SALT, "salt").unwrap();
        let mechanism = ScramMechanism::Sha256;
        let salted = mechanism.salted_password(b"pencil", &salt, 4096);
        let stored = ScramCredential::from_salted_password(mechanism, &salted, salt, 4096).unwrap();
        assert!(stored.verify_password("pencil"));
        let lookup = only("user", stored);

        let mut client =
            ScramClient::with_nonce(mechanism, "user", "pencil", RFC_CLIENT_NONCE.to_string());
        let mut server = ScramServer::with_server_nonce(mechanism, RFC_SERVER_NONCE);
        let client_first = client.client_first();
        assert_eq!(client_first, b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let server_first = server.step(&client_first, &lookup).unwrap();
        let expected_server_first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                                     s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        assert_eq!(
            server_first,
            ScramStep::Challenge(expected_server_first.as_bytes().to_vec())
        );
        let client_final = client
            .client_final(expected_server_first.as_bytes())
            .unwrap();
        assert_eq!(
            String::from_utf8(client_final.clone()).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
             p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        let server_final = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".to_vec();
        assert_eq!(
            server.step(&client_final, &lookup),
            Ok(ScramStep::Success {
                server_final: server_final.clone(),
                username: "user".to_string()
            })
        );
        assert_eq!(client.verify_server_final(&server_final), Ok(()));
        assert_eq!(
            client.verify_server_final(b"v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
            Err(ScramError::AuthenticationFailed)
        );
    }

    /// The client and server of each mechanism agree, and the server names the user.
    #[test]
    fn round_trip_both_mechanisms() {
        for mechanism in ScramMechanism::ALL {
            let lookup = only("alice", credential(mechanism, "secret"));
            let step = exchange(mechanism, "alice", "secret", &lookup).unwrap();
            let ScramStep::Success { username, .. } = step else {
                panic!("{mechanism:?}: no success");
            };
            assert_eq!(username, "alice");
        }
    }

    /// A wrong password and an unknown user fail alike, at the final step.
    #[test]
    fn wrong_password_and_unknown_user_fail_alike() {
        for mechanism in ScramMechanism::ALL {
            let lookup = only("alice", credential(mechanism, "secret"));
            assert_eq!(
                exchange(mechanism, "alice", "guess", &lookup),
                Err(ScramError::AuthenticationFailed)
            );
            assert_eq!(
                exchange(mechanism, "mallory", "secret", &lookup),
                Err(ScramError::AuthenticationFailed)
            );
        }
    }

    /// An unknown user's challenge looks like a real one and is stable across exchanges.
    #[test]
    fn unknown_user_challenge_is_stable_and_plausible() {
        let mechanism = ScramMechanism::Sha512;
        let lookup = |_: &str| None;
        let challenge_salt = |user: &str| {
            let mut server = ScramServer::new(mechanism);
            let first = format!("n,,n={user},r=abc");
            let Ok(ScramStep::Challenge(challenge)) = server.step(first.as_bytes(), &lookup) else {
                panic!("no challenge for {user}");
            };
            let text = String::from_utf8(challenge).unwrap();
            assert!(
                text.ends_with(&format!(",i={ITERATIONS_DEFAULT}")),
                "{text}"
            );
            let salt = text.split(',').nth(1).unwrap().to_string();
            assert_eq!(base64_decode(&salt[2..], "salt").unwrap().len(), SALT_BYTES);
            salt
        };
        assert_eq!(challenge_salt("ghost"), challenge_salt("ghost"));
        assert_ne!(challenge_salt("ghost"), challenge_salt("phantom"));
    }

    /// A credential of the other mechanism does not answer an exchange.
    #[test]
    fn credential_of_other_mechanism_is_refused() {
        let lookup = only("alice", credential(ScramMechanism::Sha256, "secret"));
        assert_eq!(
            exchange(ScramMechanism::Sha512, "alice", "secret", &lookup),
            Err(ScramError::AuthenticationFailed)
        );
    }

    /// Starts an exchange for alice; answers the server, the client's final message, and the
    /// lookup.
    fn challenged(
        mechanism: ScramMechanism,
    ) -> (
        ScramServer,
        String,
        impl Fn(&str) -> Option<ScramCredential>,
    ) {
        let lookup = only("alice", credential(mechanism, "secret"));
        let mut client = ScramClient::new(mechanism, "alice", "secret");
        let mut server = ScramServer::new(mechanism);
        let Ok(ScramStep::Challenge(challenge)) = server.step(&client.client_first(), &lookup)
        else {
            panic!("no challenge");
        };
        let client_final = client.client_final(&challenge).unwrap();
        (server, String::from_utf8(client_final).unwrap(), lookup)
    }

    /// A final message whose nonce differs from the server's is refused, and ends the exchange.
    #[test]
    fn tampered_nonce_is_refused() {
        let (mut server, client_final, lookup) = challenged(ScramMechanism::Sha256);
        // Kafka accepts a nonce that only ends with the server's (librdkafka sends its own in
        // front again), so the tampering is at the end, in the server's random part.
        let tampered = client_final.replacen(",p=", "x,p=", 1);
        assert!(matches!(
            server.step(tampered.as_bytes(), &lookup),
            Err(ScramError::Malformed(_))
        ));
        assert_eq!(
            server.step(client_final.as_bytes(), &lookup),
            Err(ScramError::InvalidState("ended"))
        );
    }

    /// A final message whose channel binding is not the gs2 header sent is refused.
    #[test]
    fn tampered_channel_binding_is_refused() {
        let (mut server, client_final, lookup) = challenged(ScramMechanism::Sha256);
        // "eSws" is base64 of "y,,", the client sent "n,,".
        let tampered = client_final.replacen("c=biws", "c=eSws", 1);
        assert!(matches!(
            server.step(tampered.as_bytes(), &lookup),
            Err(ScramError::Malformed(_))
        ));
    }

    /// A tampered proof fails authentication.
    #[test]
    fn tampered_proof_fails() {
        let (mut server, client_final, lookup) = challenged(ScramMechanism::Sha512);
        let (head, proof) = client_final.rsplit_once(",p=").unwrap();
        let mut proof = base64_decode(proof, "p").unwrap();
        proof[0] ^= 1;
        let tampered = format!("{head},p={}", base64_encode(&proof));
        assert_eq!(
            server.step(tampered.as_bytes(), &lookup),
            Err(ScramError::AuthenticationFailed)
        );
    }

    /// A final message captured from one exchange does not authenticate another: the new
    /// exchange has a new server nonce.
    #[test]
    fn final_message_replayed_on_new_exchange_fails() {
        let mechanism = ScramMechanism::Sha256;
        let lookup = only("alice", credential(mechanism, "secret"));
        let mut client = ScramClient::new(mechanism, "alice", "secret");
        let client_first = client.client_first();
        let mut server = ScramServer::new(mechanism);
        let Ok(ScramStep::Challenge(challenge)) = server.step(&client_first, &lookup) else {
            panic!("no challenge");
        };
        let client_final = client.client_final(&challenge).unwrap();
        assert!(matches!(
            server.step(&client_final, &lookup),
            Ok(ScramStep::Success { .. })
        ));
        assert_eq!(
            server.step(&client_final, &lookup),
            Err(ScramError::InvalidState("ended"))
        );

        let mut replayed = ScramServer::new(mechanism);
        assert!(matches!(
            replayed.step(&client_first, &lookup),
            Ok(ScramStep::Challenge(_))
        ));
        assert!(matches!(
            replayed.step(&client_final, &lookup),
            Err(ScramError::Malformed(_))
        ));
    }

    /// User names with ',' and '=' travel escaped and authenticate under their real name.
    #[test]
    fn escaped_user_names_round_trip() {
        let mechanism = ScramMechanism::Sha256;
        let user = "a,b=c";
        let lookup = only(user, credential(mechanism, "secret"));
        let mut client = ScramClient::new(mechanism, user, "secret");
        let first = String::from_utf8(client.client_first()).unwrap();
        assert!(first.starts_with("n,,n=a=2Cb=3Dc,r="), "{first}");
        let Ok(ScramStep::Success { username, .. }) = exchange(mechanism, user, "secret", &lookup)
        else {
            panic!("no success");
        };
        assert_eq!(username, user);
        assert_eq!(unescape_name("=3D=2C").unwrap(), "=,");
    }

    /// Any '=' in a user name other than =2C and =3D is malformed.
    #[test]
    fn bad_escapes_are_malformed() {
        let lookup = |_: &str| None;
        for name in ["a=", "a=2", "a=2c", "a=3d", "=41", "a==3D", "="] {
            let mut server = ScramServer::new(ScramMechanism::Sha256);
            let first = format!("n,,n={name},r=abc");
            assert!(
                matches!(
                    server.step(first.as_bytes(), &lookup),
                    Err(ScramError::Malformed(_))
                ),
                "{name} accepted"
            );
        }
    }

    /// What Kafka does not support is refused as unsupported; malformed first messages as
    /// malformed; both end the exchange.
    #[test]
    fn client_first_refusals() {
        let lookup = |_: &str| None;
        let unsupported = [
            "p=tls-unique,,n=alice,r=abc",
            "n,a=bob,n=alice,r=abc",
            "n,,n=alice,r=abc,tokenauth=true",
            "n,,m=ext,n=alice,r=abc",
        ];
        for first in unsupported {
            let mut server = ScramServer::new(ScramMechanism::Sha256);
            assert!(
                matches!(
                    server.step(first.as_bytes(), &lookup),
                    Err(ScramError::Unsupported(_))
                ),
                "{first}"
            );
            assert_eq!(
                server.step(b"n,,n=alice,r=abc", &lookup),
                Err(ScramError::InvalidState("ended"))
            );
        }
        let malformed: [&[u8]; 9] = [
            b"",
            b"x,,n=alice,r=abc",
            b"n,,n=,r=abc",
            b"n,,r=abc,n=alice",
            b"n,,n=alice",
            b"n,,n=alice,r=",
            b"n,,n=alice,r=a\x7fb",
            b"n,,n=al\xffice,r=abc",
            b"n,,n=alice,r=abc,=x",
        ];
        for first in malformed {
            let mut server = ScramServer::new(ScramMechanism::Sha256);
            assert!(
                matches!(server.step(first, &lookup), Err(ScramError::Malformed(_))),
                "{first:?}"
            );
        }
        let mut long = b"n,,n=alice,r=".to_vec();
        long.resize(MESSAGE_BYTES_MAX + 1, b'a');
        let mut server = ScramServer::new(ScramMechanism::Sha256);
        assert!(matches!(
            server.step(&long, &lookup),
            Err(ScramError::Malformed(_))
        ));
        // The authorization id may name the user itself, and the 'y' flag is accepted.
        let mut server = ScramServer::new(ScramMechanism::Sha256);
        assert!(matches!(
            server.step(b"y,a=alice,n=alice,r=abc,foo=bar", &lookup),
            Ok(ScramStep::Challenge(_))
        ));
    }

    /// The client refuses a server nonce that does not extend its own, iterations outside the
    /// limits, and a server error; and steps out of order.
    #[test]
    fn client_refusals() {
        let mechanism = ScramMechanism::Sha256;
        let salt = base64_encode(b"salt");
        let client_with_first = || {
            let mut client =
                ScramClient::with_nonce(mechanism, "alice", "secret", "abc".to_string());
            client.client_first();
            client
        };
        let cases = [
            (format!("r=xyz123,s={salt},i=4096"), "foreign nonce"),
            (format!("r=abc,s={salt},i=4096"), "unextended nonce"),
        ];
        for (server_first, what) in cases {
            assert!(
                matches!(
                    client_with_first().client_final(server_first.as_bytes()),
                    Err(ScramError::Malformed(_))
                ),
                "{what}"
            );
        }
        for iterations in [0, ITERATIONS_MIN - 1, ITERATIONS_MAX + 1, u32::MAX] {
            let server_first = format!("r=abcdef,s={salt},i={iterations}");
            assert_eq!(
                client_with_first().client_final(server_first.as_bytes()),
                Err(ScramError::BadIterations(iterations))
            );
        }
        assert_eq!(
            client_with_first().client_final(b"e=unknown-user"),
            Err(ScramError::AuthenticationFailed)
        );
        let mut client = ScramClient::new(mechanism, "alice", "secret");
        assert!(matches!(
            client.client_final(b"r=x,s=c2FsdA==,i=4096"),
            Err(ScramError::InvalidState(_))
        ));
        assert!(matches!(
            client.verify_server_final(b"v=AAAA"),
            Err(ScramError::InvalidState(_))
        ));
        let mut client = client_with_first();
        client
            .client_final(format!("r=abcdef,s={salt},i=4096").as_bytes())
            .unwrap();
        assert_eq!(
            client.verify_server_final(b"e=invalid-proof"),
            Err(ScramError::AuthenticationFailed)
        );
    }

    /// Credentials: a password verifies, others do not; iterations and lengths are checked.
    #[test]
    fn credentials_verify_and_check_their_inputs() {
        for mechanism in ScramMechanism::ALL {
            let stored = credential(mechanism, "secret");
            assert_eq!(stored.salt.len(), SALT_BYTES);
            assert!(stored.verify_password("secret"));
            assert!(!stored.verify_password("Secret"));
            assert!(!stored.verify_password(""));
            let mut hand_edited = stored.clone();
            hand_edited.iterations = ITERATIONS_MAX + 1;
            assert!(!hand_edited.verify_password("secret"));
            assert_eq!(
                ScramCredential::new(mechanism, "secret", ITERATIONS_MIN - 1),
                Err(ScramError::BadIterations(ITERATIONS_MIN - 1))
            );
            assert_eq!(
                ScramCredential::new(mechanism, "secret", ITERATIONS_MAX + 1),
                Err(ScramError::BadIterations(ITERATIONS_MAX + 1))
            );
            assert!(matches!(
                ScramCredential::from_salted_password(mechanism, &[0; 3], vec![1], 4096),
                Err(ScramError::Malformed(_))
            ));
            assert!(matches!(
                ScramCredential::from_salted_password(
                    mechanism,
                    &vec![0; mechanism.output_bytes()],
                    Vec::new(),
                    4096
                ),
                Err(ScramError::Malformed(_))
            ));
        }
    }

    /// A byte-level mutation of a message: overwrite, insert or delete at a position.
    #[derive(Debug, Clone)]
    enum Mutation {
        Set(usize, u8),
        Insert(usize, u8),
        Remove(usize),
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        prop_oneof![
            (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
            (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
            any::<usize>().prop_map(Mutation::Remove),
        ]
    }

    fn mutate(mut message: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
        for mutation in mutations {
            match *mutation {
                Mutation::Set(i, b) if !message.is_empty() => {
                    let at = i % message.len();
                    message[at] = b;
                }
                Mutation::Insert(i, b) => message.insert(i % (message.len() + 1), b),
                Mutation::Remove(i) if !message.is_empty() => {
                    message.remove(i % message.len());
                }
                _ => {}
            }
        }
        message
    }

    /// Checks one server step answered sensibly: a challenge only to a first message, success
    /// only to a final one and only for alice.
    fn check_step(result: &Result<ScramStep, ScramError>, first: bool) {
        match result {
            Ok(ScramStep::Challenge(challenge)) => {
                assert!(first, "challenge to a final message");
                assert!(challenge.starts_with(b"r="));
            }
            Ok(ScramStep::Success { username, .. }) => {
                assert!(!first, "success on a first message");
                assert_eq!(username, "alice");
            }
            Err(_) => {}
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Arbitrary bytes as either message never panic, and after an error every step is
        /// refused as out of state.
        #[test]
        fn server_survives_arbitrary_bytes(
            first in proptest::collection::vec(any::<u8>(), 0..200),
            last in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let lookup = |name: &str| {
                (name == "alice").then(|| ScramCredential::fake(ScramMechanism::Sha256, "alice"))
            };
            let mut server = ScramServer::new(ScramMechanism::Sha256);
            let result = server.step(&first, &lookup);
            check_step(&result, true);
            let failed = result.is_err();
            let result = server.step(&last, &lookup);
            check_step(&result, false);
            if failed {
                prop_assert_eq!(result, Err(ScramError::InvalidState("ended")));
            }
        }

        /// Mutations of a valid exchange's messages never panic and never authenticate anyone
        /// but the user; a final message is only accepted unchanged.
        #[test]
        fn server_survives_mutated_messages(
            first_mutations in proptest::collection::vec(mutation(), 0..4),
            final_mutations in proptest::collection::vec(mutation(), 0..4),
        ) {
            // A credential stored once per process keeps PBKDF2 out of every case.
            static STORED: OnceLock<ScramCredential> = OnceLock::new();
            let stored = STORED
                .get_or_init(|| credential(ScramMechanism::Sha256, "secret"))
                .clone();
            let lookup = only("alice", stored);
            let mut client = ScramClient::new(ScramMechanism::Sha256, "alice", "secret");
            let client_first = client.client_first();
            let mut server = ScramServer::new(ScramMechanism::Sha256);
            let mutated_first = mutate(client_first.clone(), &first_mutations);
            let result = server.step(&mutated_first, &lookup);
            check_step(&result, true);
            let Ok(ScramStep::Challenge(challenge)) = result else {
                return Ok(());
            };
            // The client only answers a challenge that extends its nonce.
            let Ok(client_final) = client.client_final(&challenge) else {
                return Ok(());
            };
            let mutated_final = mutate(client_final.clone(), &final_mutations);
            let result = server.step(&mutated_final, &lookup);
            check_step(&result, false);
            if result.is_ok() {
                prop_assert_eq!(&mutated_final, &client_final);
            }
            prop_assert_eq!(
                server.step(&client_final, &lookup),
                Err(ScramError::InvalidState("ended"))
            );
        }
    }
}
