//! The plain wasi:http 0.2 proxy adapter (runs under `wasmtime serve` and the edge host).
//! Config comes from environment variables; outbound HTTP goes through
//! `wasi:http/outgoing-handler`.

use core::time::Duration;

use wstd::future::FutureExt as _;
use wstd::http::{Body, Client};

use crate::{Level, OutboundError, Platform, RandomError, Request, Response};

/// The WASI flavour's [`Platform`].
#[derive(Debug, Default, Clone, Copy)]
pub struct WasiPlatform;

impl Platform for WasiPlatform {
    fn config(&self, name: &str) -> Option<String> {
        crate::env_config(name)
    }

    fn now(&self) -> u64 {
        crate::system_now()
    }

    fn fill_random(&self, buf: &mut [u8]) -> Result<(), RandomError> {
        getrandom::fill(buf).map_err(|_| RandomError)
    }

    async fn send(&self, request: Request, timeout: Duration) -> Result<Response, OutboundError> {
        let mut client = Client::new();
        client.set_connect_timeout(timeout);
        client.set_first_byte_timeout(timeout);
        client.set_between_bytes_timeout(timeout);
        let exchange = async {
            let response = client
                .send(request.map(Body::from))
                .await
                .map_err(outbound_error)?;
            let (parts, mut body) = response.into_parts();
            let bytes = body.contents().await.map_err(outbound_error)?.to_vec();
            Ok(http::Response::from_parts(parts, bytes))
        };
        match exchange.timeout(wstd::time::Duration::from(timeout)).await {
            Ok(result) => result,
            Err(_elapsed) => Err(OutboundError::Timeout),
        }
    }

    fn log(&self, level: Level, message: &str, fields: &[(&str, &str)]) {
        eprintln!("{}", crate::log_line(level, message, fields));
    }
}

fn outbound_error(err: wstd::http::Error) -> OutboundError {
    use wstd::http::error::ErrorCode;
    match err.downcast_ref::<ErrorCode>() {
        Some(ErrorCode::HttpRequestDenied) => OutboundError::Forbidden(format!("{err}")),
        Some(
            ErrorCode::ConnectionTimeout
            | ErrorCode::ConnectionReadTimeout
            | ErrorCode::ConnectionWriteTimeout,
        ) => OutboundError::Timeout,
        Some(ErrorCode::HttpRequestUriInvalid) => OutboundError::InvalidRequest(format!("{err}")),
        _ => OutboundError::Connection(format!("{err:#}")),
    }
}

/// Reads an incoming wasi:http request into a [`Request`], refusing bodies over `max_body`.
///
/// # Errors
/// The response to send instead: 413 over the limit, 400 for an unreadable request.
pub async fn read_request(
    incoming: wstd::__internal::wasip2::http::types::IncomingRequest,
    max_body: usize,
) -> Result<Request, Response> {
    let request = wstd::http::request::try_from_incoming(incoming)
        .map_err(|e| crate::error_response(400, "bad_request", &format!("{e}")))?;
    let (parts, mut body) = request.into_parts();
    if body
        .content_length()
        .is_some_and(|len| len > max_body as u64)
    {
        return Err(crate::too_large(max_body));
    }
    let bytes = body
        .contents()
        .await
        .map_err(|e| crate::error_response(400, "bad_request", &format!("unreadable body: {e}")))?;
    if bytes.len() > max_body {
        return Err(crate::too_large(max_body));
    }
    Ok(http::Request::from_parts(parts, bytes.to_vec()))
}

/// Sends `response` through the wasi:http response outparam.
pub async fn respond(responder: wstd::http::server::Responder, response: Response) {
    if let Err(err) = responder.respond(response.map(Body::from)).await {
        WasiPlatform.log(
            Level::Error,
            "response body write failed",
            &[("error", &format!("{err}"))],
        );
    }
}

/// Exports a handler as the component's `wasi:http/incoming-handler`.
#[macro_export]
macro_rules! export {
    ($handler:path) => {
        $crate::export!($handler, max_body = $crate::DEFAULT_MAX_BODY_BYTES);
    };
    ($handler:path, max_body = $max:expr) => {
        struct __PulserComponent;

        impl $crate::__private::wstd::__internal::wasip2::exports::http::incoming_handler::Guest
            for __PulserComponent
        {
            fn handle(
                request: $crate::__private::wstd::__internal::wasip2::http::types::IncomingRequest,
                response_out: $crate::__private::wstd::__internal::wasip2::http::types::ResponseOutparam,
            ) {
                let responder = $crate::__private::wstd::http::server::Responder::new(response_out);
                $crate::__private::wstd::runtime::block_on(async move {
                    let platform = $crate::wasi::WasiPlatform;
                    let response = match $crate::wasi::read_request(request, $max).await {
                        Ok(request) => $handler(request, &platform).await,
                        Err(response) => response,
                    };
                    $crate::wasi::respond(responder, response).await;
                })
            }
        }

        $crate::__private::wstd::__internal::wasip2::http::proxy::export!(
            __PulserComponent with_types_in $crate::__private::wstd::__internal::wasip2
        );
    };
}
