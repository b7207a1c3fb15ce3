//! The one request pipeline and error contract of every function.
//!
//! A function declares a [`Spec`] (name, body limit, whether its body is JSON) and writes
//! its flow as `async fn(&Request, &impl Platform, &str) -> Result<Response, Error<D>>`.
//! [`export!`](crate::export) wraps that flow the same way in every function: correlation id,
//! [`preflight`] (405, 415, 413), the flow, then [`respond`] (one log line per refusal, the
//! JSON error body, `x-correlation-id`).
//!
//! Every refusal has one JSON shape: `{"error": <stable code>, "message": <text>}` plus
//! `name` (a setting), `header`, `field` and `index` whenever they are known. Every 503
//! carries `retry-after` ([`RETRY_AFTER_SECS`]); every 405 carries `Allow`.

use core::fmt;

use crate::{Level, Platform, Request, Response, reply};

/// Seconds a caller should wait after a 503, on every endpoint: the `retry-after` value.
/// Kept as text so the header is a static value (formatting a number would pull integer
/// formatting and a growable buffer into every component).
pub const RETRY_AFTER_SECS: &str = "5";

/// What the pipeline checks before a flow runs.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// The function's name, as log lines carry it.
    pub name: &'static str,
    /// Largest request body, bytes (the adapters enforce it while reading; the pipeline
    /// checks it again for native callers).
    pub max_body: usize,
    /// Which of the function's routes a request is for, and what body that route takes.
    pub accepts: fn(&Request) -> Accept,
}

/// What a route takes ([`Spec::accepts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accept {
    /// A JSON body (`application/json`, else 415).
    Json,
    /// Any body, or none (the body is ignored).
    Any,
    /// No such route: 404 naming the routes there are.
    NotFound(&'static str),
    /// A health check: `GET` (no body); the POST-only and body checks do not apply.
    Health,
}

/// For [`Spec::accepts`]: one route, with a JSON body.
#[must_use]
pub fn json_only(_: &Request) -> Accept {
    Accept::Json
}

/// The refusals every function shares.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// No such route under this function.
    NotFound(&'static str),
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
    /// Not authenticated; names the header at fault when there is one.
    Unauthorized {
        /// The header at fault.
        header: Option<&'static str>,
        /// Why (never a secret or a signature).
        reason: String,
    },
    /// The body is not JSON (serde's position, never the content).
    InvalidJson(String),
    /// PostgREST could not be reached or answered 5xx/429: nothing was written.
    StoreUnavailable(String),
    /// PostgREST refused a request or answered something unexpected.
    StoreRejected(String),
    /// A write was sent but no answer came back (timeout, connection lost): it may or may
    /// not have been stored. Every write carries an idempotency key, so repeating the same
    /// request is safe and stores it once.
    StoreOutcomeUnknown(String),
}

