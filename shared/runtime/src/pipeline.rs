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
    /// Its route on a shared host (`/webhooks/github`); where the function has a host of its
    /// own (Workers) its paths start at `/`. [`below_route`] gives what follows it.
    pub route: &'static str,
    /// The crate's version (`env!("CARGO_PKG_VERSION")`), for the health answer.
    pub version: &'static str,
    /// Its settings table, for the health answer (names only).
    pub settings: &'static [crate::settings::Setting],
    /// Largest request body, bytes (the adapters enforce it while reading; the pipeline
    /// checks it again for native callers).
    pub max_body: usize,
    /// Which of the function's routes a request is for (given the path below
    /// [`Spec::route`]), and what body that route takes. `GET <route>/health` never gets
    /// here: every function answers it the same way ([`health`]).
    pub accepts: fn(&str) -> Accept,
}

/// The health check's path below every function's route.
pub const HEALTH_PATH: &str = "/health";

/// The path below `spec`'s route, without a trailing `/`: `""` for the route itself. A path
/// that does not start with the route (a Workers host of its own) is taken as it is.
#[must_use]
pub fn below_route<'p>(spec: &Spec, path: &'p str) -> &'p str {
    let path = path.trim_end_matches('/');
    match path.strip_prefix(spec.route) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
        _ => path,
    }
}

/// Whether `request` is `GET <route>/health` (or `HEAD`).
#[must_use]
pub fn is_health(spec: &Spec, request: &Request) -> bool {
    (request.method() == http::Method::GET || request.method() == http::Method::HEAD)
        && below_route(spec, request.uri().path()) == HEALTH_PATH
}

/// The flavour this component was built as: `wasi`, `spin`, `workers`, or `native` (tests).
pub const FLAVOUR: &str = if cfg!(all(target_arch = "wasm32", target_os = "unknown")) {
    "workers"
} else if cfg!(all(target_os = "wasi", feature = "spin")) {
    "spin"
} else if cfg!(all(target_os = "wasi", feature = "wasi")) {
    "wasi"
} else {
    "native"
};

/// `GET <route>/health`, unauthenticated, the same on every function: its name, version and
/// flavour, and for each setting of its table whether it is `set`, left to its `default`, or
/// `missing` (names only, never a value). 200 when no required setting is missing, else 503
/// (a deploy's health check then fails and rolls back). `extra` is what the function adds
/// (push_to_odoo: whether its destination is paused).
#[must_use]
pub fn health(
    spec: &Spec,
    platform: &impl Platform,
    extra: serde_json::Map<String, serde_json::Value>,
) -> Response {
    use crate::settings::Need;
    let configured = |name: &str| platform.config(name).is_some_and(|v| !v.trim().is_empty());
    let mut settings = serde_json::Map::new();
    let mut ready = true;
    for setting in spec.settings {
        let state = match setting.need {
            _ if configured(setting.name) => "set",
            Need::Default(_) => "default",
            Need::Unless(other) if configured(other) => "not needed",
            Need::Required | Need::Unless(_) => {
                ready = false;
                "missing"
            }
        };
        settings.insert(setting.name.into(), state.into());
    }
    let mut body = serde_json::Map::new();
    body.insert("name".into(), spec.name.into());
    body.insert("version".into(), spec.version.into());
    body.insert("flavour".into(), FLAVOUR.into());
    body.insert("ready".into(), ready.into());
    body.insert("settings".into(), settings.into());
    body.extend(extra);
    reply::json(
        if ready { 200 } else { 503 },
        &serde_json::Value::Object(body),
    )
}

/// What a function without health details of its own adds: nothing.
///
/// # Errors
/// Never; the signature is the one [`function!`](crate::function) calls.
#[allow(clippy::unused_async)]
pub async fn no_health_details(
    _platform: &impl Platform,
) -> Result<serde_json::Map<String, serde_json::Value>, Refusal> {
    Ok(serde_json::Map::new())
}

/// What a route takes ([`Spec::accepts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accept {
    /// A JSON body (`application/json`, else 415).
    Json,
    /// Any body, or none (the body is ignored).
    Any,
    /// A read route: the flow checks the method itself (`GET`, `HEAD`, a CORS preflight's
    /// `OPTIONS`) and answers its own 405, so the components that only take `POST` carry no
    /// code for it; no body is expected.
    Read,
    /// No such route: 404 naming the routes there are.
    NotFound(&'static str),
}

