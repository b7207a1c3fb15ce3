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

/// An answer an adapter gives before the function runs (413, 400), with the
/// `x-correlation-id` the pipeline would have given it: the caller's when acceptable, else a
/// fresh UUIDv4, so every answer of every runtime carries one.
#[must_use]
pub fn refused_early(
    response: crate::Response,
    caller_id: Option<&str>,
    platform: &impl crate::Platform,
) -> crate::Response {
    let id = crate::reply::accepted_correlation_id(caller_id)
        .map_or_else(|| crate::reply::uuid_v4(platform), str::to_owned);
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
