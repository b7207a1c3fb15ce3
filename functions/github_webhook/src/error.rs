//! Every way a delivery can fail, and the one place each becomes an HTTP answer.

use core::fmt;

use pulser_runtime::{Level, Response, error_response, reply};
use pulser_signing::SignatureError;

use crate::event::Malformed;

/// Why a delivery was not stored.
#[derive(Debug)]
#[non_exhaustive]
pub enum HookError {
    /// Not `POST`.
    MethodNotAllowed,
    /// Not `application/json` (the webhook must be configured with that content type).
    UnsupportedMediaType,
    /// A required setting has no value.
    MissingConfig(&'static str),
    /// A setting cannot be used; the reason never contains the value.
    InvalidConfig {
        /// The setting's name.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// No valid `X-Hub-Signature-256`.
    Unauthorized(SignatureError),
    /// A required GitHub header is absent or empty.
    MissingHeader(&'static str),
    /// A GitHub header has a value that cannot be right.
    InvalidHeader(&'static str),
    /// The body does not match its event.
    Malformed(Malformed),
    /// PostgREST could not be reached or answered 5xx/429; nothing was stored.
    StoreUnavailable(String),
    /// PostgREST refused the row, or answered something unexpected.
    StoreRejected(String),
}

/// Header telling GitHub (or an operator redelivering) when to retry.
pub const RETRY_AFTER: &str = "retry-after";

impl fmt::Display for HookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MethodNotAllowed => f.write_str("this endpoint accepts POST only"),
            Self::UnsupportedMediaType => f.write_str(
                "content-type must be application/json (set it in the webhook's settings)",
            ),
            Self::MissingConfig(name) => write!(f, "the setting {name} is not configured"),
            Self::InvalidConfig { name, reason } => {
                write!(f, "the setting {name} is invalid: {reason}")
            }
            Self::Unauthorized(e) => write!(f, "{e}"),
            Self::MissingHeader(name) => write!(f, "the {name} header is required"),
            Self::InvalidHeader(name) => write!(f, "the {name} header is not valid"),
            Self::Malformed(e) => write!(f, "{e}"),
            Self::StoreUnavailable(e) => {
                write!(f, "the database is unavailable ({e}); nothing was stored")
            }
            Self::StoreRejected(e) => write!(f, "the database refused the event: {e}"),
        }
    }
}

impl std::error::Error for HookError {}

impl HookError {
    /// The `error` code of the JSON body.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::MethodNotAllowed => "method_not_allowed",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::MissingConfig(_) => "missing_config",
            Self::InvalidConfig { .. } => "invalid_config",
            Self::Unauthorized(_) => "unauthorized",
            Self::MissingHeader(_) => "missing_header",
            Self::InvalidHeader(_) => "invalid_header",
            Self::Malformed(_) => "malformed_payload",
            Self::StoreUnavailable(_) => "store_unavailable",
            Self::StoreRejected(_) => "store_rejected",
        }
    }

    /// How loudly to log it: configuration and storage problems need an operator.
    #[must_use]
    pub fn level(&self) -> Level {
        match self {
            Self::MissingConfig(_)
            | Self::InvalidConfig { .. }
            | Self::StoreUnavailable(_)
            | Self::StoreRejected(_) => Level::Error,
            _ => Level::Warn,
        }
    }

    /// The HTTP answer.
    #[must_use]
    pub fn into_response(self) -> Response {
        match &self {
            Self::MethodNotAllowed => reply::method_not_allowed("POST"),
            Self::MissingConfig(name) => reply::missing_config(name),
            Self::MissingHeader(name) | Self::InvalidHeader(name) => reply::json(
                400,
                &serde_json::json!({
                    "error": self.code(),
                    "header": name,
                    "message": self.to_string(),
                }),
            ),
            Self::Malformed(Malformed::MissingField(field)) => reply::json(
                400,
                &serde_json::json!({
                    "error": self.code(),
                    "field": field,
                    "message": self.to_string(),
                }),
            ),
            Self::StoreUnavailable(_) => {
                let mut response = error_response(503, self.code(), &self.to_string());
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, http::HeaderValue::from_static("10"));
                response
            }
            _ => {
                let status = match self {
                    Self::UnsupportedMediaType => 415,
                    Self::Unauthorized(_) => 401,
                    Self::Malformed(_) => 400,
                    Self::StoreRejected(_) => 502,
                    _ => 500,
                };
                error_response(status, self.code(), &self.to_string())
            }
        }
    }
}
