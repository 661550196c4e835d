//! Limits against abuse: failed-login backoff, per-client request rates, connections per
//! client address. Each keeps at most a named number of entries, so a flood of addresses
//! cannot grow them without bound.
//!
//! Time is passed in (`now`), never read here, so tests drive the tables with explicit instants.
//! The tables sit behind plain mutexes held for a few arithmetic steps, never across an await.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Most addresses any one of these tables tracks; past it the stalest entries go.
pub const TRACKED_CLIENTS_MAX: usize = 16_384;

/// When a table is full, this fraction of it (the stalest entries) goes at once, so a flood of
/// new addresses costs one scan of the table per `TRACKED_CLIENTS_MAX / EVICTED_FRACTION_DIVISOR`
/// insertions rather than one per insertion.
const EVICTED_FRACTION_DIVISOR: usize = 8;

/// Failures older than this are forgotten: an address that failed long ago starts again from
/// the base delay instead of carrying the maximum for ever.
const FAILURES_FORGOTTEN_AFTER_MS: u64 = 10 * 60 * 1000;

/// Longest wait [`RequestRate::acquire`] answers, so a caller can add it to an `Instant` even
/// when the rate is 0 (a bucket that never refills).
const RATE_WAIT_MS_MAX: u64 = 60_000;

/// One token of a [`RequestRate`] bucket in the bucket's integer units (a token per nanosecond of
/// refill at one request a second), so refills are exact without floating point.
const TOKEN_UNITS: u64 = 1_000_000_000;

/// Locks a table; a panic elsewhere while it was held leaves only counters behind, which stay
/// usable, so poisoning is ignored rather than spread to every later connection.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Makes room for one more entry: when `table` is full, drops its stalest entries by
/// `last_seen`.
fn make_room<V>(table: &mut HashMap<IpAddr, V>, last_seen: impl Fn(&V) -> Instant) {
    if table.len() < TRACKED_CLIENTS_MAX {
        return;
    }
    let evicted_count = (TRACKED_CLIENTS_MAX / EVICTED_FRACTION_DIVISOR).max(1);
    let mut ages: Vec<(Instant, IpAddr)> = table.iter().map(|(h, v)| (last_seen(v), *h)).collect();
    ages.select_nth_unstable_by_key(evicted_count - 1, |(seen, _)| *seen);
    for (_, host) in &ages[..evicted_count] {
        table.remove(host);
    }
}

struct Failures {
    consecutive: u32,
    last: Instant,
}

/// Delays the answer to a failed login, doubling per consecutive failure from one address
/// (Kafka's `connection.failed.authentication.delay.ms`, made progressive).
pub struct LoginBackoff {
    pub delay_ms_base: u64,
    pub delay_ms_max: u64,
    failures: Mutex<HashMap<IpAddr, Failures>>,
}

