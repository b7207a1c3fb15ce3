//! Request-body limits and the error answers the adapters give before a function runs, in
//! the pipeline's one shape.

use crate::pipeline::{Details, Refusal, error_body};

/// Request bodies above this are refused with 413 unless a function asks for more.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// A JSON error response: `{"error": code, "message": message}` with `status`.
#[must_use]
pub fn error_response(status: u16, code: &str, message: &str) -> crate::Response {
    error_body(status, code, message, Details::default())
}

/// The 413 every adapter answers when a body is over its limit: the pipeline's own answer
/// (the test below holds them equal), built without the whole refusal enum's formatting.
#[must_use]
pub fn too_large(limit: usize) -> crate::Response {
    error_body(
        413,
        Refusal::TooLarge(limit).code(),
        &format!("request body exceeds {limit} bytes"),
        Details::default(),
    )
}

/// The headers of an incoming request (as the `wasi:http` adapters, WASI and Spin, list
/// them) added to `builder`, and a declared `content-length` over `max_body` refused before
/// any of the body is read.
///
/// # Errors
/// The answer to send instead: 400 for a header `http` cannot hold, 413 over the limit.
#[cfg_attr(
    not(all(target_os = "wasi", any(feature = "wasi", feature = "spin"))),
    allow(dead_code)
)]
#[allow(
    clippy::result_large_err,
    reason = "the error is the answer itself, built once for a refused request"
)]
pub(crate) fn request_head(
    mut builder: http::request::Builder,
    entries: impl IntoIterator<Item = (String, Vec<u8>)>,
    max_body: usize,
) -> Result<http::request::Builder, crate::Response> {
    let bad = |message: &str| error_response(400, "bad_request", message);
    let mut declared_len = None;
    if let Some(headers) = builder.headers_mut() {
        for (name, value) in entries {
            let name = http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| bad("bad header name"))?;
            let value =
                http::HeaderValue::from_bytes(&value).map_err(|_| bad("bad header value"))?;
            if name == http::header::CONTENT_LENGTH {
                declared_len = value.to_str().ok().and_then(|v| v.parse::<u64>().ok());
            }
            headers.append(name, value);
        }
    }
    if declared_len.is_some_and(|len| len > max_body as u64) {
        return Err(too_large(max_body));
    }
    Ok(builder)
}

/// An answer an adapter gives before the function runs (413, 400), with the
/// `x-correlation-id` the pipeline would have given it: the caller's when acceptable, else a
/// fresh UUIDv4, so every answer of every runtime carries one.
#[must_use]
pub fn refused_early(
    response: crate::Response,
    caller_id: Option<&str>,
    platform: &impl crate::Platform,
) -> crate::Response {
    let id = crate::reply::correlation_id_from(caller_id, platform);
    crate::reply::with_correlation_id(response, &id)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_adapters_413_is_the_pipelines() {
        let ours = too_large(65_536);
        let pipeline = Refusal::TooLarge(65_536).to_response();
        assert_eq!(ours.status(), pipeline.status());
        assert_eq!(ours.headers(), pipeline.headers());
        assert_eq!(ours.body(), pipeline.body());
    }

    #[test]
    fn a_request_head_keeps_its_headers_and_refuses_a_declared_body_over_the_limit() {
        let entries = |len: &str| {
            vec![
                ("content-length".to_owned(), len.as_bytes().to_vec()),
                ("x-a".to_owned(), b"1".to_vec()),
                ("x-a".to_owned(), b"2".to_vec()),
            ]
        };
        let head = request_head(http::Request::builder(), entries("10"), 10).unwrap();
        let request = head.body(Vec::<u8>::new()).unwrap();
        assert_eq!(request.headers().get_all("x-a").iter().count(), 2);
        let over = request_head(http::Request::builder(), entries("11"), 10).unwrap_err();
        assert_eq!(over.status(), 413);
        let bad = vec![("x-b".to_owned(), b"a\nb".to_vec())];
        let refused = request_head(http::Request::builder(), bad, 10).unwrap_err();
        assert_eq!(refused.status(), 400);
    }

    #[test]
    fn an_early_refusal_carries_the_callers_correlation_id_or_a_fresh_one() {
        let platform = crate::testing::FakePlatform::new(0);
        let kept = refused_early(too_large(1), Some("odoo-42"), &platform);
        assert_eq!(kept.headers()["x-correlation-id"], "odoo-42");
        let fresh = refused_early(too_large(1), Some("not ok!"), &platform);
        assert!(crate::reply::is_uuid(
            fresh.headers()["x-correlation-id"].to_str().unwrap()
        ));
    }
}
