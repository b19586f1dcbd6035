//! Sign-in limit: at most N failures per client address and per username in a sliding window.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Counts recent failures per key.
pub struct FailureLimiter {
    max: u32,
    window: Duration,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

/// Keys a sign-in attempt counts against.
pub fn login_keys(client: Option<IpAddr>, username: &str) -> Vec<String> {
    let mut keys = vec![format!("user:{username}")];
    if let Some(ip) = client {
        keys.push(format!("ip:{ip}"));
    }
    keys
}

impl FailureLimiter {
    /// A limiter allowing `max` failures per `window`.
    pub fn new(max: u32, window: Duration) -> Self {
        Self {
            max: max.max(1),
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(retry_after)` when any key is over the limit.
    pub fn check(&self, keys: &[String]) -> Result<(), Duration> {
        self.check_at(keys, Instant::now())
    }

    fn check_at(&self, keys: &[String], now: Instant) -> Result<(), Duration> {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let mut wait = Duration::ZERO;
        for key in keys {
            if let Some(q) = map.get_mut(key) {
                while q
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= self.window)
                {
                    q.pop_front();
                }
                if q.len() >= self.max as usize {
                    if let Some(first) = q.front() {
                        wait = wait.max(self.window.saturating_sub(now.duration_since(*first)));
                    }
                }
            }
        }
        if wait > Duration::ZERO {
            Err(wait)
        } else {
            Ok(())
        }
    }

    /// Records a failure against every key.
    pub fn fail(&self, keys: &[String]) {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
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
            while q.len() > self.max as usize {
                q.pop_front();
            }
        }
    }

    /// Forgets failures after a success.
    pub fn clear(&self, keys: &[String]) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        for key in keys {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_max_failures_and_releases_after_window() {
        let l = FailureLimiter::new(3, Duration::from_secs(60));
        let keys = login_keys(Some("10.0.0.1".parse().unwrap()), "alice");
        for _ in 0..3 {
            assert!(l.check(&keys).is_ok());
            l.fail(&keys);
        }
        let wait = l.check(&keys).unwrap_err();
        assert!(wait <= Duration::from_secs(60) && wait > Duration::from_secs(50));
        // Another user from another address is not affected.
        assert!(l
            .check(&login_keys(Some("10.0.0.2".parse().unwrap()), "bob"))
            .is_ok());
        // The same user from another address is: the username key is over the limit.
        assert!(l
            .check(&login_keys(Some("10.0.0.2".parse().unwrap()), "alice"))
            .is_err());
        assert!(l
            .check_at(&keys, Instant::now() + Duration::from_secs(61))
            .is_ok());
        l.clear(&keys);
        assert!(l.check(&keys).is_ok());
    }
}
