//! Request bodies: the limit is checked on `content-length` before anything is read and again
//! while reading, since a chunked body announces no length; the buffer grows as bytes arrive,
//! within the room the byte budget gives ([`Buffered`]). A body over its limit is read a
//! little further and dropped (never kept), so that a client still sending sees the 413
//! instead of a reset.

use std::time::Duration;

use bytes::Bytes;
use http::header;
use http_body_util::BodyExt as _;
use hyper::body::Incoming;

use crate::admission::Buffered;

/// How much of a refused body is read and dropped, and for how long; beyond that the
/// connection is simply closed.
const DISCARD_BYTES: usize = 8 * 1024 * 1024;
const DISCARD_TIME: Duration = Duration::from_secs(2);

/// Reads and drops what is left of a refused body, within [`DISCARD_BYTES`] and
/// [`DISCARD_TIME`].
pub async fn discard(mut body: Incoming) {
    let drain = async {
        let mut seen = 0usize;
        while let Some(Ok(frame)) = body.frame().await {
            seen = seen.saturating_add(frame.data_ref().map_or(0, Bytes::len));
            if seen > DISCARD_BYTES {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(DISCARD_TIME, drain).await;
}

/// How reading a body ended.
pub enum BodyRead {
    /// All of it, within the limit.
    Complete(Bytes),
    /// It grew past the limit; the rest is unread.
    TooLarge,
    /// It grew past the room the byte budget could give; the rest is unread.
    OverBudget,
    /// The connection failed mid-body.
    Unreadable,
}

/// The smallest buffer a body with data gets.
const FIRST_BUFFER: usize = 8 * 1024;

/// Reads a whole body, stopping as soon as it grows past `limit` or past the room `buffered`
/// holds or can grow to. The buffer grows with the bytes that arrive (doubling, at most to
/// `ceiling`: the content-length if one was given, else `limit`), and `buffered` always
/// covers its whole capacity, so the budget counts what is allocated, not what was announced.
pub async fn read_within(
    body: &mut Incoming,
    limit: u64,
    ceiling: u64,
    buffered: &mut Buffered,
) -> BodyRead {
    let mut bytes: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return BodyRead::Unreadable;
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        let needed = bytes.len().saturating_add(data.len());
        if u64::try_from(needed).unwrap_or(u64::MAX) > limit {
            return BodyRead::TooLarge;
        }
        if needed > bytes.capacity() {
            let ceiling = usize::try_from(ceiling.min(limit)).unwrap_or(usize::MAX);
            let capacity = bytes
                .capacity()
                .saturating_mul(2)
                .max(FIRST_BUFFER)
                .min(ceiling)
                .max(needed);
            if !buffered.cover(u64::try_from(capacity).unwrap_or(u64::MAX)) {
                return BodyRead::OverBudget;
            }
            bytes.reserve_exact(capacity - bytes.len());
        }
        bytes.extend_from_slice(&data);
    }
    BodyRead::Complete(Bytes::from(bytes))
}

/// `expect: 100-continue`: the client waits for a go-ahead, so nothing needs draining.
pub fn expects_continue(headers: &http::HeaderMap) -> bool {
    headers
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// The `content-length`, when present and a number.
pub fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> http::HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    http::HeaderName::from_static(k),
                    http::HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    #[test]
    fn content_length_is_read_when_numeric() {
        assert_eq!(
            content_length(&headers(&[("content-length", "42")])),
            Some(42)
        );
        assert_eq!(content_length(&headers(&[("content-length", "x")])), None);
        assert_eq!(content_length(&headers(&[])), None);
    }

    #[test]
    fn expect_continue_is_recognised_in_any_case() {
        assert!(expects_continue(&headers(&[("expect", "100-Continue")])));
        assert!(!expects_continue(&headers(&[("expect", "something")])));
        assert!(!expects_continue(&headers(&[])));
    }
}
