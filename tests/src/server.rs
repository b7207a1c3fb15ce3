//! A small threaded HTTP/1.1 server for stand-ins: every request is parsed (content-length
//! or chunked), recorded, and answered by a handler that may also delay or drop the
//! connection.

use std::io::{BufReader, Write as _};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use crate::{Exchange, read_body, read_head};

/// What a handler does with one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Answer with a status, headers and a body.
    Respond {
        /// Status code.
        status: u16,
        /// Extra headers (content-length and connection are added).
        headers: Vec<(String, String)>,
        /// Body bytes.
        body: Vec<u8>,
    },
    /// Wait, then do the inner reply.
    Delay(Duration, Box<Reply>),
    /// Close the connection without answering.
    Drop,
}

impl Reply {
    /// A JSON answer.
    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        Self::Respond {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }

    /// An answer with no body.
    pub fn empty(status: u16) -> Self {
        Self::Respond {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header to a `Respond` (no effect on other replies).
    #[must_use]
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        if let Self::Respond { headers, .. } = &mut self {
            headers.push((name.into(), value.into()));
        }
        self
    }
}

type Handler = dyn Fn(&Exchange) -> Reply + Send + Sync;

/// A running server; it stops accepting when dropped.
pub struct HttpServer {
    /// The port on 127.0.0.1.
    pub port: u16,
    requests: Arc<Mutex<Vec<Exchange>>>,
    stop: Arc<AtomicBool>,
}

impl std::fmt::Debug for HttpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpServer")
            .field("port", &self.port)
            .finish()
    }
}

impl HttpServer {
    /// Starts serving on a free port of 127.0.0.1 (or `port` when given).
    pub fn serve(
        port: Option<u16>,
        handler: impl Fn(&Exchange) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let listener =
            TcpListener::bind(("127.0.0.1", port.unwrap_or(0))).expect("bind stand-in server");
        let port = listener.local_addr().expect("addr").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let (seen, stopped) = (Arc::clone(&requests), Arc::clone(&stop));
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let (seen, handler) = (Arc::clone(&seen), Arc::clone(&handler));
                thread::spawn(move || serve_connection(stream, &seen, handler.as_ref()));
            }
        });
        Self {
            port,
            requests,
            stop,
        }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Every request so far, in arrival order, with the status it was answered with
    /// (0 when dropped).
    pub fn recorded(&self) -> Vec<Exchange> {
        self.requests.lock().expect("lock").clone()
    }

    /// Forgets the recorded requests.
    pub fn clear(&self) {
        self.requests.lock().expect("lock").clear();
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve_connection(stream: TcpStream, seen: &Mutex<Vec<Exchange>>, handler: &Handler) {
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    // Keep-alive: hyper and workerd reuse connections, so serve until the peer closes.
    while let Some((line, headers)) = read_head(&mut reader) {
        if line.is_empty() {
            return;
        }
        let body = read_body(&mut reader, &headers, false);
        let mut parts = line.split_whitespace();
        let mut exchange = Exchange {
            method: parts.next().unwrap_or_default().to_owned(),
            path: parts.next().unwrap_or_default().to_owned(),
            status: 0,
            headers,
            body,
        };
        let mut reply = handler(&exchange);
        while let Reply::Delay(wait, inner) = reply {
            thread::sleep(wait);
            reply = *inner;
        }
        match reply {
            Reply::Respond {
                status,
                headers,
                body,
            } => {
                exchange.status = status;
                seen.lock().expect("lock").push(exchange);
                let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status));
                for (name, value) in &headers {
                    out.push_str(&format!("{name}: {value}\r\n"));
                }
                out.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
                let mut writer = &stream;
                if writer.write_all(out.as_bytes()).is_err() || writer.write_all(&body).is_err() {
                    return;
                }
            }
            Reply::Drop | Reply::Delay(..) => {
                seen.lock().expect("lock").push(exchange);
                let _ = stream.shutdown(Shutdown::Both);
                return;
            }
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}
