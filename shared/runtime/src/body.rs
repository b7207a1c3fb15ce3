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

/// The 413 every adapter answers when a body is over its limit: the pipeline's own.
#[must_use]
pub fn too_large(limit: usize) -> crate::Response {
    Refusal::TooLarge(limit).to_response()
}