impl Refusal {
    /// [`Refusal::Unauthorized`] from any error that knows its header.
    pub fn unauthorized(header: Option<&'static str>, reason: impl fmt::Display) -> Self {
        Self::Unauthorized {
            header,
            reason: reason.to_string(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound(routes) => write!(f, "no such route; {routes}"),
            Self::MethodNotAllowed => f.write_str("this endpoint accepts POST only"),
            Self::UnsupportedMediaType => f.write_str("content-type must be application/json"),
            Self::TooLarge(limit) => write!(f, "request body exceeds {limit} bytes"),
            Self::MissingConfig(name) => write!(f, "the setting {name} is not configured"),
            Self::InvalidConfig { name, reason } => {
                write!(f, "the setting {name} is invalid: {reason}")
            }
            Self::Unauthorized { reason, .. } => f.write_str(reason),
            Self::InvalidJson(e) => write!(f, "body is not valid JSON: {e}"),
            Self::StoreUnavailable(e) => {
                write!(f, "the database is unavailable ({e}); nothing was stored")
            }
            Self::StoreRejected(e) => write!(f, "the database refused the request: {e}"),
            Self::StoreOutcomeUnknown(e) => write!(
                f,
                "the database did not answer ({e}); the write may or may not have taken \
                 effect: repeat the same request, it takes effect once"
            ),
        }
    }
}

impl std::error::Error for Refusal {}

/// A signature that did not verify is a 401 naming the header at fault.
impl From<pulser_signing::SignatureError> for Refusal {
    fn from(e: pulser_signing::SignatureError) -> Self {
        Self::unauthorized(e.header(), e)
    }
}

impl<D> From<pulser_signing::SignatureError> for Error<D> {
    fn from(e: pulser_signing::SignatureError) -> Self {
        Self::Common(e.into())
    }
}

/// The details a refusal names, beside its code and message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Details {
    /// A setting's name.
    pub name: Option<&'static str>,
    /// A request header's name.
    pub header: Option<&'static str>,
    /// A body field's path.
    pub field: Option<&'static str>,
    /// The position of the item at fault in a batch.
    pub index: Option<usize>,
    /// Anything else the function's callers rely on (e.g. `github_status`).
    pub extra: Option<(&'static str, serde_json::Value)>,
}

/// A function's own refusals: what the shared ones cannot say.
pub trait Problem: fmt::Display {
    /// The HTTP status.
    fn status(&self) -> u16;
    /// The stable `error` code.
    fn code(&self) -> &'static str;
    /// What the body names beside code and message.
    fn details(&self) -> Details {
        Details::default()
    }
    /// How loudly the pipeline logs it; by default from the status (see [`level_of`]).
    fn level(&self) -> Level {
        level_of(self.status())
    }
}

/// The default log level of a refusal: the caller's mistakes (4xx) are `info`, a refused
/// credential or an unavailable upstream `warn`, everything else on our side `error`.
#[must_use]
pub fn level_of(status: u16) -> Level {
    match status {
        401 | 403 | 503 => Level::Warn,
        400..=499 => Level::Info,
        _ => Level::Error,
    }
}

impl Refusal {
    /// The HTTP status.
    #[must_use]
    pub fn status(&self) -> u16 {
        match self {
            Self::NotFound(_) => 404,
            Self::MethodNotAllowed => 405,
            Self::UnsupportedMediaType => 415,
            Self::TooLarge(_) => 413,
            Self::MissingConfig(_) | Self::InvalidConfig { .. } => 500,
            Self::Unauthorized { .. } => 401,
            Self::InvalidJson(_) => 400,
            Self::StoreUnavailable(_) | Self::StoreOutcomeUnknown(_) => 503,
            Self::StoreRejected(_) => 502,
        }
    }

    /// The stable `error` code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::TooLarge(_) => "payload_too_large",
            Self::MissingConfig(_) => "missing_config",
            Self::InvalidConfig { .. } => "invalid_config",
            Self::Unauthorized { .. } => "unauthorized",
            Self::InvalidJson(_) => "invalid_json",
            Self::StoreUnavailable(_) => "store_unavailable",
            Self::StoreRejected(_) => "store_rejected",
            Self::StoreOutcomeUnknown(_) => "store_outcome_unknown",
        }
    }

    /// The setting or header it names.
    #[must_use]
    pub fn details(&self) -> Details {
        match self {
            Self::MissingConfig(name) | Self::InvalidConfig { name, .. } => Details {
                name: Some(name),
                ..Details::default()
            },
            Self::Unauthorized { header, .. } => Details {
                header: *header,
                ..Details::default()
            },
            _ => Details::default(),
        }
    }
}

/// Why a flow did not complete: a shared refusal or one of the function's own.
#[derive(Debug)]
pub enum Error<D> {
    /// One of the refusals every function shares.
    Common(Refusal),
    /// The function's own.
    Domain(D),
}

impl<D> From<Refusal> for Error<D> {
    fn from(refusal: Refusal) -> Self {
        Self::Common(refusal)
    }
}

impl<D: Problem> From<D> for Error<D> {
    fn from(domain: D) -> Self {
        Self::Domain(domain)
    }
}

impl<D: Problem> Error<D> {
    /// The HTTP status.
    #[must_use]
    pub fn status(&self) -> u16 {
        match self {
            Self::Common(r) => r.status(),
            Self::Domain(d) => d.status(),
        }
    }

