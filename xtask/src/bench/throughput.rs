//! Load on every cell: each endpoint (a) through the real local stack, (b) through no-op
//! sinks, (c) with a forged signature; the empty component as each runtime's ceiling; and the
//! peers on the same payloads. Every subject runs once per round, the rounds interleaved, so
//! a noisy moment hits all subjects alike; each figure is the median over rounds with its
//! min and max.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pulser_tests::cell::Cell;
use pulser_tests::stack::Stack;

use super::ceiling::{Ceiling, Components};
use super::load::{self, Measured, Pool};
use super::workload::{self, ENDPOINTS, Endpoint};
use super::{Part, Plan, spread};
use crate::Result;

/// Connections each run keeps open (the method: wrk with 8).
pub const CONNECTIONS: usize = 8;

/// How a request's answer is produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mode {
    /// The real local stack: PostgreSQL through PostgREST, the stand-ins.
    Stack,
    /// PostgREST replaced by a sink that answers at once.
    Sink,
    /// A wrong signature: refused before anything is stored.
    Forged,
}

impl Mode {
    /// What every answer of a run in this mode should be (a 2xx stands for all of them).
    const fn expected_status(self) -> u16 {
        match self {
            Self::Stack | Self::Sink => 200,
            Self::Forged => 401,
        }
    }

    const fn name(self) -> &'static str {
        match self {
            Self::Stack => "stack",
            Self::Sink => "no-op sinks",
            Self::Forged => "forged signature",
        }
    }
}

/// Who serves the requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Server {
    /// One of the four runtime cells.
    Cell(CellKey),
    /// The seeds' Deno Edge Function (ingest).
    Deno,
    /// Node 22 with @octokit/webhooks (GitHub).
    Node,
}

/// [`Cell`] with an order, for the report's maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CellKey(pub usize);

impl CellKey {
    pub fn cell(self) -> Cell {
        Cell::ALL.get(self.0).copied().unwrap_or(Cell::EdgeWasi)
    }
}

impl Server {
    pub fn name(self) -> String {
        match self {
            Self::Cell(key) => key.cell().name().to_owned(),
            Self::Deno => "deno peer".to_owned(),
            Self::Node => "node peer".to_owned(),
        }
    }
}

/// What one subject is: a server, what it serves (an endpoint or a ceiling) and a mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Subject {
    pub server: Server,
    pub what: What,
    pub mode: Mode,
}

/// An endpoint, or one of the ceilings it is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum What {
    /// The empty or the relay component (on workerd, Worker); always through the sink.
    Ceiling(Ceiling),
    Endpoint(EndpointKey),
}

impl What {
    /// `odoo_event_ingest`, `empty component`, `relay component`.
    fn name(self) -> &'static str {
        match self {
            Self::Ceiling(ceiling) => ceiling.label(),
            Self::Endpoint(key) => key.endpoint().function(),
        }
    }

    fn endpoint(self) -> Option<Endpoint> {
        match self {
            Self::Ceiling(_) => None,
            Self::Endpoint(key) => Some(key.endpoint()),
        }
    }
}

impl Subject {
    /// `edge-wasi odoo_event_ingest no-op sinks`.
    fn label(&self) -> String {
        format!(
            "{} {} {}",
            self.server.name(),
            self.what.name(),
            self.mode.name()
        )
    }
}

/// [`Endpoint`] with an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct EndpointKey(usize);

impl EndpointKey {
    pub fn endpoint(self) -> Endpoint {
        ENDPOINTS.get(self.0).copied().unwrap_or(Endpoint::Ingest)
    }

    fn of(endpoint: Endpoint) -> Self {
        Self(ENDPOINTS.iter().position(|e| *e == endpoint).unwrap_or(0))
    }
}

/// One run's figures.
#[derive(Debug, Clone)]
pub struct Run {
    pub measured: Measured,
    /// Peak resident set of the serving process during the run, KiB (0 when unknown).
    pub peak_rss_kib: u64,
}

