//! What one client address may hold or try: [`InFlight`] bounds the requests
//! an address has in progress at once (beyond, 429 at once, before the body
//! is read), and [`AuthLockout`] counts an address's failed API
//! authentications and locks it out of the API for a while after too many.
//! Addresses are counted as a [`ClientKey`]: an IPv4 address, or the /64 of
//! an IPv6 one (what one host usually has). Both maps stay bounded: an
//! address is kept only while it has a request in progress, or failures
//! younger than the lockout (and at most [`MAX_TRACKED`] of them).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Most addresses the lockout remembers at once.
pub const MAX_TRACKED: usize = 10_000;

/// A client as the limits count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientKey(IpAddr);

impl ClientKey {
    /// The key of `address`: itself (IPv4, IPv4-mapped IPv6), or its /64.
    pub fn of(address: IpAddr) -> ClientKey {
        match address {
            IpAddr::V4(v4) => ClientKey(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientKey(IpAddr::V4(v4)),
                None => {
                    let bits = u128::from(v6) & !((1u128 << 64) - 1);
                    ClientKey(IpAddr::V6(bits.into()))
                }
            },
        }
    }
}

impl std::fmt::Display for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Requests in progress, per client address.
#[derive(Debug, Clone)]
pub struct InFlight {
    limit: usize,
    counts: Arc<Mutex<HashMap<ClientKey, usize>>>,
}

/// One request in progress; dropping it ends it.
#[derive(Debug)]
pub struct Entered {
    key: ClientKey,
    counts: Arc<Mutex<HashMap<ClientKey, usize>>>,
}

impl InFlight {
    /// At most `limit` requests per address (0: no limit).
    pub fn new(limit: usize) -> InFlight {
        InFlight {
            limit,
            counts: Arc::default(),
        }
    }

    /// Starts a request of `key`, unless it has `limit` in progress already.
    pub fn enter(&self, key: ClientKey) -> Option<Entered> {
        let mut counts = lock(&self.counts);
        let count = counts.entry(key).or_insert(0);
        if self.limit > 0 && *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(Entered {
            key,
            counts: self.counts.clone(),
        })
    }

    /// Addresses with a request in progress.
    pub fn clients(&self) -> usize {
        lock(&self.counts).len()
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        let mut counts = lock(&self.counts);
        if let Some(count) = counts.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

/// Failed API authentications, per client address.
#[derive(Debug)]
pub struct AuthLockout {
    max_failures: u32,
    period: Duration,
    clients: Mutex<HashMap<ClientKey, Failures>>,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    since: Instant,
    count: u32,
    locked_until: Option<Instant>,
}

/// What a failure did to its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failed {
    /// Counted; the address may try again.
    Counted(u32),
    /// The failure that locked the address out, until the given time.
    LockedOut(Instant),
}

impl AuthLockout {
    /// `max_failures` failures within `period` lock an address out for
    /// `period` (0 failures: never).
    pub fn new(max_failures: u32, period: Duration) -> AuthLockout {
        AuthLockout {
            max_failures,
            period,
            clients: Mutex::default(),
        }
    }

    /// When `key` is locked out at `now`, how long it remains so.
    pub fn locked(&self, key: ClientKey, now: Instant) -> Option<Duration> {
        let clients = lock(&self.clients);
        let until = clients.get(&key)?.locked_until?;
        (until > now).then(|| until - now)
    }

    /// Records a failed authentication of `key` at `now`.
    pub fn fail(&self, key: ClientKey, now: Instant) -> Failed {
        if self.max_failures == 0 {
            return Failed::Counted(0);
        }
        let mut clients = lock(&self.clients);
        if clients.len() >= MAX_TRACKED && !clients.contains_key(&key) {
            self.make_room(&mut clients, now);
        }
        let fresh = Failures {
            since: now,
            count: 0,
            locked_until: None,
        };
        let entry = clients.entry(key).or_insert(fresh);
        if now.duration_since(entry.since) >= self.period
            || entry.locked_until.is_some_and(|until| until <= now)
        {
            *entry = fresh;
        }
        entry.count += 1;
        if entry.count >= self.max_failures {
            let until = now + self.period;
            entry.locked_until = Some(until);
            return Failed::LockedOut(until);
        }
        Failed::Counted(entry.count)
    }

