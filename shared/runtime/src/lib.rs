#![warn(missing_docs)]
//! What a pulser-edge function sees of the world, and the three places it can run.
//!
//! A function is an `async fn(http::Request<Vec<u8>>, &P) -> http::Response<Vec<u8>>` generic
//! over [`Platform`]. It reads config, the clock and randomness, and calls out over HTTP only
//! through that trait, so its logic is tested natively with a fake platform and runs unchanged
//! on every runtime. One line exports it:
//!
//! ```text
//! pulser_runtime::export!(my_function::handle);
//! ```
//!
//! The adapter is chosen by target and feature:
//!
//! | build | adapter | config from | outbound |
//! |---|---|---|---|
//! | `wasm32-wasip2` + feature `wasi` | wasi:http 0.2 proxy via the `wasip2` bindings | environment variables | `wasi:http/outgoing-handler` |
//! | `wasm32-wasip2` + feature `spin` | wasi:http 0.2 proxy via the `wasi` 0.13 bindings spin-sdk 5.2 builds on | Spin variables (lower-case names) | `wasi:http/outgoing-handler` |
//! | `wasm32-unknown-unknown` | workers-rs `#[event(fetch)]` | Worker secrets, then vars | `fetch` |
//!
//! On native targets `export!` expands to nothing: native builds exist for tests. So it does on
//! `wasm32-wasip2` with feature `testing` and neither flavour: the core-cost bench
//! (`bench/core`) links every function into one wasi:cli command that drives their flows
//! through [`testing::FakePlatform`](crate::testing). Workers also
//! has Cron Triggers: `export_scheduled!(my_function::on_schedule)` exports an
//! `async fn(&impl Platform)` as `#[event(scheduled)]`, and expands to nothing on every other
//! build.

use core::fmt;
use core::future::Future;
use core::time::Duration;

#[cfg(all(target_os = "wasi", feature = "wasi", feature = "spin"))]
compile_error!("pulser-runtime: features `wasi` and `spin` are two separate builds; enable one.");

#[cfg(all(target_os = "wasi", feature = "wasi"))]
pub mod wasi;

#[cfg(all(target_os = "wasi", feature = "spin"))]
pub mod spin;

/// The wasi:http request, response and outbound HTTP of both wasm32-wasip2 flavours.
#[cfg(all(target_os = "wasi", any(feature = "wasi", feature = "spin")))]
pub mod wasi_http;
#[cfg(all(target_os = "wasi", any(feature = "wasi", feature = "spin")))]
use __private::bindings;

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub mod workers;

mod body;
pub use body::{DEFAULT_MAX_BODY_BYTES, error_response, refused_early, too_large};

pub mod pipeline;
pub mod reply;
pub mod settings;
pub mod time;

// Native, and wasm32-wasip2 for the core-cost bench (bench/core), which drives every
// function's flow inside Wasmtime; never Workers.
#[cfg(all(
    any(test, feature = "testing"),
    not(all(target_arch = "wasm32", target_os = "unknown"))
))]
pub mod testing;

/// Re-exports the export macros need; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use http;
    // The wasi:http 0.2 bindings `wasi_http` is written against: `wasip2` for WASI; for Spin
    // the `wasi` 0.13 crate (WASI 0.2.0) whose resources spin-sdk's own bindings use, and whose
    // incoming-handler export is the `@0.2.0` one Spin looks for.
    #[cfg(all(target_os = "wasi", feature = "spin"))]
    pub use wasi_p2_spin as bindings;
    #[cfg(all(target_os = "wasi", feature = "wasi"))]
    pub use wasip2 as bindings;
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    pub use worker;
}

/// A request as a function sees it: the raw body bytes, never re-encoded.
pub type Request = http::Request<Vec<u8>>;
/// A response as a function returns it.
pub type Response = http::Response<Vec<u8>>;

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Something failed and needs an operator.
    Error,
    /// Something odd that was handled.
    Warn,
    /// Normal operation.
    Info,
}

impl Level {
    /// Lower-case name, as written in log lines.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warn => "warn",
            Self::Info => "info",
        }
    }
}

/// Why an outbound request produced no response.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OutboundError {
    /// No response within the timeout.
    Timeout,
    /// The host refused the destination (not in the allowed outbound hosts).
    Forbidden(String),
    /// The destination could not be reached (DNS, connection refused, connect timeout, TLS
    /// handshake): the request never left, so it surely had no effect. Only the `wasi:http`
    /// adapters (WASI, Spin) can tell; Workers' `fetch` reports every failure as a
    /// [`OutboundError::Connection`].
    Unreachable(String),
    /// The connection failed in a way that does not say whether the request arrived (reset,
    /// closed mid-answer, a protocol error).
    Connection(String),
    /// The request could not be expressed on this runtime (bad URL, header).
    InvalidRequest(String),
}

impl fmt::Display for OutboundError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout => f.write_str("timed out"),
            Self::Forbidden(m) => write!(f, "destination not allowed: {m}"),
            Self::Unreachable(m) => write!(f, "unreachable: {m}"),
            Self::Connection(m) => write!(f, "connection failed: {m}"),
            Self::InvalidRequest(m) => write!(f, "invalid request: {m}"),
        }
    }
}

impl std::error::Error for OutboundError {}

/// The randomness source failed (it never should on a healthy host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RandomError;

impl fmt::Display for RandomError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("random source unavailable")
    }
}

impl std::error::Error for RandomError {}

/// Everything a function may ask of its host. One implementation per runtime, plus fakes in
/// tests.
pub trait Platform {
    /// A config value or secret by its upper-case name (`SUPABASE_URL`). Empty counts as unset.
    fn config(&self, name: &str) -> Option<String>;

