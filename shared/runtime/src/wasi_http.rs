//! The wasi:http 0.2 side of both wasm32-wasip2 flavours: reading the incoming request,
//! writing the response, outbound HTTP through `wasi:http/outgoing-handler`, the clock and the
//! log. The WASI and Spin adapters differ only in their [`Platform`]'s config and cache
//! ([`FlavourPlatform`]).
//!
//! The adapter talks to the `wasi:http` bindings directly instead of through an async runtime:
//! a function handles one request and makes its outbound calls one after another, so each call
//! waits on its pollables right where it is made (with the deadline as a second pollable) and
//! every future the adapter hands out is ready on its first poll. That keeps an executor, a
//! reactor and an error-boxing layer out of every component (about 60 KB of a 350 KB one; for
//! Spin, spin-sdk's `#[http_component]`, its executor and its `Request`/`Response` conversions
//! cost 40 to 85 KB).
//!
//! The bindings are the `wasip2` crate for WASI and, for Spin, the `wasi` 0.13 crate spin-sdk
//! itself builds on: its `wasi:http/incoming-handler@0.2.0` export is the one
//! `#[http_component]` exports, which every Spin from 2.x on recognises. Both crates are
//! generated from the same WIT, so this one source serves both.

use core::future::Future;
use core::pin::pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;

use crate::bindings::clocks::monotonic_clock;
use crate::bindings::http::outgoing_handler;
use crate::bindings::http::types::{
    ErrorCode, Fields, HeaderError, IncomingBody, IncomingRequest, IncomingResponse, Method,
    OutgoingBody, OutgoingRequest, OutgoingResponse, RequestOptions, ResponseOutparam, Scheme,
};
use crate::bindings::io::poll;
use crate::bindings::io::streams::{InputStream, OutputStream, StreamError};

use crate::{Level, OutboundError, Platform, Request, Response};

/// This build's [`Platform`]: [`crate::wasi::WasiPlatform`] or [`crate::spin::SpinPlatform`].
#[cfg(feature = "spin")]
pub use crate::spin::SpinPlatform as FlavourPlatform;
#[cfg(feature = "wasi")]
pub use crate::wasi::WasiPlatform as FlavourPlatform;

/// Largest response body an outbound call reads; a bigger one is a connection error.
pub const MAX_OUTBOUND_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// Bytes asked of an input stream per read.
const READ_CHUNK: u64 = 64 * 1024;

/// `blocking-write-and-flush` accepts at most this many bytes per call.
const WRITE_CHUNK: usize = 4096;

/// Wall-clock unix seconds from `wasi:clocks/wall-clock`: what `SystemTime::now()` reads,
/// without std's timespec arithmetic and its panics.
#[must_use]
pub fn now() -> u64 {
    crate::bindings::clocks::wall_clock::now().seconds
}

/// Writes one log line and its newline to `wasi:cli/stderr`: the bytes `eprintln!` writes, in
/// one write, but a failed write is dropped instead of panicking, which also keeps std's
/// stderr lock and `io::Error` formatting (a few KB) out of the component.
pub fn log(level: Level, message: &str, fields: &[(&str, &str)]) {
    let mut line = crate::log_line(level, message, fields);
    line.push('\n');
    let _ = write_all(&crate::bindings::cli::stderr::get_stderr(), line.as_bytes());
}

/// Nanoseconds for a wasi `duration`, saturating.
fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// Waits `duration` on the host's monotonic clock. The instance serves one request, so
/// blocking it blocks nobody else.
pub fn sleep(duration: Duration) {
    monotonic_clock::subscribe_duration(nanos(duration)).block();
}

