//! The Cloudflare Workers adapter (workers-rs 0.8, `wasm32-unknown-unknown`). Config comes
//! from Worker secrets, then vars; time from JS; outbound through `fetch` with an
//! `AbortSignal` for the timeout; RS256 through WebCrypto.

use core::pin::pin;
use core::time::Duration;

use futures::future::{Either, select};
use worker::{AbortController, Delay, Env, Fetch, Headers, Method, RequestInit, RequestRedirect};

use crate::{Level, OutboundError, Platform, RandomError, Request, Response};

/// The Workers flavour's [`Platform`].
#[derive(Debug)]
pub struct WorkersPlatform {
    env: Env,
}

impl WorkersPlatform {
    /// Wraps the Worker's `env`.
    #[must_use]
    pub fn new(env: Env) -> Self {
        Self { env }
    }
}

impl Platform for WorkersPlatform {
    fn config(&self, name: &str) -> Option<String> {
        let value = match self.env.secret(name) {
            Ok(secret) => secret.to_string(),
            Err(_) => self.env.var(name).ok()?.to_string(),
        };
        Some(value).filter(|v| !v.is_empty())
    }

    fn now(&self) -> u64 {
        (js_sys::Date::now() / 1000.0) as u64
    }

    fn fill_random(&self, buf: &mut [u8]) -> Result<(), RandomError> {
        getrandom::fill(buf).map_err(|_| RandomError)
    }

    async fn send(&self, request: Request, timeout: Duration) -> Result<Response, OutboundError> {
        let request = to_worker_request(request)?;
        let controller = AbortController::default();
        let signal = controller.signal();
        let exchange = pin!(async {
            let mut response = Fetch::Request(request)
                .send_with_signal(&signal)
                .await
                .map_err(|e| OutboundError::Connection(e.to_string()))?;
            let body = response
                .bytes()
                .await
                .map_err(|e| OutboundError::Connection(e.to_string()))?;
            let mut out = http::Response::new(body);
            *out.status_mut() = http::StatusCode::from_u16(response.status_code())
                .map_err(|e| OutboundError::Connection(e.to_string()))?;
            for (name, value) in response.headers().entries() {
                if let (Ok(name), Ok(value)) = (
                    http::HeaderName::from_bytes(name.as_bytes()),
                    http::HeaderValue::from_str(&value),
                ) {
                    out.headers_mut().append(name, value);
                }
            }
            Ok(out)
        });
        let delay = pin!(Delay::from(timeout));
        match select(exchange, delay).await {
            Either::Left((result, _)) => result,
            Either::Right(((), _)) => {
                controller.abort();
                Err(OutboundError::Timeout)
            }
        }
    }

    async fn sleep(&self, duration: Duration) {
        Delay::from(duration).await;
    }

    /// The rate-limit binding `binding` (`[[ratelimits]]` in wrangler.toml) when the Worker
    /// has one; `None` without it, or when it fails (the function then counts in the
    /// isolate's memory).
    async fn rate_limit(&self, binding: &str, key: &str) -> Option<bool> {
        let limiter = self.env.rate_limiter(binding).ok()?;
        limiter.limit(key.to_owned()).await.ok().map(|o| o.success)
    }

    fn log(&self, level: Level, message: &str, fields: &[(&str, &str)]) {
        let line = crate::log_line(level, message, fields);
        match level {
            Level::Error => worker::console_error!("{line}"),
            Level::Warn => worker::console_warn!("{line}"),
            Level::Info => worker::console_log!("{line}"),
        }
    }

    async fn sign_rs256(
        &self,
        pkcs8_der: &[u8],
        message: &[u8],
    ) -> Option<Result<Vec<u8>, String>> {
        Some(
            webcrypto_rs256(pkcs8_der, message)
                .await
                .map_err(|e| format!("WebCrypto RS256 failed: {}", js_error(&e))),
        )
    }
}

/// `crypto.subtle.importKey("pkcs8", der, RSASSA-PKCS1-v1_5/SHA-256)` then `sign`.
async fn webcrypto_rs256(
    pkcs8_der: &[u8],
    message: &[u8],
) -> Result<Vec<u8>, wasm_bindgen::JsValue> {
    use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
    use wasm_bindgen::{JsCast as _, JsValue};
    use worker::wasm_bindgen_futures::JsFuture;

    const ALGORITHM: &str = "RSASSA-PKCS1-v1_5";
    let crypto = Reflect::get(&js_sys::global(), &JsValue::from_str("crypto"))?;
    let subtle = Reflect::get(&crypto, &JsValue::from_str("subtle"))?;
    let call = |method: &str, args: Array| -> Result<JsFuture, JsValue> {
        let function: Function = Reflect::get(&subtle, &JsValue::from_str(method))?.dyn_into()?;
        let promise: Promise = Reflect::apply(&function, &subtle, &args)?.dyn_into()?;
        Ok(JsFuture::from(promise))
    };
    let algorithm = Object::new();
    Reflect::set(&algorithm, &"name".into(), &ALGORITHM.into())?;
    Reflect::set(&algorithm, &"hash".into(), &"SHA-256".into())?;
    let import = Array::new();
    import.push(&"pkcs8".into());
    import.push(&Uint8Array::from(pkcs8_der).into());
    import.push(&algorithm);
    import.push(&JsValue::FALSE);
    import.push(&Array::of1(&"sign".into()));
    let key = call("importKey", import)?.await?;
    let signature = call(
        "sign",
        Array::of3(&ALGORITHM.into(), &key, &Uint8Array::from(message).into()),
    )?
    .await?;
    Ok(Uint8Array::new(&signature).to_vec())
}

