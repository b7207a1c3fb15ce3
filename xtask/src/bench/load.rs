//! The load generator: fixed connections, a fixed duration, requests from a prepared pool.
//!
//! Why not `oha` or `wrk`: both send one request over and over, with one set of headers. Our
//! endpoints sign the body and deduplicate on it, so one signed request replayed measures the
//! duplicate path, not the store path; a fair "stored" figure needs a different body, and its
//! own signature, per request. So every request is built and signed before the clock starts
//! (no HMAC on the load side while measuring), and each connection thread writes the next
//! one's bytes and reads the answer over keep-alive HTTP/1.1. A forged-signature or no-op run
//! may cycle through a small pool instead.
//!
//! Bounded twice: by the duration and by the pool (a non-cycling pool that runs out ends the
//! run early, and the figures use the real elapsed time). Connections are threads: the
//! generator shares the machine's cores with the server under test, as `wrk` would.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Requests, serialised whole (head and body), in the order they are sent.
#[derive(Debug, Clone)]
pub struct Pool {
    requests: Arc<Vec<Vec<u8>>>,
    /// Start again at the first request when the last has been sent.
    cycle: bool,
}

impl Pool {
    /// Each request sent once at most: a run ends when they are used up.
    pub fn once(requests: Vec<Vec<u8>>) -> Self {
        Self {
            requests: Arc::new(requests),
            cycle: false,
        }
    }

    /// The requests over and over, for paths that store nothing.
    pub fn cycling(requests: Vec<Vec<u8>>) -> Self {
        Self {
            requests: Arc::new(requests),
            cycle: true,
        }
    }

    /// The first request.
    pub fn first(&self) -> Option<&[u8]> {
        self.requests.first().map(Vec::as_slice)
    }

    fn get(&self, n: usize) -> Option<&[u8]> {
        let len = self.requests.len();
        if len == 0 {
            return None;
        }
        let index = if self.cycle { n % len } else { n };
        self.requests.get(index).map(Vec::as_slice)
    }
}

/// One POST request, serialised.
pub fn post(host: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-length: {}\r\n",
        body.len()
    )
    .into_bytes();
    for (name, value) in headers {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// What one run measured.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    /// Answers with a 2xx status.
    pub ok: u64,
    /// Answers of any other status, with their statuses.
    pub refused: Vec<(u16, u64)>,
    /// Requests that got no answer (connection errors, timeouts).
    pub failed: u64,
    /// Seconds the run lasted.
    pub seconds: f64,
    /// Answer latencies in microseconds, sorted.
    latencies_us: Vec<u32>,
}

