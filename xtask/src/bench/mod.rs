//! `cargo xtask bench`: where speed and size goals are measured, never in timed tests.
//!
//! One run measures, side by side and interleaved over rounds (so the machine's noise hits
//! every subject alike): the sizes of every build, each function's core cost natively and
//! in Wasmtime, load on every runtime cell (real stack, no-op sinks, forged signatures) with
//! two ceilings (the empty component, and the relay that makes only the one outbound call an
//! endpoint through the sinks makes) and the Deno and Node peers on the same payloads, cold
//! starts, and the RS256 mint on Workers. It prints every table and writes
//! `target/bench/report.json` and `BENCHMARKS.md`. `cargo xtask test` runs one short round
//! of every part ([`Plan::smoke`]), so no part can rot; its figures mean nothing.

mod ceiling;
mod cold;
mod goals;
mod load;
mod mint;
mod sink;
mod throughput;
mod workload;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::tools::Tools;
use crate::{Result, build, dryrun};

// Not `core`, which would shadow the core crate in this module.
mod core_cost;

/// How much to measure: `cargo xtask bench` runs [`Plan::full`]; `cargo xtask test` runs
/// [`Plan::smoke`], one short round of every part, so no part of the bench can rot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Interleaved rounds of every comparison (at least 3 for a report).
    pub rounds: usize,
    /// One short round: proves each part runs, its figures mean nothing.
    pub smoke: bool,
}

impl Plan {
    /// The report's plan.
    pub const fn full() -> Self {
        Self {
            rounds: 3,
            smoke: false,
        }
    }

    /// The test suite's plan.
    pub const fn smoke() -> Self {
        Self {
            rounds: 1,
            smoke: true,
        }
    }
}

/// One part of the report: its figures as JSON (`target/bench/report.json` holds every
/// part under its key) and as a Markdown table with notes (BENCHMARKS.md).
#[derive(Debug, Clone)]
pub struct Part {
    /// Key in report.json, e.g. `core_cost`.
    pub key: &'static str,
    /// Section heading.
    pub title: String,
    /// Every figure, machine-readable.
    pub json: serde_json::Value,
    /// The table (and any notes) as printed and written to BENCHMARKS.md.
    pub markdown: String,
}

/// Median, min and max of `samples` (sorted in place); zeros when empty.
pub fn spread(samples: &mut [f64]) -> (f64, f64, f64) {
    samples.sort_by(f64::total_cmp);
    let median = samples.get(samples.len() / 2).copied().unwrap_or(0.0);
    let min = samples.first().copied().unwrap_or(0.0);
    let max = samples.last().copied().unwrap_or(0.0);
    (min, median, max)
}

/// Size budgets from the issues: (component bytes, Workers gzip bytes).
fn budget(function: &str) -> (u64, u64) {
    match function {
        "git_ops_dispatch" => (450_000, 250_000),
        _ => (250_000, 250_000),
    }
}

/// A tag unique to each call in this process and across runs: the ids of one run's requests
/// never repeat another's (two subjects may share a database, and ours and a peer write the
/// same unique keys), or the later run would measure only duplicates.
pub fn clock_tag() -> String {
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{:x}-{n}", pulser_tests::clock::unix_now())
}

/// `cargo xtask bench`: builds everything (the edge host with the `native` profile, as in
/// production), runs [`Plan::full`], writes the report and BENCHMARKS.md.
///
/// # Errors
/// The first part that fails.
pub fn bench(root: &Path, tools: &Tools) -> Result {
    let started = Instant::now();
    build::build_dist(root, tools)?;
    let edge = crate::build_edge_native(root)?;
    let mut parts = run(root, tools, &Plan::full(), &edge)?;
    let took = started.elapsed();
    if let Some(serde_json::Value::Object(times)) = parts
        .iter_mut()
        .find(|p| p.key == "bench_time")
        .map(|p| &mut p.json)
    {
        times.insert("total".into(), serde_json::json!(took.as_secs_f64()));
    }
    write_report(root, tools, &parts, &Plan::full(), &edge, took)?;
    let markdown = benchmarks_md(root, tools, &parts, &edge, took);
    let path = root.join("BENCHMARKS.md");
    std::fs::write(&path, markdown).map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!(
        "xtask: bench done in {:.0} s; wrote target/bench/report.json and BENCHMARKS.md",
        took.as_secs_f64()
    );
    Ok(())
}

