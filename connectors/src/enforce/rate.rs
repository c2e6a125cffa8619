//! Per-adapter rate limits (the GCRA of the `governor` crate): an adapter waits for its limiter before
//! each request, so a burst of dispatched actions reaches the target system spread out in time.

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};

use super::EnforceError;

/// How fast an adapter may send requests to its target.
///
/// ```toml
/// rate_limit = { rate_per_second = 5, burst = 10 }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Sustained requests per second; fractions are allowed (`0.5` is one request every two seconds).
    pub rate_per_second: f64,
    /// How many requests may go out back to back before the sustained rate applies. Default 1 (no
    /// burst: requests are spaced `1 / rate_per_second` apart).
    #[serde(default = "one")]
    pub burst: u32,
}

fn one() -> u32 {
    1
}

/// A rate limiter shared by every request of one adapter.
#[derive(Debug)]
pub struct Limiter {
    limiter: DefaultDirectRateLimiter,
}

impl Limiter {
    /// A limiter for `config`; an error if the rate is not a positive number or the burst is 0.
    pub fn new(config: &RateLimitConfig) -> Result<Limiter, EnforceError> {
        let rate = config.rate_per_second;
        if !(rate.is_finite() && rate > 0.0) {
            return Err(EnforceError::Config(format!(
                "rate_limit.rate_per_second must be a positive number, not {rate}"
            )));
        }
        let burst = NonZeroU32::new(config.burst)
            .ok_or_else(|| EnforceError::Config("rate_limit.burst must be at least 1".to_string()))?;
        let period = Duration::try_from_secs_f64(1.0 / rate).ok();
        let quota = period.and_then(Quota::with_period).ok_or_else(|| {
            EnforceError::Config(format!("rate_limit.rate_per_second = {rate} gives no usable interval"))
        })?;
        Ok(Limiter { limiter: RateLimiter::direct(quota.allow_burst(burst)) })
    }

    /// Waits until the next request may go out; returns how long that took.
    pub async fn wait(&self) -> Duration {
        let start = Instant::now();
        self.limiter.until_ready().await;
        start.elapsed()
    }
}

/// Waits for `limiter` if there is one; returns how long that took.
pub(crate) async fn wait(limiter: Option<&Limiter>) -> Duration {
    match limiter {
        Some(l) => l.wait().await,
        None => Duration::ZERO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_burst_beyond_the_limit_is_spread_in_time() {
        let limiter = Limiter::new(&RateLimitConfig { rate_per_second: 10.0, burst: 1 }).expect("limiter");
        let start = Instant::now();
        let mut waits = Vec::new();
        for _ in 0..5 {
            waits.push(limiter.wait().await);
        }
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(400), "5 requests at 10/s took {took:?}");
        assert!(took < Duration::from_secs(3), "{took:?}");
        assert!(waits[0] < Duration::from_millis(50), "the first request goes at once: {waits:?}");
    }

    #[tokio::test]
    async fn a_burst_within_the_limit_goes_at_once() {
        let limiter = Limiter::new(&RateLimitConfig { rate_per_second: 1.0, burst: 5 }).expect("limiter");
        let start = Instant::now();
        for _ in 0..5 {
            limiter.wait().await;
        }
        assert!(start.elapsed() < Duration::from_millis(200), "{:?}", start.elapsed());
    }

    #[test]
    fn bad_limits_are_refused() {
        for (rate, burst) in [(0.0, 1), (-1.0, 1), (f64::NAN, 1), (f64::INFINITY, 1), (1.0, 0), (1e-300, 1)] {
            let err = Limiter::new(&RateLimitConfig { rate_per_second: rate, burst }).expect_err("refused");
            assert!(matches!(err, EnforceError::Config(_)), "{rate}/{burst}: {err}");
        }
    }
}
