//! Per-tenant ingest rate limits (the GCRA of `governor`): each tenant has a bucket of `burst`
//! events refilled at `rate` events per second; a batch takes as many as it holds events. A request
//! over the limit is answered 429 with `Retry-After`, and nothing of it is written.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// A tenant's limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    /// Sustained events per second.
    pub rate: u32,
    /// Events that may arrive at once (also the largest batch accepted).
    pub burst: u32,
}

/// Why a request may not go ahead now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Over the rate: try again after this long.
    RetryAfter(Duration),
    /// More events in one request than the tenant's burst: it can never go through whole.
    TooLarge {
        /// The tenant's burst.
        burst: u32,
    },
}

/// The limits of every tenant.
pub struct TenantLimits {
    default: Limit,
    overrides: HashMap<String, Limit>,
    limiters: Mutex<HashMap<String, Arc<DefaultDirectRateLimiter>>>,
    clock: DefaultClock,
}

impl TenantLimits {
    /// `default` for every tenant but those in `overrides`. Rates and bursts of 0 are raised to 1.
    pub fn new(default: Limit, overrides: HashMap<String, Limit>) -> TenantLimits {
        TenantLimits { default, overrides, limiters: Mutex::new(HashMap::new()), clock: DefaultClock::default() }
    }

    fn limiter(&self, tenant: &str) -> Arc<DefaultDirectRateLimiter> {
        let mut limiters = self.limiters.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(l) = limiters.get(tenant) {
            return l.clone();
        }
        let limit = self.overrides.get(tenant).copied().unwrap_or(self.default);
        let quota = Quota::per_second(NonZeroU32::new(limit.rate).unwrap_or(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(limit.burst).unwrap_or(NonZeroU32::MIN));
        let l = Arc::new(RateLimiter::direct(quota));
        limiters.insert(tenant.to_string(), l.clone());
        l
    }

    /// Takes `events` from `tenant`'s bucket, or says why not.
    pub fn admit(&self, tenant: &str, events: usize) -> Result<(), Refusal> {
        let limiter = self.limiter(tenant);
        let n = NonZeroU32::new(u32::try_from(events).unwrap_or(u32::MAX)).unwrap_or(NonZeroU32::MIN);
        match limiter.check_n(n) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(Refusal::RetryAfter(not_until.wait_time_from(self.clock.now()))),
            Err(insufficient) => Err(Refusal::TooLarge { burst: insufficient.0 }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenants_have_buckets_of_their_own() {
        let overrides = HashMap::from([("big".to_string(), Limit { rate: 1000, burst: 1000 })]);
        let limits = TenantLimits::new(Limit { rate: 10, burst: 20 }, overrides);
        assert_eq!(limits.admit("a", 20), Ok(()));
        assert!(matches!(limits.admit("a", 5), Err(Refusal::RetryAfter(d)) if d > Duration::ZERO));
        assert_eq!(limits.admit("b", 15), Ok(()), "another tenant's bucket is full");
        assert_eq!(limits.admit("a", 21), Err(Refusal::TooLarge { burst: 20 }));
        assert_eq!(limits.admit("big", 900), Ok(()));
    }
}