/// The test suite's round of every part, over the dist/ and edge host `cargo xtask test`
/// has just built; writes target/bench/report.json (never BENCHMARKS.md).
///
/// # Errors
/// The first part that fails.
pub fn smoke(root: &Path, tools: &Tools, edge: &Path) -> Result {
    let started = Instant::now();
    let parts = run(root, tools, &Plan::smoke(), edge)?;
    write_report(root, tools, &parts, &Plan::smoke(), edge, started.elapsed())
}

/// `cargo xtask bench --cell <cell>`: the load part alone, on one cell (no peers unless the
/// cell is edge-wasi, whose stack they share), full rounds, over the native edge host; prints
/// its table and writes nothing (a partial report must not pass for the whole one). For
/// working on one runtime's speed.
///
/// # Errors
/// An unknown cell, or the first run that fails.
pub fn load_only(root: &Path, tools: &Tools, cell: &str) -> Result {
    let cell = pulser_tests::cell::Cell::parse(cell).ok_or_else(|| {
        format!(
            "unknown cell {cell:?}; one of {:?}",
            pulser_tests::cell::Cell::ALL.map(pulser_tests::cell::Cell::name)
        )
    })?;
    build::build_dist(root, tools)?;
    // An edge host built elsewhere (say, before a change) can stand in, to compare two builds.
    let edge = match std::env::var_os("PULSER_BENCH_EDGE") {
        Some(path) => PathBuf::from(path),
        None => crate::build_edge_native(root)?,
    };
    let binaries = binaries(root, tools, &edge)?;
    let fleet = throughput::Fleet::start(root, &binaries, Some(cell))?;
    print_part(Some(&throughput::measure(&fleet, &Plan::full())?));
    Ok(())
}

fn binaries(root: &Path, tools: &Tools, edge: &Path) -> Result<throughput::Binaries> {
    let ceilings = ceiling::build(root, tools)?;
    let mut binaries = throughput::Binaries {
        tools: tools
            .env()
            .into_iter()
            .map(|(k, v)| (k, PathBuf::from(v)))
            .collect::<BTreeMap<_, _>>(),
        ceilings,
    };
    binaries
        .tools
        .insert("PULSER_EDGE_BIN".to_owned(), edge.to_path_buf());
    Ok(binaries)
}

fn run(root: &Path, tools: &Tools, plan: &Plan, edge: &Path) -> Result<Vec<Part>> {
    let mut phases = Phases::default();
    let mut parts = vec![phases.time("sizes", || sizes(root, tools))?];
    print_part(parts.last());
    parts.push(phases.time("core cost", || core_cost::core_cost(root, tools, plan))?);
    print_part(parts.last());
    let fleet = phases.time("starting the stacks", || {
        let binaries = binaries(root, tools, edge)?;
        throughput::Fleet::start(root, &binaries, None).map(|fleet| (binaries, fleet))
    });
    let (binaries, fleet) = fleet?;
    let stack = fleet
        .stack(throughput::CellKey(0), throughput::Mode::Stack)
        .ok_or("no edge-wasi stack")?;
    parts.push(phases.time("load", || throughput::measure(&fleet, plan))?);
    print_part(parts.last());
    parts.push(phases.time("cold start", || cold::measure(root, &binaries, stack, plan))?);
    print_part(parts.last());
    parts.push(phases.time("mint", || mint::measure(tools, stack, plan))?);
    print_part(parts.last());
    parts.push(phases.part());
    Ok(parts)
}

