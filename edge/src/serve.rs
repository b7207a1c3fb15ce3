//! How connections come and go: accept them, serve each over HTTP/1.1 (requests go to
//! [`Edge::handle`]), and on Ctrl-C or SIGTERM shut down gracefully: stop accepting, let
//! in-flight requests finish within the grace period, then close what is left.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::server::conn::http1;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;
use wasmtime_wasi_http::io::TokioIo;

use crate::log;
use crate::pipeline::Edge;

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
