//! Cold start: from spawning the server process to its first 2xx answer to a signed request
//! (ingest's event; the Node peer's GitHub delivery), for the edge host with its compiled-
//! module cache warm and cold, `wasmtime serve`, workerd, and the two peers. The clock
//! includes the port poll (every 2 ms) and the first request.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use pulser_tests::Service;
use pulser_tests::stack::Stack;

use super::throughput::Binaries;
use super::workload::{self, Endpoint};
use super::{Part, Plan, spread};
use crate::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Starter {
    EdgeWarm,
    EdgeCold,
    WasmtimeServe,
    Workerd,
    Deno,
    Node,
}

impl Starter {
    const ALL: [Self; 6] = [
        Self::EdgeWarm,
        Self::EdgeCold,
        Self::WasmtimeServe,
        Self::Workerd,
        Self::Deno,
        Self::Node,
    ];

    const fn name(self) -> &'static str {
        match self {
            Self::EdgeWarm => "edge host, module cache warm",
            Self::EdgeCold => "edge host, module cache cold",
            Self::WasmtimeServe => "wasmtime serve (ingest)",
            Self::Workerd => "workerd (ingest Worker)",
            Self::Deno => "Deno peer (ingest)",
            Self::Node => "Node peer (GitHub)",
        }
    }
}

/// Measures every starter `plan.rounds` times, interleaved, against `stack`'s services.
///
/// # Errors
/// When a process cannot be started or never answers 2xx.
pub fn measure(root: &Path, binaries: &Binaries, stack: &Stack, plan: &Plan) -> Result<Part> {
    let mut samples: Vec<(Starter, Vec<f64>)> =
        Starter::ALL.iter().map(|s| (*s, Vec::new())).collect();
    // One start to fill the warm cache.
    let _ = once(root, binaries, stack, Starter::EdgeWarm, 0)?;
    for round in 0..plan.rounds {
        for (starter, values) in &mut samples {
            values.push(once(root, binaries, stack, *starter, round)?);
        }
    }
    let mut md =
        String::from("| server | first 2xx after spawn, ms: median (min-max) |\n|---|---:|\n");
    let mut json = serde_json::Map::new();
    for (starter, values) in &mut samples {
        let (min, median, max) = spread(values);
        md.push_str(&format!(
            "| {} | {median:.0} ({min:.0}-{max:.0}) |\n",
            starter.name()
        ));
        json.insert(
            starter.name().to_owned(),
            serde_json::json!({"min_ms": min, "median_ms": median, "max_ms": max}),
        );
    }
    Ok(Part {
        key: "cold_start",
        title: "Cold start".to_owned(),
        json: serde_json::Value::Object(json),
        markdown: md,
    })
}

/// Milliseconds from spawn to the first 2xx.
fn once(
    root: &Path,
    binaries: &Binaries,
    stack: &Stack,
    starter: Starter,
    round: usize,
) -> Result<f64> {
    let tool = |var: &str| {
        binaries
            .tools
            .get(var)
            .cloned()
            .ok_or_else(|| format!("{var} is not set"))
    };
    let port = pulser_tests::free_port();
    let endpoint = if starter == Starter::Node {
        Endpoint::Github
    } else {
        Endpoint::Ingest
    };
    let host = format!("127.0.0.1:{port}");
    let tag = format!("cold-{round}-{}-{}", super::clock_tag(), port);
    let pool = workload::unique(root, stack, endpoint, &host, &tag, 1)?;
    let request = pool.first().ok_or("no request")?.to_vec();
    let cold_cache = root.join(format!("target/bench/cold-cache-{port}"));
    let started = Instant::now();
    let service: Service = match starter {
        Starter::EdgeWarm | Starter::EdgeCold => {
            let cache = if starter == Starter::EdgeWarm {
                root.join("target/edge-cache")
            } else {
                cold_cache.clone()
            };
            let mut cmd = Command::new(tool("PULSER_EDGE_BIN")?);
            cmd.arg("--manifest")
                .arg(root.join("spin.toml"))
                .arg("--components")
                .arg(dist(root).join("wasi"))
                .args(["--listen", &host])
                .arg("--cache-dir")
                .arg(&cache);
            for (name, value) in stack.vars() {
                cmd.env(format!("SPIN_VARIABLE_{name}"), value);
            }
            Service::start(cmd, port, "edge-cold")
        }
        Starter::WasmtimeServe => {
            let mut cmd = Command::new(tool("WASMTIME_BIN")?);
            cmd.args(["serve", "-S", "cli", "--addr", &host]);
            for (name, value) in stack.vars() {
                cmd.env(name, value).args(["--env", name]);
            }
            cmd.arg(dist(root).join("wasi/odoo_event_ingest.wasm"));
            Service::start(cmd, port, "wasmtime-cold")
        }
        Starter::Workerd => {
            let bindings: Vec<(String, String)> = stack
                .vars()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            // workerd picks its own port; time it from the call.
            let service = pulser_tests::workerd::serve(
                &tool("WORKERD_BIN")?,
                &dist(root).join("workers/odoo_event_ingest"),
                "odoo_event_ingest",
                &bindings,
            );
            return first_2xx(&service, endpoint, stack, root, &tag, started);
        }
        Starter::Deno => {
            let service = pulser_tests::peers::start(pulser_tests::peers::Peer::DenoIngest, stack);
            return first_2xx(&service, endpoint, stack, root, &tag, started);
        }
        Starter::Node => {
            let service = pulser_tests::peers::start(pulser_tests::peers::Peer::NodeGithub, stack);
            return first_2xx(&service, endpoint, stack, root, &tag, started);
        }
    };
    let took = answer(port, &request, started)?;
    drop(service);
    let _ = std::fs::remove_dir_all(&cold_cache);
    Ok(took)
}

/// [`answer`] for a service that chose its own port (the request is built for it).
fn first_2xx(
    service: &Service,
    endpoint: Endpoint,
    stack: &Stack,
    root: &Path,
    tag: &str,
    started: Instant,
) -> Result<f64> {
    let host = format!("127.0.0.1:{}", service.port);
    let pool = workload::unique(root, stack, endpoint, &host, &format!("{tag}-s"), 1)?;
    let request = pool.first().ok_or("no request")?.to_vec();
    answer(service.port, &request, started)
}

/// Sends `request` until it is answered 2xx (at most 30 s); the time since `started`.
fn answer(port: u16, request: &[u8], started: Instant) -> Result<f64> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(30);
    let pool = super::load::Pool::once(vec![request.to_vec()]);
    loop {
        let measured = super::load::run(addr, &pool, 1, Duration::from_secs(10));
        if measured.ok > 0 {
            return Ok(started.elapsed().as_secs_f64() * 1000.0);
        }
        if Instant::now() > deadline {
            return Err(format!(
                "127.0.0.1:{port} answered no 2xx within 30 s ({:?}, {} failed)",
                measured.refused, measured.failed
            ));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn dist(root: &Path) -> std::path::PathBuf {
    std::env::var_os("PULSER_DIST").map_or_else(|| root.join("dist"), Into::into)
}
