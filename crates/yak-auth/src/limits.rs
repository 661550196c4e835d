//! Limits against abuse: failed-login backoff, per-client request rates, connections per
//! client address. Each keeps at most a named number of entries, so a flood of addresses
//! cannot grow them without bound.
//!
//! STUB: interface fixed, bodies to be written.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most addresses any one of these tables tracks; past it the stalest entries go.
pub const TRACKED_CLIENTS_MAX: usize = 16_384;

/// Delays the answer to a failed login, doubling per consecutive failure from one address
/// (Kafka's `connection.failed.authentication.delay.ms`, made progressive).
pub struct LoginBackoff {
    pub delay_ms_base: u64,
    pub delay_ms_max: u64,
}

impl LoginBackoff {
    pub fn new(delay_ms_base: u64, delay_ms_max: u64) -> LoginBackoff {
        LoginBackoff {
            delay_ms_base,
            delay_ms_max,
        }
    }

    /// Records a failure from `host` and answers how long to wait before saying so.
    pub fn failed(&self, host: IpAddr, now: Instant) -> Duration {
        let _ = (host, now);
        todo!()
    }

    /// Forgets `host`'s failures after a successful login.
    pub fn succeeded(&self, host: IpAddr) {
        let _ = host;
        todo!()
    }
}

/// A token bucket per client address: `rate_per_s` requests a second, bursts of `burst`.
pub struct RequestRate {
    pub rate_per_s: u32,
    pub burst: u32,
}

impl RequestRate {
    pub fn new(rate_per_s: u32, burst: u32) -> RequestRate {
        RequestRate { rate_per_s, burst }
    }

    /// Takes one request from `host`'s bucket: `Ok` to go on, or how long until a token is
    /// there (the Kafka listener waits that long before reading on; HTTP answers 429).
    pub fn acquire(&self, host: IpAddr, now: Instant) -> Result<(), Duration> {
        let _ = (host, now);
        todo!()
    }
}

/// Open connections per client address (Kafka's `max.connections.per.ip`).
pub struct ConnectionsPerAddress {
    pub max: usize,
}

/// Held while a connection is open; dropping it frees the place.
pub struct ConnectionSlot {
    _table: Arc<ConnectionsPerAddress>,
    _host: IpAddr,
}

impl ConnectionsPerAddress {
    pub fn new(max: usize) -> Arc<ConnectionsPerAddress> {
        Arc::new(ConnectionsPerAddress { max })
    }

    /// A slot for a new connection from `host`, or None when it has `max` open already.
    pub fn try_open(self: &Arc<Self>, host: IpAddr) -> Option<ConnectionSlot> {
        let _ = host;
        todo!()
    }
}
