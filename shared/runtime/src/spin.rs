//! The Spin adapter: spin-sdk 5.2 (WASI 0.2, `fermyon:spin/variables@2.0.0`), so the component
//! runs on every Spin from 2.x to 4.0.x, Fermyon Cloud and SpinKube. The cache port is Spin's
//! default key-value store (`key_value_stores = ["default"]` in spin.toml).

use core::future::Future;
use core::pin::pin;
use core::task::{Context, Poll};
use core::time::Duration;

use futures::future::{Either, select};
use wasi_p2_spin::clocks::monotonic_clock;

use crate::{Level, OutboundError, Platform, RandomError, Request, Response};

/// The Spin flavour's [`Platform`]. Config names map to Spin variables by lower-casing
/// (`SUPABASE_URL` -> `supabase_url`), as spin.toml requires.
#[derive(Debug, Default, Clone, Copy)]
pub struct SpinPlatform;

impl Platform for SpinPlatform {
    fn config(&self, name: &str) -> Option<String> {
        spin_sdk::variables::get(&name.to_ascii_lowercase())
            .ok()
            .filter(|v| !v.is_empty())
    }

    fn now(&self) -> u64 {
        crate::system_now()
    }

    fn fill_random(&self, buf: &mut [u8]) -> Result<(), RandomError> {
        getrandom::fill(buf).map_err(|_| RandomError)
    }

    async fn send(&self, request: Request, timeout: Duration) -> Result<Response, OutboundError> {
        let exchange = pin!(spin_sdk::http::send::<_, Response>(request));
        let deadline = pin!(Sleep::new(timeout));
        match select(exchange, deadline).await {
            Either::Left((result, _)) => result.map_err(outbound_error),
            Either::Right(((), _)) => Err(OutboundError::Timeout),
        }
    }

    fn log(&self, level: Level, message: &str, fields: &[(&str, &str)]) {
        eprintln!("{}", crate::log_line(level, message, fields));
    }

    fn cache_get(&self, key: &str) -> Option<Vec<u8>> {
        spin_sdk::key_value::Store::open_default()
            .ok()?
            .get(key)
            .ok()
            .flatten()
    }

    fn cache_put(&self, key: &str, value: &[u8]) {
        if let Ok(store) = spin_sdk::key_value::Store::open_default() {
            let _ = store.set(key, value);
        }
    }

    fn cache_delete(&self, key: &str) {
        if let Ok(store) = spin_sdk::key_value::Store::open_default() {
            let _ = store.delete(key);
        }
    }
}

fn outbound_error(err: spin_sdk::http::SendError) -> OutboundError {
    use spin_sdk::http::{ErrorCode, SendError};
    match err {
        SendError::Http(ErrorCode::HttpRequestDenied) => OutboundError::Forbidden(err.to_string()),
        SendError::Http(ErrorCode::ConnectionReadTimeout | ErrorCode::ConnectionWriteTimeout) => {
            OutboundError::Timeout
        }
        // Failures before a connection exists: the request never left.
        SendError::Http(
            ErrorCode::DnsTimeout
            | ErrorCode::DnsError(_)
            | ErrorCode::DestinationNotFound
            | ErrorCode::DestinationUnavailable
            | ErrorCode::DestinationIpProhibited
            | ErrorCode::DestinationIpUnroutable
            | ErrorCode::ConnectionRefused
            | ErrorCode::ConnectionTimeout
            | ErrorCode::TlsProtocolError
            | ErrorCode::TlsCertificateError
            | ErrorCode::TlsAlertReceived(_),
        ) => OutboundError::Unreachable(err.to_string()),
        SendError::RequestConversion(_) => OutboundError::InvalidRequest(err.to_string()),
        _ => OutboundError::Connection(err.to_string()),
    }
}

/// A timer on Spin's own executor: a `wasi:clocks` pollable registered with spin-executor.
struct Sleep {
    deadline: u64,
}

impl Sleep {
    fn new(after: Duration) -> Self {
        let nanos = u64::try_from(after.as_nanos()).unwrap_or(u64::MAX);
        Self {
            deadline: monotonic_clock::now().saturating_add(nanos),
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: core::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if monotonic_clock::now() >= self.deadline {
            return Poll::Ready(());
        }
        spin_executor::push_waker(
            monotonic_clock::subscribe_instant(self.deadline),
            cx.waker().clone(),
        );
        Poll::Pending
    }
}

/// Reads Spin's incoming request into a [`Request`], refusing bodies over `max_body` (by
/// `content-length` before reading, and chunk by chunk while reading, so a chunked body stops
/// at the limit instead of being buffered whole first).
///
/// # Errors
/// The response to send instead: 413 over the limit, 400 for an unreadable request.
pub async fn read_request(
    incoming: spin_sdk::http::IncomingRequest,
    max_body: usize,
) -> Result<Request, crate::Response> {
    use futures::StreamExt as _;
    let bad = |message: &str| crate::error_response(400, "bad_request", message);
    let method = match incoming.method() {
        spin_sdk::http::Method::Other(other) => {
            http::Method::from_bytes(other.as_bytes()).map_err(|_| bad("unsupported method"))?
        }
        known => http::Method::from(known),
    };
    let builder = crate::body::request_head(
        http::Request::builder().method(method).uri(incoming.uri()),
        incoming.headers().entries(),
        max_body,
    )?;
    let mut body = Vec::new();
    let mut stream = incoming.into_body_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| bad("unreadable body"))?;
        if body.len().saturating_add(chunk.len()) > max_body {
            return Err(crate::too_large(max_body));
        }
        body.extend_from_slice(&chunk);
    }
    builder
        .body(body)
        .map_err(|e| bad(&format!("bad request: {e}")))
}

/// The caller's `x-correlation-id`, for an answer given before the function runs.
#[must_use]
pub fn caller_correlation_id(incoming: &spin_sdk::http::IncomingRequest) -> Option<String> {
    incoming
        .headers()
        .get(crate::reply::CORRELATION_ID)
        .into_iter()
        .next()
        .and_then(|value| String::from_utf8(value).ok())
}

/// Exports a handler as a Spin HTTP component.
///
/// spin-sdk's `#[http_component]` names `::spin_sdk` absolutely, so a function crate lists
/// `spin-sdk` as an optional dependency switched on by its `spin` feature.
#[macro_export]
macro_rules! export {
    ($handler:path) => {
        $crate::export!($handler, max_body = $crate::DEFAULT_MAX_BODY_BYTES);
    };
    ($handler:path, max_body = $max:expr) => {
        #[::spin_sdk::http_component]
        async fn __pulser_spin_entry(
            request: ::spin_sdk::http::IncomingRequest,
        ) -> $crate::Response {
            let platform = $crate::spin::SpinPlatform;
            let caller_id = $crate::spin::caller_correlation_id(&request);
            match $crate::spin::read_request(request, $max).await {
                Ok(request) => $handler(request, &platform).await,
                Err(response) => $crate::refused_early(response, caller_id.as_deref(), &platform),
            }
        }
    };
}