/// A JS exception's message (or its string form).
fn js_error(error: &wasm_bindgen::JsValue) -> String {
    js_sys::Reflect::get(error, &"message".into())
        .ok()
        .and_then(|m| m.as_string())
        .or_else(|| error.as_string())
        .unwrap_or_else(|| "unknown error".to_owned())
}

fn to_worker_request(request: Request) -> Result<worker::Request, OutboundError> {
    let invalid = |e: worker::Error| OutboundError::InvalidRequest(e.to_string());
    let (parts, body) = request.into_parts();
    let headers = Headers::new();
    for (name, value) in &parts.headers {
        let value = value
            .to_str()
            .map_err(|e| OutboundError::InvalidRequest(e.to_string()))?;
        headers.append(name.as_str(), value).map_err(invalid)?;
    }
    let mut init = RequestInit::new();
    // A 3xx is an answer, as on WASI and Spin: following it would send the request (and its
    // credentials) to wherever the redirect points, and report the target's answer as the
    // destination's.
    init.with_method(Method::from(parts.method.as_str().to_owned()))
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual);
    if !body.is_empty() {
        init.with_body(Some(js_sys::Uint8Array::from(body.as_slice()).into()));
    }
    worker::Request::new_with_init(&parts.uri.to_string(), &init).map_err(invalid)
}

/// Converts the Worker's request, refusing bodies over `max_body`.
///
/// # Errors
/// The response to send instead: 413 over the limit, 400 for an unreadable request.
pub async fn read_request(
    mut request: worker::Request,
    max_body: usize,
) -> Result<Request, Response> {
    let declared = request
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > max_body) {
        return Err(crate::too_large(max_body));
    }
    // Read chunk by chunk, so a chunked body stops at the limit instead of being buffered
    // whole first. A request without a body has no stream.
    let mut body = Vec::new();
    if let Ok(mut stream) = request.stream() {
        use futures::StreamExt as _;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                crate::error_response(400, "bad_request", &format!("unreadable body: {e}"))
            })?;
            if body.len().saturating_add(chunk.len()) > max_body {
                return Err(crate::too_large(max_body));
            }
            body.extend_from_slice(&chunk);
        }
    }
    let mut builder = http::Request::builder()
        .method(request.method().as_ref())
        .uri(
            request
                .url()
                .map_or_else(|_| String::from("/"), |url| url.to_string()),
        );
    for (name, value) in request.headers().entries() {
        builder = builder.header(name, value);
    }
    builder
        .body(body)
        .map_err(|e| crate::error_response(400, "bad_request", &e.to_string()))
}

/// Converts a response for the Workers runtime.
///
/// # Errors
/// A workers-rs error when the headers cannot be expressed (never for valid `http` headers).
pub fn write_response(response: Response) -> worker::Result<worker::Response> {
    let (parts, body) = response.into_parts();
    let headers = Headers::new();
    for (name, value) in &parts.headers {
        if let Ok(value) = value.to_str() {
            headers.append(name.as_str(), value)?;
        }
    }
    Ok(worker::Response::from_bytes(body)?
        .with_status(parts.status.as_u16())
        .with_headers(headers))
}

/// Exports a handler as the Worker's `fetch` event.
///
/// workers-rs' `#[event(fetch)]` names `::worker` absolutely, so a function crate lists
/// `worker` as a dependency for `wasm32-unknown-unknown`.
#[macro_export]
macro_rules! export {
    ($handler:path) => {
        $crate::export!($handler, max_body = $crate::DEFAULT_MAX_BODY_BYTES);
    };
    ($handler:path, max_body = $max:expr) => {
        #[::worker::event(fetch)]
        async fn __pulser_fetch(
            request: ::worker::Request,
            env: ::worker::Env,
            _ctx: ::worker::Context,
        ) -> ::worker::Result<::worker::Response> {
            let platform = $crate::workers::WorkersPlatform::new(env);
            let caller_id = request
                .headers()
                .get($crate::reply::CORRELATION_ID)
                .ok()
                .flatten();
            let response = match $crate::workers::read_request(request, $max).await {
                Ok(request) => $handler(request, &platform).await,
                Err(response) => $crate::refused_early(response, caller_id.as_deref(), &platform),
            };
            $crate::workers::write_response(response)
        }
    };
}

/// Exports a handler as the Worker's `scheduled` event, which a Cron Trigger
/// (`[env.<function>.triggers] crons` in wrangler.toml) fires.
///
/// The handler is `async fn(&impl Platform)`. A scheduled run has no request and no caller:
/// there is nobody to authenticate and nobody to answer, so the handler returns nothing and
/// reports its outcome in its log lines (Workers Logs, `wrangler tail`). The event lasts
/// until the handler returns, so the runtime does not end it while outbound calls are still
/// in flight. workers-rs' glue reports every run to the runtime as `ok`: a failure shows in
/// the log only (failing the event would take a panic, after which worker-build's shim
/// re-initialises the whole wasm instance).
#[macro_export]
macro_rules! export_scheduled {
    ($handler:path) => {
        #[::worker::event(scheduled)]
        async fn __pulser_scheduled(
            _event: ::worker::ScheduledEvent,
            env: ::worker::Env,
            _ctx: ::worker::ScheduleContext,
        ) {
            $handler(&$crate::workers::WorkersPlatform::new(env)).await;
        }
    };
}