/// One outbound exchange, start to end within `timeout`.
///
/// # Errors
/// Why no response came: see [`OutboundError`].
pub fn send(request: Request, timeout: Duration) -> Result<Response, OutboundError> {
    let deadline = monotonic_clock::subscribe_duration(nanos(timeout));
    let (mut parts, body) = request.into_parts();
    // The body is whole before it is sent, so say its length: without it the host frames it
    // chunked, which some proxies in front of Odoo or GitHub refuse (411) and Spin sends
    // even for a body-less POST. A GET or HEAD without a body carries none, as curl sends it.
    let bodyless_read =
        body.is_empty() && matches!(parts.method, http::Method::GET | http::Method::HEAD);
    if !bodyless_read && !parts.headers.contains_key(http::header::CONTENT_LENGTH) {
        parts.headers.insert(
            http::header::CONTENT_LENGTH,
            http::HeaderValue::from(body.len()),
        );
    }
    let outgoing =
        OutgoingRequest::new(fields(&parts.headers).map_err(OutboundError::InvalidRequest)?);
    let invalid = |what: &str| OutboundError::InvalidRequest(format!("{what} not accepted"));
    outgoing
        .set_method(&method_to_wasi(&parts.method))
        .map_err(|()| invalid("method"))?;
    let scheme = match parts.uri.scheme_str() {
        Some("http") => Scheme::Http,
        Some("https") => Scheme::Https,
        Some(other) => Scheme::Other(other.to_owned()),
        None => return Err(invalid("URL without a scheme")),
    };
    outgoing
        .set_scheme(Some(&scheme))
        .map_err(|()| invalid("scheme"))?;
    let authority = parts
        .uri
        .authority()
        .ok_or_else(|| invalid("URL without a host"))?;
    outgoing
        .set_authority(Some(authority.as_str()))
        .map_err(|()| invalid("authority"))?;
    outgoing
        .set_path_with_query(Some(
            parts.uri.path_and_query().map_or("/", |pq| pq.as_str()),
        ))
        .map_err(|()| invalid("path"))?;
    let options = RequestOptions::new();
    // Hosts may not support every per-phase timeout; the overall deadline below still holds.
    let _ = options.set_connect_timeout(Some(nanos(timeout)));
    let _ = options.set_first_byte_timeout(Some(nanos(timeout)));
    let _ = options.set_between_bytes_timeout(Some(nanos(timeout)));
    let outgoing_body = outgoing.body().map_err(|()| invalid("body"))?;
    let pending = outgoing_handler::handle(outgoing, Some(options)).map_err(outbound_error)?;
    // A failed write or finish does not end the exchange: the host drops the body when it
    // cannot send the request (a refused connection, say) and then fails the response with
    // its reason, which says whether the request left; a server that answered before taking
    // the whole body has its response waiting. So the response decides, and the write's
    // error stands only if no answer comes. (spin-sdk's `send`, the Spin flavour's before,
    // ignored a failed finish the same way.)
    let written = match outgoing_body.write() {
        Ok(stream) => write_all(&stream, &body),
        Err(()) => Err("unavailable".to_owned()),
    };
    let _ = OutgoingBody::finish(outgoing_body, None);

    let response = loop {
        if let Some(result) = pending.get() {
            match result {
                Ok(Ok(response)) => break response,
                Ok(Err(code)) => return Err(outbound_error(code)),
                Err(()) => return Err(OutboundError::Connection("response taken twice".into())),
            }
        }
        if deadline.ready() {
            return Err(match written {
                Ok(()) => OutboundError::Timeout,
                Err(e) => OutboundError::Connection(format!("writing request body: {e}")),
            });
        }
        let ready = pending.subscribe();
        poll::poll(&[&ready, &deadline]);
    };
    read_response(&response, &deadline)
}

/// Status, headers and the whole body of an outbound response, before `deadline`.
fn read_response(
    response: &IncomingResponse,
    deadline: &poll::Pollable,
) -> Result<Response, OutboundError> {
    // Assembled by hand rather than by `http::Response::builder()`, whose error formatting
    // costs about 300 bytes; a status `http` cannot hold is still reported after the body is
    // read, in the builder's words.
    let status = http::StatusCode::from_u16(response.status());
    let mut headers = http::HeaderMap::new();
    for (name, value) in response.headers().entries() {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_bytes(&value),
        ) {
            headers.append(name, value);
        }
    }
    let body = response
        .consume()
        .map_err(|()| OutboundError::Connection("response body taken twice".into()))?;
    let bytes = {
        let stream = body
            .stream()
            .map_err(|()| OutboundError::Connection("response body unavailable".into()))?;
        match read_all(&stream, MAX_OUTBOUND_RESPONSE_BYTES, Some(deadline)) {
            Ok(bytes) => bytes,
            Err(ReadError::TooLarge) => {
                return Err(OutboundError::Connection(format!(
                    "response body exceeds {MAX_OUTBOUND_RESPONSE_BYTES} bytes"
                )));
            }
            Err(ReadError::Deadline) => return Err(OutboundError::Timeout),
            Err(ReadError::Stream(e)) => {
                return Err(OutboundError::Connection(format!("reading response: {e}")));
            }
        }
    };
    drop(IncomingBody::finish(body));
    let status = status
        .map_err(|_| OutboundError::Connection("bad response: invalid status code".into()))?;
    let mut out = http::Response::new(bytes);
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    Ok(out)
}

