//! Request-body limits and the JSON error shape shared by every adapter.

/// Request bodies above this are refused with 413 unless a function asks for more.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// A JSON error response: `{"error": code, "message": message}` with `status`.
#[must_use]
pub fn error_response(status: u16, code: &str, message: &str) -> crate::Response {
    crate::reply::json(
        status,
        &serde_json::json!({ "error": code, "message": message }),
    )
}

/// The 413 every adapter answers when a body is over its limit.
#[must_use]
pub fn too_large(limit: usize) -> crate::Response {
    error_response(
        413,
        "payload_too_large",
        &format!("request body exceeds {limit} bytes"),
    )
}