/// Everything the load part needs running: a stack per cell and mode, the peers, the
/// ceilings per cell.
pub struct Fleet<'a> {
    root: &'a Path,
    /// The cells measured (all of them, unless `cargo xtask bench --cell` picked one).
    cells: Vec<CellKey>,
    stacks: Vec<(CellKey, Mode, Stack)>,
    ceilings: Vec<(CellKey, Ceiling, pulser_tests::Service)>,
    peers: Vec<(Server, Mode, pulser_tests::Service)>,
    /// Held for the sink stacks' lifetime.
    _sink: pulser_tests::server::HttpServer,
}

/// Tool paths for the stacks.
pub struct Binaries {
    pub tools: BTreeMap<String, PathBuf>,
    pub ceilings: Components,
}

impl<'a> Fleet<'a> {
    /// Starts a stack per cell for the real and the sink modes (the forged mode uses the
    /// real one), the ceilings on each cell, and the peers.
    ///
    /// # Errors
    /// When a stack does not start (its reason is printed above).
    pub fn start(root: &'a Path, binaries: &Binaries, only: Option<Cell>) -> Result<Self> {
        let sink = super::sink::start();
        let sink_url = sink.url("");
        let cells: Vec<CellKey> = (0..Cell::ALL.len())
            .map(CellKey)
            .filter(|key| only.is_none_or(|cell| key.cell() == cell))
            .collect();
        // The stacks start side by side: most of a start is waiting (PostgreSQL, PostgREST's
        // schema cache, the runtime's readiness), which overlaps well even on two cores.
        let plans: Vec<(CellKey, Mode)> = cells
            .iter()
            .flat_map(|key| [(*key, Mode::Stack), (*key, Mode::Sink)])
            .collect();
        let stacks = std::thread::scope(|scope| {
            let starting: Vec<_> = plans
                .iter()
                .map(|&(key, mode)| {
                    let sink_url = &sink_url;
                    scope.spawn(move || {
                        let mut builder = Stack::builder().cell(key.cell());
                        for (var, path) in &binaries.tools {
                            builder = builder.tool(var, path);
                        }
                        if mode == Mode::Sink {
                            builder = builder
                                .variable("SUPABASE_URL", sink_url)
                                .variable("SUPABASE_REST_URL", sink_url);
                        }
                        (key, mode, builder.start())
                    })
                })
                .collect();
            starting
                .into_iter()
                .zip(&plans)
                .map(|(handle, (key, _))| {
                    // A stack that cannot start panics with its failing service's log.
                    handle
                        .join()
                        .map_err(|_| format!("the {} stack did not start", key.cell().name()))
                })
                .collect::<Result<Vec<_>>>()
        })?;
        let mut ceilings = Vec::new();
        for key in &cells {
            for ceiling in Ceiling::ALL {
                let service =
                    super::ceiling::serve(root, key.cell(), ceiling, binaries, &sink_url)?;
                ceilings.push((*key, ceiling, service));
            }
        }
        let mut peers = Vec::new();
        for (key, mode, stack) in &stacks {
            if key.cell() == Cell::EdgeWasi {
                peers.push((
                    Server::Deno,
                    *mode,
                    pulser_tests::peers::start(pulser_tests::peers::Peer::DenoIngest, stack),
                ));
                peers.push((
                    Server::Node,
                    *mode,
                    pulser_tests::peers::start(pulser_tests::peers::Peer::NodeGithub, stack),
                ));
            }
        }
        Ok(Self {
            root,
            cells,
            stacks,
            ceilings,
            peers,
            _sink: sink,
        })
    }

