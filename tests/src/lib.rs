//! Harness for the end-to-end suites: locating tools and built components, free ports,
//! spawning runtimes, a recording upstream server, a tiny HTTP/1.1 client, and the signed
//! requests and secret checks the suites share ([`e2e`], [`bridge`]).
//!
//! Everything it needs comes from `cargo xtask test` through environment variables. When one
//! is missing the test fails with a message saying how to run it: these tests never skip.
// Test support: failing loudly (panicking with context) is the point here.
#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::unwrap_used,
    clippy::indexing_slicing
)]

pub mod bridge;
pub mod cell;
pub mod clock;
pub mod e2e;
pub mod fault;
pub mod peers;
pub mod postgres;
pub mod server;
pub mod stack;
pub mod standin;
pub mod workerd;

pub use standin::hmac_hex;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// A path from an environment variable that `cargo xtask test` sets; fails loudly without it.
pub fn required_path(var: &str) -> PathBuf {
    let path = std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        panic!("{var} is not set: run these tests through `cargo xtask test`, which installs and points at every tool")
    });
    assert!(
        path.exists(),
        "{var}={} does not exist: run `cargo xtask test`",
        path.display()
    );
    path
}

/// A built probe artifact, e.g. `probe_artifact("wasi/pulser_probe.wasm")`.
pub fn probe_artifact(relative: &str) -> PathBuf {
    required_path("PULSER_PROBE_DIST").join(relative)
}

/// A port on 127.0.0.1 that is free right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// A child process killed on drop, with its stderr captured to a file for diagnostics.
#[derive(Debug)]
pub struct Service {
    child: Child,
    pub port: u16,
    log: PathBuf,
    keep_log: bool,
    interrupt: bool,
}

impl Service {
    /// Starts `cmd` and waits until 127.0.0.1:`port` accepts connections.
    pub fn start(cmd: Command, port: u16, name: &str) -> Self {
        let log = std::env::temp_dir().join(format!("pulser-{name}-{port}.log"));
        Self::start_logging_to(cmd, port, name, log, false)
    }

    /// Like [`Service::start`], writing stdout and stderr to `log`, which is kept after the
    /// service stops when `keep_log` is set.
    pub fn start_logging_to(
        mut cmd: Command,
        port: u16,
        name: &str,
        log: PathBuf,
        keep_log: bool,
    ) -> Self {
        let file = std::fs::File::create(&log)
            .unwrap_or_else(|e| panic!("log file {}: {e}", log.display()));
        let err = file.try_clone().expect("log file");
        let child = cmd
            .stdout(Stdio::from(file))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({:?}): {e}", cmd.get_program()));
        let mut service = Self {
            child,
            port,
            log,
            keep_log,
            interrupt: false,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = service.child.try_wait() {
                panic!("{name} exited with {status}:\n{}", service.logs());
            }
            assert!(
                Instant::now() < deadline,
                "{name} did not listen on {port}:\n{}",
                service.logs()
            );
            // Short: the bench's cold-start figures include this wait.
            thread::sleep(Duration::from_millis(2));
        }
        service
    }

