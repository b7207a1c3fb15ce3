//! Timestamps as PostgREST reads and writes `timestamptz` columns: RFC 3339 in UTC.

/// Formats unix seconds as RFC 3339 UTC, `2026-11-23T10:00:00Z`, the form PostgREST accepts
/// for `timestamptz` values in bodies and filters. Valid for every `u64` up to the year 9999
/// range PostgreSQL stores; later instants are clamped to `9999-12-31T23:59:59Z`.
///
/// ```
/// assert_eq!(pulser_supabase::rfc3339(0), "1970-01-01T00:00:00Z");
/// assert_eq!(pulser_supabase::rfc3339(1_795_428_000), "2026-11-23T10:00:00Z");
/// ```
#[must_use]
pub fn rfc3339(unix_secs: u64) -> String {
    /// 9999-12-31T23:59:59Z.
    const MAX: u64 = 253_402_300_799;
    let secs = unix_secs.min(MAX);
    let (year, month, day) = civil_from_days(secs / 86_400);
    let in_day = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        in_day / 3600,
        in_day % 3600 / 60,
        in_day % 60
    )
}

/// (year, month, day) of a day count since 1970-01-01, for non-negative counts (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn epoch() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn known_instants() {
        // Checked against `date -u -d @N +%FT%TZ`.
        let cases = [
            (1_700_000_000, "2023-11-14T22:13:20Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (951_868_799, "2000-02-29T23:59:59Z"),
            (4_107_542_400, "2100-03-01T00:00:00Z"),
            (1_795_428_000, "2026-11-23T10:00:00Z"),
            (1_767_225_599, "2025-12-31T23:59:59Z"),
        ];
        for (unix, expected) in cases {
            assert_eq!(rfc3339(unix), expected, "unix {unix}");
        }
    }

    #[test]
    fn clamps_past_year_9999() {
        assert_eq!(rfc3339(253_402_300_799), "9999-12-31T23:59:59Z");
        assert_eq!(rfc3339(u64::MAX), "9999-12-31T23:59:59Z");
    }
}