    /// Every subject, in the order of one round.
    pub fn subjects(&self) -> Vec<Subject> {
        let mut subjects = Vec::new();
        for key in &self.cells {
            let server = Server::Cell(*key);
            for ceiling in Ceiling::ALL {
                subjects.push(Subject {
                    server,
                    what: What::Ceiling(ceiling),
                    mode: Mode::Sink,
                });
            }
            for endpoint in ENDPOINTS {
                for mode in [Mode::Stack, Mode::Sink, Mode::Forged] {
                    if mode == Mode::Sink && !sink_can_play(*endpoint) {
                        continue;
                    }
                    subjects.push(Subject {
                        server,
                        what: What::Endpoint(EndpointKey::of(*endpoint)),
                        mode,
                    });
                }
            }
        }
        let peers = self.peers.iter().map(|(server, _, _)| *server);
        for (server, endpoint) in [
            (Server::Deno, Endpoint::Ingest),
            (Server::Node, Endpoint::Github),
        ] {
            if !peers.clone().any(|p| p == server) {
                continue;
            }
            for mode in [Mode::Stack, Mode::Sink, Mode::Forged] {
                subjects.push(Subject {
                    server,
                    what: What::Endpoint(EndpointKey::of(endpoint)),
                    mode,
                });
            }
        }
        subjects
    }

    /// The stack of `cell` for `mode` (the forged mode uses the real stack).
    pub fn stack(&self, cell: CellKey, mode: Mode) -> Option<&Stack> {
        let mode = if mode == Mode::Forged {
            Mode::Stack
        } else {
            mode
        };
        self.stacks
            .iter()
            .find(|(k, m, _)| *k == cell && *m == mode)
            .map(|(_, _, s)| s)
    }

    /// Runs `subject` once for `duration` (after a short warm-up).
    ///
    /// # Errors
    /// When its requests cannot be built.
    pub fn run(&self, subject: Subject, duration: Duration, round: usize) -> Result<Run> {
        let (addr, pid) = self.target(subject)?;
        let warm = Duration::from_millis(300).min(duration);
        let tag = format!("r{round}-{}", super::clock_tag());
        let pool = |stack: &Stack, count: usize, run: &str| -> Result<Pool> {
            let Some(endpoint) = subject.what.endpoint() else {
                return Ok(Pool::cycling(vec![load::post(
                    &addr.to_string(),
                    "/",
                    &[],
                    b"",
                )]));
            };
            if subject.mode == Mode::Forged {
                workload::forged(self.root, stack, endpoint, &addr.to_string())
            } else {
                workload::unique(self.root, stack, endpoint, &addr.to_string(), run, count)
            }
        };
        let stack = self.stack_of(subject)?;
        let count = pool_size(subject, duration);
        let warm_pool = pool(stack, count / 8 + 16, &format!("{tag}-warm"))?;
        let _ = load::run(addr, &warm_pool, CONNECTIONS, warm);
        let pool = pool(stack, count, &tag)?;
        reset_peak_rss(pid);
        let measured = load::run(addr, &pool, CONNECTIONS, duration);
        Ok(Run {
            measured,
            peak_rss_kib: peak_rss_kib(pid),
        })
    }

    /// The stack whose secrets sign `subject`'s requests (the peers share edge-wasi's).
    fn stack_of(&self, subject: Subject) -> Result<&Stack> {
        let cell = match subject.server {
            Server::Cell(key) => key,
            Server::Deno | Server::Node => CellKey(0),
        };
        self.stack(cell, subject.mode)
            .ok_or_else(|| format!("no {} stack", subject.mode.name()))
    }