    /// What the process wrote so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Service {
    /// On drop, sends SIGINT and waits up to 10 s for a clean exit before killing (for
    /// servers with state on disk, like PostgreSQL's fast shutdown, and for the edge host,
    /// whose graceful shutdown is how production stops it, and which, built instrumented by
    /// `cargo xtask coverage`, writes its coverage profile only when it exits by itself).
    #[must_use]
    pub fn with_interrupt_on_drop(mut self) -> Self {
        self.interrupt = true;
        self
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the process now (SIGINT first when configured, then SIGKILL).
    pub fn stop(&mut self) {
        if self.interrupt {
            let _ = Command::new("kill")
                .args(["-INT", &self.child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop();
        if !self.keep_log {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// One HTTP exchange as seen by a server or a client.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Exchange {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

pub(crate) fn read_head(
    reader: &mut BufReader<TcpStream>,
) -> Option<(String, Vec<(String, String)>)> {
    let mut first = String::new();
    reader.read_line(&mut first).ok()?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    Some((first.trim_end().to_owned(), headers))
}

/// Reads a message body framed by chunked encoding or content-length (chunked wins when a
/// message carries both, RFC 9112 6.3); with neither, a response body runs to EOF while a
/// request has none. A chunked body is read to its end: the last chunk, any trailer fields
/// and the blank line after them, so the next request on a kept-alive connection starts at
/// its own first line (Spin sends every outbound body chunked and reuses connections).
///
/// # Errors
/// A framing error (bad chunk size, missing CRLF, early EOF), described.
pub(crate) fn read_body(
    reader: &mut BufReader<TcpStream>,
    headers: &[(String, String)],
    until_eof: bool,
) -> Result<Vec<u8>, String> {
    let find = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let chunked = find("transfer-encoding").is_some_and(|v| {
        v.rsplit(',')
            .next()
            .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"))
    });
    if chunked {
        return read_chunked(reader);
    }
    if let Some(len) = find("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| format!("content-length {len:?} is not a number"))?;
        let mut body = vec![0; len];
        reader
            .read_exact(&mut body)
            .map_err(|e| format!("body shorter than content-length {len}: {e}"))?;
        return Ok(body);
    }
    let mut body = Vec::new();
    if until_eof {
        reader
            .read_to_end(&mut body)
            .map_err(|e| format!("reading the body to EOF: {e}"))?;
    }
    Ok(body)
}

/// One CRLF-terminated line, without the CRLF.
fn read_crlf_line(reader: &mut BufReader<TcpStream>) -> Result<String, String> {
    let mut line = String::new();
    let n = reader
        .read_line(&mut line)
        .map_err(|e| format!("reading a chunked body: {e}"))?;
    match line.strip_suffix("\r\n") {
        Some(line) if n > 0 => Ok(line.to_owned()),
        _ => Err(format!("chunked body: line {line:?} does not end in CRLF")),
    }
}

fn read_chunked(reader: &mut BufReader<TcpStream>) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let line = read_crlf_line(reader)?;
        // chunk-size [ ";" chunk-ext ]
        let size = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size, 16)
            .map_err(|_| format!("chunked body: bad chunk size line {line:?}"))?;
        if size == 0 {
            break;
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader
            .read_exact(&mut body[start..])
            .map_err(|e| format!("chunked body: chunk of {size} bytes cut short: {e}"))?;
        let mut crlf = [0u8; 2];
        reader
            .read_exact(&mut crlf)
            .map_err(|e| format!("chunked body: no CRLF after a chunk: {e}"))?;
        if &crlf != b"\r\n" {
            return Err(format!("chunked body: {crlf:?} after a chunk, not CRLF"));
        }
    }
    // trailer-section, then the blank line that ends the message.
    while !read_crlf_line(reader)?.is_empty() {}
    Ok(body)
}

/// Sends one HTTP/1.1 request and reads the response (connection closed after); panics
/// when the server cannot be reached or answers garbage.
pub fn request(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Exchange {
    try_request(method, url, headers, body).unwrap_or_else(|e| panic!("{method} {url}: {e}"))
}

/// POSTs `total` bytes of `x` to `url` with `transfer-encoding: chunked` (no
/// `content-length`), in chunks of 64 KiB, and reads the answer. A server that stops
/// reading at its limit and answers is fine: write errors after that are ignored.
pub fn post_chunked(url: &str, headers: &[(&str, &str)], total: usize) -> Exchange {
    let attempt = || -> Result<Exchange, String> {
        let (stream, authority, path) = connect(url)?;
        let mut writer = stream.try_clone().map_err(|e| e.to_string())?;
        let _ = writer.write_all(
            request_head(
                "POST",
                &path,
                &authority,
                "transfer-encoding: chunked",
                headers,
            )
            .as_bytes(),
        );
        let chunk = vec![b'x'; 64 * 1024];
        let mut sent = 0;
        while sent < total {
            let len = chunk.len().min(total - sent);
            let framed = [format!("{len:x}\r\n").as_bytes(), &chunk[..len], b"\r\n"].concat();
            if writer.write_all(&framed).is_err() {
                break;
            }
            sent += len;
        }
        let _ = writer.write_all(b"0\r\n\r\n");
        read_response("POST", path, stream)
    };
    attempt().unwrap_or_else(|e| panic!("POST {url} (chunked): {e}"))
}

/// Like [`request`], returning an error instead of panicking.
///
/// # Errors
/// When the URL is not `http://`, the connection fails, or the response is not HTTP/1.1.
pub fn try_request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Exchange, String> {
    let (stream, authority, path) = connect(url)?;
    let mut writer = stream.try_clone().map_err(|e| e.to_string())?;
    let length = format!("content-length: {}", body.len());
    writer
        .write_all(request_head(method, &path, &authority, &length, headers).as_bytes())
        .map_err(|e| format!("write request head: {e}"))?;
    // The server may answer (413) before reading the whole body and close; read anyway.
    let _ = writer.write_all(body);
    read_response(method, path, stream)
}

/// Connects to an `http://` URL's authority: the stream, the authority and the path.
fn connect(url: &str) -> Result<(TcpStream, String, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url} is not an http:// URL"))?;
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
    let stream = TcpStream::connect(authority).map_err(|e| format!("connect {authority}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    Ok((stream, authority.to_owned(), path))
}

/// A request head for one request on a connection closed after it; `framing` is the
/// content-length or transfer-encoding field.
fn request_head(
    method: &str,
    path: &str,
    authority: &str,
    framing: &str,
    headers: &[(&str, &str)],
) -> String {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {authority}\r\nconnection: close\r\n{framing}\r\n"
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head
}

/// Reads the response to the request just sent on `stream`.
fn read_response(method: &str, path: String, stream: TcpStream) -> Result<Exchange, String> {
    let mut reader = BufReader::new(stream);
    let (status_line, headers) =
        read_head(&mut reader).ok_or_else(|| "no response head".to_owned())?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status code in {status_line:?}"))?;
    let body = read_body(&mut reader, &headers, true)?;
    Ok(Exchange {
        method: method.to_owned(),
        path,
        status,
        headers,
        body,
    })
}

/// A local HTTP server that records every request and answers with a fixed response.
pub type RecordingServer = server::HttpServer;

impl server::HttpServer {
    /// Answers every request with `status` and the text `reply`.
    pub fn start(status: u16, reply: &'static str) -> Self {
        Self::serve(None, move |_| server::Reply::Respond {
            status,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: reply.as_bytes().to_vec(),
        })
    }
}
