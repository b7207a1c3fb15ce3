//! The plain wasi:http 0.2 proxy adapter (runs under `wasmtime serve` and the edge host).
//!
//! Config comes from environment variables; outbound HTTP goes through
//! `wasi:http/outgoing-handler`. The adapter talks to the `wasi:http` bindings of the `wasip2`
//! crate directly instead of through an async runtime: a function handles one request and makes
//! its outbound calls one after another, so each call waits on its pollables right where it is
//! made (with the deadline as a second pollable) and every future the adapter hands out is
//! ready on its first poll. That keeps an executor, a reactor and an error-boxing layer out of
//! every component (about 60 KB of a 350 KB one).

use core::future::Future;
use core::pin::pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;

use wasip2::clocks::monotonic_clock;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, HeaderError, IncomingBody, IncomingRequest, IncomingResponse, Method,
    OutgoingBody, OutgoingRequest, OutgoingResponse, RequestOptions, ResponseOutparam, Scheme,
};
use wasip2::io::poll;
use wasip2::io::streams::{InputStream, OutputStream, StreamError};

use crate::{Level, OutboundError, Platform, RandomError, Request, Response};

/// Largest response body an outbound call reads; a bigger one is a connection error.
pub const MAX_OUTBOUND_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// Bytes asked of an input stream per read.
const READ_CHUNK: u64 = 64 * 1024;

/// `blocking-write-and-flush` accepts at most this many bytes per call.
const WRITE_CHUNK: usize = 4096;

/// The WASI flavour's [`Platform`].
#[derive(Debug, Default, Clone, Copy)]
pub struct WasiPlatform;

impl Platform for WasiPlatform {
    fn config(&self, name: &str) -> Option<String> {
        // wasi:cli/environment directly: the same values `std::env::var` reads through libc,
        // without libc's environ machinery in the component.
        wasip2::cli::environment::get_environment()
            .into_iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value)
            .filter(|value| !value.is_empty())
    }

    fn now(&self) -> u64 {
        wasip2::clocks::wall_clock::now().seconds
    }

    fn fill_random(&self, buf: &mut [u8]) -> Result<(), RandomError> {
        getrandom::fill(buf).map_err(|_| RandomError)
    }

    async fn send(&self, request: Request, timeout: Duration) -> Result<Response, OutboundError> {
        send(request, timeout)
    }

    fn log(&self, level: Level, message: &str, fields: &[(&str, &str)]) {
        eprintln!("{}", crate::log_line(level, message, fields));
    }
}

/// Nanoseconds for a wasi `duration`, saturating.
fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// One outbound exchange, start to end within `timeout`.
fn send(request: Request, timeout: Duration) -> Result<Response, OutboundError> {
    let deadline = monotonic_clock::subscribe_duration(nanos(timeout));
    let (parts, body) = request.into_parts();
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
    {
        let stream = outgoing_body
            .write()
            .map_err(|()| OutboundError::Connection("request body unavailable".into()))?;
        write_all(&stream, &body)
            .map_err(|e| OutboundError::Connection(format!("writing request body: {e}")))?;
    }
    OutgoingBody::finish(outgoing_body, None).map_err(outbound_error)?;

    let response = loop {
        if let Some(result) = pending.get() {
            match result {
                Ok(Ok(response)) => break response,
                Ok(Err(code)) => return Err(outbound_error(code)),
                Err(()) => return Err(OutboundError::Connection("response taken twice".into())),
            }
        }
        if deadline.ready() {
            return Err(OutboundError::Timeout);
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
    let mut builder = http::Response::builder().status(response.status());
    if let Some(headers) = builder.headers_mut() {
        for (name, value) in response.headers().entries() {
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(name.as_bytes()),
                http::HeaderValue::from_bytes(&value),
            ) {
                headers.append(name, value);
            }
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
    builder
        .body(bytes)
        .map_err(|e| OutboundError::Connection(format!("bad response: {e}")))
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
            WasiPlatform.log(Level::Error, "response headers refused", &[("error", &err)]);
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
                WasiPlatform.log(
                    Level::Error,
                    "response body finish failed",
                    &[("error", &error_code_name(code))],
                );
            }
        }
        Err(err) => WasiPlatform.log(
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
    handler: impl FnOnce(Request, &'static WasiPlatform) -> Fut,
) where
    Fut: Future<Output = Response>,
{
    let caller_id = request
        .headers()
        .get(crate::reply::CORRELATION_ID)
        .into_iter()
        .next()
        .and_then(|value| String::from_utf8(value).ok());
    let response = match read_request(&request, max_body) {
        Ok(request) => block_on(handler(request, &WasiPlatform)),
        Err(response) => crate::refused_early(response, caller_id.as_deref(), &WasiPlatform),
    };
    respond(outparam, response);
}

/// Exports a handler as the component's `wasi:http/incoming-handler`.
#[macro_export]
macro_rules! export {
    ($handler:path) => {
        $crate::export!($handler, max_body = $crate::DEFAULT_MAX_BODY_BYTES);
    };
    ($handler:path, max_body = $max:expr) => {
        struct __PulserComponent;

        impl $crate::__private::wasip2::exports::http::incoming_handler::Guest
            for __PulserComponent
        {
            fn handle(
                request: $crate::__private::wasip2::http::types::IncomingRequest,
                response_out: $crate::__private::wasip2::http::types::ResponseOutparam,
            ) {
                $crate::wasi::serve(request, response_out, $max, |request, platform| {
                    $handler(request, platform)
                });
            }
        }

        $crate::__private::wasip2::http::proxy::export!(
            __PulserComponent with_types_in $crate::__private::wasip2
        );
    };
}
