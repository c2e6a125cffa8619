//! Exponential back-off: how long to wait before trying again, for every loop that retries (the
//! supervisor while the log is unavailable, the views' passes).

use std::time::Duration;

/// Waits that start at `first`, double with every failed try and stop growing at `max`.
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    attempts: u32,
}

impl Backoff {
    /// A back-off that waits `first`, then twice as long each time, at most `max`.
    pub fn new(first: Duration, max: Duration) -> Backoff {
        Backoff { first, max, attempts: 0 }
    }

    /// The wait before the next try (and counts the try).
    pub fn next_wait(&mut self) -> Duration {
        let wait = self.first.saturating_mul(1 << self.attempts.min(16)).min(self.max);
        self.attempts = self.attempts.saturating_add(1);
        wait
    }

    /// How many tries failed since the last success.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// A try succeeded: the next failure waits `first` again. Returns the failed tries before it.
    pub fn reset(&mut self) -> u32 {
        std::mem::take(&mut self.attempts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_maximum_and_starts_over_after_a_success() {
        let mut b = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        let waits: Vec<u64> = (0..9).map(|_| b.next_wait().as_millis() as u64).collect();
        assert_eq!(waits, [500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
        assert_eq!(b.reset(), 9);
        assert_eq!(b.next_wait(), Duration::from_millis(500));
    }
}
