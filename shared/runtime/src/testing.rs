//! A scripted [`Platform`] for unit tests of function flows (feature `testing`): native, and
//! on wasm32-wasip2 for the core-cost bench, which times the flows inside Wasmtime.
//!
//! Config is a map, the clock is fixed, randomness is a counter, outbound requests are
//! recorded and answered from a queue of scripted replies in order, and log lines are
//! captured so a test can assert that no secret was written. The cache is a map owned by the
//! platform, so two requests share it exactly when a test passes the same platform to both.
//!
//! ```
//! use pulser_runtime::testing::FakePlatform;
//! let platform = FakePlatform::new(1_700_000_000)
//!     .with_config("SUPABASE_URL", "http://db.test")
//!     .reply(201, r#"[{"id":1}]"#);
//! assert_eq!(platform.sent().len(), 0);
//! ```

use core::time::Duration;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};

use crate::{Level, OutboundError, Platform, RandomError, Request, Response};

/// One recorded outbound request and the timeout it was sent with.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The request exactly as the function built it.
    pub request: Request,
    /// The timeout the function asked for.
    pub timeout: Duration,
}

impl Sent {
    /// The request URL as a string.
    #[must_use]
    pub fn url(&self) -> String {
        self.request.uri().to_string()
    }

    /// A header value as a string (`None` when absent or not UTF-8).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
    }

    /// The body parsed as JSON (`Null` when it is not JSON).
    #[must_use]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(self.request.body()).unwrap_or(serde_json::Value::Null)
    }
}

/// The scripted platform.
#[derive(Debug, Default)]
pub struct FakePlatform {
    config: BTreeMap<String, String>,
    now: Cell<u64>,
    random_counter: Cell<u8>,
    replies: RefCell<VecDeque<Result<Response, OutboundError>>>,
    sent: RefCell<Vec<Sent>>,
    logs: RefCell<Vec<String>>,
    cache: RefCell<BTreeMap<String, Vec<u8>>>,
    rs256: Option<NativeSigner>,
    slept: Cell<Duration>,
    limiter: Option<Cell<u32>>,
}

/// A scripted native RS256 signer: `(pkcs8 DER, message) -> signature or error`.
pub type Rs256Fn = dyn Fn(&[u8], &[u8]) -> Result<Vec<u8>, String>;

struct NativeSigner(Box<Rs256Fn>);

impl core::fmt::Debug for NativeSigner {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("NativeSigner")
    }
}

impl FakePlatform {
    /// A platform whose clock reads `now` (unix seconds).
    #[must_use]
    pub fn new(now: u64) -> Self {
        Self {
            now: Cell::new(now),
            ..Self::default()
        }
    }

    /// Sets a config value (upper-case name).
    #[must_use]
    pub fn with_config(mut self, name: &str, value: &str) -> Self {
        self.config.insert(name.to_owned(), value.to_owned());
        self
    }

    /// Makes [`Platform::sign_rs256`] answer through `signer`, like a host with native RSA
    /// (without one, it answers `None`).
    #[must_use]
    pub fn with_native_rs256(
        mut self,
        signer: impl Fn(&[u8], &[u8]) -> Result<Vec<u8>, String> + 'static,
    ) -> Self {
        self.rs256 = Some(NativeSigner(Box::new(signer)));
        self
    }

    /// Gives the platform a runtime rate limiter ([`Platform::rate_limit`]) that admits
    /// `limit` requests in all, whatever the binding or key.
    #[must_use]
    pub fn with_rate_limiter(mut self, limit: u32) -> Self {
        self.limiter = Some(Cell::new(limit));
        self
    }

    /// How long the flow has slept so far ([`Platform::sleep`] moves the clock by as much,
    /// rounded up to whole seconds per call).
    #[must_use]
    pub fn slept(&self) -> Duration {
        self.slept.get()
    }

    /// Queues a reply with `status` and a JSON/text `body` for the next outbound request.
    #[must_use]
    pub fn reply(self, status: u16, body: &str) -> Self {
        self.push_reply(status, &[], body);
        self
    }

