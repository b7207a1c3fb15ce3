//! One request's way through the host, in order: the host's own health paths (`health`),
//! route -> body limit -> room in the byte
//! budget -> read the body -> an instance slot -> invoke the component, then its access-log
//! line. Any step may end the request with a [`Refusal`] instead; reading the body, waiting
//! for a slot and running the component share the component's deadline.
//!
//! The body is read before a slot is taken, so a client sending slowly holds budget bytes,
//! which [`Admission`] bounds, and never an instance; the room it holds and its slot are
//! released together once its instance is gone.

use std::net::SocketAddr;

use http::{HeaderValue, header};
use http_body_util::Full;
use hyper::body::Incoming;
use tokio::time::Instant;
use wasmtime::Engine;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::admission::Admission;
use crate::body::{self, BodyRead};
use crate::health::{self, Health};
use crate::invoke::{self, Served};
use crate::log;
use crate::reply::{self, CORRELATION_ID, Refusal};
use crate::routes::Router;

/// Everything needed to answer requests.
pub struct Edge {
    engine: Engine,
    components: Vec<Served>,
    router: Router<usize>,
    admission: Admission,
    health: Health,
}

impl Edge {
    /// An edge over compiled components; `admission` holds the byte budget and the instance
    /// slots, with the components in the same order; readiness asks `ready_url`.
    #[must_use]
    pub fn new(
        engine: Engine,
        components: Vec<Served>,
        router: Router<usize>,
        admission: Admission,
        ready_url: Option<http::Uri>,
    ) -> Self {
        let names = components.iter().map(|c| c.id.to_string()).collect();
        Self {
            engine,
            components,
            router,
            admission,
            health: Health::new(names, ready_url),
        }
    }

    /// Answers one request and writes its access-log line.
    pub async fn handle(
        &self,
        request: hyper::Request<Incoming>,
        local: SocketAddr,
    ) -> hyper::Response<HyperOutgoingBody> {
        let started = Instant::now();
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let request_correlation = request.headers().get(CORRELATION_ID).cloned();

        let (route, component, result) = if let Some(check) = health::Check::of(&method, &path) {
            // The host's own answer, ahead of every route; logged like any other.
            let mut response = self.health.answer(check).await;
            if let Some(value) = reply::correlation_header(request_correlation.as_ref()) {
                response.headers_mut().insert(CORRELATION_ID, value);
            }
            (None, None, Ok(response))
        } else {
            let matched = self.router.route(&path).and_then(|m| {
                let index = *m.target;
                self.components
                    .get(index)
                    .map(|served| (m.pattern, index, served))
            });
            match matched {
                None => (None, None, Err(Refusal::NotFound)),
                Some((route, index, served)) => (
                    Some(route),
                    Some(&*served.id),
                    self.run(index, served, request, started, local).await,
                ),
            }
        };
        let (response, outcome) = match result {
            Ok(response) => (response, None),
            Err(refusal) => {
                let code = refusal.code();
                (
                    refusal.into_response(request_correlation.as_ref()),
                    Some(code),
                )
            }
        };
        let correlation_id = response
            .headers()
            .get(CORRELATION_ID)
            .or(request_correlation.as_ref())
            .and_then(|v| v.to_str().ok());
        log::access(&log::Access {
            method: method.as_str(),
            path: &path,
            route,
            component,
            status: response.status().as_u16(),
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            correlation_id,
            outcome,
        });
        response
    }

    /// Body limit, byte budget, body read, instance slot, component: all within the request's
    /// deadline. `index` is `served`'s place in the component list.
    async fn run(
        &self,
        index: usize,
        served: &Served,
        request: hyper::Request<Incoming>,
        started: Instant,
        local: SocketAddr,
    ) -> Result<hyper::Response<HyperOutgoingBody>, Refusal> {
        let deadline = started + served.timeout;
        let limit = served.max_body_bytes;
        let too_large = Refusal::PayloadTooLarge { limit };
        let (mut parts, mut body) = request.into_parts();
        let declared = body::content_length(&parts.headers);
        if declared.is_some_and(|length| length > limit) {
            // Refused before reading; reading the rest lets the client see the 413.
            if !body::expects_continue(&parts.headers) {
                body::discard(body).await;
            }
            return Err(too_large);
        }

        // A declared length is taken from the budget whole, before a byte is read; a body
        // without one takes room as it arrives. Either way a body that finds no room is left
        // unread: the refusal closes the connection.
        let Some(mut buffered) = self.admission.buffer(index, declared.unwrap_or(0)) else {
            return Err(Refusal::BuffersFull);
        };
        let ceiling = declared.unwrap_or(limit);
        let reading = body::read_within(&mut body, limit, ceiling, &mut buffered);
        let bytes = match tokio::time::timeout_at(deadline, reading).await {
            Err(_elapsed) => {
                return Err(Refusal::BodyTimeout {
                    after: served.timeout,
                });
            }
            Ok(BodyRead::Complete(bytes)) => bytes,
            Ok(BodyRead::TooLarge) => {
                drop(buffered);
                body::discard(body).await;
                return Err(too_large);
            }
            Ok(BodyRead::OverBudget) => return Err(Refusal::BuffersFull),
            Ok(BodyRead::Unreadable) => return Err(Refusal::BadRequest),
        };

        let slot = match tokio::time::timeout_at(deadline, self.admission.slot(index)).await {
            Ok(Some(slot)) => slot,
            Ok(None) | Err(_) => return Err(Refusal::Overloaded),
        };

        // wasi:http needs an authority; HTTP/1.0 clients may send no Host header.
        if parts.uri.authority().is_none()
            && !parts.headers.contains_key(header::HOST)
            && let Ok(host) = HeaderValue::from_str(&local.to_string())
        {
            parts.headers.insert(header::HOST, host);
        }
        let request = hyper::Request::from_parts(parts, Full::new(bytes));
        invoke::invoke(&self.engine, served, request, deadline, (slot, buffered)).await
    }
}
