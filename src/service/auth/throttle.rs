//! The login throttle: per address, every attempt; per (name, address), only failures.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::error::Error;

/// Throttles login attempts, so that guessing a password or secret is slow, without letting
/// anyone lock a user or client out by guessing wrong on purpose:
/// - per client address (`governor`, GCRA), every attempt counts: `per_address`, then one
///   every 2 s;
/// - per (username or client, address) pair, only failures count: `per_name` wrong attempts,
///   then one every 12 s — and past that, every attempt of the pair is refused, right
///   password or not.
///
/// So five wrong secrets sent for the finance bureau's published `client_id` from one address
/// throttle that address only; the bureau, from its own, still logs in. An IPv6 address counts
/// by its /64 prefix (one host usually holds a whole /64), an IPv4-mapped one as IPv4.
pub struct LoginThrottle {
    by_address: DefaultKeyedRateLimiter<String>,
    failures: Failures,
}

/// One attempt admitted by the throttle; a success must be reported (`succeeded`), so that
/// only failures stay counted.
#[must_use = "report a success with LoginThrottle::succeeded"]
pub struct Attempt {
    pair: String,
}

impl LoginThrottle {
    /// `per_name` failures per (name, address), then one every 12 s; `per_address` attempts
    /// per address, then one every 2 s.
    pub fn new(per_name: u32, per_address: u32) -> Self {
        let quota = |burst: u32, period: u64| {
            Quota::with_period(Duration::from_secs(period))
                .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
                .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN))
        };
        Self {
            by_address: DefaultKeyedRateLimiter::keyed(quota(per_address, 2)),
            failures: Failures::new(per_name.max(1), Duration::from_secs(12)),
        }
    }

    /// The key an address counts under.
    pub fn address_key(address: Option<IpAddr>) -> String {
        match address.map(|a| a.to_canonical()) {
            Some(IpAddr::V6(v6)) => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
            Some(v4) => v4.to_string(),
            None => "unknown".to_owned(),
        }
    }

    /// Admits an attempt for `name` from `address`, or answers 429 with the wait. The attempt
    /// is counted as a failure until `succeeded` says otherwise, so that concurrent guesses
    /// cannot slip past the limit.
    pub fn attempt(&self, name: &str, address: Option<IpAddr>) -> Result<Attempt, Error> {
        let address = Self::address_key(address);
        if let Err(not_until) = self.by_address.check_key(&address) {
            let wait = not_until.wait_time_from(DefaultClock::default().now()).as_secs().max(1);
            return Err(Error::TooManyRequests { retry_after_secs: wait });
        }
        let pair = format!("{name} from {address}");
        self.failures.spend(&pair, Instant::now())?;
        Ok(Attempt { pair })
    }

    /// The attempt had the right credentials: it is not a failure.
    pub fn succeeded(&self, attempt: Attempt) {
        self.failures.refund(&attempt.pair, Instant::now());
    }

    /// Forgets keys that are back to a full burst (run periodically, bounds memory).
    pub fn shrink(&self) {
        self.by_address.retain_recent();
        self.failures.shrink(Instant::now());
    }
}

/// Failures per key, as GCRA: each failure moves the key's theoretical arrival time (TAT) one
/// period on; a failure is allowed while the TAT stays within `burst` periods of now. Written
/// here rather than with `governor` because a success must give its cell back, and governor
/// can neither look at a key without spending a cell nor return one.
struct Failures {
    burst: u32,
    period: Duration,
    tats: Mutex<HashMap<String, Instant>>,
}

impl Failures {
    fn new(burst: u32, period: Duration) -> Self {
        Self { burst, period, tats: Mutex::new(HashMap::new()) }
    }

    fn tats(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        // The map holds no invariant a panic could break half-way: a poisoned lock is usable.
        self.tats.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Spends one failure of `key`, or answers 429 when its burst is spent.
    fn spend(&self, key: &str, now: Instant) -> Result<(), Error> {
        let mut tats = self.tats();
        let tat = tats.get(key).copied().unwrap_or(now).max(now) + self.period;
        let ahead = tat.duration_since(now);
        let limit = self.period * self.burst;
        if ahead > limit {
            let wait = ahead - limit;
            let wait = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
            return Err(Error::TooManyRequests { retry_after_secs: wait });
        }
        tats.insert(key.to_owned(), tat);
        Ok(())
    }

    /// Gives back the failure an attempt spent.
    fn refund(&self, key: &str, now: Instant) {
        let mut tats = self.tats();
        if let Some(tat) = tats.get_mut(key) {
            match tat.checked_sub(self.period) {
                Some(earlier) if earlier > now => *tat = earlier,
                _ => {
                    tats.remove(key);
                }
            }
        }
    }

    fn shrink(&self, now: Instant) {
        self.tats().retain(|_, tat| *tat > now);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn failures_of_one_name_from_one_address_are_throttled_and_only_there() {
        let t = LoginThrottle::new(3, 100);
        for _ in 0..3 {
            let _failed = t.attempt("client:b", ip("127.0.0.2")).unwrap();
        }
        let e = t.attempt("client:b", ip("127.0.0.2")).err().unwrap();
        assert!(matches!(e, Error::TooManyRequests { retry_after_secs: 12 }), "{e:?}");
        // The same name from its own address, and another name from the attacker's, still pass.
        t.succeeded(t.attempt("client:b", ip("127.0.0.1")).unwrap());
        let _other = t.attempt("user:a", ip("127.0.0.2")).unwrap();
    }

    #[test]
    fn successes_are_not_counted_as_failures() {
        let t = LoginThrottle::new(2, 100);
        for _ in 0..10 {
            t.succeeded(t.attempt("user:a", ip("10.0.0.1")).unwrap());
        }
        let _one = t.attempt("user:a", ip("10.0.0.1")).unwrap();
        let _two = t.attempt("user:a", ip("10.0.0.1")).unwrap();
        assert!(t.attempt("user:a", ip("10.0.0.1")).is_err(), "two failures spend the burst");
    }

    #[test]
    fn every_attempt_counts_against_the_address() {
        let t = LoginThrottle::new(100, 3);
        for i in 0..3 {
            t.succeeded(t.attempt(&format!("user:{i}"), ip("10.0.0.1")).unwrap());
        }
        assert!(matches!(t.attempt("user:x", ip("10.0.0.1")), Err(Error::TooManyRequests { .. })));
        t.succeeded(t.attempt("user:x", ip("10.0.0.2")).unwrap());
    }

    #[test]
    fn an_ipv6_address_counts_by_its_64_prefix_and_a_mapped_ipv4_as_ipv4() {
        let key = LoginThrottle::address_key;
        assert_eq!(key(ip("2001:db8:1:2:aaaa::1")), key(ip("2001:db8:1:2:bbbb::2")));
        assert_ne!(key(ip("2001:db8:1:2::1")), key(ip("2001:db8:1:3::1")));
        assert_eq!(key(ip("::ffff:192.0.2.7")), "192.0.2.7");
        assert_eq!(key(None), "unknown");
    }

    #[test]
    fn a_failure_budget_refills_one_period_at_a_time() {
        let f = Failures::new(2, Duration::from_secs(12));
        let t0 = Instant::now();
        f.spend("k", t0).unwrap();
        f.spend("k", t0).unwrap();
        assert!(f.spend("k", t0).is_err());
        assert!(f.spend("k", t0 + Duration::from_secs(11)).is_err());
        f.spend("k", t0 + Duration::from_secs(12)).unwrap();
        f.shrink(t0 + Duration::from_secs(60));
        assert!(f.tats().is_empty(), "a key back to a full burst is forgotten");
    }
}