    /// Queues a reply with headers.
    #[must_use]
    pub fn reply_with_headers(self, status: u16, headers: &[(&str, &str)], body: &str) -> Self {
        self.push_reply(status, headers, body);
        self
    }

    /// Queues an outbound failure for the next outbound request.
    #[must_use]
    pub fn fail(self, error: OutboundError) -> Self {
        self.replies.borrow_mut().push_back(Err(error));
        self
    }

    /// Queues a reply after construction.
    pub fn push_reply(&self, status: u16, headers: &[(&str, &str)], body: &str) {
        let mut builder = http::Response::builder().status(status);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let response = builder
            .body(body.as_bytes().to_vec())
            .map_err(|e| OutboundError::InvalidRequest(e.to_string()));
        self.replies.borrow_mut().push_back(response);
    }

    /// Moves the clock.
    pub fn set_now(&self, now: u64) {
        self.now.set(now);
    }

    /// Every outbound request so far, in order.
    #[must_use]
    pub fn sent(&self) -> Vec<Sent> {
        self.sent.borrow().clone()
    }

    /// Every log line so far (as the JSON the adapters would write).
    #[must_use]
    pub fn logs(&self) -> Vec<String> {
        self.logs.borrow().clone()
    }

    /// The cache's keys, sorted.
    #[must_use]
    pub fn cache_keys(&self) -> Vec<String> {
        self.cache.borrow().keys().cloned().collect()
    }

    /// Scripted replies not consumed yet.
    #[must_use]
    pub fn unused_replies(&self) -> usize {
        self.replies.borrow().len()
    }
}

impl Platform for FakePlatform {
    fn config(&self, name: &str) -> Option<String> {
        self.config.get(name).filter(|v| !v.is_empty()).cloned()
    }

    fn now(&self) -> u64 {
        self.now.get()
    }

    fn fill_random(&self, buf: &mut [u8]) -> Result<(), RandomError> {
        for byte in buf {
            let next = self.random_counter.get().wrapping_add(1);
            self.random_counter.set(next);
            *byte = next;
        }
        Ok(())
    }

    async fn send(&self, request: Request, timeout: Duration) -> Result<Response, OutboundError> {
        self.sent.borrow_mut().push(Sent { request, timeout });
        self.replies.borrow_mut().pop_front().unwrap_or_else(|| {
            Err(OutboundError::Connection(
                "FakePlatform: no scripted reply left".into(),
            ))
        })
    }

    fn log(&self, level: Level, message: &str, fields: &[(&str, &str)]) {
        self.logs
            .borrow_mut()
            .push(crate::log_line(level, message, fields));
    }

    async fn sleep(&self, duration: Duration) {
        self.slept.set(self.slept.get() + duration);
        let secs = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
        self.now.set(self.now.get() + secs);
    }

    async fn rate_limit(&self, _binding: &str, _key: &str) -> Option<bool> {
        let left = self.limiter.as_ref()?;
        let admitted = left.get() > 0;
        left.set(left.get().saturating_sub(1));
        Some(admitted)
    }

    fn cache_get(&self, key: &str) -> Option<Vec<u8>> {
        self.cache.borrow().get(key).cloned()
    }

    fn cache_put(&self, key: &str, value: &[u8]) {
        self.cache
            .borrow_mut()
            .insert(key.to_owned(), value.to_vec());
    }

    fn cache_delete(&self, key: &str) {
        self.cache.borrow_mut().remove(key);
    }

    async fn sign_rs256(
        &self,
        pkcs8_der: &[u8],
        message: &[u8],
    ) -> Option<Result<Vec<u8>, String>> {
        self.rs256
            .as_ref()
            .map(|signer| (signer.0)(pkcs8_der, message))
    }
}