impl LoginBackoff {
    pub fn new(delay_ms_base: u64, delay_ms_max: u64) -> LoginBackoff {
        LoginBackoff {
            delay_ms_base,
            delay_ms_max,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Records a failure from `host` and answers how long to wait before saying so.
    pub fn failed(&self, host: IpAddr, now: Instant) -> Duration {
        let mut table = lock(&self.failures);
        if !table.contains_key(&host) {
            make_room(&mut table, |failures| failures.last);
        }
        let failures = table.entry(host).or_insert(Failures {
            consecutive: 0,
            last: now,
        });
        let quiet = now.saturating_duration_since(failures.last);
        if quiet > Duration::from_millis(FAILURES_FORGOTTEN_AFTER_MS) {
            failures.consecutive = 0;
        }
        failures.consecutive = failures.consecutive.saturating_add(1);
        failures.last = failures.last.max(now);
        // base · 2^(n-1), saturating long before it could overflow.
        let factor = 1u64
            .checked_shl(failures.consecutive - 1)
            .unwrap_or(u64::MAX);
        let delay_ms = self
            .delay_ms_base
            .saturating_mul(factor)
            .min(self.delay_ms_max);
        Duration::from_millis(delay_ms)
    }

    /// Forgets `host`'s failures after a successful login.
    pub fn succeeded(&self, host: IpAddr) {
        lock(&self.failures).remove(&host);
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        lock(&self.failures).len()
    }
}

struct Bucket {
    /// Tokens in [`TOKEN_UNITS`].
    tokens: u64,
    last: Instant,
}

/// A token bucket per client address: `rate_per_s` requests a second, bursts of `burst`.
pub struct RequestRate {
    pub rate_per_s: u32,
    pub burst: u32,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl RequestRate {
    pub fn new(rate_per_s: u32, burst: u32) -> RequestRate {
        RequestRate {
            rate_per_s,
            burst,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from `host`'s bucket: `Ok` to go on, or how long until a token is
    /// there (the Kafka listener waits that long before reading on; HTTP answers 429).
    pub fn acquire(&self, host: IpAddr, now: Instant) -> Result<(), Duration> {
        let capacity = u64::from(self.burst) * TOKEN_UNITS;
        let mut table = lock(&self.buckets);
        if !table.contains_key(&host) {
            // An evicted address comes back with a full bucket: it was idle longest, so its
            // bucket would mostly have refilled anyway.
            make_room(&mut table, |bucket| bucket.last);
        }
        let bucket = table.entry(host).or_insert(Bucket {
            tokens: capacity,
            last: now,
        });
        // An instant older than the last one (callers racing) refills nothing.
        let elapsed_ns = now.saturating_duration_since(bucket.last).as_nanos();
        let refill = elapsed_ns.saturating_mul(u128::from(self.rate_per_s));
        let tokens = (u128::from(bucket.tokens) + refill).min(u128::from(capacity));
        // Lossless: `tokens` is at most `capacity`, a u64.
        bucket.tokens = tokens as u64;
        bucket.last = bucket.last.max(now);
        if bucket.tokens >= TOKEN_UNITS {
            bucket.tokens -= TOKEN_UNITS;
            return Ok(());
        }
        let wait_max = Duration::from_millis(RATE_WAIT_MS_MAX);
        if self.rate_per_s == 0 {
            return Err(wait_max);
        }
        let missing = TOKEN_UNITS - bucket.tokens;
        let wait_ns = missing.div_ceil(u64::from(self.rate_per_s));
        Err(Duration::from_nanos(wait_ns).min(wait_max))
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        lock(&self.buckets).len()
    }
}

/// Open connections per client address (Kafka's `max.connections.per.ip`).
pub struct ConnectionsPerAddress {
    pub max: usize,
    /// Open connections per address; an address with none has no entry.
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// Held while a connection is open; dropping it frees the place.
pub struct ConnectionSlot {
    table: Arc<ConnectionsPerAddress>,
    host: IpAddr,
}

impl ConnectionsPerAddress {
    pub fn new(max: usize) -> Arc<ConnectionsPerAddress> {
        Arc::new(ConnectionsPerAddress {
            max,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for a new connection from `host`, or None when it has `max` open already.
    /// Every entry stands for open connections, so none can be dropped to make room: a new
    /// address is refused while `TRACKED_CLIENTS_MAX` others hold connections.
    pub fn try_open(self: &Arc<Self>, host: IpAddr) -> Option<ConnectionSlot> {
        let mut open = lock(&self.open);
        let full = open.len() >= TRACKED_CLIENTS_MAX;
        match open.get_mut(&host) {
            Some(count) if *count >= self.max => return None,
            Some(count) => *count += 1,
            None if self.max == 0 || full => return None,
            None => {
                open.insert(host, 1);
            }
        }
        Some(ConnectionSlot {
            table: Arc::clone(self),
            host,
        })
    }

    /// Open connections from `host`.
    #[cfg(test)]
    fn open_count(&self, host: IpAddr) -> usize {
        lock(&self.open).get(&host).copied().unwrap_or(0)
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        lock(&self.open).len()
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = lock(&self.table.open);
        if let Some(count) = open.get_mut(&self.host) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.host);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn host(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(n))
    }

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    /// The delay doubles per consecutive failure, stops at the maximum, and a success resets it.
    #[test]
    fn backoff_doubles_caps_and_resets() {
        let backoff = LoginBackoff::new(100, 1000);
        let start = Instant::now();
        let delays: Vec<Duration> = (0..6)
            .map(|i| backoff.failed(host(1), start + ms(i)))
            .collect();
        assert_eq!(
            delays,
            [ms(100), ms(200), ms(400), ms(800), ms(1000), ms(1000)]
        );
        // Another address has its own count.
        assert_eq!(backoff.failed(host(2), start), ms(100));
        backoff.succeeded(host(1));
        assert_eq!(backoff.failed(host(1), start + ms(10)), ms(100));
    }

    /// Thousands of failures saturate at the maximum instead of overflowing the shift.
    #[test]
    fn backoff_survives_many_failures() {
        let backoff = LoginBackoff::new(u64::MAX / 2, u64::MAX);
        let start = Instant::now();
        let mut last = Duration::ZERO;
        for _ in 0..200 {
            last = backoff.failed(IpAddr::V6(Ipv6Addr::LOCALHOST), start);
        }
        assert_eq!(last, Duration::from_millis(u64::MAX));
    }

    /// After a long quiet spell an address starts again from the base delay.
    #[test]
    fn backoff_forgets_old_failures() {
        let backoff = LoginBackoff::new(100, 10_000);
        let start = Instant::now();
        backoff.failed(host(1), start);
        assert_eq!(backoff.failed(host(1), start + ms(1)), ms(200));
        let later = start + ms(FAILURES_FORGOTTEN_AFTER_MS + 2);
        assert_eq!(backoff.failed(host(1), later), ms(100));
    }

    /// A bucket gives its burst, then refuses with the wait until the next token, refills at its
    /// rate, and never holds more than the burst.
    #[test]
    fn bucket_refills_at_rate_and_caps_at_burst() {
        let rate = RequestRate::new(10, 3);
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(rate.acquire(host(1), start), Ok(()));
        }
        assert_eq!(rate.acquire(host(1), start), Err(ms(100)));
        // 50 ms is half a token: the wait halves.
        assert_eq!(rate.acquire(host(1), start + ms(50)), Err(ms(50)));
        assert_eq!(rate.acquire(host(1), start + ms(100)), Ok(()));
        assert_eq!(rate.acquire(host(1), start + ms(100)), Err(ms(100)));
        // An hour idle refills to the burst, not more.
        let later = start + Duration::from_secs(3600);
        for _ in 0..3 {
            assert_eq!(rate.acquire(host(1), later), Ok(()));
        }
        assert!(rate.acquire(host(1), later).is_err());
        // Other addresses have their own buckets.
        assert_eq!(rate.acquire(host(2), later), Ok(()));
    }

    /// A rate of 0 gives the burst once and then a bounded wait, never a panic or a huge one.
    #[test]
    fn bucket_with_zero_rate_answers_a_bounded_wait() {
        let rate = RequestRate::new(0, 1);
        let start = Instant::now();
        assert_eq!(rate.acquire(host(1), start), Ok(()));
        assert_eq!(
            rate.acquire(host(1), start + Duration::from_secs(10)),
            Err(ms(RATE_WAIT_MS_MAX))
        );
    }

    /// Slots count per address up to the maximum and free their place when dropped.
    #[test]
    fn slots_count_and_free_on_drop() {
        let table = ConnectionsPerAddress::new(2);
        let first = table.try_open(host(1)).expect("first slot");
        let second = table.try_open(host(1)).expect("second slot");
        assert!(table.try_open(host(1)).is_none());
        let other = table.try_open(host(2)).expect("another address");
        assert_eq!(table.open_count(host(1)), 2);
        drop(first);
        assert_eq!(table.open_count(host(1)), 1);
        let third = table.try_open(host(1)).expect("freed slot");
        drop((second, third, other));
        assert_eq!(table.tracked(), 0);
    }

    /// 100k distinct addresses leave every table at most `TRACKED_CLIENTS_MAX` entries; the
    /// connection table refuses newcomers while full of open connections and takes them again
    /// once those close.
    #[test]
    fn tables_stay_bounded_under_many_addresses() {
        const ADDRESSES: u32 = 100_000;
        let start = Instant::now();
        let backoff = LoginBackoff::new(10, 1000);
        let rate = RequestRate::new(1, 1);
        for n in 0..ADDRESSES {
            let now = start + ms(u64::from(n));
            backoff.failed(host(n), now);
            let _ = rate.acquire(host(n), now);
            assert!(backoff.tracked() <= TRACKED_CLIENTS_MAX);
            assert!(rate.tracked() <= TRACKED_CLIENTS_MAX);
        }
        // The newest address kept its count: the stalest went, not the active one.
        let last = host(ADDRESSES - 1);
        assert_eq!(
            backoff.failed(last, start + ms(u64::from(ADDRESSES))),
            ms(20)
        );

        let table = ConnectionsPerAddress::new(1);
        let slots: Vec<ConnectionSlot> = (0..ADDRESSES)
            .filter_map(|n| table.try_open(host(n)))
            .collect();
        assert_eq!(slots.len(), TRACKED_CLIENTS_MAX);
        assert_eq!(table.tracked(), TRACKED_CLIENTS_MAX);
        assert!(table.try_open(host(ADDRESSES)).is_none());
        drop(slots);
        assert_eq!(table.tracked(), 0);
        assert!(table.try_open(host(ADDRESSES)).is_some());
    }
}