    /// The stable `error` code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Common(r) => r.code(),
            Self::Domain(d) => d.code(),
        }
    }

    fn level(&self) -> Level {
        match self {
            Self::Common(r) => level_of(r.status()),
            Self::Domain(d) => d.level(),
        }
    }

    /// The HTTP answer: status, the one JSON shape, `Allow` on 405, `retry-after` on 503.
    #[must_use]
    pub fn to_response(&self) -> Response {
        match self {
            Self::Common(r) => r.to_response(),
            Self::Domain(d) => error_body(d.status(), d.code(), &d.to_string(), d.details()),
        }
    }
}

impl Refusal {
    /// The HTTP answer in the one shape ([`error_body`]).
    #[must_use]
    pub fn to_response(&self) -> Response {
        error_body(
            self.status(),
            self.code(),
            &self.to_string(),
            self.details(),
        )
    }
}

/// The one JSON error shape, with `Allow` on 405 and `retry-after` on 503. Not generic, so
/// every refusal of a component shares one copy of it.
#[must_use]
pub fn error_body(status: u16, code: &str, message: &str, details: Details) -> Response {
    let mut body = serde_json::Map::new();
    body.insert("error".into(), code.into());
    body.insert("message".into(), message.into());
    if let Some(name) = details.name {
        body.insert("name".into(), name.into());
    }
    if let Some(header) = details.header {
        body.insert("header".into(), header.into());
    }
    if let Some(field) = details.field {
        body.insert("field".into(), field.into());
    }
    if let Some(index) = details.index {
        body.insert("index".into(), index.into());
    }
    if let Some((key, value)) = details.extra {
        body.insert(key.into(), value);
    }
    let mut response = reply::json(status, &serde_json::Value::Object(body));
    let headers = response.headers_mut();
    match status {
        405 => {
            headers.insert(http::header::ALLOW, http::HeaderValue::from_static("POST"));
        }
        503 => {
            headers.insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from_static(RETRY_AFTER_SECS),
            );
        }
        _ => {}
    }
    response
}

impl<D: fmt::Display> fmt::Display for Error<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Common(r) => r.fmt(f),
            Self::Domain(d) => d.fmt(f),
        }
    }
}

impl<D: fmt::Debug + fmt::Display> std::error::Error for Error<D> {}

/// The checks every function runs before its flow: a known route (404), `POST` (405), a
/// JSON content type where the route takes one (415), the body limit (413).
///
/// # Errors
/// The first [`Refusal`] that applies.
pub fn preflight(spec: &Spec, request: &Request) -> Result<(), Refusal> {
    let accept = (spec.accepts)(request);
    if let Accept::NotFound(routes) = accept {
        return Err(Refusal::NotFound(routes));
    }
    if accept == Accept::Health {
        return Ok(());
    }
    if request.method() != http::Method::POST {
        return Err(Refusal::MethodNotAllowed);
    }
    if accept == Accept::Json && !reply::is_json(request) {
        return Err(Refusal::UnsupportedMediaType);
    }
    if request.body().len() > spec.max_body {
        return Err(Refusal::TooLarge(spec.max_body));
    }
    Ok(())
}

/// The last step of every request: a refusal becomes its JSON answer and one log line
/// (code, message, correlation id; never a secret), and every answer carries
/// `x-correlation-id`.
pub fn respond<D: Problem>(
    spec: &Spec,
    platform: &impl Platform,
    correlation_id: &str,
    result: Result<Response, Error<D>>,
) -> Response {
    let response = match result {
        Ok(response) => response,
        Err(error) => {
            log_failure(
                platform,
                &format!("{} refused a request", spec.name),
                correlation_id,
                &error,
            );
            error.to_response()
        }
    };
    reply::with_correlation_id(response, correlation_id)
}

/// The one log line of a failure: its level (see [`Problem::level`]), code, message and
/// correlation id, never a secret. [`respond`] writes it for every refused request; a run no
/// request started (a Workers Cron Trigger) writes it too, with a line text of its own, as
/// the only trace of its failure (nobody receives an answer there).
pub fn log_failure<D: Problem>(
    platform: &impl Platform,
    message: &str,
    correlation_id: &str,
    error: &Error<D>,
) {
    platform.log(
        error.level(),
        message,
        &[
            ("error", error.code()),
            ("message", &error.to_string()),
            ("correlation_id", correlation_id),
        ],
    );
}

