//! What one request's instance sees of the host: its WASI context (environment, line-buffered
//! stdout/stderr, no sockets), wasi:http, and the outbound policy that enforces
//! `allowed_outbound_hosts`.

use std::io::Write as _;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use http_body_util::BodyExt as _;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{
    RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView,
};

use crate::log;
use crate::outbound::{AllowedHosts, Destination};

/// The `T` of each request's `Store<T>`.
pub struct HostState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    outbound: OutboundPolicy,
}

impl HostState {
    /// State for one instance of `component` with `environment`.
    pub fn new<'a>(
        component: Arc<str>,
        environment: impl Iterator<Item = (&'a str, &'a str)>,
        allowed_hosts: Arc<AllowedHosts>,
    ) -> Self {
        let mut wasi = WasiCtx::builder();
        for (name, value) in environment {
            wasi.env(name, value);
        }
        wasi.stdout(LineWriter::new(Output::Stdout))
            .stderr(LineWriter::new(Output::Stderr))
            // wasi:sockets stays closed: outbound traffic goes through wasi:http only, where
            // the allow-list applies.
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        Self {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            outbound: OutboundPolicy {
                component,
                allowed_hosts,
            },
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outbound,
        }
    }
}

/// Sends a component's outbound requests if its allow-list permits the destination; refuses
/// them with `HttpRequestDenied` otherwise (the guest sees an error, the host logs it).
struct OutboundPolicy {
    component: Arc<str>,
    allowed_hosts: Arc<AllowedHosts>,
}

/// A future reporting an error on the connection after the response head (wasi:http's shape).
type IoFuture = Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>;

/// What `send_request` returns: the response head and body, and the connection's future.
type SendFuture = Box<
    dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), wasmtime_wasi_http::Error>>
        + Send,
>;

impl WasiHttpHooks for OutboundPolicy {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: IoFuture,
    ) -> SendFuture {
        // Under wasi:http 0.2 this is a no-op future (it matters for 0.3 request bodies).
        drop(fut);
        let destination = Destination::of(request.uri());
        let allowed = destination
            .as_ref()
            .is_some_and(|d| self.allowed_hosts.allows(d));
        if !allowed {
            let shown = destination.map_or_else(|| "(no host)".to_owned(), |d| d.to_string());
            log::event(
                log::Level::Warn,
                "outbound request denied",
                &[
                    ("component", &self.component),
                    ("destination", &shown),
                    ("hint", "add it to allowed_outbound_hosts in spin.toml"),
                ],
            );
            // Keep accepting the body the guest may still be writing, so that what it sees
            // is the denial and not a broken body stream.
            let mut body = request.into_body();
            tokio::spawn(async move { while let Some(Ok(_frame)) = body.frame().await {} });
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        Box::new(async move {
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            let io: IoFuture = Box::new(io);
            Ok((response.map(|body| body.boxed_unsync()), io))
        })
    }
}

#[derive(Clone, Copy)]
enum Output {
    Stdout,
    Stderr,
}

impl Output {
    fn write_line(self, line: &[u8]) {
        // A failed write to our own stdout/stderr has nowhere to be reported.
        let _ = match self {
            Self::Stdout => std::io::stdout().lock().write_all(line),
            Self::Stderr => std::io::stderr().lock().write_all(line),
        };
    }
}

/// A component's stdout or stderr, passed through whole lines at a time so that lines from
/// concurrent instances never interleave (guests often write a line in several calls).
#[derive(Clone)]
struct LineWriter {
    output: Output,
    pending: Arc<Mutex<Pending>>,
}

struct Pending {
    output: Output,
    bytes: Vec<u8>,
}

/// Lines longer than this are passed on in pieces.
const MAX_PENDING: usize = 64 * 1024;

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.bytes.is_empty() {
            self.bytes.push(b'\n');
            self.output.write_line(&self.bytes);
        }
    }
}

impl LineWriter {
    fn new(output: Output) -> Self {
        Self {
            output,
            pending: Arc::new(Mutex::new(Pending {
                output,
                bytes: Vec::new(),
            })),
        }
    }

    fn write(&self, buf: &[u8]) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        pending.bytes.extend_from_slice(buf);
        let complete = match pending.bytes.iter().rposition(|b| *b == b'\n') {
            Some(end) => end + 1,
            None if pending.bytes.len() >= MAX_PENDING => pending.bytes.len(),
            None => return,
        };
        let rest = pending.bytes.split_off(complete);
        let lines = std::mem::replace(&mut pending.bytes, rest);
        self.output.write_line(&lines);
    }
}

impl IsTerminal for LineWriter {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LineWriter {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl tokio::io::AsyncWrite for LineWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.write(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
