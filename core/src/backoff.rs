//! Capped exponential backoff, the one every retry loop of Cortex uses (the hub's database
//! bootstrap and analytics writer, the SDK's channel and event sender, the load driver).
//! Pure: the caller sleeps (and adds jitter where many clients retry at once).

use std::time::Duration;

/// Waits that double from `min` up to `max`, back to `min` after a success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// Starts at `min`; never waits longer than `max` (at least `min`).
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max: max.max(min),
            next: min,
        }
    }

    /// The wait before the next attempt; the one after is twice as long (up to the cap).
    pub fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(self.max);
        wait
    }

    /// After a success: the next wait is `min` again.
    pub fn reset(&mut self) {
        self.next = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap_and_start_over_after_a_success() {
        let ms = Duration::from_millis;
        let mut b = Backoff::new(ms(100), ms(500));
        let waits: Vec<_> = (0..5).map(|_| b.next_wait()).collect();
        assert_eq!(waits, [ms(100), ms(200), ms(400), ms(500), ms(500)]);
        b.reset();
        assert_eq!(b.next_wait(), ms(100));
        assert_eq!(b.next_wait(), ms(200));
        assert_eq!(Backoff::new(ms(50), ms(10)).next_wait(), ms(50));
    }
}