enum ReadError {
    TooLarge,
    Deadline,
    Stream(String),
}

/// Reads `stream` to its end, refusing more than `limit` bytes and giving up at `deadline`.
fn read_all(
    stream: &InputStream,
    limit: usize,
    deadline: Option<&poll::Pollable>,
) -> Result<Vec<u8>, ReadError> {
    let mut bytes = Vec::new();
    loop {
        match stream.read(READ_CHUNK) {
            Ok(chunk) if chunk.is_empty() => {
                let ready = stream.subscribe();
                match deadline {
                    Some(deadline) => {
                        if deadline.ready() {
                            return Err(ReadError::Deadline);
                        }
                        poll::poll(&[&ready, deadline]);
                    }
                    None => ready.block(),
                }
            }
            Ok(chunk) => {
                if bytes.len() + chunk.len() > limit {
                    return Err(ReadError::TooLarge);
                }
                bytes.extend_from_slice(&chunk);
            }
            Err(StreamError::Closed) => return Ok(bytes),
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(ReadError::Stream(e.to_debug_string()));
            }
        }
    }
}

/// Writes all of `bytes` to `stream`, flushing as it goes.
fn write_all(stream: &OutputStream, bytes: &[u8]) -> Result<(), String> {
    for chunk in bytes.chunks(WRITE_CHUNK) {
        stream
            .blocking_write_and_flush(chunk)
            .map_err(|e| match e {
                StreamError::Closed => "stream closed".to_owned(),
                StreamError::LastOperationFailed(e) => e.to_debug_string(),
            })?;
    }
    Ok(())
}

/// Header fields for wasi:http from an `http` header map.
fn fields(headers: &http::HeaderMap) -> Result<Fields, String> {
    let list: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
        .collect();
    Fields::from_list(&list).map_err(|e| {
        match e {
            HeaderError::InvalidSyntax => "header not accepted: invalid syntax",
            HeaderError::Forbidden => "header not accepted: forbidden by the host",
            HeaderError::Immutable => "header not accepted: immutable fields",
        }
        .to_owned()
    })
}

fn method_to_wasi(method: &http::Method) -> Method {
    match *method {
        http::Method::GET => Method::Get,
        http::Method::HEAD => Method::Head,
        http::Method::POST => Method::Post,
        http::Method::PUT => Method::Put,
        http::Method::DELETE => Method::Delete,
        http::Method::CONNECT => Method::Connect,
        http::Method::OPTIONS => Method::Options,
        http::Method::TRACE => Method::Trace,
        http::Method::PATCH => Method::Patch,
        _ => Method::Other(method.as_str().to_owned()),
    }
}

fn method_from_wasi(method: Method) -> Result<http::Method, ()> {
    Ok(match method {
        Method::Get => http::Method::GET,
        Method::Head => http::Method::HEAD,
        Method::Post => http::Method::POST,
        Method::Put => http::Method::PUT,
        Method::Delete => http::Method::DELETE,
        Method::Connect => http::Method::CONNECT,
        Method::Options => http::Method::OPTIONS,
        Method::Trace => http::Method::TRACE,
        Method::Patch => http::Method::PATCH,
        Method::Other(other) => http::Method::from_bytes(other.as_bytes()).map_err(|_| ())?,
    })
}

fn outbound_error(code: ErrorCode) -> OutboundError {
    match code {
        ErrorCode::HttpRequestDenied => {
            OutboundError::Forbidden("the host denied the destination".into())
        }
        ErrorCode::ConnectionReadTimeout
        | ErrorCode::ConnectionWriteTimeout
        | ErrorCode::HttpResponseTimeout => OutboundError::Timeout,
        ErrorCode::HttpRequestUriInvalid => {
            OutboundError::InvalidRequest("the host rejected the URL".into())
        }
        // Failures before a connection exists: the request never left.
        code @ (ErrorCode::DnsTimeout
        | ErrorCode::DnsError(_)
        | ErrorCode::DestinationNotFound
        | ErrorCode::DestinationUnavailable
        | ErrorCode::DestinationIpProhibited
        | ErrorCode::DestinationIpUnroutable
        | ErrorCode::ConnectionRefused
        | ErrorCode::ConnectionTimeout
        | ErrorCode::TlsProtocolError
        | ErrorCode::TlsCertificateError
        | ErrorCode::TlsAlertReceived(_)) => OutboundError::Unreachable(error_code_name(code)),
        other => OutboundError::Connection(error_code_name(other)),
    }
}

