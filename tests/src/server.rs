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
        Self::listen(port, true, handler)
    }

    /// Like [`HttpServer::serve`], but keeps no record of the requests: for load, where a
    /// record of every request would grow without bound.
    pub fn serve_unrecorded(
        port: Option<u16>,
        handler: impl Fn(&Exchange) -> Reply + Send + Sync + 'static,
    ) -> Self {
        Self::listen(port, false, handler)
    }

    fn listen(
        port: Option<u16>,
        record: bool,
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
                let seen = record.then_some(seen);
                thread::spawn(move || serve_connection(stream, seen.as_deref(), handler.as_ref()));
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

fn serve_connection(stream: TcpStream, seen: Option<&Mutex<Vec<Exchange>>>, handler: &Handler) {
    // Each answer goes out in one write; without this, a client's delayed ACK could still
    // hold a short answer back.
    let _ = stream.set_nodelay(true);
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let record = |exchange: Exchange| {
        if let Some(seen) = seen {
            seen.lock().expect("lock").push(exchange);
        }
    };
    let mut reader = BufReader::new(read_half);
    // Keep-alive: hyper and workerd reuse connections, so serve until the peer closes.
    while let Some((line, headers)) = read_head(&mut reader) {
        if line.is_empty() {
            return;
        }
        let body = match read_body(&mut reader, &headers, false) {
            Ok(body) => body,
            Err(error) => {
                // A framing error leaves the connection unusable: say so and close it, as a
                // real server does; the test that caused it sees the 400.
                let message =
                    serde_json::json!({"error": "bad_framing", "message": error}).to_string();
                let mut writer = &stream;
                let _ = write!(
                    writer,
                    "HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{message}",
                    message.len()
                );
                return;
            }
        };
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
                record(exchange);
                let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status));
                for (name, value) in &headers {
                    out.push_str(&format!("{name}: {value}\r\n"));
                }
                out.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
                let mut out = out.into_bytes();
                out.extend_from_slice(&body);
                let mut writer = &stream;
                if writer.write_all(&out).is_err() {
                    return;
                }
            }
            Reply::Drop | Reply::Delay(..) => {
                record(exchange);
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

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
    //! The stand-ins' HTTP/1.1 as a client that reuses connections (Spin, hyper) sees it.

    use std::io::{BufReader, Write as _};
    use std::net::TcpStream;

    use super::{HttpServer, Reply};
    use crate::{read_body, read_head};

    /// Sends `raw` on one connection and reads `n` responses from it: (status, body).
    fn exchange_on_one_connection(port: u16, raw: &[u8], n: usize) -> Vec<(u16, Vec<u8>)> {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .expect("timeout");
        stream.write_all(raw).expect("write");
        let mut reader = BufReader::new(stream);
        (0..n)
            .map(|i| {
                let (line, headers) =
                    read_head(&mut reader).unwrap_or_else(|| panic!("no response {i}"));
                let status = line
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| panic!("response {i}: {line:?}"));
                (
                    status,
                    read_body(&mut reader, &headers, false).expect("body"),
                )
            })
            .collect()
    }

    fn echo() -> HttpServer {
        HttpServer::serve(None, |exchange| Reply::Respond {
            status: 200,
            headers: Vec::new(),
            body: exchange.body.clone(),
        })
    }

    #[test]
    fn chunked_requests_on_a_kept_alive_connection_are_each_read_whole() {
        let server = echo();
        let raw = concat!(
            // A body in two chunks, one with a chunk extension.
            "POST /a HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n",
            "5;name=value\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
            // A body-less request sent chunked, as Spin sends a token request.
            "POST /b HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
            // Trailer fields after the last chunk.
            "POST /c HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\ntrailer: x-checksum\r\n\r\n",
            "3\r\nabc\r\n0\r\nx-checksum: 1234\r\nx-other: 5\r\n\r\n",
            // And a content-length request after them all.
            "POST /d HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\n\r\nlast",
        );
        let answers = exchange_on_one_connection(server.port, raw.as_bytes(), 4);
        let bodies: Vec<&[u8]> = answers.iter().map(|(_, b)| b.as_slice()).collect();
        assert_eq!(
            bodies,
            [&b"hello world"[..], b"", b"abc", b"last"],
            "{answers:?}"
        );
        assert!(answers.iter().all(|(status, _)| *status == 200));
        let paths: Vec<String> = server.recorded().into_iter().map(|e| e.path).collect();
        assert_eq!(paths, ["/a", "/b", "/c", "/d"]);
    }

    #[test]
    fn chunked_wins_over_content_length() {
        let server = echo();
        let raw = concat!(
            "POST /a HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\ntransfer-encoding: chunked\r\n\r\n",
            "3\r\nabc\r\n0\r\n\r\n",
            "POST /b HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n",
        );
        let answers = exchange_on_one_connection(server.port, raw.as_bytes(), 2);
        assert_eq!(answers[0], (200, b"abc".to_vec()));
        assert_eq!(answers[1], (200, Vec::new()));
    }

    #[test]
    fn a_malformed_chunk_is_400_and_the_connection_closes() {
        let server = echo();
        let raw = "POST /a HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n";
        let answers = exchange_on_one_connection(server.port, raw.as_bytes(), 1);
        assert_eq!(answers[0].0, 400);
        let body: serde_json::Value = serde_json::from_slice(&answers[0].1).expect("JSON");
        assert_eq!(body["error"], "bad_framing", "{body}");
        assert!(server.recorded().is_empty(), "nothing reached the handler");
    }

    #[test]
    fn a_chunk_without_its_crlf_is_400() {
        let server = echo();
        let raw = "POST /a HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n";
        let answers = exchange_on_one_connection(server.port, raw.as_bytes(), 1);
        assert_eq!(answers[0].0, 400);
    }

    #[test]
    fn the_odoo_and_github_stand_ins_answer_every_chunked_request_on_a_reused_connection() {
        let odoo = crate::standin::OdooStandIn::start("token", "a-secret-of-sixteen-bytes");
        let odoo_port: u16 = odoo
            .base_url()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port");
        let unsigned = "POST /api/agent/apply HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nx-api-key: token\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
        let answers = exchange_on_one_connection(odoo_port, unsigned.repeat(3).as_bytes(), 3);
        for (status, body) in &answers {
            let body: serde_json::Value = serde_json::from_slice(body).expect("JSON");
            assert_eq!(
                (*status, body["message"].as_str()),
                (401, Some("x-signature missing"))
            );
        }
        assert_eq!(odoo.calls().len(), 3);

        let secrets = crate::stack::DevSecrets::for_tests();
        let github = crate::standin::GithubStandIn::start(crate::standin::GithubApp {
            app_id: "1".into(),
            client_id: "Iv1".into(),
            installation_id: "2".into(),
            owner: "o".into(),
            repo: "r".into(),
            public_key_pem: secrets.github_public_key_pem,
        });
        let github_port: u16 = github
            .api_url()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port");
        // A body-less token request, chunked as Spin sends it, twice on one connection.
        let token = "POST /app/installations/2/access_tokens HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n";
        let answers = exchange_on_one_connection(github_port, token.repeat(2).as_bytes(), 2);
        for (status, body) in &answers {
            let body = String::from_utf8_lossy(body);
            // GitHub's answer to a request without User-Agent, each time.
            assert!(
                *status == 403 && body.contains("User-Agent"),
                "{status} {body}"
            );
        }
        assert_eq!(github.calls().len(), 2);
    }
}
