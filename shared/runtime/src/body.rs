//! Request-body limits and the JSON error shape shared by every adapter.

/// Request bodies above this are refused with 413 unless a function asks for more.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// A JSON error response: `{"error": code, "message": message}` with `status`.
#[must_use]
pub fn error_response(status: u16, code: &str, message: &str) -> crate::Response {
    let body = serde_json::json!({ "error": code, "message": message }).to_string();
    let mut response = http::Response::new(body.into_bytes());
    *response.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
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