/// The WIT name of an error code (`connection-refused`), or the host's own message for
/// `internal-error`. Spelled out instead of `Debug` to keep the formatting machinery for
/// nested payloads out of the component.
fn error_code_name(code: ErrorCode) -> String {
    let name = match code {
        ErrorCode::InternalError(Some(message)) => return message,
        ErrorCode::DnsTimeout => "DNS-timeout",
        ErrorCode::DnsError(_) => "DNS-error",
        ErrorCode::DestinationNotFound => "destination-not-found",
        ErrorCode::DestinationUnavailable => "destination-unavailable",
        ErrorCode::DestinationIpProhibited => "destination-IP-prohibited",
        ErrorCode::DestinationIpUnroutable => "destination-IP-unroutable",
        ErrorCode::ConnectionRefused => "connection-refused",
        ErrorCode::ConnectionTerminated => "connection-terminated",
        ErrorCode::ConnectionTimeout => "connection-timeout",
        ErrorCode::ConnectionReadTimeout => "connection-read-timeout",
        ErrorCode::ConnectionWriteTimeout => "connection-write-timeout",
        ErrorCode::ConnectionLimitReached => "connection-limit-reached",
        ErrorCode::TlsProtocolError => "TLS-protocol-error",
        ErrorCode::TlsCertificateError => "TLS-certificate-error",
        ErrorCode::TlsAlertReceived(_) => "TLS-alert-received",
        ErrorCode::HttpRequestDenied => "HTTP-request-denied",
        ErrorCode::HttpRequestLengthRequired => "HTTP-request-length-required",
        ErrorCode::HttpRequestBodySize(_) => "HTTP-request-body-size",
        ErrorCode::HttpRequestMethodInvalid => "HTTP-request-method-invalid",
        ErrorCode::HttpRequestUriInvalid => "HTTP-request-URI-invalid",
        ErrorCode::HttpRequestUriTooLong => "HTTP-request-URI-too-long",
        ErrorCode::HttpRequestHeaderSectionSize(_) => "HTTP-request-header-section-size",
        ErrorCode::HttpRequestHeaderSize(_) => "HTTP-request-header-size",
        ErrorCode::HttpRequestTrailerSectionSize(_) => "HTTP-request-trailer-section-size",
        ErrorCode::HttpRequestTrailerSize(_) => "HTTP-request-trailer-size",
        ErrorCode::HttpResponseIncomplete => "HTTP-response-incomplete",
        ErrorCode::HttpResponseHeaderSectionSize(_) => "HTTP-response-header-section-size",
        ErrorCode::HttpResponseHeaderSize(_) => "HTTP-response-header-size",
        ErrorCode::HttpResponseBodySize(_) => "HTTP-response-body-size",
        ErrorCode::HttpResponseTrailerSectionSize(_) => "HTTP-response-trailer-section-size",
        ErrorCode::HttpResponseTrailerSize(_) => "HTTP-response-trailer-size",
        ErrorCode::HttpResponseTransferCoding(_) => "HTTP-response-transfer-coding",
        ErrorCode::HttpResponseContentCoding(_) => "HTTP-response-content-coding",
        ErrorCode::HttpResponseTimeout => "HTTP-response-timeout",
        ErrorCode::HttpUpgradeFailed => "HTTP-upgrade-failed",
        ErrorCode::HttpProtocolError => "HTTP-protocol-error",
        ErrorCode::LoopDetected => "loop-detected",
        ErrorCode::ConfigurationError => "configuration-error",
        ErrorCode::InternalError(None) => "internal-error",
    };
    name.to_owned()
}

/// Reads an incoming wasi:http request into a [`Request`], refusing bodies over `max_body`
/// (by `content-length` before reading, and while reading, so a chunked body stops at the
/// limit).
///
/// # Errors
/// The response to send instead: 413 over the limit, 400 for an unreadable request.
pub fn read_request(incoming: &IncomingRequest, max_body: usize) -> Result<Request, Response> {
    let bad = |message: &str| crate::error_response(400, "bad_request", message);
    let method = method_from_wasi(incoming.method()).map_err(|()| bad("unsupported method"))?;
    let path = incoming.path_with_query().unwrap_or_else(|| "/".to_owned());
    let uri = match (incoming.scheme(), incoming.authority()) {
        (Some(scheme), Some(authority)) => {
            let scheme = match scheme {
                Scheme::Http => "http".to_owned(),
                Scheme::Https => "https".to_owned(),
                Scheme::Other(other) => other,
            };
            format!("{scheme}://{authority}{path}")
        }
        _ => path,
    };
    let builder = crate::body::request_head(
        http::Request::builder().method(method).uri(uri),
        incoming.headers().entries(),
        max_body,
    )?;
    let body = incoming.consume().map_err(|()| bad("body already read"))?;
    let bytes = {
        let stream = body.stream().map_err(|()| bad("body unavailable"))?;
        match read_all(&stream, max_body, None) {
            Ok(bytes) => bytes,
            Err(ReadError::TooLarge) => return Err(crate::too_large(max_body)),
            Err(ReadError::Deadline | ReadError::Stream(_)) => {
                return Err(bad("unreadable body"));
            }
        }
    };
    drop(IncomingBody::finish(body));
    builder
        .body(bytes)
        .map_err(|e| bad(&format!("bad request: {e}")))
}