    /// Wall-clock time, unix seconds.
    fn now(&self) -> u64;

    /// Fills `buf` from the host's cryptographic random source.
    ///
    /// # Errors
    /// [`RandomError`] when the host has none.
    fn fill_random(&self, buf: &mut [u8]) -> Result<(), RandomError>;

    /// Sends one request and reads the whole response, giving up after `timeout`.
    fn send(
        &self,
        request: Request,
        timeout: Duration,
    ) -> impl Future<Output = Result<Response, OutboundError>>;

    /// Writes one structured log line. Never pass a secret in `fields`.
    fn log(&self, level: Level, message: &str, fields: &[(&str, &str)]);

    /// Waits `duration` without holding anything else up: the monotonic clock's pollable on
    /// the wasi:http flavours (one request per instance), a timer on Workers (waiting costs
    /// no CPU time there). The fake advances its clock instead.
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()>;

    /// Counts one request of `key` against the runtime's own rate limiter bound as
    /// `binding`, where the runtime has one a function can reach (a Workers rate-limit
    /// binding). `Some(false)`: over its limit. `None` (the default): no such limiter here
    /// (or it failed); the function counts in its cache or leaves limiting to its host.
    fn rate_limit(&self, binding: &str, key: &str) -> impl Future<Output = Option<bool>> {
        let _ = (binding, key);
        core::future::ready(None)
    }

    /// A value an earlier request stored under `key`, where the runtime keeps one: Spin's
    /// default key-value store (shared by every instance of the app), a Worker isolate's
    /// memory, a WASI instance's memory (`wasmtime serve` starts a fresh instance per request,
    /// the edge host too unless the component sets `reuse`). Best effort: a store
    /// that fails reads as a miss. The default is [`memory_cache`].
    fn cache_get(&self, key: &str) -> Option<Vec<u8>> {
        memory_cache::get(key)
    }

    /// Stores `value` under `key` (best effort; see [`Platform::cache_get`]).
    fn cache_put(&self, key: &str, value: &[u8]) {
        memory_cache::put(key, value);
    }

    /// Removes `key` (best effort).
    fn cache_delete(&self, key: &str) {
        memory_cache::delete(key);
    }

    /// RS256 (RSASSA-PKCS1-v1_5 with SHA-256) over `message` with an RSA private key given as
    /// PKCS#8 DER, by the host's native crypto where it has one: WebCrypto on Workers, so a
    /// GitHub App JWT costs no RSA arithmetic in wasm. `None` (the default): no native RSA
    /// here, sign in Rust.
    fn sign_rs256(
        &self,
        pkcs8_der: &[u8],
        message: &[u8],
    ) -> impl Future<Output = Option<Result<Vec<u8>, String>>> {
        let _ = (pkcs8_der, message);
        core::future::ready(None)
    }
}

/// The in-memory cache behind [`Platform::cache_get`] on runtimes without a store (WASI,
/// Workers): process memory, so it lives as long as the instance or isolate does.
pub mod memory_cache {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    static CACHE: Mutex<BTreeMap<String, Vec<u8>>> = Mutex::new(BTreeMap::new());

    /// The value under `key`.
    #[must_use]
    pub fn get(key: &str) -> Option<Vec<u8>> {
        CACHE.lock().ok()?.get(key).cloned()
    }

    /// Stores `value` under `key`.
    pub fn put(key: &str, value: &[u8]) {
        if let Ok(mut cache) = CACHE.lock() {
            cache.insert(key.to_owned(), value.to_vec());
        }
    }

    /// Removes `key`.
    pub fn delete(key: &str) {
        if let Ok(mut cache) = CACHE.lock() {
            cache.remove(key);
        }
    }
}

/// One log line as JSON: `{"level":..,"msg":..,<fields>}`. Shared by the adapters that write
/// to stderr.
#[must_use]
pub fn log_line(level: Level, message: &str, fields: &[(&str, &str)]) -> String {
    let mut line = serde_json::Map::new();
    line.insert("level".into(), level.as_str().into());
    line.insert("msg".into(), message.into());
    for (key, value) in fields {
        line.insert((*key).into(), (*value).into());
    }
    serde_json::Value::Object(line).to_string()
}

/// Reads a config value from the process environment, treating empty as unset. Used by the
/// WASI adapter and by native test platforms.
#[must_use]
pub fn env_config(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Wall-clock unix seconds from `std::time` (native; the wasm32-wasip2 flavours read
/// `wasi:clocks/wall-clock` directly, Workers `Date.now()`).
#[cfg(not(target_arch = "wasm32"))]
#[must_use]
pub fn system_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Exports a handler as this build's entry point.
///
/// `export!(path::to::handle)` uses the default request-body limit
/// ([`DEFAULT_MAX_BODY_BYTES`]); `export!(handle, max_body = 25 * 1024 * 1024)` sets another.
/// The handler is `async fn(Request, &impl Platform) -> Response`.
#[cfg(any(
    not(target_arch = "wasm32"),
    all(
        target_os = "wasi",
        feature = "testing",
        not(any(feature = "wasi", feature = "spin"))
    )
))]
#[macro_export]
macro_rules! export {
    ($handler:path) => {};
    ($handler:path, max_body = $max:expr) => {};
}

/// Exports an `async fn(&impl Platform)` as the Worker's `scheduled` event (a Cron Trigger).
/// Only Workers has one: elsewhere a scheduler calls an HTTP route instead (pg_cron POSTs
/// push_to_odoo's drain), so on every other build this expands to nothing.
#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
#[macro_export]
macro_rules! export_scheduled {
    ($handler:path) => {};
}