/// For [`Spec::accepts`]: one route, with a JSON body (and its health check).
#[must_use]
pub fn json_only(below: &str) -> Accept {
    if below.is_empty() {
        Accept::Json
    } else {
        Accept::NotFound("POST the function's route, or GET its /health")
    }
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

/// The checks every function runs before its flow: a known route (404), `POST` (405) unless
/// the route is an [`Accept::Read`], a JSON content type where the route takes one (415), the
/// body limit (413).
///
/// # Errors
/// The first [`Refusal`] that applies.
pub fn preflight(spec: &Spec, request: &Request) -> Result<(), Refusal> {
    let accept = (spec.accepts)(below_route(spec, request.uri().path()));
    if let Accept::NotFound(routes) = accept {
        return Err(Refusal::NotFound(routes));
    }
    // `matches!`, not `==`: the derived equality would compare `NotFound`'s text too, some
    // 80 bytes more in every component.
    if !matches!(accept, Accept::Read) && request.method() != http::Method::POST {
        return Err(Refusal::MethodNotAllowed);
    }
    if matches!(accept, Accept::Json) && !reply::is_json(request) {
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
///
/// `GET <route>/health` is answered before any of that ([`health`]); `health = details`
/// names an `async fn(&impl Platform) -> Result<Map, Refusal>` whose keys the answer adds.
#[macro_export]
macro_rules! function {
    ($spec:path, $flow:path) => {
        $crate::function!($spec, $flow, health = $crate::pipeline::no_health_details);
    };
    ($spec:path, $flow:path, health = $details:path) => {
        /// The endpoint: the shared pipeline around this crate's flow. Every answer carries
        /// `x-correlation-id`; every refusal has the one JSON error shape.
        pub async fn handle(
            request: $crate::Request,
            platform: &impl $crate::Platform,
        ) -> $crate::Response {
            let correlation_id = $crate::reply::correlation_id(&request, platform);
            let result = if $crate::pipeline::is_health(&$spec, &request) {
                match $details(platform).await {
                    Ok(details) => Ok($crate::pipeline::health(&$spec, platform, details)),
                    Err(refusal) => Err(refusal.into()),
                }
            } else {
                match $crate::pipeline::preflight(&$spec, &request) {
                    Ok(()) => $flow(&request, platform, &correlation_id).await,
                    Err(refusal) => Err(refusal.into()),
                }
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
            route: "/demo",
            version: "0.0.0",
            settings: &[],
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

    const SETTINGS: &[crate::settings::Setting] = &[
        crate::settings::Setting::secret("DEMO_SECRET"),
        crate::settings::Setting::default("DEMO_TIMEOUT_MS", "5000"),
        crate::settings::Setting::unless("DEMO_APP_ID", "DEMO_CLIENT_ID"),
    ];

    const DEMO: Spec = Spec {
        name: "demo",
        route: "/hooks/demo",
        version: "1.2.3",
        settings: SETTINGS,
        max_body: 4,
        accepts: json_only,
    };

    fn get(path: &str) -> Request {
        http::Request::get(path)
            .body(Vec::new())
            .unwrap_or_default()
    }

    #[test]
    fn the_health_path_is_below_the_route_or_at_the_root_of_a_host_of_its_own() {
        assert!(is_health(&DEMO, &get("/hooks/demo/health")));
        assert!(is_health(&DEMO, &get("/hooks/demo/health/")));
        assert!(is_health(&DEMO, &get("/health")));
        assert!(!is_health(&DEMO, &get("/hooks/demo")));
        assert!(!is_health(&DEMO, &get("/hooks/demox/health")));
        assert!(!is_health(&DEMO, &get("/hooks/demo/x/health")));
        let post = http::Request::post("/hooks/demo/health")
            .body(Vec::new())
            .unwrap_or_default();
        assert!(!is_health(&DEMO, &post));
        assert_eq!(below_route(&DEMO, "/hooks/demo/"), "");
        assert_eq!(below_route(&DEMO, "/"), "");
    }

    #[test]
    fn health_names_settings_never_their_values_and_is_503_while_one_is_missing() {
        let platform = crate::testing::FakePlatform::new(0).with_config("DEMO_CLIENT_ID", "c-1");
        let response = health(&DEMO, &platform, serde_json::Map::new());
        assert_eq!(response.status().as_u16(), 503);
        assert_eq!(
            body(&response),
            serde_json::json!({"name": "demo", "version": "1.2.3", "flavour": "native",
                "ready": false, "settings": {"DEMO_SECRET": "missing",
                "DEMO_TIMEOUT_MS": "default", "DEMO_APP_ID": "not needed"}})
        );
        let platform = platform.with_config("DEMO_SECRET", "hunter2-value");
        let response = health(&DEMO, &platform, serde_json::Map::new());
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(body(&response)["settings"]["DEMO_SECRET"], "set");
        assert!(!String::from_utf8_lossy(response.body()).contains("hunter2"));
    }

    #[test]
    fn other_paths_below_a_single_route_are_404() {
        let post = |path: &str| {
            http::Request::post(path)
                .header("content-type", "application/json")
                .body(b"{}".to_vec())
                .unwrap_or_default()
        };
        assert_eq!(preflight(&DEMO, &post("/hooks/demo")), Ok(()));
        assert!(matches!(
            preflight(&DEMO, &post("/hooks/demo/other")),
            Err(Refusal::NotFound(_))
        ));
    }
}
