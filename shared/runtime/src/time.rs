//! The one home of wall-clock instants: [`UnixTime`], read from [`Platform::now`](crate::Platform::now)
//! and written as RFC 3339 (what PostgREST stores, what GitHub answers in `expires_at`) or as
//! an HTTP date (GitHub's `Date` header), without a date crate.

use core::fmt;

/// An instant as whole seconds since 1970-01-01T00:00:00Z. Time is always passed in (a
/// function reads it once from its platform), never read here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime(u64);

/// 9999-12-31T23:59:59Z: the last instant RFC 3339's four-digit years (and PostgreSQL's
/// `timestamptz` input) can carry; later instants are written as this one.
const MAX_SECS: u64 = 253_402_300_799;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];

impl UnixTime {
    /// The instant `secs` seconds after the epoch.
    #[must_use]
    pub const fn from_secs(secs: u64) -> Self {
        Self(secs)
    }

    /// Seconds since the epoch.
    #[must_use]
    pub const fn as_secs(self) -> u64 {
        self.0
    }

    /// `2026-11-23T10:00:00Z`, clamped to year 9999.
    #[must_use]
    pub fn rfc3339(self) -> String {
        let (date, [h, m, s]) = self.parts();
        let (y, mo, d) = date;
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}Z")
    }

    /// `Mon, 23 Nov 2026 10:00:00 GMT` (IMF-fixdate), clamped to year 9999.
    #[must_use]
    pub fn http_date(self) -> String {
        let ((y, mo, d), [h, m, s]) = self.parts();
        let days = self.0.min(MAX_SECS) / 86_400;
        let weekday = WEEKDAYS.get((days % 7) as usize).copied().unwrap_or("Thu");
        let month = MONTHS.get(mo as usize - 1).copied().unwrap_or("Jan");
        format!("{weekday}, {d:02} {month} {y:04} {h:02}:{m:02}:{s:02} GMT")
    }

    /// Reads `2026-11-23T10:00:00Z`, also with fractional seconds (dropped) or a `±HH:MM`
    /// offset. `None` for anything else or an instant before the epoch.
    #[must_use]
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        let b = text.as_bytes();
        let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
        if separators.iter().any(|&(at, c)| b.get(at) != Some(&c)) {
            return None;
        }
        let field = |range: core::ops::Range<usize>| text.get(range).and_then(number);
        let mut zone = text.get(19..)?;
        if let Some(fraction) = zone.strip_prefix('.') {
            let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return None;
            }
            zone = fraction.get(digits..)?;
        }
        let offset = match zone.as_bytes() {
            b"Z" => 0,
            [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
                let (zh, zm) = (number(zone.get(1..3)?)?, number(zone.get(4..6)?)?);
                if zh > 23 || zm > 59 {
                    return None;
                }
                let secs = i64::from(zh) * 3600 + i64::from(zm) * 60;
                if *sign == b'-' { -secs } else { secs }
            }
            _ => return None,
        };
        let base = unix(
            i64::from(field(0..4)?),
            field(5..7)?,
            field(8..10)?,
            field(11..13)?,
            field(14..16)?,
            field(17..19)?,
        )?;
        u64::try_from(base - offset).ok().map(Self)
    }

    /// Reads an IMF-fixdate, `Tue, 14 Nov 2023 22:13:20 GMT` (fixed width, as RFC 9110
    /// has senders write it; the weekday is not checked).
    #[must_use]
    pub fn parse_http_date(text: &str) -> Option<Self> {
        let b = text.as_bytes();
        let separators = [
            (3, b','),
            (4, b' '),
            (7, b' '),
            (11, b' '),
            (16, b' '),
            (19, b':'),
            (22, b':'),
        ];
        if b.len() != 29
            || !text.ends_with(" GMT")
            || separators.iter().any(|&(at, c)| b.get(at) != Some(&c))
        {
            return None;
        }
        let field = |range: core::ops::Range<usize>| text.get(range).and_then(number);
        let month = MONTHS.iter().position(|m| Some(*m) == text.get(8..11))?;
        let secs = unix(
            i64::from(field(12..16)?),
            u32::try_from(month).ok()? + 1,
            field(5..7)?,
            field(17..19)?,
            field(20..22)?,
            field(23..25)?,
        )?;
        u64::try_from(secs).ok().map(Self)
    }

    /// ((year, month, day), [hour, minute, second]) in UTC.
    fn parts(self) -> ((u64, u64, u64), [u64; 3]) {
        let secs = self.0.min(MAX_SECS);
        let in_day = secs % 86_400;
        (
            civil_from_days(secs / 86_400),
            [in_day / 3600, in_day % 3600 / 60, in_day % 60],
        )
    }
}

impl fmt::Display for UnixTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rfc3339())
    }
}