/// Sends `response` through the wasi:http response outparam.
pub fn respond(outparam: ResponseOutparam, response: Response) {
    let (parts, body) = response.into_parts();
    let (headers, body) = match fields(&parts.headers) {
        Ok(headers) => (headers, body),
        Err(err) => {
            FlavourPlatform.log(Level::Error, "response headers refused", &[("error", &err)]);
            let fallback = crate::error_response(500, "internal", "response headers refused");
            match fields(fallback.headers()) {
                Ok(headers) => (headers, fallback.into_body()),
                Err(_) => (Fields::new(), fallback.into_body()),
            }
        }
    };
    let outgoing = OutgoingResponse::new(headers);
    let _ = outgoing.set_status_code(parts.status.as_u16());
    let Ok(outgoing_body) = outgoing.body() else {
        return;
    };
    ResponseOutparam::set(outparam, Ok(outgoing));
    let written = match outgoing_body.write() {
        Ok(stream) => write_all(&stream, &body),
        Err(()) => Err("response body unavailable".to_owned()),
    };
    match written {
        Ok(()) => {
            if let Err(code) = OutgoingBody::finish(outgoing_body, None) {
                FlavourPlatform.log(
                    Level::Error,
                    "response body finish failed",
                    &[("error", &error_code_name(code))],
                );
            }
        }
        Err(err) => FlavourPlatform.log(
            Level::Error,
            "response body write failed",
            &[("error", &err)],
        ),
    }
}

/// Drives `future` to completion. Every future this adapter creates is ready on its first
/// poll (outbound calls wait on their pollables inside `send`), so this polls until ready with
/// a no-op waker.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}

/// Serves one incoming request with `handler`: reads it (bounded by `max_body`), runs the
/// handler, writes the response.
pub fn serve<Fut>(
    request: IncomingRequest,
    outparam: ResponseOutparam,
    max_body: usize,
    handler: impl FnOnce(Request, &'static FlavourPlatform) -> Fut,
) where
    Fut: Future<Output = Response>,
{
    let caller_id = caller_correlation_id(&request);
    let response = match read_request(&request, max_body) {
        Ok(request) => block_on(handler(request, &FlavourPlatform)),
        Err(response) => crate::refused_early(response, caller_id.as_deref(), &FlavourPlatform),
    };
    respond(outparam, response);
}

/// The caller's `x-correlation-id`, for an answer given before the function runs.
fn caller_correlation_id(request: &IncomingRequest) -> Option<String> {
    // An owned name: the two bindings crates take the field name as `&str` and `&String`.
    let name = crate::reply::CORRELATION_ID.to_owned();
    request
        .headers()
        .get(&name)
        .into_iter()
        .next()
        .and_then(|value| String::from_utf8(value).ok())
}

/// Exports a handler as the component's `wasi:http/incoming-handler`, served by this build's
/// [`FlavourPlatform`].
#[macro_export]
macro_rules! export {
    ($handler:path) => {
        $crate::export!($handler, max_body = $crate::DEFAULT_MAX_BODY_BYTES);
    };
    ($handler:path, max_body = $max:expr) => {
        struct __PulserComponent;

        impl $crate::__private::bindings::exports::wasi::http::incoming_handler::Guest
            for __PulserComponent
        {
            fn handle(
                request: $crate::__private::bindings::http::types::IncomingRequest,
                response_out: $crate::__private::bindings::http::types::ResponseOutparam,
            ) {
                $crate::wasi_http::serve(request, response_out, $max, |request, platform| {
                    $handler(request, platform)
                });
            }
        }

        $crate::__private::bindings::http::proxy::export!(
            __PulserComponent with_types_in $crate::__private::bindings
        );
    };
}
