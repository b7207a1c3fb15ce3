//! Outbound connections kept alive and shared by every instance: the components call the same
//! few hosts (PostgREST, Odoo, GitHub) on every request, and a fresh TCP connection, with a
//! fresh TLS handshake and a fresh root store for https, per call was most of a stored
//! request's cost (wasmtime-wasi-http's `default_send_request` does exactly that).
//!
//! One idle list per (scheme, authority). A connection goes back to its list when its response
//! body has been read to the end and hyper says it is ready again; a request that finds no
//! ready idle connection opens a new one. HTTP/1.1 only (what the default sender spoke).
//!
//! Reuse is safe because of two rules:
//! - an idle connection is used only within [`IDLE_FOR`] of its last response: shorter than
//!   the keep-alive timeouts servers commonly close at (Node's 5 s, nginx's 75 s), so the
//!   server does not close it while our request is on the wire;
//! - when hyper hands a request back unsent (the connection closed before a byte went out),
//!   it is sent once more on a new connection. A request that was sent is never resent: the
//!   components' retries (with their idempotency keys) decide that.
//!
//! Timeouts keep the guest's `request-options` meaning: connect, first byte (from the moment
//! the request is handed over), between body frames.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::client::conn::http1::SendRequest;
use tokio::net::TcpStream;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

/// How long an idle connection stays reusable after its last response.
pub const IDLE_FOR: Duration = Duration::from_secs(4);

/// Idle connections kept per destination; more are closed when they come back.
pub const IDLE_PER_HOST: usize = 64;

/// wasi:http's default when the guest sets no timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    tls: bool,
    /// `host:port`, the port always explicit.
    authority: String,
}

struct Idle {
    sender: SendRequest<WasiBody>,
    since: Instant,
}

/// The process's outbound connections.
#[derive(Default)]
pub struct Pool {
    idle: Mutex<HashMap<Key, Vec<Idle>>>,
}

/// What the hook hands back: the response head and body (and the io future wasi:http asks for,
/// always ready: each connection is driven by its own task).
pub type Sent = (
    http::Response<WasiBody>,
    Box<dyn Future<Output = Result<(), Error>> + Send>,
);

impl Pool {
    /// The pool every instance of this process shares.
    pub fn shared() -> Arc<Self> {
        static SHARED: OnceLock<Arc<Pool>> = OnceLock::new();
        Arc::clone(SHARED.get_or_init(Arc::default))
    }

    /// Idle connections right now, over every destination.
    #[cfg(test)]
    fn idle_count(&self) -> usize {
        self.idle
            .lock()
            .map(|idle| idle.values().map(Vec::len).sum())
            .unwrap_or(0)
    }