/// Unix seconds as RFC 3339 UTC: `UnixTime::from_secs(secs).rfc3339()`.
///
/// ```
/// assert_eq!(pulser_runtime::time::rfc3339(0), "1970-01-01T00:00:00Z");
/// assert_eq!(pulser_runtime::time::rfc3339(1_795_428_000), "2026-11-23T10:00:00Z");
/// ```
#[must_use]
pub fn rfc3339(secs: u64) -> String {
    UnixTime::from_secs(secs).rfc3339()
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month = i64::from(month);
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of a non-negative day count since 1970-01-01 (`civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + u64::from(month <= 2), month, day)
}

/// 1 to 9 ASCII digits (no sign, no spaces), without pulling in `u32::from_str`.
fn number(text: &str) -> Option<u32> {
    if text.is_empty() || text.len() > 9 {
        return None;
    }
    text.bytes().try_fold(0u32, |n, b| {
        b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
    })
}

/// Seconds of a UTC civil time; `None` for an impossible field (February 30th included).
fn unix(year: i64, month: u32, day: u32, h: u32, m: u32, s: u32) -> Option<i64> {
    if !(1..=12).contains(&month) || day < 1 || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days_in_month = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if day > days_in_month {
        return None;
    }
    Some(
        days_from_civil(year, month, day) * 86_400
            + i64::from(h) * 3600
            + i64::from(m) * 60
            + i64::from(s),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> UnixTime {
        UnixTime::from_secs(secs)
    }

    #[test]
    fn known_instants_in_rfc3339_and_http_date() {
        // Checked against `date -u -d @N '+%FT%TZ'` and `'+%a, %d %b %Y %T GMT'`.
        let cases = [
            (0, "1970-01-01T00:00:00Z", "Thu, 01 Jan 1970 00:00:00 GMT"),
            (
                1_700_000_000,
                "2023-11-14T22:13:20Z",
                "Tue, 14 Nov 2023 22:13:20 GMT",
            ),
            (
                951_782_400,
                "2000-02-29T00:00:00Z",
                "Tue, 29 Feb 2000 00:00:00 GMT",
            ),
            (
                951_868_799,
                "2000-02-29T23:59:59Z",
                "Tue, 29 Feb 2000 23:59:59 GMT",
            ),
            (
                4_107_542_400,
                "2100-03-01T00:00:00Z",
                "Mon, 01 Mar 2100 00:00:00 GMT",
            ),
            (
                1_795_428_000,
                "2026-11-23T10:00:00Z",
                "Mon, 23 Nov 2026 10:00:00 GMT",
            ),
            (
                1_767_225_599,
                "2025-12-31T23:59:59Z",
                "Wed, 31 Dec 2025 23:59:59 GMT",
            ),
        ];
        for (secs, rfc, http) in cases {
            assert_eq!(at(secs).rfc3339(), rfc, "{secs}");
            assert_eq!(at(secs).http_date(), http, "{secs}");
            assert_eq!(UnixTime::parse_rfc3339(rfc), Some(at(secs)), "{rfc}");
            assert_eq!(UnixTime::parse_http_date(http), Some(at(secs)), "{http}");
        }
    }

    #[test]
    fn clamps_past_year_9999() {
        assert_eq!(at(253_402_300_799).rfc3339(), "9999-12-31T23:59:59Z");
        assert_eq!(at(u64::MAX).rfc3339(), "9999-12-31T23:59:59Z");
        assert_eq!(at(u64::MAX).http_date(), "Fri, 31 Dec 9999 23:59:59 GMT");
    }

    #[test]
    fn rfc3339_offsets_and_fractions() {
        assert_eq!(
            UnixTime::parse_rfc3339("2023-11-14T23:13:20+01:00"),
            Some(at(1_700_000_000))
        );
        assert_eq!(
            UnixTime::parse_rfc3339("2023-11-14T21:13:20-01:00"),
            Some(at(1_700_000_000))
        );
        assert_eq!(
            UnixTime::parse_rfc3339("2023-11-14T22:13:20.123Z"),
            Some(at(1_700_000_000))
        );
    }

    #[test]
    fn garbage_is_none() {
        for bad in [
            "",
            "2023-11-14",
            "2023-13-01T00:00:00Z",
            "2023-02-30T00:00:00Z",
            "2023-11-14T25:00:00Z",
            "2023-11-14T22:13:20+24:00",
            "1969-12-31T23:59:59Z",
            "x-y-zT1:2:3Z",
            "2023-11-14-01T00:00:00Z",
            "2023-11-14T22:13:20.Z",
            "2023-11-14T22:13:20+0100",
            "2023-11-14T22:13:20",
            "2023-11-14T22:13:20Zjunk",
        ] {
            assert_eq!(UnixTime::parse_rfc3339(bad), None, "{bad}");
        }
        for bad in [
            "",
            "Tue, 14 Nov 2023 22:13:20 UTC",
            "14 Nov 2023",
            "Tue, 14 Foo 2023 22:13:20 GMT",
            "Tue, 14 Nov 2023 22:13:20 GMT extra",
        ] {
            assert_eq!(UnixTime::parse_http_date(bad), None, "{bad}");
        }
    }
}
