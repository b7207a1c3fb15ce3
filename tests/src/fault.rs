//! A fault-injecting HTTP proxy in front of PostgREST, for the "effectively once" suites:
//! the components reach PostgREST through it (`Stack::builder().postgrest_faults()`), and a
//! test decides per request whether the request is forwarded, and whether its answer
//! arrives. The faults are the ones a real network and a real database produce: a 5xx with
//! nothing committed, a write that committed but whose answer was lost (a reset after the
//! database acted), and an answer that comes too late.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::server::{HttpServer, Reply};
use crate::{Exchange, try_request};

/// What the proxy does with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Forwards it and passes the answer back.
    Pass,
    /// Answers this status itself; PostgREST never sees the request.
    Status(u16),
    /// Forwards it (so a write commits), then waits this long before answering: longer than
    /// the component's PostgREST timeout, the caller sees a timeout after the commit.
    SlowAnswer(Duration),
    /// Forwards it (so a write commits), then closes the connection without answering.
    CommitThenDrop,
    /// The next request gets the inner fault, later ones are passed.
    Once(Box<Fault>),
    /// The next `n` requests are passed, the one after gets the inner fault, later ones are
    /// passed (a fault on the third call of a flow: `After(2, ...)`).
    After(u64, Box<Fault>),
    /// Only requests whose method is this one get the inner fault; others are passed.
    Method(&'static str, Box<Fault>),
    /// A reproducible mix for load tests, decided from `seed` and the request's number:
    /// `fail_percent` are answered 503 unforwarded, `lose_answer_percent` are forwarded and
    /// their answer dropped, the rest pass.
    Flaky {
        /// Seeds the per-request decision.
        seed: u64,
        /// Requests answered 503 without reaching PostgREST, in percent.
        fail_percent: u64,
        /// Requests forwarded whose answer is lost, in percent.
        lose_answer_percent: u64,
    },
}

/// The proxy; it stops when dropped.
#[derive(Debug)]
pub struct FaultProxy {
    server: HttpServer,
    fault: Arc<Mutex<Fault>>,
}

impl FaultProxy {
    /// Starts a proxy on a free port of 127.0.0.1 forwarding to `upstream`
    /// (`http://127.0.0.1:<port>`), passing everything until told otherwise.
    pub fn start(upstream: &str) -> Self {
        let fault = Arc::new(Mutex::new(Fault::Pass));
        let current = Arc::clone(&fault);
        let upstream = upstream.trim_end_matches('/').to_owned();
        let counter = AtomicU64::new(0);
        let server = HttpServer::serve(None, move |exchange| {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            let mut fault = current.lock().expect("lock");
            let applied = match &*fault {
                Fault::Once(inner) | Fault::After(0, inner) => {
                    let inner = (**inner).clone();
                    *fault = Fault::Pass;
                    inner
                }
                Fault::After(n, inner) => {
                    let inner = inner.clone();
                    *fault = Fault::After(n - 1, inner);
                    Fault::Pass
                }
                other => other.clone(),
            };
            drop(fault);
            act(&applied, &upstream, exchange, n)
        });
        Self { server, fault }
    }

    /// The URL the components are given instead of PostgREST's.
    pub fn url(&self) -> String {
        self.server.url("")
    }

    /// Changes what later requests get.
    pub fn set(&self, fault: Fault) {
        *self.fault.lock().expect("lock") = fault;
    }

    /// Every request that reached the proxy, with the status passed back (0 when dropped).
    pub fn requests(&self) -> Vec<Exchange> {
        self.server.recorded()
    }
}

fn act(fault: &Fault, upstream: &str, exchange: &Exchange, n: u64) -> Reply {
    match fault {
        Fault::Pass | Fault::Once(_) | Fault::After(..) => forward(upstream, exchange),
        Fault::Status(status) => Reply::json(
            *status,
            &serde_json::json!({"message": "fault proxy: told to fail", "code": "PT503"}),
        ),
        Fault::SlowAnswer(wait) => Reply::Delay(*wait, Box::new(forward(upstream, exchange))),
        Fault::CommitThenDrop => {
            let _ = forward(upstream, exchange);
            Reply::Drop
        }
        Fault::Method(method, inner) if exchange.method == *method => {
            act(inner, upstream, exchange, n)
        }
        Fault::Method(..) => forward(upstream, exchange),
        Fault::Flaky {
            seed,
            fail_percent,
            lose_answer_percent,
        } => {
            let roll = crate::standin::mix(*seed, n) % 100;
            if roll < *fail_percent {
                act(&Fault::Status(503), upstream, exchange, n)
            } else if roll < fail_percent + lose_answer_percent {
                act(&Fault::CommitThenDrop, upstream, exchange, n)
            } else {
                forward(upstream, exchange)
            }
        }
    }
}

/// Sends the request on to PostgREST as it came (hop-by-hop headers aside) and turns the
/// answer into the reply; PostgREST unreachable closes the client's connection.
fn forward(upstream: &str, exchange: &Exchange) -> Reply {
    let hop_by_hop = ["host", "connection", "content-length", "transfer-encoding"];
    let headers: Vec<(&str, &str)> = exchange
        .headers
        .iter()
        .filter(|(name, _)| !hop_by_hop.contains(&name.to_ascii_lowercase().as_str()))
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let url = format!("{upstream}{}", exchange.path);
    match try_request(&exchange.method, &url, &headers, &exchange.body) {
        Ok(answer) => Reply::Respond {
            status: answer.status,
            headers: answer
                .headers
                .into_iter()
                .filter(|(name, _)| !hop_by_hop.contains(&name.to_ascii_lowercase().as_str()))
                .collect(),
            body: answer.body,
        },
        Err(_) => Reply::Drop,
    }
}
