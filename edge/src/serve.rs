//! How connections come and go: accept them, at most `--max-connections` at once, serve each
//! over HTTP/1.1 (requests go to [`Edge::handle`]), and on Ctrl-C or SIGTERM shut down
//! gracefully: stop accepting, let in-flight requests finish within the grace period, then
//! close what is left.
//!
//! At the limit the host does not accept at all (the permit is taken before `accept`, as in
//! tokio's mini-redis): further connections wait in the kernel's listen backlog, costing the
//! host nothing, and are served in order as open ones close. Accepting and closing them
//! instead would turn a burst into errors that clients retry at once.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::server::conn::http1;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use wasmtime_wasi_http::io::TokioIo;

use crate::log;
use crate::pipeline::Edge;

/// How connections are served.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections open at once; more wait in the listen backlog.
    pub max_connections: u32,
    /// After Ctrl-C or SIGTERM, how long open connections get to finish their requests.
    pub grace: Duration,
}

/// Serves `edge` on `listener` until `shutdown` resolves, then stops accepting and gives open
/// connections `limits.grace` to finish their requests.
pub async fn serve(
    edge: Arc<Edge>,
    listener: TcpListener,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let grace = limits.grace;
    let open = Arc::new(Semaphore::new(
        usize::try_from(limits.max_connections).unwrap_or(usize::MAX),
    ));
    // A permit for the next connection, taken before accepting it.
    let mut permit: Option<OwnedSemaphorePermit> = None;
    let (stop, stopped) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            acquired = Arc::clone(&open).acquire_owned(), if permit.is_none() => match acquired {
                Ok(acquired) => permit = Some(acquired),
                Err(_closed) => break, // never closed; if it were, nothing more could be served
            },
            accepted = listener.accept(), if permit.is_some() => match accepted {
                Ok((stream, _peer)) => {
                    // Responses go out as head + streamed body; don't let Nagle hold them back.
                    let _ = stream.set_nodelay(true);
                    let local = stream.local_addr().unwrap_or_else(|_| {
                        listener.local_addr().unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0)))
                    });
                    let held = permit.take();
                    connections.spawn(connection(Arc::clone(&edge), stream, local, stopped.clone(), held));
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

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                log::event(
                    log::Level::Warn,
                    "cannot listen for SIGTERM; only Ctrl-C stops the host",
                    &[("error", &error.to_string())],
                );
                std::future::pending::<()>().await;
            }
        }
    };
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            log::event(
                log::Level::Warn,
                "cannot listen for Ctrl-C; only SIGTERM stops the host",
                &[("error", &error.to_string())],
            );
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

async fn connection(
    edge: Arc<Edge>,
    stream: tokio::net::TcpStream,
    local: SocketAddr,
    mut stopped: watch::Receiver<bool>,
    // Held while the connection is open: its place under --max-connections.
    _open: Option<OwnedSemaphorePermit>,
) {
    let service = hyper::service::service_fn(move |request| {
        let edge = Arc::clone(&edge);
        async move { Ok::<_, Infallible>(edge.handle(request, local).await) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer)
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(CONNECTION_BUFFER)
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

/// A client gets this long to send a request head (slow-loris protection); an idle
/// keep-alive connection is closed after as long.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The most one connection buffers for reading and for writing (hyper's default is about
/// 400 KiB): with `--max-connections` it bounds what connections cost. It is also the
/// largest request head accepted; a larger one gets 431.
const CONNECTION_BUFFER: usize = 64 * 1024;

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
