//! Every way a push or drain request can fail, and the one place each becomes an HTTP
//! answer.

use core::fmt;

use pulser_runtime::{Level, Response, error_response, reply};

use crate::auth::AuthError;
use crate::settings::SettingError;
use crate::trigger::InvalidBody;

/// Header telling the caller when to retry.
pub const RETRY_AFTER: &str = "retry-after";
/// Seconds a caller should wait after a 503.
pub const RETRY_AFTER_SECS: &str = "5";

/// Why a request did not complete.
#[derive(Debug)]
#[non_exhaustive]
pub enum PushError {
    /// No such sub-route.
    NotFound,
    /// Not `POST`.
    MethodNotAllowed,
    /// Not `application/json` (push route only).
    UnsupportedMediaType,
    /// Over the body limit (bytes).
    TooLarge(usize),
    /// A setting is missing or unusable.
    Setting(SettingError),
    /// Not authenticated.
    Unauthorized(AuthError),
    /// The body is not what the caller's kind sends.
    InvalidBody(InvalidBody),
    /// PostgREST could not be reached or answered 5xx/429.
    StoreUnavailable(String),
    /// PostgREST refused a request or answered something unexpected.
    StoreRejected(String),
}

impl fmt::Display for PushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound => {
                f.write_str("no such route; POST /push_to_odoo or /push_to_odoo/drain")
            }
            Self::MethodNotAllowed => f.write_str("this endpoint accepts POST only"),
            Self::UnsupportedMediaType => f.write_str("content-type must be application/json"),
            Self::TooLarge(limit) => write!(f, "request body exceeds {limit} bytes"),
            Self::Setting(e) => write!(f, "{e}"),
            Self::Unauthorized(e) => write!(f, "{e}"),
            Self::InvalidBody(e) => write!(f, "{e}"),
            Self::StoreUnavailable(e) => write!(f, "the database is unavailable: {e}"),
            Self::StoreRejected(e) => write!(f, "the database refused a request: {e}"),
        }
    }
}

impl std::error::Error for PushError {}

impl PushError {
    /// The `error` code of the JSON body.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::TooLarge(_) => "payload_too_large",
            Self::Setting(SettingError::Missing(_)) => "missing_config",
            Self::Setting(_) => "invalid_config",
            Self::Unauthorized(_) => "unauthorized",
            Self::InvalidBody(InvalidBody::Json(_)) => "invalid_json",
            Self::InvalidBody(_) => "invalid_body",
            Self::StoreUnavailable(_) => "store_unavailable",
            Self::StoreRejected(_) => "store_rejected",
        }
    }

    /// How loudly to log it: the caller's mistakes are `Info`, ours and upstream's are not.
    #[must_use]
    pub fn level(&self) -> Level {
        match self {
            Self::Setting(_) | Self::StoreRejected(_) => Level::Error,
            Self::StoreUnavailable(_) | Self::Unauthorized(_) => Level::Warn,
            _ => Level::Info,
        }
    }

    /// The HTTP answer: status, JSON body and headers.
    #[must_use]
    pub fn into_response(self) -> Response {
        let message = self.to_string();
        let code = self.code();
        match self {
            Self::NotFound => error_response(404, code, &message),
            Self::MethodNotAllowed => reply::method_not_allowed("POST"),
            Self::UnsupportedMediaType => reply::unsupported_media_type(),
            Self::TooLarge(limit) => pulser_runtime::too_large(limit),
            Self::Setting(SettingError::Missing(name)) => reply::missing_config(name),
            Self::Setting(SettingError::Invalid { name, .. }) => reply::json(
                500,
                &serde_json::json!({"error": code, "name": name, "message": message}),
            ),
            Self::Unauthorized(e) => reply::json(
                401,
                &serde_json::json!({"error": code, "header": e.header(), "message": message}),
            ),
            Self::InvalidBody(InvalidBody::Json(_)) => error_response(400, code, &message),
            Self::InvalidBody(e) => reply::json(
                422,
                &serde_json::json!({"error": code, "field": e.field(), "message": message}),
            ),
            Self::StoreUnavailable(_) => {
                let mut response = error_response(503, code, &message);
                response.headers_mut().insert(
                    RETRY_AFTER,
                    http::HeaderValue::from_static(RETRY_AFTER_SECS),
                );
                response
            }
            Self::StoreRejected(_) => error_response(502, code, &message),
        }
    }
}

impl From<SettingError> for PushError {
    fn from(e: SettingError) -> Self {
        Self::Setting(e)
    }
}

impl From<pulser_supabase::StoreError> for PushError {
    fn from(e: pulser_supabase::StoreError) -> Self {
        match e {
            pulser_supabase::StoreError::Rejected(message) => Self::StoreRejected(message),
            pulser_supabase::StoreError::Unavailable(reason) => Self::StoreUnavailable(reason),
            other => Self::StoreUnavailable(other.to_string()),
        }
    }
}