    fn target(&self, subject: Subject) -> Result<(SocketAddr, u32)> {
        let service_addr = |service: &pulser_tests::Service| {
            (
                SocketAddr::from(([127, 0, 0, 1], service.port)),
                service.pid(),
            )
        };
        match (subject.server, subject.what) {
            (Server::Cell(key), What::Ceiling(ceiling)) => self
                .ceilings
                .iter()
                .find(|(k, c, _)| *k == key && *c == ceiling)
                .map(|(_, _, s)| service_addr(s))
                .ok_or_else(|| format!("no {}", ceiling.label())),
            (Server::Cell(key), What::Endpoint(endpoint)) => {
                let stack = self
                    .stack(key, subject.mode)
                    .ok_or_else(|| "no stack".to_owned())?;
                let path = endpoint.endpoint().path();
                let url = stack.url(path);
                let port = url
                    .strip_prefix("http://127.0.0.1:")
                    .and_then(|rest| rest.split('/').next())
                    .and_then(|p| p.parse::<u16>().ok())
                    .ok_or_else(|| format!("unexpected URL {url}"))?;
                Ok((
                    SocketAddr::from(([127, 0, 0, 1], port)),
                    stack.serving_pid(path),
                ))
            }
            (peer, _) => {
                let mode = if subject.mode == Mode::Forged {
                    Mode::Stack
                } else {
                    subject.mode
                };
                self.peers
                    .iter()
                    .find(|(s, m, _)| *s == peer && *m == mode)
                    .map(|(_, _, s)| service_addr(s))
                    .ok_or_else(|| format!("no {}", peer.name()))
            }
        }
    }
}

/// push_to_odoo's claim reads back columns of the row it claims; a sink that stores
/// nothing cannot answer that, so push_to_odoo runs against the real stack only.
const fn sink_can_play(endpoint: Endpoint) -> bool {
    !matches!(endpoint, Endpoint::Push)
}

/// Requests to prepare for one run: more than the fastest subject answers in `duration`,
/// bounded by memory (a GitHub delivery is 7 KB).
fn pool_size(subject: Subject, duration: Duration) -> usize {
    let per_second = match (subject.mode, subject.what.endpoint()) {
        (Mode::Forged, _) | (_, None) => return 1,
        (Mode::Stack, Some(Endpoint::Github)) => 4_000,
        (Mode::Sink, Some(Endpoint::Github)) => 8_000,
        (Mode::Stack, _) => 6_000,
        (Mode::Sink, _) => 15_000,
    };
    (per_second as f64 * duration.as_secs_f64()).ceil() as usize + 64
}

/// Resets the process's peak RSS (`VmHWM`) so the next reading is this run's.
fn reset_peak_rss(pid: u32) {
    if pid != 0 {
        let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
    }
}

fn peak_rss_kib(pid: u32) -> u64 {
    if pid == 0 {
        return 0;
    }
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                line.strip_prefix("VmHWM:")
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            })
        })
        .unwrap_or(0)
}

/// Runs every subject of `fleet` `plan.rounds` times, interleaved, and reports.
///
/// # Errors
/// When a pool cannot be built.
pub fn measure(fleet: &Fleet<'_>, plan: &Plan) -> Result<Part> {
    let duration = if plan.smoke {
        Duration::from_millis(300)
    } else {
        Duration::from_secs(2)
    };
    // `PULSER_BENCH_ONLY=<words>`: only the subjects whose "server endpoint mode" contains
    // them (for profiling one path under `bench --cell`).
    let only = std::env::var("PULSER_BENCH_ONLY").ok();
    let subjects: Vec<Subject> = fleet
        .subjects()
        .into_iter()
        .filter(|subject| {
            only.as_deref()
                .is_none_or(|words| subject.label().contains(words))
        })
        .collect();
    let mut runs: BTreeMap<Subject, Vec<Run>> = BTreeMap::new();
    for round in 0..plan.rounds {
        // Each round starts at a different subject, so none is always first or last.
        let offset = (round * subjects.len()) / plan.rounds.max(1);
        for i in 0..subjects.len() {
            let Some(subject) = subjects.get((i + offset) % subjects.len()).copied() else {
                continue;
            };
            let run = fleet.run(subject, duration, round)?;
            eprintln!(
                "bench: round {} {:<14} {:<18} {:<16} {:>9.0} req/s p99 {:>7.2} ms errors {}",
                round + 1,
                subject.server.name(),
                subject.what.name(),
                subject.mode.name(),
                run.measured.per_second(),
                run.measured.quantile_ms(0.99),
                run.measured
                    .errors_expecting(subject.mode.expected_status())
            );
            runs.entry(subject).or_default().push(run);
        }
    }
    Ok(report(&runs, duration, plan))
}

