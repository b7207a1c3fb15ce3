//! Every answer the host gives instead of a component, mapped to status and JSON body in this
//! one place. The wire format is the components' own (`pulser_runtime`): the error body
//! `{"error":"<code>","message":"..."}`, and `x-correlation-id` with the request's id when it
//! is acceptable, else a new UUIDv4.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use http_body_util::{BodyExt as _, Full};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

pub use pulser_runtime::reply::CORRELATION_ID;

/// Why the host answers a request itself.
///
/// Its `Display` is the `message` of the error body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// No route matches the path.
    #[error("no route matches this path")]
    NotFound,
    /// The body is over the component's limit.
    #[error("request body exceeds {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The request body could not be read.
    #[error("the request body could not be read")]
    BadRequest,
    /// The client did not finish sending the body before the deadline.
    #[error("the request body did not arrive within {} ms", .after.as_millis())]
    BodyTimeout {
        /// The deadline that was hit.
        after: Duration,
    },
    /// The component did not answer before its deadline.
    #[error("the component did not answer within {} ms", .after.as_millis())]
    Timeout {
        /// The deadline that was hit.
        after: Duration,
    },
    /// The component trapped or could not be instantiated.
    #[error("the component failed while handling the request")]
    ComponentFailed,
    /// The component returned without setting a response.
    #[error("the component returned without a response")]
    NoResponse,
    /// Every instance slot is busy.
    #[error("every instance is busy; retry shortly")]
    Overloaded,
    /// The budget of buffered request bytes has no room for this body; it was not read.
    #[error("the host is holding as many request bodies as it may; retry shortly")]
    BuffersFull,
}

impl Refusal {
    /// The HTTP status.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BadRequest => StatusCode::BAD_REQUEST,
            Self::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            Self::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            Self::ComponentFailed | Self::NoResponse => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Overloaded | Self::BuffersFull => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The `error` code in the body (also the access log's `outcome`).
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::BadRequest => "bad_request",
            Self::BodyTimeout { .. } => "request_timeout",
            Self::Timeout { .. } => "timeout",
            Self::ComponentFailed => "component_failed",
            Self::NoResponse => "no_response",
            Self::Overloaded | Self::BuffersFull => "overloaded",
        }
    }

    /// The JSON response, carrying `correlation_id` or a fresh one.
    #[must_use]
    pub fn into_response(
        self,
        correlation_id: Option<&HeaderValue>,
    ) -> hyper::Response<HyperOutgoingBody> {
        let body =
            pulser_runtime::error_response(self.status().as_u16(), self.code(), &self.to_string())
                .into_body();
        let mut response = hyper::Response::new(full_body(body));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(value) = correlation_header(correlation_id) {
            headers.insert(CORRELATION_ID, value);
        }
        if matches!(self, Self::Overloaded | Self::BuffersFull) {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if matches!(self, Self::BuffersFull) {
            // The body stays unread, so the connection cannot carry another request.
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

/// The `x-correlation-id` of a host answer: the caller's when the shared rule accepts it,
/// else a new UUIDv4.
#[must_use]
pub fn correlation_header(incoming: Option<&HeaderValue>) -> Option<HeaderValue> {
    let accepted = incoming.and_then(|v| v.to_str().ok());
    let correlation_id = pulser_runtime::reply::accepted_correlation_id(accepted)
        .map_or_else(new_correlation_id, str::to_owned);
    HeaderValue::from_str(&correlation_id).ok()
}

/// A whole body as the response body type components use.
pub fn full_body(body: impl Into<Bytes>) -> HyperOutgoingBody {
    Full::new(body.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A UUIDv4 from the OS random source; the nil UUID's bits if that fails (it does not on
/// Linux).
fn new_correlation_id() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        bytes = [0; 16];
    }
    pulser_runtime::reply::format_uuid_v4(bytes)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    async fn body_json(response: hyper::Response<HyperOutgoingBody>) -> serde_json::Value {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    fn block_on<F: Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    #[test]
    fn each_refusal_has_its_status_and_code() {
        let cases = [
            (Refusal::NotFound, 404, "not_found"),
            (
                Refusal::PayloadTooLarge { limit: 10 },
                413,
                "payload_too_large",
            ),
            (Refusal::BadRequest, 400, "bad_request"),
            (
                Refusal::BodyTimeout {
                    after: Duration::from_millis(10),
                },
                408,
                "request_timeout",
            ),
            (
                Refusal::Timeout {
                    after: Duration::from_millis(1500),
                },
                504,
                "timeout",
            ),
            (Refusal::ComponentFailed, 500, "component_failed"),
            (Refusal::NoResponse, 500, "no_response"),
            (Refusal::Overloaded, 503, "overloaded"),
            (Refusal::BuffersFull, 503, "overloaded"),
        ];
        for (refusal, status, code) in cases {
            let message = refusal.to_string();
            let response = refusal.into_response(None);
            assert_eq!(response.status().as_u16(), status, "{code}");
            assert_eq!(
                response.headers()[header::CONTENT_TYPE],
                "application/json",
                "{code}"
            );
            let body = block_on(body_json(response));
            assert_eq!(body["error"], code);
            assert_eq!(body["message"], message.as_str());
        }
    }

    #[test]
    fn the_request_correlation_id_is_echoed() {
        let id = HeaderValue::from_static("abc-123");
        let response = Refusal::NotFound.into_response(Some(&id));
        assert_eq!(response.headers()[CORRELATION_ID], "abc-123");
    }

    #[test]
    fn a_fresh_correlation_id_is_a_uuid_v4() {
        let response = Refusal::NotFound.into_response(None);
        let id = response.headers()[CORRELATION_ID]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(id.len(), 36, "{id}");
        assert_eq!(id.chars().nth(14), Some('4'), "{id}");
        assert_ne!(id, new_correlation_id());
    }

    #[test]
    fn an_unacceptable_request_correlation_id_is_replaced() {
        let id = HeaderValue::from_static("not a token");
        let response = Refusal::NotFound.into_response(Some(&id));
        let sent = response.headers()[CORRELATION_ID].to_str().unwrap();
        assert!(pulser_runtime::reply::is_uuid(sent), "{sent}");
    }

    #[test]
    fn timeouts_name_the_deadline() {
        let refusal = Refusal::Timeout {
            after: Duration::from_millis(250),
        };
        assert!(refusal.to_string().contains("250 ms"));
    }

    #[test]
    fn overloaded_asks_to_retry() {
        let response = Refusal::Overloaded.into_response(None);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        assert!(response.headers().get(header::CONNECTION).is_none());
    }

    #[test]
    fn full_buffers_ask_to_retry_and_close_the_connection() {
        let response = Refusal::BuffersFull.into_response(None);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        assert_eq!(response.headers()[header::CONNECTION], "close");
    }
}
