//! The components' own stdout and stderr, passed through to the host's. Unlike the host's log
//! lines (see the parent module) these are the guest's bytes, untouched; the host only holds
//! them back until a line is whole, so that lines from concurrent instances never interleave.

use std::io::Write as _;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// Which of the host's streams a guest stream goes to.
#[derive(Clone, Copy)]
pub enum Output {
    /// The host's stdout (the guest's stdout).
    Stdout,
    /// The host's stderr (the guest's stderr).
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
pub struct LineWriter {
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
    /// A line-buffered writer onto `output`, for one instance's stdout or stderr.
    #[must_use]
    pub fn new(output: Output) -> Self {
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