/// Where the bench's own time goes, part by part (its 15-minute budget is a goal too).
#[derive(Default)]
struct Phases(Vec<(&'static str, f64)>);

impl Phases {
    fn time<T>(&mut self, name: &'static str, f: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let out = f();
        let seconds = started.elapsed().as_secs_f64();
        eprintln!("bench: {name} took {seconds:.0} s");
        self.0.push((name, seconds));
        out
    }

    fn part(&self) -> Part {
        let mut md = String::from("| part | seconds |\n|---|---:|\n");
        for (name, seconds) in &self.0 {
            md.push_str(&format!("| {name} | {seconds:.0} |\n"));
        }
        md.push_str(
            "\nThe rest of the total is building every flavour and the edge host with \
             `--profile native` (about a minute and a half on a warm target: worker-build, with \
             its wasm-bindgen, wasm-opt and esbuild, runs again for every Worker); core cost includes building its native and wasm \
             binaries (minutes on a cold target).\n",
        );
        Part {
            key: "bench_time",
            title: "Where the bench's time goes".to_owned(),
            json: self
                .0
                .iter()
                .map(|(name, seconds)| ((*name).to_owned(), serde_json::json!(seconds)))
                .collect::<serde_json::Map<_, _>>()
                .into(),
            markdown: md,
        }
    }
}

fn print_part(part: Option<&Part>) {
    if let Some(part) = part {
        println!("\n## {}\n\n{}", part.title, part.markdown);
    }
}

/// Every build's bytes and gzip bytes against its budget, and what wrangler would upload.
fn sizes(root: &Path, tools: &Tools) -> Result<Part> {
    let dist = std::env::var_os("PULSER_DIST").map_or_else(|| root.join("dist"), PathBuf::from);
    let uploads = dryrun::dry_run_all(root, tools)?;
    let mut md = String::from(
        "| function | WASI bytes (gzip) | Spin bytes (gzip) | Workers wasm + JS bytes (gzip) | wrangler upload KiB (gzip) | budget: component / Workers gzip | within |\n|---|---:|---:|---:|---:|---:|---|\n",
    );
    let mut json = Vec::new();
    for upload in &uploads {
        let function = upload.env.as_str();
        let wasi = build::file_sizes(&dist.join(format!("wasi/{function}.wasm")))?;
        let spin = build::file_sizes(&dist.join(format!("spin/{function}.wasm")))?;
        let wasm = build::file_sizes(&dist.join(format!("workers/{function}/index_bg.wasm")))?;
        let js = build::file_sizes(&dist.join(format!("workers/{function}/index.js")))?;
        let workers = (wasm.0 + js.0, wasm.1 + js.1);
        let (component_budget, workers_budget) = budget(function);
        let within =
            wasi.0 <= component_budget && spin.0 <= component_budget && workers.1 <= workers_budget;
        md.push_str(&format!(
            "| {function} | {} ({}) | {} ({}) | {} ({}) | {:.2} ({:.2}) | {component_budget} / {workers_budget} | {} |\n",
            wasi.0,
            wasi.1,
            spin.0,
            spin.1,
            workers.0,
            workers.1,
            upload.kib,
            upload.gzip_kib,
            if within { "yes" } else { "NO" }
        ));
        json.push(serde_json::json!({
            "function": function,
            "wasi": {"bytes": wasi.0, "gzip": wasi.1},
            "spin": {"bytes": spin.0, "gzip": spin.1},
            "workers": {"bytes": workers.0, "gzip": workers.1},
            "wrangler_upload_kib": {"total": upload.kib, "gzip": upload.gzip_kib},
            "budget": {"component": component_budget, "workers_gzip": workers_budget},
            "within": within,
        }));
    }
    Ok(Part {
        key: "sizes",
        title: "Sizes".to_owned(),
        json: serde_json::Value::Array(json),
        markdown: md,
    })
}

fn write_report(
    root: &Path,
    tools: &Tools,
    parts: &[Part],
    plan: &Plan,
    edge: &Path,
    took: std::time::Duration,
) -> Result {
    let dir = root.join("target/bench");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut report = serde_json::Map::new();
    report.insert("machine".into(), serde_json::json!(machine()));
    report.insert(
        "versions".into(),
        serde_json::json!(versions(root, tools, edge)),
    );
    report.insert(
        "plan".into(),
        serde_json::json!({"rounds": plan.rounds, "smoke": plan.smoke, "seconds": took.as_secs_f64()}),
    );
    for part in parts {
        report.insert(part.key.into(), part.json.clone());
    }
    let path = dir.join("report.json");
    let text = serde_json::to_string_pretty(&serde_json::Value::Object(report))
        .map_err(|e| e.to_string())?;
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// CPU model, cores, memory.
fn machine() -> BTreeMap<String, String> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:").map(|v| v.trim().to_owned()))
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    BTreeMap::from([
        ("cpu".to_owned(), model),
        ("cores".to_owned(), cores.to_string()),
        ("memory".to_owned(), memory),
    ])
}

fn version_of(program: &Path, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned()
        })
        .unwrap_or_default()
}

