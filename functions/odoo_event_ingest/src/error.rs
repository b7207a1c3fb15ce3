//! Every way a request can fail, and the one place each becomes an HTTP answer.

use core::fmt;

use pulser_runtime::{Level, Response, error_response, reply};
use pulser_signing::SignatureError;

use crate::event::InvalidEvents;

/// Header telling the caller when to retry.
pub const RETRY_AFTER: &str = "retry-after";
/// Seconds a caller should wait after a 503.
pub const RETRY_AFTER_SECS: &str = "5";

/// Why an ingest request did not store its events.
#[derive(Debug)]
#[non_exhaustive]
pub enum IngestError {
    /// Not `POST`.
    MethodNotAllowed,
    /// Not `application/json`.
    UnsupportedMediaType,
    /// Over the body limit (bytes).
    TooLarge(usize),
    /// A required setting has no value.
    MissingConfig(&'static str),
    /// A setting has a value that cannot be used; the reason never contains the value.
    InvalidConfig {
        /// The setting's name.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// No valid signature.
    Unauthorized(SignatureError),
    /// The body is not JSON (serde's position, never the content).
    InvalidJson(String),
    /// The JSON is not a valid event or batch.
    InvalidEvents(InvalidEvents),
    /// PostgREST could not be reached or answered 5xx/429; nothing was stored.
    StoreUnavailable(String),
    /// PostgREST refused the insert (4xx), or answered something unexpected.
    StoreRejected(String),
}

impl fmt::Display for IngestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MethodNotAllowed => f.write_str("this endpoint accepts POST only"),
            Self::UnsupportedMediaType => f.write_str("content-type must be application/json"),
            Self::TooLarge(limit) => write!(f, "request body exceeds {limit} bytes"),
            Self::MissingConfig(name) => write!(f, "the setting {name} is not configured"),
            Self::InvalidConfig { name, reason } => {
                write!(f, "the setting {name} is invalid: {reason}")
            }
            Self::Unauthorized(e) => write!(f, "{e}"),
            Self::InvalidJson(e) => write!(f, "body is not valid JSON: {e}"),
            Self::InvalidEvents(e) => write!(f, "{e}"),
            Self::StoreUnavailable(e) => {
                write!(f, "the database is unavailable ({e}); nothing was stored")
            }
            Self::StoreRejected(e) => write!(f, "the database refused the events: {e}"),
        }
    }
}

impl std::error::Error for IngestError {}

impl IngestError {
    /// The `error` code of the JSON body.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::MethodNotAllowed => "method_not_allowed",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::TooLarge(_) => "payload_too_large",
            Self::MissingConfig(_) => "missing_config",
            Self::InvalidConfig { .. } => "invalid_config",
            Self::Unauthorized(_) => "unauthorized",
            Self::InvalidJson(_) => "invalid_json",
            Self::InvalidEvents(_) => "invalid_event",
            Self::StoreUnavailable(_) => "store_unavailable",
            Self::StoreRejected(_) => "store_rejected",
        }
    }

    /// How loudly to log it: the caller's mistakes are `Info`, ours and upstream's are not.
    #[must_use]
    pub fn level(&self) -> Level {
        match self {
            Self::MissingConfig(_) | Self::InvalidConfig { .. } | Self::StoreRejected(_) => {
                Level::Error
            }
            Self::StoreUnavailable(_) | Self::Unauthorized(_) => Level::Warn,
            _ => Level::Info,
        }
    }

    /// The HTTP answer: status, JSON body and headers.
    #[must_use]
    pub fn into_response(self) -> Response {
        let message = self.to_string();
        match self {
            Self::MethodNotAllowed => reply::method_not_allowed("POST"),
            Self::UnsupportedMediaType => reply::unsupported_media_type(),
            Self::TooLarge(limit) => pulser_runtime::too_large(limit),
            Self::MissingConfig(name) => reply::missing_config(name),
            Self::InvalidConfig { name, .. } => reply::json(
                500,
                &serde_json::json!({"error": "invalid_config", "name": name, "message": message}),
            ),
            Self::Unauthorized(e) => reply::json(
                401,
                &serde_json::json!({"error": "unauthorized", "header": e.header(), "message": message}),
            ),
            Self::InvalidJson(_) => error_response(400, "invalid_json", &message),
            Self::InvalidEvents(e) => {
                let mut body = serde_json::json!({
                    "error": "invalid_event",
                    "field": e.field(),
                    "message": message,
                });
                if let (Some(index), Some(object)) = (e.index(), body.as_object_mut()) {
                    object.insert("index".into(), index.into());
                }
                reply::json(422, &body)
            }
            Self::StoreUnavailable(_) => {
                let mut response = error_response(503, "store_unavailable", &message);
                response.headers_mut().insert(
                    RETRY_AFTER,
                    http::HeaderValue::from_static(RETRY_AFTER_SECS),
                );
                response
            }
            Self::StoreRejected(_) => error_response(502, "store_rejected", &message),
        }
    }
}
