//! A scripted [`Platform`] for native unit tests of function flows (feature `testing`).
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
