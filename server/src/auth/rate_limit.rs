//! The sign-in limit, in three parts:
//! - per client address, and per (address, username): at most N failures in a sliding
//!   window, then 429 until the window moves on. Each attempt is *reserved* before its
//!   password is hashed, so 50 guesses sent at once count as 50, not as 0 until the first
//!   hash finishes;
//! - per username alone: past N failures, every attempt (from any address) waits a little
//!   longer before it is checked, but is never refused. Anyone can fail sign-ins for a
//!   username; if that locked the account, anyone could lock the real admin out;
//! - at most a few password hashes at once (argon2 takes 19 MiB each), however many
//!   attempts arrive.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures per username after which attempts slow down.
const SLOW_STEP: Duration = Duration::from_millis(250);
/// Longest an attempt is slowed down.
const MAX_SLOWDOWN: Duration = Duration::from_secs(3);

/// Counts recent failures per key.
pub struct FailureLimiter {
    max: u32,
    /// Failures kept per key (at least `max`; more for a limiter that slows down).
    keep: usize,
    window: Duration,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

/// The keys an attempt is limited by (address, and address with username): over the limit,
/// it is refused.
pub fn strict_keys(client: Option<IpAddr>, username: &str) -> Vec<String> {
    let ip = client.map_or_else(|| "unknown".to_string(), |ip| ip.to_string());
    vec![format!("ip:{ip}"), format!("ip-user:{ip}/{username}")]
}

/// The key an attempt is slowed down by (the username alone).
pub fn user_key(username: &str) -> String {
    format!("user:{username}")
}

impl FailureLimiter {
    /// A limiter allowing `max` failures per `window`.
    pub fn new(max: u32, window: Duration) -> Self {
        Self {
            max: max.max(1),
            keep: max.max(1) as usize,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// A limiter for [`FailureLimiter::slowdown`]: it keeps enough failures per key to
    /// reach the longest wait.
    pub fn slowing(max: u32, window: Duration) -> Self {
        let steps = (MAX_SLOWDOWN.as_millis() / SLOW_STEP.as_millis()) as usize;
        Self {
            keep: max.max(1) as usize + steps,
            ..Self::new(max, window)
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<Instant>>> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drops failures older than the window; the failures left.
    fn recent<'m>(
        &self,
        map: &'m mut HashMap<String, VecDeque<Instant>>,
        key: &str,
        now: Instant,
    ) -> Option<&'m mut VecDeque<Instant>> {
        let q = map.get_mut(key)?;
        while q
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            q.pop_front();
        }
        Some(q)
    }

    /// Reserves an attempt against every key: counted as a failure at once (a success
    /// takes it back with [`FailureLimiter::clear`]). `Err(retry_after)` when a key is
    /// already at the limit; nothing is counted then.
    pub fn reserve(&self, keys: &[String]) -> Result<(), Duration> {
        self.reserve_at(keys, Instant::now())
    }

    fn reserve_at(&self, keys: &[String], now: Instant) -> Result<(), Duration> {
        let mut map = self.lock();
        let mut wait = Duration::ZERO;
        for key in keys {
            if let Some(q) = self.recent(&mut map, key, now) {
                if q.len() >= self.max as usize {
                    if let Some(first) = q.front() {
                        wait = wait.max(self.window.saturating_sub(now.duration_since(*first)));
                    }
                }
            }
        }
        if wait > Duration::ZERO {
            return Err(wait);
        }
        self.push(&mut map, keys, now);
        Ok(())
    }

    fn push(&self, map: &mut HashMap<String, VecDeque<Instant>>, keys: &[String], now: Instant) {
        if map.len() > 50_000 {
            // Bound memory under a spray of usernames: drop keys whose window has passed.
            map.retain(|_, q| {
                q.back()
                    .is_some_and(|t| now.duration_since(*t) < self.window)
            });
        }
        for key in keys {
            let q = map.entry(key.clone()).or_default();
            q.push_back(now);
            while q.len() > self.keep {
                q.pop_front();
            }
        }
    }

    /// Records a failure against every key (no limit is checked).
    pub fn fail(&self, keys: &[String]) {
        let mut map = self.lock();
        self.push(&mut map, keys, Instant::now());
    }

    /// How long an attempt against `key` waits first: nothing below the limit, then a
    /// quarter second more per failure past it, at most three seconds.
    pub fn slowdown(&self, key: &str) -> Duration {
        self.slowdown_at(key, Instant::now())
    }

    fn slowdown_at(&self, key: &str, now: Instant) -> Duration {
        let mut map = self.lock();
        let n = self
            .recent(&mut map, key, now)
            .map_or(0, |q| q.len() as u32);
        if n < self.max {
            return Duration::ZERO;
        }
        (SLOW_STEP * (n - self.max + 1)).min(MAX_SLOWDOWN)
    }

    /// Forgets failures after a success.
    pub fn clear(&self, keys: &[String]) {
        let mut map = self.lock();
        for key in keys {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_refused_after_max_attempts_and_released_after_the_window() {
        let l = FailureLimiter::new(3, Duration::from_secs(60));
        let keys = strict_keys(Some("10.0.0.1".parse().unwrap()), "alice");
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.reserve_at(&keys, t0).is_ok());
        }
        let wait = l.reserve_at(&keys, t0).unwrap_err();
        assert!(wait <= Duration::from_secs(60) && wait > Duration::from_secs(50));
        // The same username from another address is not refused: only slowed, elsewhere.
        assert!(l
            .reserve_at(&strict_keys(Some("10.0.0.2".parse().unwrap()), "alice"), t0)
            .is_ok());
        // Another username from the same address is: the address is over the limit.
        assert!(l
            .reserve_at(&strict_keys(Some("10.0.0.1".parse().unwrap()), "bob"), t0)
            .is_err());
        assert!(l.reserve_at(&keys, t0 + Duration::from_secs(61)).is_ok());
        l.clear(&keys);
        assert!(l.reserve(&keys).is_ok());
    }

    #[test]
    fn parallel_attempts_are_each_counted_before_any_is_checked() {
        let l = std::sync::Arc::new(FailureLimiter::new(5, Duration::from_secs(60)));
        let keys = strict_keys(Some("10.0.0.9".parse().unwrap()), "alice");
        let admitted: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..50)
                .map(|_| {
                    let (l, keys) = (l.clone(), keys.clone());
                    s.spawn(move || usize::from(l.reserve(&keys).is_ok()))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(admitted, 5, "fifty at once: five get to the password check");
    }

    #[test]
    fn a_username_under_attack_slows_down_but_never_locks() {
        let l = FailureLimiter::slowing(3, Duration::from_secs(60));
        let key = user_key("admin");
        let t0 = Instant::now();
        assert_eq!(l.slowdown_at(&key, t0), Duration::ZERO);
        for _ in 0..3 {
            l.fail(std::slice::from_ref(&key));
        }
        assert_eq!(l.slowdown_at(&key, Instant::now()), SLOW_STEP);
        for _ in 0..100 {
            l.fail(std::slice::from_ref(&key));
        }
        assert_eq!(l.slowdown_at(&key, Instant::now()), MAX_SLOWDOWN, "bounded");
    }
}