fn versions(root: &Path, tools: &Tools, edge: &Path) -> BTreeMap<String, String> {
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).unwrap_or_default();
    let locked = |name: &str| {
        let marker = format!("name = \"{name}\"\nversion = \"");
        lock.find(&marker)
            .and_then(|at| lock.get(at + marker.len()..))
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_default()
            .to_owned()
    };
    BTreeMap::from([
        (
            "rustc".to_owned(),
            version_of(Path::new("rustc"), &["--version"]),
        ),
        ("wasmtime crate (edge host)".to_owned(), locked("wasmtime")),
        ("spin-sdk".to_owned(), locked("spin-sdk")),
        ("worker (workers-rs)".to_owned(), locked("worker")),
        (
            "edge host build".to_owned(),
            edge.strip_prefix(root)
                .unwrap_or(edge)
                .display()
                .to_string(),
        ),
        (
            "wasmtime CLI".to_owned(),
            version_of(&tools.bin("wasmtime"), &["--version"]),
        ),
        (
            "workerd".to_owned(),
            version_of(&tools.bin("workerd"), &["--version"]),
        ),
        (
            "node".to_owned(),
            version_of(&tools.bin("node"), &["--version"]),
        ),
        (
            "deno".to_owned(),
            version_of(&tools.bin("deno"), &["--version"]),
        ),
    ])
}

fn benchmarks_md(
    root: &Path,
    tools: &Tools,
    parts: &[Part],
    edge: &Path,
    took: std::time::Duration,
) -> String {
    let machine = machine();
    let versions = versions(root, tools, edge);
    let mut md = String::from(
        "# Benchmarks\n\n\
         Written by `cargo xtask bench` (do not edit by hand; rerun it). Every comparison is \
         measured in the same run, interleaved over rounds, and reported as median (min-max). \
         Speed and size goals live here, never in timed tests.\n\n",
    );
    md.push_str(&format!(
        "- Date: {} (unix {})\n- Machine: {} cores, {}, {}\n- Bench took {:.0} s\n",
        date(),
        pulser_tests::clock::unix_now(),
        machine.get("cores").map_or("?", String::as_str),
        machine.get("cpu").map_or("?", String::as_str),
        machine.get("memory").map_or("?", String::as_str),
        took.as_secs_f64()
    ));
    for (name, version) in &versions {
        md.push_str(&format!("- {name}: {version}\n"));
    }
    md.push_str(
        "\nReproduce: `cargo xtask bench` (installs its tools, builds every flavour and the \
         edge host with `--profile native`, starts a throwaway stack per cell, writes this file \
         and `target/bench/report.json`).\n",
    );
    md.push_str(&format!(
        "\n## Goals\n\nEach goal of the benchmark issue against this run's medians; the \
         sections below have every figure, and README's Benchmarks section says where the time \
         goes where a goal is missed.\n\n{}",
        goals::table(parts)
    ));
    for part in parts {
        md.push_str(&format!("\n## {}\n\n{}", part.title, part.markdown));
    }
    md
}

fn date() -> String {
    version_of(Path::new("date"), &["-u", "+%Y-%m-%d %H:%M UTC"])
}