impl Measured {
    /// Answers (of any status) per second.
    pub fn per_second(&self) -> f64 {
        let answered = self.ok + self.refused.iter().map(|(_, n)| n).sum::<u64>();
        if self.seconds > 0.0 {
            answered as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// The `q` quantile of latency in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        let len = self.latencies_us.len();
        if len == 0 {
            return 0.0;
        }
        let index = ((len - 1) as f64 * q).round() as usize;
        f64::from(self.latencies_us.get(index).copied().unwrap_or(0)) / 1000.0
    }

    /// Answers other than `expected` (a refusal run expects its refusal), plus requests
    /// with no answer.
    pub fn errors_expecting(&self, expected: u16) -> u64 {
        self.failed
            + self
                .refused
                .iter()
                .filter(|(status, _)| *status != expected)
                .map(|(_, n)| n)
                .sum::<u64>()
            + if (200..300).contains(&expected) {
                0
            } else {
                self.ok
            }
    }
}

/// Drives `pool` at `addr` over `connections` keep-alive connections for `duration`.
pub fn run(addr: SocketAddr, pool: &Pool, connections: usize, duration: Duration) -> Measured {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let end = start + duration;
    let per_connection: Vec<ConnectionTally> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..connections.max(1))
            .map(|_| {
                let next = Arc::clone(&next);
                s.spawn(move || drive(addr, pool, &next, end))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let seconds = start.elapsed().as_secs_f64();
    let mut measured = Measured {
        seconds,
        ..Measured::default()
    };
    let mut statuses: std::collections::BTreeMap<u16, u64> = std::collections::BTreeMap::new();
    for tally in per_connection {
        measured.failed += tally.failed;
        measured.latencies_us.extend(tally.latencies_us);
        for status in tally.statuses {
            if (200..300).contains(&status) {
                measured.ok += 1;
            } else {
                *statuses.entry(status).or_default() += 1;
            }
        }
    }
    measured.refused = statuses.into_iter().collect();
    measured.latencies_us.sort_unstable();
    measured
}

#[derive(Debug, Default)]
struct ConnectionTally {
    statuses: Vec<u16>,
    latencies_us: Vec<u32>,
    failed: u64,
}

/// An answer slower than this counts as failed (and the connection is replaced).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

fn drive(addr: SocketAddr, pool: &Pool, next: &AtomicUsize, end: Instant) -> ConnectionTally {
    let mut tally = ConnectionTally::default();
    let mut connection: Option<Connection> = None;
    while Instant::now() < end {
        let Some(request) = pool.get(next.fetch_add(1, Ordering::Relaxed)) else {
            break;
        };
        let conn = match connection.take() {
            Some(conn) => conn,
            None => match Connection::open(addr) {
                Ok(conn) => conn,
                Err(_) => {
                    tally.failed += 1;
                    // The server is gone or refusing: do not spin on connect.
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
            },
        };
        let sent = Instant::now();
        let mut conn = conn;
        match conn.exchange(request) {
            Ok((status, keep_alive)) => {
                let micros = u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX);
                tally.latencies_us.push(micros);
                tally.statuses.push(status);
                if keep_alive {
                    connection = Some(conn);
                }
            }
            Err(_) => tally.failed += 1,
        }
    }
    tally
}

/// One keep-alive HTTP/1.1 connection and its read buffer.
struct Connection {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl Connection {
    fn open(addr: SocketAddr) -> std::io::Result<Self> {
        let stream = TcpStream::connect_timeout(&addr, ANSWER_TIMEOUT)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(ANSWER_TIMEOUT))?;
        Ok(Self {
            stream,
            buffer: Vec::with_capacity(16 * 1024),
        })
    }

    /// Writes `request`, reads its whole answer: (status, connection reusable).
    fn exchange(&mut self, request: &[u8]) -> std::io::Result<(u16, bool)> {
        self.stream.write_all(request)?;
        self.buffer.clear();
        let head_end = loop {
            if let Some(end) = find(&self.buffer, b"\r\n\r\n") {
                break end + 4;
            }
            self.fill()?;
        };
        let head = String::from_utf8_lossy(self.buffer.get(..head_end).unwrap_or_default())
            .to_ascii_lowercase();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| std::io::Error::new(ErrorKind::InvalidData, "no status line"))?;
        let header = |name: &str| {
            head.lines()
                .find_map(|line| line.strip_prefix(name).map(|v| v.trim().to_owned()))
        };
        let close = header("connection:").is_some_and(|v| v == "close");
        if let Some(length) = header("content-length:").and_then(|v| v.parse::<usize>().ok()) {
            while self.buffer.len() < head_end + length {
                self.fill()?;
            }
        } else if header("transfer-encoding:").is_some_and(|v| v.contains("chunked")) {
            self.read_chunked(head_end)?;
        } else if status != 204 && status != 304 {
            // No length and not chunked: the body ends when the connection closes.
            while self.fill().is_ok() {}
            return Ok((status, false));
        }
        Ok((status, !close))
    }

    fn read_chunked(&mut self, mut at: usize) -> std::io::Result<()> {
        loop {
            let line_end = loop {
                if let Some(end) = self.buffer.get(at..).and_then(|rest| find(rest, b"\r\n")) {
                    break at + end;
                }
                self.fill()?;
            };
            let size_text =
                String::from_utf8_lossy(self.buffer.get(at..line_end).unwrap_or_default())
                    .trim()
                    .to_owned();
            let size_hex = size_text.split(';').next().unwrap_or_default();
            let size = usize::from_str_radix(size_hex, 16)
                .map_err(|_| std::io::Error::new(ErrorKind::InvalidData, "bad chunk size"))?;
            let data_end = line_end + 2 + size + 2;
            if size == 0 {
                // Trailers end with an empty line; we send none and expect none.
                while self.buffer.len() < line_end + 4 {
                    self.fill()?;
                }
                return Ok(());
            }
            while self.buffer.len() < data_end {
                self.fill()?;
            }
            at = data_end;
        }
    }

    fn fill(&mut self) -> std::io::Result<()> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::Error::new(ErrorKind::UnexpectedEof, "closed"));
        }
        self.buffer
            .extend_from_slice(chunk.get(..n).unwrap_or_default());
        Ok(())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;
    use std::net::TcpListener;

    /// A server answering every request on a connection with `answer`, counting requests.
    fn serve(answer: &'static [u8]) -> (SocketAddr, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let count = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&count);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let seen = Arc::clone(&seen);
                std::thread::spawn(move || {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        // Requests here are head + content-length body; count heads.
                        while let Some(end) = find(&buf, b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                            let length: usize = head
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .map_or(0, |v| v.trim().parse().unwrap());
                            if buf.len() < end + 4 + length {
                                break;
                            }
                            buf.drain(..end + 4 + length);
                            seen.fetch_add(1, Ordering::SeqCst);
                            if stream.write_all(answer).is_err() {
                                return;
                            }
                        }
                        match stream.read(&mut chunk) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                });
            }
        });
        (addr, count)
    }

    #[test]
    fn a_once_pool_sends_each_request_once_and_counts_every_answer() {
        let (addr, served) = serve(b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok");
        let requests = (0..50)
            .map(|n| post("x", "/p", &[], format!("{n}").as_bytes()))
            .collect();
        let measured = run(addr, &Pool::once(requests), 4, Duration::from_secs(5));
        assert_eq!(measured.ok, 50);
        assert_eq!(served.load(Ordering::SeqCst), 50);
        assert_eq!(measured.errors_expecting(200), 0);
        assert!(measured.quantile_ms(0.99) >= measured.quantile_ms(0.5));
    }

    #[test]
    fn chunked_answers_and_refusals_are_read_whole_and_counted_by_status() {
        let (addr, served) = serve(
            b"HTTP/1.1 401 Unauthorized\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        );
        let pool = Pool::cycling(vec![post("x", "/p", &[("x-a", "b")], b"{}")]);
        let measured = run(addr, &pool, 2, Duration::from_millis(200));
        assert_eq!(measured.ok, 0);
        assert!(measured.refused.len() == 1 && measured.refused[0].0 == 401);
        assert_eq!(
            measured.refused[0].1,
            served.load(Ordering::SeqCst) as u64,
            "every request served was answered and read back on the same connections"
        );
        assert_eq!(measured.failed, 0);
    }

    #[test]
    fn a_dead_server_is_failures_not_a_hang() {
        let addr = {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap()
        };
        let pool = Pool::cycling(vec![post("x", "/p", &[], b"")]);
        let measured = run(addr, &pool, 1, Duration::from_millis(100));
        assert!(measured.failed > 0);
        assert_eq!(measured.ok, 0);
    }
}
