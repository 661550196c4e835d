//! Listeners and sessions: how a connection arrived (Kafka's security protocols) and who it
//! acts for once it has authenticated.
//!
//! A listener is named after its security protocol, as in Kafka's `listeners`
//! (`SASL_SSL://0.0.0.0:9093`); a node has at most one listener per protocol. The session of a
//! connection is fixed when authentication ends (a client certificate on SSL, a SASL login on
//! SASL_*, `User:ANONYMOUS` on PLAINTEXT) and every request on the connection is authorized
//! against it.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;
use yak_auth::limits::{ConnectionsPerAddress, LoginBackoff, RequestRate};
use yak_auth::Principal;

/// Kafka's security protocols.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    pub const ALL: [SecurityProtocol; 4] = [
        SecurityProtocol::Plaintext,
        SecurityProtocol::Ssl,
        SecurityProtocol::SaslPlaintext,
        SecurityProtocol::SaslSsl,
    ];

    /// Kafka's name, which is also the listener's name.
    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    pub fn parse(name: &str) -> Option<SecurityProtocol> {
        SecurityProtocol::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(name))
    }

    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    pub fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
}

impl fmt::Display for SecurityProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The SASL mechanisms a listener can offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SaslMechanism {
    Plain,
    Scram(yak_auth::ScramMechanism),
}

impl SaslMechanism {
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::Scram(scram) => scram.name(),
        }
    }

    pub fn parse(name: &str) -> Option<SaslMechanism> {
        if name.eq_ignore_ascii_case("PLAIN") {
            return Some(SaslMechanism::Plain);
        }
        yak_auth::ScramMechanism::from_name(name).map(SaslMechanism::Scram)
    }
}

/// Limits against abuse, shared by every connection of a listener.
#[derive(Clone)]
pub struct ClientLimits {
    /// Open connections per client address (Kafka's `max.connections.per.ip`).
    pub connections: Arc<ConnectionsPerAddress>,
    /// Requests per second per client address.
    pub requests: Arc<RequestRate>,
    /// The delay before a failed login is answered, growing per address.
    pub login_backoff: Arc<LoginBackoff>,
}

impl fmt::Debug for ClientLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientLimits")
            .field("connections_max", &self.connections.max)
            .field("rate_per_s", &self.requests.rate_per_s)
            .finish_non_exhaustive()
    }
}

/// How one listener secures its connections.
#[derive(Clone)]
pub struct ListenerSecurity {
    pub protocol: SecurityProtocol,
    /// The TLS configuration of SSL and SASL_SSL listeners.
    pub tls: Option<TlsAcceptor>,
    /// Offered in SaslHandshake, in this order.
    pub sasl_mechanisms: Vec<SaslMechanism>,
    /// Longest a connection may take from accept to authenticated (TLS handshake and SASL
    /// exchange together); past it the connection closes.
    pub authentication_ms_max: u64,
    pub limits: Option<ClientLimits>,
}

impl fmt::Debug for ListenerSecurity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListenerSecurity")
            .field("protocol", &self.protocol)
            .field("tls", &self.tls.is_some())
            .field("sasl_mechanisms", &self.sasl_mechanisms)
            .finish_non_exhaustive()
    }
}

/// Kafka's `connections.max.reauth.ms`-free default: ten seconds to say who you are.
pub const AUTHENTICATION_MS_MAX_DEFAULT: u64 = 10_000;

impl ListenerSecurity {
    /// A PLAINTEXT listener without limits (tests, and nodes without security).
    pub fn plaintext() -> ListenerSecurity {
        ListenerSecurity {
            protocol: SecurityProtocol::Plaintext,
            tls: None,
            sasl_mechanisms: Vec::new(),
            authentication_ms_max: AUTHENTICATION_MS_MAX_DEFAULT,
            limits: None,
        }
    }
}

/// Who a connection acts for, and from where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub principal: Principal,
    /// The client's address as text (ACL host matching); empty when unknown.
    pub host: String,
    pub listener: SecurityProtocol,
}

impl Session {
    pub fn new(principal: Principal, host: Option<IpAddr>, listener: SecurityProtocol) -> Session {
        Session {
            principal,
            host: host.map(|ip| ip.to_string()).unwrap_or_default(),
            listener,
        }
    }

    /// An anonymous PLAINTEXT session (unit tests, and the in-process callers).
    pub fn anonymous() -> Session {
        Session::new(Principal::anonymous(), None, SecurityProtocol::Plaintext)
    }
}
