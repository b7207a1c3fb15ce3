//! The host's own health answers, ahead of every route (a component cannot shadow them):
//!
//! - `GET /health` (and Spin's `/.well-known/spin/health`): liveness. The process is up and
//!   every component compiled, linked and instantiated once at start-up (it would not be
//!   listening otherwise): `200 {"status": "ok", "components": [...]}`.
//! - `GET /health/ready`: readiness. With `--ready-url` (say PostgREST's
//!   `http://127.0.0.1:54321/rest/v1/`) the host asks it, within [`READY_TIMEOUT`], on the
//!   shared outbound connections: any answer below 500 is ready (PostgREST's root needs a key
//!   and may say 401: it is up); no answer or a 5xx is `503 {"status": "unavailable"}`
//!   naming what failed, never the URL's credentials (it has none: it is an operator's flag).
//!   Without `--ready-url` readiness is liveness, and the answer says so.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, Method, StatusCode, header};
use http_body_util::{BodyExt as _, Empty};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::pool::Pool;
use crate::reply::full_body;

/// How long readiness waits for `--ready-url`.
pub const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// Which of the host's own answers a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// `/health`, `/.well-known/spin/health`.
    Live,
    /// `/health/ready`.
    Ready,
}

impl Check {
    /// The check `method path` asks for, if any.
    #[must_use]
    pub fn of(method: &Method, path: &str) -> Option<Self> {
        if method != Method::GET && method != Method::HEAD {
            return None;
        }
        match path.trim_end_matches('/') {
            "/health" | "/.well-known/spin/health" => Some(Self::Live),
            "/health/ready" => Some(Self::Ready),
            _ => None,
        }
    }
}

/// The host's health state: its components and the readiness dependency.
pub struct Health {
    components: Vec<String>,
    ready_url: Option<http::Uri>,
    pool: Arc<Pool>,
}

impl Health {
    /// Health over the loaded `components`, probing `ready_url` for readiness.
    #[must_use]
    pub fn new(components: Vec<String>, ready_url: Option<http::Uri>) -> Self {
        Self {
            components,
            ready_url,
            pool: Pool::shared(),
        }
    }

    /// The answer to `check`.
    pub async fn answer(&self, check: Check) -> hyper::Response<HyperOutgoingBody> {
        let mut body = serde_json::Map::new();
        let status = match check {
            Check::Live => StatusCode::OK,
            Check::Ready => match &self.ready_url {
                None => {
                    body.insert("depends_on".into(), "nothing (no --ready-url)".into());
                    StatusCode::OK
                }
                Some(url) => {
                    let reached = self.probe(url).await;
                    body.insert("depends_on".into(), describe(url).into());
                    match reached {
                        Ok(status) => {
                            body.insert("answered".into(), status.into());
                            StatusCode::OK
                        }
                        Err(reason) => {
                            body.insert("reason".into(), reason.into());
                            StatusCode::SERVICE_UNAVAILABLE
                        }
                    }
                }
            },
        };
        body.insert(
            "status".into(),
            if status == StatusCode::OK {
                "ok"
            } else {
                "unavailable"
            }
            .into(),
        );
        body.insert("components".into(), self.components.clone().into());
        let mut response = hyper::Response::new(full_body(
            serde_json::Value::Object(body).to_string().into_bytes(),
        ));
        *response.status_mut() = status;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }

    /// The status `url` answers a GET with, if below 500.
    async fn probe(&self, url: &http::Uri) -> Result<u16, String> {
        let mut request = http::Request::get(url.clone())
            .body(Empty::new().map_err(|never| match never {}).boxed_unsync())
            .map_err(|e| e.to_string())?;
        if let Some(authority) = url
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        {
            request.headers_mut().insert(header::HOST, authority);
        }
        let options = wasmtime_wasi_http::RequestOptions {
            connect_timeout: Some(READY_TIMEOUT),
            first_byte_timeout: Some(READY_TIMEOUT),
            between_bytes_timeout: Some(READY_TIMEOUT),
        };
        let sent = tokio::time::timeout(
            READY_TIMEOUT,
            Arc::clone(&self.pool).send(request, Some(options)),
        )
        .await
        .map_err(|_| format!("no answer within {} s", READY_TIMEOUT.as_secs()))?;
        let (response, _io) = sent.map_err(|e| format!("unreachable: {e}"))?;
        let status = response.status().as_u16();
        // Read the body to its end so the connection goes back to the pool.
        let _ = tokio::time::timeout(READY_TIMEOUT, response.into_body().collect()).await;
        if status >= 500 {
            return Err(format!("answered {status}"));
        }
        Ok(status)
    }
}

/// `scheme://host:port` of `url` (its path and query left out).
fn describe(url: &http::Uri) -> String {
    format!(
        "{}://{}",
        url.scheme_str().unwrap_or("http"),
        url.authority().map_or("", http::uri::Authority::as_str)
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn the_host_answers_its_own_paths_to_get_only() {
        assert_eq!(Check::of(&Method::GET, "/health"), Some(Check::Live));
        assert_eq!(Check::of(&Method::HEAD, "/health/"), Some(Check::Live));
        assert_eq!(
            Check::of(&Method::GET, "/.well-known/spin/health"),
            Some(Check::Live)
        );
        assert_eq!(Check::of(&Method::GET, "/health/ready"), Some(Check::Ready));
        assert_eq!(Check::of(&Method::POST, "/health"), None);
        assert_eq!(Check::of(&Method::GET, "/webhooks/github/health"), None);
        assert_eq!(Check::of(&Method::GET, "/healthz"), None);
    }

    async fn body_of(response: hyper::Response<HyperOutgoingBody>) -> serde_json::Value {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn readiness_is_503_while_its_dependency_is_unreachable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url: http::Uri = format!("http://{}/rest/v1/", listener.local_addr().unwrap())
            .parse()
            .unwrap();
        drop(listener);
        let health = Health::new(vec!["a".into()], Some(url));
        let response = health.answer(Check::Ready).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["retry-after"], "5");
        let body = body_of(response).await;
        assert_eq!(body["status"], "unavailable");
        assert!(
            body["reason"].as_str().unwrap().starts_with("unreachable"),
            "{body}"
        );
        // Liveness does not depend on it.
        let live = health.answer(Check::Live).await;
        assert_eq!(live.status(), StatusCode::OK);
        assert_eq!(body_of(live).await["components"], serde_json::json!(["a"]));
    }

    #[tokio::test]
    async fn readiness_without_a_dependency_says_so() {
        let health = Health::new(vec![], None);
        let response = health.answer(Check::Ready).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            body_of(response).await["depends_on"],
            "nothing (no --ready-url)"
        );
    }
}