    /// Sends `request` (an absolute URI, already allowed) on a reused or new connection.
    ///
    /// # Errors
    /// wasi:http's error for what failed: connect, TLS, timeout, protocol.
    pub async fn send(
        self: Arc<Self>,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> Result<Sent, Error> {
        let uri = request.uri();
        let tls = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        let authority = uri.authority().ok_or(Error::HttpRequestUriInvalid)?;
        let authority = match authority.port() {
            Some(_) => authority.to_string(),
            None => format!("{authority}:{}", if tls { 443 } else { 80 }),
        };
        let key = Key { tls, authority };
        let timeout = |pick: fn(&RequestOptions) -> Option<Duration>| {
            options.as_ref().and_then(pick).unwrap_or(DEFAULT_TIMEOUT)
        };
        let connect_timeout = timeout(|o| o.connect_timeout);
        let first_byte_timeout = timeout(|o| o.first_byte_timeout);
        let between_bytes_timeout = timeout(|o| o.between_bytes_timeout).max(Duration::new(0, 1));

        // Origin-form on the wire: scheme and authority belong only to proxy requests.
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        *request.uri_mut() = http::Uri::builder()
            .path_and_query(path)
            .build()
            .map_err(|_| Error::HttpRequestUriInvalid)?;

        let (mut sender, reused) = match self.checkout(&key) {
            Some(sender) => (sender, true),
            None => (connect(&key, connect_timeout).await?, false),
        };
        let response = tokio::time::timeout(first_byte_timeout, async {
            match sender.try_send_request(request).await {
                Ok(response) => Ok(response),
                Err(mut unsent) => match unsent.take_message() {
                    // Closed under us before anything was written: once more, on a new one.
                    Some(request) if reused => {
                        sender = connect(&key, connect_timeout).await?;
                        sender.send_request(request).await.map_err(Error::from)
                    }
                    _ => Err(Error::from(unsent.into_error())),
                },
            }
        })
        .await
        .map_err(|_| Error::ConnectionReadTimeout)??;

        let give_back = GiveBack {
            pool: self,
            key,
            sender: Some(sender),
        };
        let response = response.map(|incoming| {
            Timed {
                incoming,
                timer: Box::pin(tokio::time::sleep(between_bytes_timeout)),
                between: between_bytes_timeout,
                give_back: Some(give_back),
            }
            .boxed_unsync()
        });
        Ok((response, Box::new(async { Ok(()) })))
    }

    /// The most recently used ready connection to `key`, dropping stale and closed ones.
    fn checkout(&self, key: &Key) -> Option<SendRequest<WasiBody>> {
        let mut idle = self.idle.lock().ok()?;
        let list = idle.get_mut(key)?;
        while let Some(entry) = list.pop() {
            if entry.since.elapsed() < IDLE_FOR && entry.sender.is_ready() {
                return Some(entry.sender);
            }
        }
        None
    }

    fn put_back(&self, key: Key, sender: SendRequest<WasiBody>) {
        let Ok(mut idle) = self.idle.lock() else {
            return;
        };
        let list = idle.entry(key).or_default();
        list.retain(|entry| entry.since.elapsed() < IDLE_FOR && !entry.sender.is_closed());
        if list.len() < IDLE_PER_HOST {
            list.push(Idle {
                sender,
                since: Instant::now(),
            });
        }
    }
}

/// A new connection to `key`, driven by its own task until it closes.
async fn connect(key: &Key, timeout: Duration) -> Result<SendRequest<WasiBody>, Error> {
    tokio::time::timeout(timeout, async {
        let stream = TcpStream::connect(&key.authority)
            .await
            .map_err(Error::Connect)?;
        let _ = stream.set_nodelay(true);
        if key.tls {
            let name = server_name(&key.authority)?;
            let stream = tokio_rustls::TlsConnector::from(tls_config())
                .connect(name, stream)
                .await
                .map_err(Error::Tls)?;
            handshake(stream).await
        } else {
            handshake(stream).await
        }
    })
    .await
    .map_err(|_| Error::ConnectionTimeout)?
}

async fn handshake<S>(stream: S) -> Result<SendRequest<WasiBody>, Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await?;
    tokio::spawn(async move {
        // An error here is the connection's end; the request that saw it got it already.
        let _ = connection.await;
    });
    Ok(sender)
}

/// Built once: the root store and the ring provider, as the default sender used per request.
fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    Arc::clone(CONFIG.get_or_init(|| {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.into(),
        };
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map(|builder| builder.with_root_certificates(roots).with_no_client_auth());
        // The ring provider supports the safe defaults; this cannot fail.
        Arc::new(config.unwrap_or_else(|_| unreachable!("ring supports TLS 1.2 and 1.3")))
    }))
}

/// The TLS server name of `host:port`: an IP literal or a DNS name without its port.
fn server_name(authority: &str) -> Result<rustls::pki_types::ServerName<'static>, Error> {
    use rustls::pki_types::ServerName;
    if let Ok(address) = authority.parse::<std::net::SocketAddr>() {
        return Ok(ServerName::from(address.ip()));
    }
    let host = authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host);
    Ok(ServerName::try_from(host)?.to_owned())
}

/// Returns the connection to the pool once hyper says it is ready for the next request.
struct GiveBack {
    pool: Arc<Pool>,
    key: Key,
    sender: Option<SendRequest<WasiBody>>,
}

impl GiveBack {
    fn finish(mut self) {
        let Some(mut sender) = self.sender.take() else {
            return;
        };
        if sender.is_ready() {
            self.pool.put_back(self.key, sender);
            return;
        }
        // The connection task has not yet seen the end of the message; give it a moment.
        let Self { pool, key, .. } = self;
        tokio::spawn(async move {
            if sender.ready().await.is_ok() {
                pool.put_back(key, sender);
            }
        });
    }
}

/// The response body: the guest's between-bytes timeout, and the connection back to the pool
/// at the end. A body dropped before its end takes its connection with it (hyper closes it).
struct Timed {
    incoming: hyper::body::Incoming,
    timer: Pin<Box<tokio::time::Sleep>>,
    between: Duration,
    give_back: Option<GiveBack>,
}