/// Median over rounds of one figure of a subject's runs.
fn figure(runs: &[Run], f: impl Fn(&Run) -> f64) -> (f64, f64, f64) {
    let mut values: Vec<f64> = runs.iter().map(f).collect();
    spread(&mut values)
}

fn report(runs: &BTreeMap<Subject, Vec<Run>>, duration: Duration, plan: &Plan) -> Part {
    let mut json = Vec::new();
    let mut md = format!(
        "{} connections, {:.1} s per run after 0.3 s of warm-up, {} round(s) interleaved; \
         req/s as median (min-max) over rounds; latency medians over rounds; errors (answers other \
         than 2xx, or than 401 for a forged signature, and requests with no answer) summed; \
         peak RSS of the serving process, max over rounds.\n\n\
         | server | endpoint | mode | req/s | p50 ms | p99 ms | errors | peak RSS MiB |\n\
         |---|---|---|---:|---:|---:|---:|---:|\n",
        CONNECTIONS,
        duration.as_secs_f64(),
        plan.rounds
    );
    for (subject, runs) in runs {
        let (min, median, max) = figure(runs, |r| r.measured.per_second());
        let (_, p50, _) = figure(runs, |r| r.measured.quantile_ms(0.5));
        let (_, p99, _) = figure(runs, |r| r.measured.quantile_ms(0.99));
        let errors: u64 = runs
            .iter()
            .map(|r| r.measured.errors_expecting(subject.mode.expected_status()))
            .sum();
        let rss = runs.iter().map(|r| r.peak_rss_kib).max().unwrap_or(0);
        let endpoint = subject.what.name();
        md.push_str(&format!(
            "| {} | {endpoint} | {} | {median:.0} ({min:.0}-{max:.0}) | {p50:.2} | {p99:.2} | {errors} | {:.1} |\n",
            subject.server.name(),
            subject.mode.name(),
            rss as f64 / 1024.0
        ));
        let statuses: BTreeMap<String, u64> = runs
            .iter()
            .flat_map(|r| r.measured.refused.iter())
            .fold(BTreeMap::new(), |mut acc, (status, n)| {
                *acc.entry(status.to_string()).or_default() += n;
                acc
            });
        json.push(serde_json::json!({
            "server": subject.server.name(),
            "endpoint": endpoint,
            "mode": subject.mode.name(),
            "req_per_s": {"min": min, "median": median, "max": max},
            "p50_ms": p50,
            "p99_ms": p99,
            "errors": errors,
            "non_2xx": statuses,
            "peak_rss_kib": rss,
            "rounds": runs.len(),
        }));
    }
    let (ratio_md, ratio_json) = ratios(runs);
    md.push_str(&ratio_md);
    Part {
        key: "load",
        title: "Load on every cell, and the peers".to_owned(),
        json: serde_json::json!({"runs": json, "ratios": ratio_json}),
        markdown: md,
    }
}

