//! Harness for the end-to-end suites: locating tools and built components, free ports,
//! spawning runtimes, a recording upstream server, and a tiny HTTP/1.1 client.
//!
//! Everything it needs comes from `cargo xtask test` through environment variables. When one
//! is missing the test fails with a message saying how to run it: these tests never skip.
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
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
}

impl Service {
    /// Starts `cmd` and waits until 127.0.0.1:`port` accepts connections.
    pub fn start(mut cmd: Command, port: u16, name: &str) -> Self {
        let log = std::env::temp_dir().join(format!("pulser-{name}-{port}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let err = file.try_clone().expect("log file");
        let child = cmd
            .stdout(Stdio::from(file))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({:?}): {e}", cmd.get_program()));
        let mut service = Self { child, port, log };
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
            thread::sleep(Duration::from_millis(50));
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

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
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

fn read_head(reader: &mut BufReader<TcpStream>) -> Option<(String, Vec<(String, String)>)> {
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

fn read_body(reader: &mut BufReader<TcpStream>, headers: &[(String, String)]) -> Vec<u8> {
    let find = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    if let Some(len) = find("content-length").and_then(|v| v.parse::<usize>().ok()) {
        let mut body = vec![0; len];
        let _ = reader.read_exact(&mut body);
        return body;
    }
    if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        let mut body = Vec::new();
        loop {
            let mut size = String::new();
            if reader.read_line(&mut size).is_err() {
                break;
            }
            let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
                break;
            };
            let mut chunk = vec![0; size + 2];
            if size == 0 || reader.read_exact(&mut chunk).is_err() {
                break;
            }
            chunk.truncate(size);
            body.extend(chunk);
        }
        return body;
    }
    let mut body = Vec::new();
    let _ = reader.read_to_end(&mut body);
    body
}

/// Sends one HTTP/1.1 request and reads the response (connection closed after).
pub fn request(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Exchange {
    let rest = url.strip_prefix("http://").expect("http:// URL");
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
    let stream =
        TcpStream::connect(authority).unwrap_or_else(|e| panic!("connect {authority}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {authority}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut writer = stream.try_clone().expect("clone");
    writer.write_all(head.as_bytes()).expect("write head");
    let _ = writer.write_all(body);
    let mut reader = BufReader::new(stream);
    let (status_line, headers) = read_head(&mut reader).expect("response head");
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    let body = read_body(&mut reader, &headers);
    Exchange {
        method: method.to_owned(),
        path,
        status,
        headers,
        body,
    }
}

/// A local HTTP server that records every request and answers with a fixed response.
#[derive(Debug)]
pub struct RecordingServer {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<Exchange>>>,
}

impl RecordingServer {
    /// Answers every request with `status` and `body`.
    pub fn start(status: u16, reply: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let Some((line, headers)) = read_head(&mut reader) else {
                    continue;
                };
                let body = read_body(&mut reader, &headers);
                let mut parts = line.split_whitespace();
                let method = parts.next().unwrap_or_default().to_owned();
                let path = parts.next().unwrap_or_default().to_owned();
                seen.lock().expect("lock").push(Exchange {
                    method,
                    path,
                    status: 0,
                    headers,
                    body,
                });
                let mut out = stream;
                let _ = write!(
                    out,
                    "HTTP/1.1 {status} X\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
                    reply.len()
                );
                let _ = out.shutdown(Shutdown::Both);
            }
        });
        Self { port, requests }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn recorded(&self) -> Vec<Exchange> {
        self.requests.lock().expect("lock").clone()
    }
}
