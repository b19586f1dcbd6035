//! Request limits by key: a token bucket per key (a neuron, a source address, a publishable
//! key, a visitor), with a sustained rate and a burst allowance. Used for analytics batches
//! (a batch costs its number of events), registrations and browser joins. Sign-in failures
//! are limited differently (failures only, reserved before the password is hashed): see
//! [`crate::auth::rate_limit`].
//!
//! Hand-written rather than the `governor` crate: costs are fractional and weighed per
//! request, the wait to answer in `Retry-After` falls out of the same arithmetic, and the
//! table stays bounded by dropping full buckets, in about fifty lines.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets by key.
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// `rate` tokens per second, at most `burst` saved up.
    pub fn new(rate: f64, burst: f64) -> Self {
        Self {
            rate: rate.max(f64::MIN_POSITIVE),
            burst: burst.max(1.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes `cost` tokens for `key`, or says how long to wait until they are there.
    pub fn take(&self, key: &str, cost: f64) -> Result<(), Duration> {
        self.take_at(key, cost, Instant::now())
    }

    fn take_at(&self, key: &str, cost: f64, now: Instant) -> Result<(), Duration> {
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 100_000 {
            // Forget neurons whose bucket has refilled: they would start full anyway.
            let full = self.burst / self.rate;
            map.retain(|_, b| now.duration_since(b.at).as_secs_f64() < full);
        }
        let b = map.entry(key.to_string()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * self.rate).min(self.burst);
        b.at = now;
        let cost = cost.min(self.burst);
        if b.tokens >= cost {
            b.tokens -= cost;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((cost - b.tokens) / self.rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_neuron_over_its_rate_waits_and_others_do_not() {
        let l = RateLimiter::new(100.0, 200.0);
        let t0 = Instant::now();
        assert!(l.take_at("a", 150.0, t0).is_ok());
        let wait = l.take_at("a", 100.0, t0).unwrap_err();
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-9, "{wait:?}");
        assert!(l.take_at("b", 200.0, t0).is_ok(), "buckets are per key");
        assert!(l
            .take_at("a", 100.0, t0 + Duration::from_millis(500))
            .is_ok());
        assert!(l
            .take_at("a", 1.0, t0 + Duration::from_millis(500))
            .is_err());
    }
}