/// The ratios the goals are stated in, each per round (the same round's runs), then
/// median (min-max) over rounds.
fn ratios(runs: &BTreeMap<Subject, Vec<Run>>) -> (String, Vec<serde_json::Value>) {
    let find = |server: Server, what: What, mode: Mode| runs.get(&Subject { server, what, mode });
    let per_round = |a: Option<&Vec<Run>>, b: Option<&Vec<Run>>, f: &dyn Fn(&Run) -> f64| {
        let (Some(a), Some(b)) = (a, b) else {
            return None;
        };
        let mut ratios: Vec<f64> = a
            .iter()
            .zip(b)
            .filter(|(_, b)| f(b) > 0.0)
            .map(|(a, b)| f(a) / f(b))
            .collect();
        (!ratios.is_empty()).then(|| spread(&mut ratios))
    };
    let mut json = Vec::new();
    let as_json = |r: Option<(f64, f64, f64)>| {
        r.map_or(
            serde_json::Value::Null,
            |(min, median, max)| serde_json::json!({"min": min, "median": median, "max": max}),
        )
    };
    let show = |r: Option<(f64, f64, f64)>| {
        r.map_or("-".to_owned(), |(min, median, max)| {
            format!("{median:.2}x ({min:.2}-{max:.2})")
        })
    };
    let rps = |r: &Run| r.measured.per_second();
    let p99 = |r: &Run| r.measured.quantile_ms(0.99);
    let mut md = String::from(
        "\n| comparison (per round, then median (min-max)) | cell | req/s ratio | p99 ratio |\n|---|---|---:|---:|\n",
    );
    for (index, cell) in Cell::ALL.iter().enumerate() {
        let server = Server::Cell(CellKey(index));
        if !runs.keys().any(|subject| subject.server == server) {
            continue;
        }
        for (label, endpoint, peer, mode) in [
            (
                "ingest, stored, vs Deno peer",
                Endpoint::Ingest,
                Server::Deno,
                Mode::Stack,
            ),
            (
                "GitHub push, stored, vs Node peer",
                Endpoint::Github,
                Server::Node,
                Mode::Stack,
            ),
            (
                "GitHub, forged signature, vs Node peer",
                Endpoint::Github,
                Server::Node,
                Mode::Forged,
            ),
            (
                "ingest, no-op sinks, vs Deno peer",
                Endpoint::Ingest,
                Server::Deno,
                Mode::Sink,
            ),
            (
                "GitHub, no-op sinks, vs Node peer",
                Endpoint::Github,
                Server::Node,
                Mode::Sink,
            ),
        ] {
            let what = What::Endpoint(EndpointKey::of(endpoint));
            let (ours, theirs) = (find(server, what, mode), find(peer, what, mode));
            let (rps_ratio, p99_ratio) =
                (per_round(ours, theirs, &rps), per_round(ours, theirs, &p99));
            md.push_str(&format!(
                "| {label} | {} | {} | {} |\n",
                cell.name(),
                show(rps_ratio),
                show(p99_ratio),
            ));
            json.push(serde_json::json!({
                "comparison": label, "cell": cell.name(),
                "req_per_s_ratio": as_json(rps_ratio), "p99_ratio": as_json(p99_ratio),
            }));
        }
        // Each endpoint through the sinks against each ceiling, and the relay against the
        // empty component: what one outbound exchange costs on this cell.
        let ceiling = |c: Ceiling| find(server, What::Ceiling(c), Mode::Sink);
        let fractions = Ceiling::ALL.into_iter().flat_map(|c| {
            ENDPOINTS
                .iter()
                .filter(|e| sink_can_play(**e))
                .map(move |e| {
                    let what = What::Endpoint(EndpointKey::of(*e));
                    (format!("{} no-op sinks", e.function()), what, c)
                })
        });
        let relay_vs_empty = (
            Ceiling::Relay.label().to_owned(),
            What::Ceiling(Ceiling::Relay),
            Ceiling::Empty,
        );
        for (name, what, of) in fractions.chain([relay_vs_empty]) {
            let fraction = per_round(find(server, what, Mode::Sink), ceiling(of), &rps);
            let label = format!("{name} / {}", of.label());
            md.push_str(&format!(
                "| {label} | {} | {} | - |\n",
                cell.name(),
                show(fraction),
            ));
            json.push(serde_json::json!({
                "comparison": label, "cell": cell.name(),
                "req_per_s_ratio": as_json(fraction), "p99_ratio": null,
            }));
        }
    }
    (md, json)
}
