//! The replay window: a signed request is accepted only within [`WINDOW_SECS`] of the
//! platform clock, so a captured one cannot be replayed later. Inside the window the
//! `git_ops_dispatch` rows ([`crate::record`]) make a replay a duplicate.

use core::fmt;

use pulser_runtime::time::UnixTime;

/// How far a request's `timestamp` may be from the platform clock, either way.
pub(crate) const WINDOW_SECS: u64 = 300;

/// A `timestamp` outside the window: how far from `now` it was, and which way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stale {
    /// Seconds between the signing time and the platform clock.
    pub(crate) off_by_secs: u64,
    /// The signing time is in the platform's future.
    pub(crate) ahead: bool,
}

impl fmt::Display for Stale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "timestamp is {} s {} this server's clock; requests are accepted within {WINDOW_SECS} s \
             of it: sign a fresh request with the current time (keep its request_id, so a retry \
             still takes effect once)",
            self.off_by_secs,
            if self.ahead { "ahead of" } else { "behind" }
        )
    }
}

/// Whether a request signed at `signed_at` may be acted on at `now` (unix seconds).
///
/// # Errors
/// [`Stale`] when it is more than [`WINDOW_SECS`] away from `now`.
pub(crate) fn check(signed_at: UnixTime, now: u64) -> Result<(), Stale> {
    let signed = signed_at.as_secs();
    let off_by_secs = signed.abs_diff(now);
    if off_by_secs > WINDOW_SECS {
        return Err(Stale {
            off_by_secs,
            ahead: signed > now,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_795_000_000;

    fn at(secs: u64) -> UnixTime {
        UnixTime::from_secs(secs)
    }

    #[test]
    fn the_window_includes_its_edges() {
        for signed in [NOW, NOW - WINDOW_SECS, NOW + WINDOW_SECS] {
            assert_eq!(check(at(signed), NOW), Ok(()), "{signed}");
        }
    }

    #[test]
    fn a_second_past_either_edge_is_stale() {
        assert_eq!(
            check(at(NOW - WINDOW_SECS - 1), NOW),
            Err(Stale {
                off_by_secs: 301,
                ahead: false
            })
        );
        assert_eq!(
            check(at(NOW + WINDOW_SECS + 1), NOW),
            Err(Stale {
                off_by_secs: 301,
                ahead: true
            })
        );
        assert_eq!(
            check(at(0), NOW).map_err(|s| s.to_string()),
            Err(format!(
                "timestamp is {NOW} s behind this server's clock; requests are accepted within \
                 300 s of it: sign a fresh request with the current time (keep its request_id, so \
                 a retry still takes effect once)"
            ))
        );
    }
}