impl http_body::Body for Timed {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Error>>> {
        match Pin::new(&mut self.incoming).poll_frame(cx) {
            Poll::Ready(None) => {
                if let Some(give_back) = self.give_back.take() {
                    give_back.finish();
                }
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(err))) => {
                // The connection is broken: it must not go back.
                self.give_back = None;
                Poll::Ready(Some(Err(if err.is_timeout() {
                    Error::HttpResponseTimeout
                } else {
                    Error::from(err)
                })))
            }
            Poll::Ready(Some(Ok(frame))) => {
                let deadline = tokio::time::Instant::now() + self.between;
                self.timer.as_mut().reset(deadline);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => {
                ready!(self.timer.as_mut().poll(cx));
                self.give_back = None;
                Poll::Ready(Some(Err(Error::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.incoming.size_hint()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::atomic::{AtomicUsize, Ordering};

    use http_body_util::{BodyExt as _, Full};
    use tokio::net::TcpListener;

    use super::*;

    /// A server on 127.0.0.1 that counts the connections it accepts and keeps them alive.
    async fn server() -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        move |request: hyper::Request<hyper::body::Incoming>| async move {
                            let body = request.into_body().collect().await?.to_bytes();
                            let text =
                                format!("connection {n} got {}", String::from_utf8_lossy(&body));
                            Ok::<_, hyper::Error>(hyper::Response::new(Full::new(Bytes::from(
                                text,
                            ))))
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        (format!("http://{address}"), accepted)
    }

    /// A server that answers one request per connection and then closes it without saying so
    /// (no `connection: close`), as a server timing out idle connections does.
    async fn closing_server() -> (String, Arc<AtomicUsize>) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        tokio::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut seen = Vec::new();
                    let mut buf = [0u8; 1024];
                    // The whole request: its head and the one-byte body.
                    while !seen.windows(4).any(|w| w == b"\r\n\r\n")
                        || !seen.ends_with(b"\r\n\r\na")
                    {
                        let n = stream.read(&mut buf).await.unwrap();
                        if n == 0 {
                            return;
                        }
                        seen.extend_from_slice(&buf[..n]);
                    }
                    let _ = stream
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                        .await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        (format!("http://{address}"), accepted)
    }

    fn post(url: &str, body: &'static str) -> http::Request<WasiBody> {
        let body = Full::new(Bytes::from_static(body.as_bytes()))
            .map_err(|never| match never {})
            .boxed_unsync();
        http::Request::post(format!("{url}/x")).body(body).unwrap()
    }

    async fn answer(pool: &Arc<Pool>, url: &str, body: &'static str) -> String {
        let (response, _io) = Arc::clone(pool).send(post(url, body), None).await.unwrap();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn sequential_requests_share_one_connection() {
        let (url, accepted) = server().await;
        let pool = Arc::new(Pool::default());
        for (i, body) in ["a", "b", "c"].into_iter().enumerate() {
            assert_eq!(
                answer(&pool, &url, body).await,
                format!("connection 1 got {body}"),
                "request {i}"
            );
            // Back in the pool once hyper has seen the end of the answer.
            for _ in 0..100 {
                if pool.idle_count() == 1 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            assert_eq!(pool.idle_count(), 1);
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_connection_the_server_closed_is_replaced_not_an_error() {
        let (url, accepted) = closing_server().await;
        let pool = Arc::new(Pool::default());
        for _ in 0..20 {
            assert_eq!(answer(&pool, &url, "a").await, "ok");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 20);
    }

    #[tokio::test]
    async fn concurrent_requests_open_their_own_connections() {
        let (url, accepted) = server().await;
        let pool = Arc::new(Pool::default());
        let (a, b) = tokio::join!(answer(&pool, &url, "a"), answer(&pool, &url, "b"));
        assert!(a.ends_with("got a") && b.ends_with("got b"), "{a} / {b}");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_unread_body_takes_its_connection_with_it() {
        let (url, accepted) = server().await;
        let pool = Arc::new(Pool::default());
        let (response, _io) = Arc::clone(&pool).send(post(&url, "a"), None).await.unwrap();
        drop(response);
        assert_eq!(pool.idle_count(), 0);
        assert!(answer(&pool, &url, "b").await.ends_with("got b"));
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_connect_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let pool = Arc::new(Pool::default());
        let err = Arc::clone(&pool)
            .send(post(&url, "a"), None)
            .await
            .err()
            .unwrap();
        assert!(matches!(err, Error::Connect(_)), "{err:?}");
    }

    #[test]
    fn tls_names_drop_the_port_and_keep_ip_literals() {
        use rustls::pki_types::ServerName;
        assert_eq!(
            server_name("example.com:443").unwrap(),
            ServerName::try_from("example.com").unwrap()
        );
        assert_eq!(
            server_name("127.0.0.1:443").unwrap(),
            ServerName::from(std::net::Ipv4Addr::LOCALHOST)
        );
        assert_eq!(
            server_name("[::1]:443").unwrap(),
            ServerName::from(std::net::Ipv6Addr::LOCALHOST)
        );
        assert!(tls_config().alpn_protocols.is_empty());
    }
}