/// Defines the crate's `pub async fn handle(Request, &impl Platform) -> Response`: the shared
/// pipeline ([`preflight`], the flow, [`respond`]) around `flow`, an
/// `async fn(&Request, &impl Platform, correlation_id: &str) -> Result<Response, Error<D>>`;
/// and exports it as this build's entry point with the spec's body limit.
#[macro_export]
macro_rules! function {
    ($spec:path, $flow:path) => {
        /// The endpoint: the shared pipeline around this crate's flow. Every answer carries
        /// `x-correlation-id`; every refusal has the one JSON error shape.
        pub async fn handle(
            request: $crate::Request,
            platform: &impl $crate::Platform,
        ) -> $crate::Response {
            let correlation_id = $crate::reply::correlation_id(&request, platform);
            let result = match $crate::pipeline::preflight(&$spec, &request) {
                Ok(()) => $flow(&request, platform, &correlation_id).await,
                Err(refusal) => Err(refusal.into()),
            };
            $crate::pipeline::respond(&$spec, platform, &correlation_id, result)
        }

        $crate::export!(handle, max_body = $spec.max_body);
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A function with no refusals of its own beyond the shared ones.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Never {}

    impl fmt::Display for Never {
        fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
            match *self {}
        }
    }

    impl Problem for Never {
        fn status(&self) -> u16 {
            match *self {}
        }
        fn code(&self) -> &'static str {
            match *self {}
        }
    }

    fn body(response: &Response) -> serde_json::Value {
        serde_json::from_slice(response.body()).unwrap_or_default()
    }

    #[test]
    fn every_shared_refusal_has_one_shape() {
        let cases: &[(Refusal, u16, serde_json::Value)] = &[
            (
                Refusal::MissingConfig("X"),
                500,
                serde_json::json!({"error": "missing_config", "name": "X",
                    "message": "the setting X is not configured"}),
            ),
            (
                Refusal::InvalidConfig {
                    name: "X",
                    reason: "bad".into(),
                },
                500,
                serde_json::json!({"error": "invalid_config", "name": "X",
                    "message": "the setting X is invalid: bad"}),
            ),
            (
                Refusal::unauthorized(Some("x-signature"), "no match"),
                401,
                serde_json::json!({"error": "unauthorized", "header": "x-signature",
                    "message": "no match"}),
            ),
            (
                Refusal::TooLarge(10),
                413,
                serde_json::json!({"error": "payload_too_large",
                    "message": "request body exceeds 10 bytes"}),
            ),
        ];
        for (refusal, status, expected) in cases {
            let response = Error::<Never>::from(refusal.clone()).to_response();
            assert_eq!(response.status().as_u16(), *status, "{refusal:?}");
            assert_eq!(&body(&response), expected, "{refusal:?}");
        }
    }

    #[test]
    fn a_405_allows_post_and_a_503_says_when_to_retry() {
        let refused = Error::<Never>::from(Refusal::MethodNotAllowed).to_response();
        assert_eq!(refused.headers()["allow"], "POST");
        let unavailable =
            Error::<Never>::from(Refusal::StoreUnavailable("down".into())).to_response();
        assert_eq!(unavailable.status().as_u16(), 503);
        assert_eq!(unavailable.headers()["retry-after"], "5");
    }

    #[test]
    fn preflight_checks_method_then_media_type_then_size() {
        let spec = Spec {
            name: "demo",
            max_body: 4,
            accepts: json_only,
        };
        let request = |method: &str, ct: &str, body: &[u8]| {
            http::Request::builder()
                .method(method)
                .header("content-type", ct)
                .body(body.to_vec())
                .unwrap_or_default()
        };
        assert_eq!(
            preflight(&spec, &request("GET", "text/plain", b"12345")),
            Err(Refusal::MethodNotAllowed)
        );
        assert_eq!(
            preflight(&spec, &request("POST", "text/plain", b"12345")),
            Err(Refusal::UnsupportedMediaType)
        );
        assert_eq!(
            preflight(&spec, &request("POST", "application/json", b"12345")),
            Err(Refusal::TooLarge(4))
        );
        assert_eq!(
            preflight(&spec, &request("POST", "application/json", b"1234")),
            Ok(())
        );
    }
}
