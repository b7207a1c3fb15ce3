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
}
