//! The rate limit per client (`OASIS_RATE_LIMIT` requests a minute), wherever the runtime
//! can count:
//!
//! | build | counts in |
//! |---|---|
//! | Workers with the `OASIS_RATE_LIMITER` binding | Cloudflare's rate limiter (every isolate, every location) |
//! | Workers without it | the isolate's memory (each isolate counts alone) |
//! | Spin | Spin's default key-value store (every instance of the app) |
//! | WASI | nowhere: no store, and an instance's memory is no count of a client (limit in front, or serve the Spin build) |
//!
//! The counters are a fixed window per client and minute: [`next`] decides, the store keeps
//! `"<minute> <count>"` under one key per client. Two instances counting the same client at
//! the same instant can each admit one request more than the limit: a rate limit, not a quota.

use pulser_runtime::Platform;

use crate::error::OasisError;

/// The Workers rate-limit binding's name (wrangler.toml `[[env.oasis_events.ratelimits]]`).
pub const BINDING: &str = "OASIS_RATE_LIMITER";
/// The window, seconds.
pub const WINDOW_SECS: u64 = 60;

/// Whether this build's instances outlive a request, so counting in them means something.
const COUNTS_IN_INSTANCE: bool = !matches!(pulser_runtime::pipeline::FLAVOUR.as_bytes(), b"wasi");

/// Given what the store holds for a client (`"<minute> <count>"`) and the time, whether one
/// more request is admitted under `limit`, and what to store if it is.
#[must_use]
pub(crate) fn next(stored: Option<&[u8]>, now: u64, limit: u64) -> Option<String> {
    let minute = now / WINDOW_SECS;
    let count = stored
        .and_then(|bytes| core::str::from_utf8(bytes).ok())
        .and_then(|text| text.split_once(' '))
        .filter(|(window, _)| window.parse() == Ok(minute))
        .and_then(|(_, count)| count.parse::<u64>().ok())
        .unwrap_or(0);
    (count < limit).then(|| format!("{minute} {}", count + 1))
}

/// Seconds until the client's window ends: the 429's `retry-after`.
#[must_use]
pub(crate) fn retry_after(now: u64) -> u64 {
    WINDOW_SECS - now % WINDOW_SECS
}

/// Counts one request of `client`.
///
/// # Errors
/// [`OasisError::RateLimited`] when it is over the limit.
pub(crate) async fn admit(
    platform: &impl Platform,
    client: &str,
    limit: u64,
) -> Result<(), OasisError> {
    if limit == 0 {
        return Ok(());
    }
    match platform.rate_limit(BINDING, client).await {
        Some(true) => return Ok(()),
        Some(false) => return Err(OasisError::RateLimited),
        None if !COUNTS_IN_INSTANCE => return Ok(()),
        None => {}
    }
    let key = format!("oasis-rate:{client}");
    match next(platform.cache_get(&key).as_deref(), platform.now(), limit) {
        Some(value) => {
            platform.cache_put(&key, value.as_bytes());
            Ok(())
        }
        None => Err(OasisError::RateLimited),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use pulser_runtime::testing::{FakePlatform, block_on};

    use super::*;

    #[test]
    fn a_window_admits_the_limit_then_refuses_until_the_next_minute() {
        let mut stored: Option<String> = None;
        for n in 1..=3 {
            stored = Some(next(stored.as_deref().map(str::as_bytes), 120, 3).unwrap());
            assert_eq!(stored.as_deref(), Some(format!("2 {n}").as_str()));
        }
        assert_eq!(next(stored.as_deref().map(str::as_bytes), 179, 3), None);
        assert_eq!(
            next(stored.as_deref().map(str::as_bytes), 180, 3).as_deref(),
            Some("3 1")
        );
        assert_eq!(next(Some(b"garbage"), 180, 3).as_deref(), Some("3 1"));
        assert_eq!(retry_after(179), 1);
        assert_eq!(retry_after(180), 60);
    }

    #[test]
    fn a_runtime_limiter_decides_when_there_is_one() {
        let platform = FakePlatform::new(120).with_rate_limiter(1);
        assert_eq!(block_on(admit(&platform, "key-0", 100)), Ok(()));
        assert_eq!(
            block_on(admit(&platform, "key-0", 100)),
            Err(OasisError::RateLimited)
        );
        assert!(
            platform.cache_keys().is_empty(),
            "the binding counts, not the store"
        );
    }

    #[test]
    fn without_one_the_store_counts_per_client_and_zero_is_off() {
        let platform = FakePlatform::new(120);
        assert_eq!(block_on(admit(&platform, "key-0", 1)), Ok(()));
        assert_eq!(
            block_on(admit(&platform, "key-0", 1)),
            Err(OasisError::RateLimited)
        );
        assert_eq!(block_on(admit(&platform, "key-1", 1)), Ok(()));
        assert_eq!(block_on(admit(&platform, "key-0", 0)), Ok(()));
    }
}