    /// Forgets what expired; if every address is still live, the one whose
    /// failures began first.
    fn make_room(&self, clients: &mut HashMap<ClientKey, Failures>, now: Instant) {
        clients.retain(|_, f| {
            now.duration_since(f.since) < self.period || f.locked_until.is_some_and(|u| u > now)
        });
        if clients.len() >= MAX_TRACKED {
            let oldest = clients.iter().min_by_key(|(_, f)| f.since).map(|(k, _)| *k);
            if let Some(oldest) = oldest {
                clients.remove(&oldest);
            }
        }
    }

    /// Addresses remembered.
    pub fn tracked(&self) -> usize {
        lock(&self.clients).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn v4(last: u8) -> ClientKey {
        ClientKey::of(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
    }

    #[test]
    fn ipv6_addresses_count_by_their_64() {
        let a: Ipv6Addr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: Ipv6Addr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: Ipv6Addr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ClientKey::of(a.into()), ClientKey::of(b.into()));
        assert_ne!(ClientKey::of(a.into()), ClientKey::of(c.into()));
        let mapped: Ipv6Addr = "::ffff:127.0.0.2".parse().unwrap();
        assert_eq!(ClientKey::of(mapped.into()), v4(2));
        assert_eq!(ClientKey::of(a.into()).to_string(), "2001:db8:1:2::/64");
    }

    #[test]
    fn in_flight_requests_are_bounded_per_address_and_forgotten_at_zero() {
        let limiter = InFlight::new(2);
        let first = limiter.enter(v4(1)).unwrap();
        let second = limiter.enter(v4(1)).unwrap();
        assert!(limiter.enter(v4(1)).is_none(), "a third is refused");
        assert!(limiter.enter(v4(2)).is_some(), "another address is not");
        drop(first);
        let third = limiter.enter(v4(1)).expect("a slot freed");
        drop((second, third));
        assert_eq!(limiter.clients(), 0);
        let unlimited = InFlight::new(0);
        let held: Vec<_> = (0..1000).map(|_| unlimited.enter(v4(1)).unwrap()).collect();
        assert_eq!(held.len(), 1000);
    }

    #[test]
    fn too_many_failures_lock_out_that_address_for_the_period() {
        let lockout = AuthLockout::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        assert_eq!(lockout.fail(v4(1), t0), Failed::Counted(1));
        assert_eq!(lockout.fail(v4(1), t0), Failed::Counted(2));
        let until = t0 + Duration::from_secs(61);
        assert_eq!(
            lockout.fail(v4(1), t0 + Duration::from_secs(1)),
            Failed::LockedOut(until)
        );
        assert_eq!(
            lockout.locked(v4(1), t0 + Duration::from_secs(31)),
            Some(Duration::from_secs(30))
        );
        assert_eq!(lockout.locked(v4(2), t0), None, "others are not locked");
        assert_eq!(lockout.locked(v4(1), until), None, "the lockout ends");
        assert_eq!(lockout.fail(v4(1), until), Failed::Counted(1));
    }

    #[test]
    fn old_failures_are_forgotten() {
        let lockout = AuthLockout::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        assert_eq!(lockout.fail(v4(1), t0), Failed::Counted(1));
        let later = t0 + Duration::from_secs(60);
        assert_eq!(lockout.fail(v4(1), later), Failed::Counted(1));
        assert_eq!(
            AuthLockout::new(0, later - t0).fail(v4(1), t0),
            Failed::Counted(0)
        );
    }

    #[test]
    fn the_map_stays_bounded() {
        let lockout = AuthLockout::new(5, Duration::from_secs(60));
        let t0 = Instant::now();
        for n in 0..(MAX_TRACKED as u32 + 50) {
            let key = ClientKey::of(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n)));
            lockout.fail(key, t0 + Duration::from_millis(u64::from(n)));
        }
        assert_eq!(lockout.tracked(), MAX_TRACKED);
    }
}
