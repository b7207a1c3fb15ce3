//! The response conventions every function shares: JSON bodies, the error shape, the
//! `x-correlation-id` header, and the checks every endpoint runs before reading a body.

use crate::{Platform, Request, Response};

/// Request and response header carrying the correlation id.
pub const CORRELATION_ID: &str = "x-correlation-id";

/// Longest correlation id accepted from a caller; longer ones are replaced.
pub const MAX_CORRELATION_ID_LEN: usize = 128;

/// A JSON response with `status`.
#[must_use]
pub fn json(status: u16, body: &serde_json::Value) -> Response {
    let mut response = http::Response::new(body.to_string().into_bytes());
    *response.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// A request header's raw bytes by its (lower-case) name: how verifiers read their headers.
#[must_use]
pub fn header<'r>(headers: &'r http::HeaderMap, name: &str) -> Option<&'r [u8]> {
    headers.get(name).map(http::HeaderValue::as_bytes)
}

/// Whether the request declares a JSON body (`application/json`, any parameters, any case).
#[must_use]
pub fn is_json(request: &Request) -> bool {
    request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// The request's `x-correlation-id` when it is a sane token (1-128 of `[A-Za-z0-9._:-]`),
/// else a fresh UUIDv4.
#[must_use]
pub fn correlation_id(request: &Request, platform: &impl Platform) -> String {
    correlation_id_from(
        request
            .headers()
            .get(CORRELATION_ID)
            .and_then(|v| v.to_str().ok()),
        platform,
    )
}

/// [`correlation_id`] from the header's raw value, for the adapters' answers before a
/// [`Request`] exists.
#[must_use]
pub fn correlation_id_from(value: Option<&str>, platform: &impl Platform) -> String {
    accepted_correlation_id(value).map_or_else(|| uuid_v4(platform), str::to_owned)
}

/// `value` when it is acceptable as a correlation id (1-128 of `[A-Za-z0-9._:-]`): the one
/// rule for components and the edge host alike.
#[must_use]
pub fn accepted_correlation_id(value: Option<&str>) -> Option<&str> {
    value.filter(|v| is_token(v))
}

/// Whether `value` is an id a caller may choose (1-128 of `[A-Za-z0-9._:-]`): correlation
/// ids, and the idempotency keys callers send (`request_id`), follow this one rule.
#[must_use]
pub fn is_token(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_CORRELATION_ID_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// A random (version 4) UUID in its hyphenated lower-case form. When the host has no random
/// source the result is derived from the clock, so a response still carries an id.
#[must_use]
pub fn uuid_v4(platform: &impl Platform) -> String {
    let mut bytes = [0u8; 16];
    if platform.fill_random(&mut bytes).is_err() {
        let now = platform.now().to_be_bytes();
        for (slot, byte) in bytes.iter_mut().zip(now.iter().cycle()) {
            *slot = *byte;
        }
    }
    format_uuid_v4(bytes)
}

/// Formats 16 bytes as a version 4, variant 1 UUID.
#[must_use]
pub fn format_uuid_v4(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let mut out = String::with_capacity(36);
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(hex_digit(byte >> 4));
        out.push(hex_digit(byte & 0x0f));
    }
    out
}

fn hex_digit(nibble: u8) -> char {
    char::from(if nibble < 10 {
        b'0' + nibble
    } else {
        b'a' + nibble - 10
    })
}

/// Whether `value` is a UUID in hyphenated form (any version, any case).
#[must_use]
pub fn is_uuid(value: &str) -> bool {
    value.len() == 36
        && value.bytes().enumerate().all(|(i, b)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                b == b'-'
            } else {
                b.is_ascii_hexdigit()
            }
        })
}

/// Sets `x-correlation-id` on `response`.
#[must_use]
pub fn with_correlation_id(mut response: Response, id: &str) -> Response {
    if let Ok(value) = http::HeaderValue::from_str(id) {
        response.headers_mut().insert(CORRELATION_ID, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_has_version_and_variant_bits() {
        let id = format_uuid_v4([0xff; 16]);
        assert_eq!(id, "ffffffff-ffff-4fff-bfff-ffffffffffff");
        assert!(is_uuid(&id));
        assert_eq!(
            format_uuid_v4([0; 16]),
            "00000000-0000-4000-8000-000000000000"
        );
    }

    #[test]
    fn is_uuid_rejects_other_shapes() {
        assert!(!is_uuid(""));
        assert!(!is_uuid("00000000-0000-4000-8000-00000000000"));
        assert!(!is_uuid("00000000x0000-4000-8000-000000000000"));
        assert!(!is_uuid("g0000000-0000-4000-8000-000000000000"));
    }

    #[test]
    fn tokens() {
        assert!(is_token("abc-123_x.y:z"));
        assert!(!is_token(""));
        assert!(!is_token("a b"));
        assert!(!is_token(&"a".repeat(129)));
    }

    #[test]
    fn json_content_type() {
        let with = |ct: &str| {
            http::Request::builder()
                .header("content-type", ct)
                .body(Vec::new())
                .unwrap_or_default()
        };
        assert!(is_json(&with("application/json")));
        assert!(is_json(&with("Application/JSON; charset=utf-8")));
        assert!(!is_json(&with("text/plain")));
        assert!(!is_json(&with("application/jsonx")));
        assert!(!is_json(&http::Request::new(Vec::new())));
    }
}
