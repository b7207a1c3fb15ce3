//! The HTTP side: accept connections, route each request, enforce the body limit, run the
//! component, write the access log; and shut down gracefully.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{HeaderValue, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use wasmtime::Engine;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::body::{self, BodyRead};
use crate::invoke::{self, Served};
use crate::log;
use crate::reply::{CORRELATION_ID, Refusal};
use crate::routes::Router;

/// Everything needed to answer requests.
pub struct Edge {
    engine: Engine,
    components: Vec<Served>,
    router: Router<usize>,
    slots: Arc<Semaphore>,
}

impl Edge {
    /// An edge over compiled components; `max_instances` bounds concurrent instances.
    #[must_use]
    pub fn new(
        engine: Engine,
        components: Vec<Served>,
        router: Router<usize>,
        max_instances: u32,
    ) -> Self {
        let slots = usize::try_from(max_instances).unwrap_or(usize::MAX);
        Self {
            engine,
            components,
            router,
            slots: Arc::new(Semaphore::new(slots)),
        }
    }

    /// Answers one request and writes its access-log line.
    async fn handle(
        &self,
        request: hyper::Request<Incoming>,
        local: SocketAddr,
    ) -> hyper::Response<HyperOutgoingBody> {
        let started = Instant::now();
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let request_correlation = request.headers().get(CORRELATION_ID).cloned();

        let matched = self.router.route(&path).and_then(|m| {
            self.components
                .get(*m.target)
                .map(|served| (m.pattern, served))
        });
        let (route, component, result) = match matched {
            None => (None, None, Err(Refusal::NotFound)),
            Some((route, served)) => (
                Some(route),
                Some(&*served.id),
                self.run(served, request, started, local).await,
            ),
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

    /// Body limit, body read, instance slot, component: all within the request's deadline.
    async fn run(
        &self,
        served: &Served,
        request: hyper::Request<Incoming>,
        started: Instant,
        local: SocketAddr,
    ) -> Result<hyper::Response<HyperOutgoingBody>, Refusal> {
        let deadline = started + served.timeout;
        let limit = served.max_body_bytes;
        let too_large = Refusal::PayloadTooLarge { limit };
        let (mut parts, mut body) = request.into_parts();
        if body::content_length(&parts.headers).is_some_and(|length| length > limit) {
            // Refused before reading; reading the rest lets the client see the 413.
            if !body::expects_continue(&parts.headers) {
                body::discard(body).await;
            }
            return Err(too_large);
        }

        let expected = body::content_length(&parts.headers).unwrap_or(0);
        let reading = body::read_capped(&mut body, limit, expected);
        let bytes = match tokio::time::timeout_at(deadline, reading).await {
            Err(_elapsed) => {
                return Err(Refusal::BodyTimeout {
                    after: served.timeout,
                });
            }
            Ok(BodyRead::Complete(bytes)) => bytes,
            Ok(BodyRead::TooLarge) => {
                body::discard(body).await;
                return Err(too_large);
            }
            Ok(BodyRead::Unreadable) => return Err(Refusal::BadRequest),
        };

        let permit = match tokio::time::timeout_at(
            deadline,
            Arc::clone(&self.slots).acquire_owned(),
        )
        .await
        {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) | Err(_) => return Err(Refusal::Overloaded),
        };

        // wasi:http needs an authority; HTTP/1.0 clients may send no Host header.
        if parts.uri.authority().is_none()
            && !parts.headers.contains_key(header::HOST)
            && let Ok(host) = HeaderValue::from_str(&local.to_string())
        {
            parts.headers.insert(header::HOST, host);
        }
        let request = hyper::Request::from_parts(parts, Full::new(bytes));
        invoke::invoke(&self.engine, served, request, deadline, permit).await
    }
}

/// Serves `edge` on `listener` until `shutdown` resolves, then stops accepting and gives open
/// connections `grace` to finish their requests.
pub async fn serve(
    edge: Arc<Edge>,
    listener: TcpListener,
    grace: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let (stop, stopped) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    // Responses go out as head + streamed body; don't let Nagle hold them back.
                    let _ = stream.set_nodelay(true);
                    let local = stream.local_addr().unwrap_or_else(|_| {
                        listener.local_addr().unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0)))
                    });
                    connections.spawn(connection(Arc::clone(&edge), stream, local, stopped.clone()));
                }
                Err(error) => {
                    // Typically out of file descriptors: back off instead of spinning.
                    log::event(log::Level::Warn, "accept failed", &[("error", &error.to_string())]);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let open = connections.len().to_string();
    log::event(
        log::Level::Info,
        "shutting down: no new connections; finishing in-flight requests",
        &[("open_connections", &open)],
    );
    let _ = stop.send(true);
    let drained = tokio::time::timeout(grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        let left = connections.len().to_string();
        log::event(
            log::Level::Warn,
            "grace period over; closing the remaining connections",
            &[("open_connections", &left)],
        );
        connections.abort_all();
    }
    log::event(log::Level::Info, "stopped", &[]);
}

async fn connection(
    edge: Arc<Edge>,
    stream: tokio::net::TcpStream,
    local: SocketAddr,
    mut stopped: watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |request| {
        let edge = Arc::clone(&edge);
        async move { Ok::<_, Infallible>(edge.handle(request, local).await) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer)
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let stop = async {
        // A dropped sender also means stop.
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    tokio::select! {
        _result = conn.as_mut() => {}
        () = stop => {
            // Finish the request in flight (if any), then close.
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// A client gets this long to send a request head (slow-loris protection).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// hyper's timer on tokio's clock (hyper needs one for `header_read_timeout`).
#[derive(Clone, Copy)]
struct TokioTimer;

struct TokioSleep(Pin<Box<tokio::time::Sleep>>);

impl Future for TokioSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

impl hyper::rt::Sleep for TokioSleep {}

impl hyper::rt::Timer for TokioTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(TokioSleep(Box::pin(tokio::time::sleep(duration))))
    }

    fn sleep_until(&self, deadline: std::time::Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(TokioSleep(Box::pin(tokio::time::sleep_until(
            Instant::from_std(deadline),
        ))))
    }
}
