//! CORS for the configured console origins (`OASIS_CORS_ORIGINS`): a preflight is answered,
//! every answer to an allowed origin names that origin (never `*`: answers depend on the
//! caller's credentials) with `Vary: Origin`, and an origin not listed is refused before
//! anything is read. A request without `Origin` (curl, a server) is not a CORS request and
//! passes.

use pulser_runtime::{Request, Response};

use crate::error::OasisError;

/// The methods of every read route: its `Allow`, and what a preflight allows.
pub(crate) const METHODS: &str = "GET, HEAD, OPTIONS";
/// What a console may send beside the simple headers.
const ALLOW_HEADERS: &str = "authorization, last-event-id, x-correlation-id";
/// What a console may read beside the simple headers.
const EXPOSE_HEADERS: &str = "x-correlation-id, retry-after";
/// How long a browser may keep a preflight's answer, seconds.
const MAX_AGE_SECS: &str = "600";

/// Whether `text` is an origin: `http(s)://host[:port]`, nothing after.
#[must_use]
pub(crate) fn is_origin(text: &str) -> bool {
    let Some(rest) = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
    else {
        return false;
    };
    !rest.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

/// The request's `Origin` when it is one of `allowed`; `Ok(None)` without one.
///
/// # Errors
/// [`OasisError::OriginNotAllowed`] for an origin not listed.
pub(crate) fn origin<'r>(
    request: &'r Request,
    allowed: &[String],
) -> Result<Option<&'r str>, OasisError> {
    let Some(origin) = request.headers().get(http::header::ORIGIN) else {
        return Ok(None);
    };
    let origin = origin.to_str().map_err(|_| OasisError::OriginNotAllowed)?;
    if allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)) {
        Ok(Some(origin))
    } else {
        Err(OasisError::OriginNotAllowed)
    }
}

/// The answer to a preflight (`OPTIONS`) from an allowed origin: 204 with what it may do.
#[must_use]
pub(crate) fn preflight() -> Response {
    let mut response = http::Response::new(Vec::new());
    *response.status_mut() = http::StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    headers.insert(
        http::header::ACCESS_CONTROL_ALLOW_METHODS,
        http::HeaderValue::from_static(METHODS),
    );
    headers.insert(
        http::header::ACCESS_CONTROL_ALLOW_HEADERS,
        http::HeaderValue::from_static(ALLOW_HEADERS),
    );
    headers.insert(
        http::header::ACCESS_CONTROL_MAX_AGE,
        http::HeaderValue::from_static(MAX_AGE_SECS),
    );
    response
}

/// Marks `response` readable by `origin` (with credentials), and as varying by origin either
/// way so no cache hands one origin's answer to another.
#[must_use]
pub(crate) fn apply(mut response: Response, origin: Option<&str>) -> Response {
    let headers = response.headers_mut();
    headers.append(http::header::VARY, http::HeaderValue::from_static("origin"));
    if let Some(value) = origin.and_then(|o| http::HeaderValue::from_str(o).ok()) {
        headers.insert(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        headers.insert(
            http::header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            http::HeaderValue::from_static("true"),
        );
        headers.insert(
            http::header::ACCESS_CONTROL_EXPOSE_HEADERS,
            http::HeaderValue::from_static(EXPOSE_HEADERS),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn from(origin: Option<&str>) -> Request {
        let mut builder = http::Request::get("/events");
        if let Some(origin) = origin {
            builder = builder.header("origin", origin);
        }
        builder.body(Vec::new()).unwrap()
    }

    #[test]
    fn only_listed_origins_pass_and_a_request_without_one_is_not_cors() {
        let allowed = vec!["https://console.example.com".to_owned()];
        assert_eq!(origin(&from(None), &allowed), Ok(None));
        assert_eq!(
            origin(&from(Some("https://console.example.com")), &allowed),
            Ok(Some("https://console.example.com"))
        );
        assert_eq!(
            origin(&from(Some("https://evil.example.com")), &allowed),
            Err(OasisError::OriginNotAllowed)
        );
        assert_eq!(
            origin(&from(Some("null")), &[]),
            Err(OasisError::OriginNotAllowed)
        );
    }

    #[test]
    fn an_allowed_origin_is_named_never_a_wildcard() {
        let response = apply(http::Response::new(Vec::new()), Some("https://c.example"));
        let headers = response.headers();
        assert_eq!(headers["access-control-allow-origin"], "https://c.example");
        assert_eq!(headers["access-control-allow-credentials"], "true");
        assert_eq!(headers["vary"], "origin");
        let plain = apply(http::Response::new(Vec::new()), None);
        assert!(!plain.headers().contains_key("access-control-allow-origin"));
        assert_eq!(plain.headers()["vary"], "origin");
    }

    #[test]
    fn origins_are_scheme_host_and_port_only() {
        assert!(is_origin("https://console.example.com"));
        assert!(is_origin("http://127.0.0.1:5173"));
        for bad in [
            "*",
            "console.example.com",
            "https://",
            "https://c.example/",
            "ftp://c",
        ] {
            assert!(!is_origin(bad), "{bad}");
        }
    }
}