/// Polls a future that never waits on real I/O (everything a [`FakePlatform`] returns is
/// ready) to completion, so tests need no async runtime.
///
/// # Panics
/// When the future is still pending after being polled: that would mean it awaits something
/// other than the fake platform.
#[must_use]
#[allow(clippy::panic)]
pub fn block_on<F: core::future::Future>(future: F) -> F::Output {
    let mut future = core::pin::pin!(future);
    let mut cx = core::task::Context::from_waker(core::task::Waker::noop());
    for _ in 0..1000 {
        if let core::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
    panic!("block_on: the future is waiting on something other than the FakePlatform")
}

/// `request` again with `name` set to `value` (`None` removes it).
#[must_use]
pub fn with_header(
    mut request: Request,
    name: &'static str,
    value: Option<&'static str>,
) -> Request {
    match value {
        Some(value) => {
            request
                .headers_mut()
                .insert(name, http::HeaderValue::from_static(value));
        }
        None => {
            request.headers_mut().remove(name);
        }
    }
    request
}

/// Asserts a refusal in the one error shape: `status`, `error` = `code`, a `message`, and
/// `x-correlation-id`; returns the body.
///
/// # Panics
/// When the answer is anything else.
#[must_use]
#[allow(clippy::panic)]
pub fn assert_refusal(response: &Response, status: u16, code: &str) -> serde_json::Value {
    let body: serde_json::Value =
        serde_json::from_slice(response.body()).unwrap_or(serde_json::Value::Null);
    assert_eq!(
        (
            response.status().as_u16(),
            body.get("error").and_then(serde_json::Value::as_str)
        ),
        (status, Some(code)),
        "{body}"
    );
    assert!(
        body.get("message")
            .is_some_and(serde_json::Value::is_string),
        "no message: {body}"
    );
    assert!(
        response
            .headers()
            .contains_key(crate::reply::CORRELATION_ID),
        "no x-correlation-id"
    );
    body
}

/// Everything a caller or an operator sees of one request: the answer's body and headers and
/// every log line, for no-secret checks.
#[must_use]
pub fn everything_seen(response: &Response, platform: &FakePlatform) -> String {
    let mut seen = String::from_utf8_lossy(response.body()).into_owned();
    for (name, value) in response.headers() {
        seen.push_str(&format!("\n{name}: {}", value.to_str().unwrap_or_default()));
    }
    seen.push('\n');
    seen.push_str(&platform.logs().join("\n"));
    seen
}

/// Asserts that no secret setting of `table` configured on `platform` appears in `text`.
///
/// # Panics
/// When one does.
pub fn assert_no_secret(platform: &FakePlatform, table: &[crate::settings::Setting], text: &str) {
    for setting in table.iter().filter(|s| s.secret) {
        if let Some(value) = platform.config.get(setting.name).filter(|v| !v.is_empty()) {
            assert!(
                !text.contains(value.as_str()),
                "{} leaked: {text}",
                setting.name
            );
        }
    }
}

/// The refusals every function shares, asserted for one function: 405 with `Allow: POST`,
/// 415, 413 at one byte over the limit, 401 without credentials, and 500 `missing_config`
/// naming each required setting; every answer in the one error shape with
/// `x-correlation-id`, one log line naming the code, and no secret in either.
///
/// - `handle`: the crate's `handle`; `spec`: its `SPEC`; `settings`: its settings table;
/// - `platform`: `fn() -> FakePlatform` configured with every setting;
/// - `request`: `fn(&[u8]) -> Request`, an authenticated JSON `POST` of that body;
/// - `credentials`: the headers that carry the credentials (removed for the 401);
/// - `body`: a body the function accepts.
///
/// Every refusal must come before the function sends anything: the platform has no replies
/// scripted, and the test asserts nothing was sent.
#[macro_export]
macro_rules! conformance {
    (
        handle: $handle:path,
        spec: $spec:expr,
        settings: $table:expr,
        platform: $platform:expr,
        request: $request:expr,
        credentials: $credentials:expr,
        $(authenticated_by: $authenticated_by:expr,)?
        body: $body:expr $(,)?
    ) => {
        mod conformance {
            #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
            #[allow(unused_imports)]
            use super::*;
            use $crate::settings::Need;
            use $crate::testing::{FakePlatform, assert_no_secret, assert_refusal, block_on};
            use $crate::{Request, Response};

            fn run(platform: &FakePlatform, request: Request) -> Response {
                let response = block_on($handle(request, platform));
                assert!(
                    platform.sent().is_empty(),
                    "a refused request sent something"
                );
                let seen = $crate::testing::everything_seen(&response, platform);
                assert_no_secret(platform, $table, &seen);
                response
            }

            fn refused(
                platform: &FakePlatform,
                request: Request,
                status: u16,
                code: &str,
            ) -> serde_json::Value {
                let body = assert_refusal(&run(platform, request), status, code);
                let logged = platform.logs();
                assert_eq!(
                    logged.iter().filter(|l| l.contains(code)).count(),
                    1,
                    "one log line names {code}: {logged:?}"
                );
                body
            }

            #[test]
            fn a_get_is_405_allowing_post() {
                let p = $platform();
                let mut request = $request($body);
                *request.method_mut() = http::Method::GET;
                let response = run(&p, request);
                let _ = assert_refusal(&response, 405, "method_not_allowed");
                assert_eq!(response.headers()[http::header::ALLOW], "POST");
            }

            #[test]
            fn a_body_that_is_not_json_is_415() {
                let request = $crate::testing::with_header(
                    $request($body),
                    "content-type",
                    Some("text/plain"),
                );
                let _ = refused(&$platform(), request, 415, "unsupported_media_type");
            }

            #[test]
            fn one_byte_over_the_limit_is_413() {
                let mut big = vec![b' '; $spec.max_body + 1];
                big[0] = b'{';
                big[$spec.max_body] = b'}';
                let body = refused(&$platform(), $request(&big), 413, "payload_too_large");
                assert!(
                    body["message"]
                        .as_str()
                        .unwrap()
                        .contains(&$spec.max_body.to_string())
                );
                // At the limit the pipeline lets it through (whatever the flow then says).
                let mut at = vec![b' '; $spec.max_body];
                at[0] = b'{';
                at[$spec.max_body - 1] = b'}';
                let p = $platform();
                let response = block_on($handle($request(&at), &p));
                assert_ne!(response.status().as_u16(), 413);
            }

            #[test]
            fn without_credentials_is_401() {
                let mut request = $request($body);
                for name in $credentials {
                    request.headers_mut().remove(*name);
                }
                let _ = refused(&$platform(), request, 401, "unauthorized");
            }

            #[test]
            fn each_required_setting_missing_is_500_naming_it() {
                let mut checked = 0;
                for setting in $table {
                    let p = match setting.need {
                        Need::Required => $platform().with_config(setting.name, ""),
                        Need::Unless(other) => $platform()
                            .with_config(setting.name, "")
                            .with_config(other, ""),
                        Need::Default(_) => continue,
                    };
                    let body = refused(&p, $request($body), 500, "missing_config");
                    assert_eq!(body["name"], setting.name, "{body}");
                    checked += 1;
                }
                assert!(checked > 0, "the table has no required setting");
            }

            $(
            /// Settings are read once the caller is authenticated: a request without
            /// credentials is 401 whatever else is missing, and only a setting the check
            /// itself needs can be named to it.
            #[test]
            fn an_unauthenticated_caller_learns_nothing_of_the_configuration() {
                let needed: &[&str] = $authenticated_by;
                for setting in $table {
                    if needed.contains(&setting.name) || !matches!(setting.need, Need::Required | Need::Unless(_)) {
                        continue;
                    }
                    let p = match setting.need {
                        Need::Unless(other) => $platform()
                            .with_config(setting.name, "")
                            .with_config(other, ""),
                        _ => $platform().with_config(setting.name, ""),
                    };
                    let mut request = $request($body);
                    for name in $credentials {
                        request.headers_mut().remove(*name);
                    }
                    let body = refused(&p, request, 401, "unauthorized");
                    assert!(body.get("name").is_none(), "{} leaked: {body}", setting.name);
                }
            }
            )?
        }
    };
}
