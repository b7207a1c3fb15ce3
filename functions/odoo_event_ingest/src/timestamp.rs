//! `occurred_at` as Odoo sends it, checked and put into the one form PostgREST stores.

/// Longest timestamp text looked at (`9999-12-31T23:59:59.123456789+00:00` is 35).
const MAX_LEN: usize = 40;

/// Checks `YYYY-MM-DD(T| )HH:MM:SS[.fraction][Z|±HH:MM]` and returns it as RFC 3339,
/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`. A time without an offset is UTC, which is
/// how Odoo writes its `Datetime` fields (`2026-11-23 10:00:00`). `None` for anything else,
/// including impossible dates such as February 30th.
pub(crate) fn normalize(text: &str) -> Option<String> {
    if text.len() > MAX_LEN {
        return None;
    }
    let bytes = text.as_bytes();
    let number = |start: usize, len: usize| -> Option<u32> {
        let digits = bytes.get(start..start + len)?;
        digits.iter().try_fold(0u32, |acc, d| {
            d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
        })
    };
    let at = |index: usize, expected: &[u8]| bytes.get(index).is_some_and(|b| expected.contains(b));

    let year = number(0, 4)?;
    let month = number(5, 2)?;
    let day = number(8, 2)?;
    let hour = number(11, 2)?;
    let minute = number(14, 2)?;
    let second = number(17, 2)?;
    let separators = at(4, b"-") && at(7, b"-") && at(10, b"Tt ") && at(13, b":") && at(16, b":");
    let in_range = year >= 1
        && (1..=12).contains(&month)
        && day >= 1
        && day <= days_in_month(year, month)
        && hour <= 23
        && minute <= 59
        && second <= 59;
    if !separators || !in_range {
        return None;
    }

    let rest = text.get(19..)?;
    let (fraction, offset) = match rest.strip_prefix('.') {
        Some(after_dot) => {
            let digits = after_dot.bytes().take_while(u8::is_ascii_digit).count();
            if !(1..=9).contains(&digits) {
                return None;
            }
            (rest.get(..=digits)?, after_dot.get(digits..)?)
        }
        None => ("", rest),
    };
    let offset = match offset {
        "" | "Z" | "z" => "Z",
        _ => {
            let sign = offset.starts_with(['+', '-']);
            let shape = offset.len() == 6 && offset.get(3..4) == Some(":");
            let hours = offset.get(1..3).and_then(two_digits);
            let minutes = offset.get(4..6).and_then(two_digits);
            match (sign && shape, hours, minutes) {
                // PostgreSQL's timestamptz takes offsets up to ±15:59 and refuses the rest,
                // which would turn a bad event into a 502.
                (true, Some(h), Some(m)) if h <= 15 && m <= 59 => offset,
                _ => return None,
            }
        }
    };
    Some(format!(
        "{}T{}{fraction}{offset}",
        text.get(..10)?,
        text.get(11..19)?
    ))
}

fn two_digits(text: &str) -> Option<u32> {
    text.bytes().try_fold(0u32, |acc, d| {
        d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
    })
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn rfc3339_with_z_is_kept() {
        assert_eq!(
            normalize("2026-11-23T10:00:00Z").as_deref(),
            Some("2026-11-23T10:00:00Z")
        );
    }

    #[test]
    fn odoo_datetime_without_offset_is_utc() {
        assert_eq!(
            normalize("2026-11-23 10:00:00").as_deref(),
            Some("2026-11-23T10:00:00Z")
        );
    }

    #[test]
    fn fraction_and_offset_are_kept() {
        assert_eq!(
            normalize("2026-11-23t10:00:00.123456+05:30").as_deref(),
            Some("2026-11-23T10:00:00.123456+05:30")
        );
        assert_eq!(
            normalize("2026-11-23T10:00:00.5-08:00").as_deref(),
            Some("2026-11-23T10:00:00.5-08:00")
        );
        assert_eq!(
            normalize("2026-11-23T10:00:00z").as_deref(),
            Some("2026-11-23T10:00:00Z")
        );
    }

    #[test]
    fn leap_days() {
        assert!(normalize("2024-02-29T00:00:00Z").is_some());
        assert!(normalize("2000-02-29T00:00:00Z").is_some());
        assert!(normalize("2100-02-29T00:00:00Z").is_none());
        assert!(normalize("2026-02-29T00:00:00Z").is_none());
    }

    #[test]
    fn rejects_each_malformed_shape() {
        let bad = [
            "",
            "yesterday",
            "2026-11-23",
            "2026-11-23T10:00",
            "2026-13-01T00:00:00Z",
            "2026-00-01T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-11-23T24:00:00Z",
            "2026-11-23T10:60:00Z",
            "2026-11-23T10:00:60Z",
            "0000-01-01T00:00:00Z",
            "2026/11/23T10:00:00Z",
            "2026-11-23X10:00:00Z",
            "2026-11-23T10:00:00.",
            "2026-11-23T10:00:00.1234567890Z",
            "2026-11-23T10:00:00+5:30",
            "2026-11-23T10:00:00+24:00",
            "2026-11-23T10:00:00+05:60",
            "2026-11-23T10:00:00 UTC",
            "2026-11-23T10:00:00Zjunk",
            "+2026-11-23T10:00:00Z",
            "2026-11-23T10:00:00+05:30:00",
            "２０２６-11-23T10:00:00Z",
        ];
        for text in bad {
            assert_eq!(normalize(text), None, "{text:?} was accepted");
        }
    }
}
