//! `cargo xtask coverage`: the line-coverage gate.
//!
//! cargo-llvm-cov builds the workspace with `-C instrument-coverage` (its own target dir,
//! `target/llvm-cov-target`; only the workspace's crates are instrumented), and its runs
//! ([`RUNS`], each `cargo llvm-cov --no-report`) add their profiles up into one report:
//! - the native tests: the unit and integration tests of shared/*, functions/*, edge,
//!   bench/core and xtask (xtask's test of `cargo xtask up` starts a real stack);
//! - the end-to-end suites that drive the edge host: tests/tests/edge_host.rs, and every
//!   suite of [`CELL_SUITES`] on the two edge cells, edge-wasi and edge-spin.
//!
//! Those suites start the edge host as a child process (`PULSER_EDGE_BIN`), here the
//! instrumented binary cargo-llvm-cov built; it inherits `LLVM_PROFILE_FILE`, and writes its
//! profile when it exits, which it does cleanly because the harness stops it with SIGINT
//! (its graceful shutdown) before ever killing it. So the host's serving path (serve.rs,
//! startup.rs, pipeline.rs, invoke.rs, host.rs) counts for what the suites run of it. The
//! set-up is `cargo xtask test`'s for those cells: the tools of [`Scope::Stack`], dist/'s
//! wasi and spin builds and the probe's (incremental, like the test's), PostgreSQL 15 and
//! PostgREST (started by the suites). The total line coverage must be at least [`FLOOR`]
//! percent and at most [`TOLERANCE`] points below the committed [`BASELINE`];
//! `--update-baseline` writes the measured figures there instead of comparing. The
//! per-crate and per-file figures go to `target/coverage/summary.md`, cargo-llvm-cov's own
//! JSON summary beside it.
//!
//! Not measured, each for a reason ([`EXCLUDED_PACKAGES`]):
//! - the end-to-end crate's own code, tests/ (`pulser-tests`): the harness (the stack, the
//!   stand-ins, the HTTP client), not the product. cargo-llvm-cov leaves every file under a
//!   `tests/` directory out of its reports; its suites are run only as listed above.
//! - what the functions do inside the suites: they run as wasm components (on the edge
//!   host, wasmtime and workerd), and Rust ships the profiler runtime that
//!   `-C instrument-coverage` links only for native targets (none for wasm32-wasip2 or
//!   wasm32-unknown-unknown). Their native unit tests are measured. For the same reason the
//!   suites' other two cells (wasmtime-serve, workerd: no native code of ours runs there
//!   but the harness) are not run here, nor the suites that check data or wasm files
//!   (manifests, dist_imports), run other runtimes (runtime_probe, workers_scheduled) or the
//!   stack alone (stack), or hold something else to the functions over the edge paths the
//!   cell suites take (bench_peers: the bench's Deno and Node peers; odoo_python: the Odoo
//!   side's Python helper); `cargo xtask test` runs them all.
//! - `pulser-probe` (tests/probe), `pulser-bench-empty` (bench/empty) and
//!   `pulser-bench-relay` (bench/relay): wasm fixtures with no tests; natively nothing of
//!   theirs runs (the empty and relay components are all `cfg(target_os = "wasi")`).
//! - the runtime adapters for Spin, Workers and wasi:http (shared/runtime/src/spin.rs,
//!   workers.rs, wasi.rs, wasi_http.rs, behind `cfg(target_os = "wasi")` or
//!   `cfg(target_arch = "wasm32")`) and each function's wasm entry points: not compiled
//!   natively, so they are in no report, neither covered nor uncovered. The end-to-end
//!   suites of `cargo xtask test` run them on every runtime.
//! - doctests: cargo-llvm-cov measures them only on a nightly toolchain (`--doctests` is
//!   unstable); `cargo xtask test` runs them.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use pulser_tests::cell::{CELL_VAR, Cell};

use crate::testrun::CELL_SUITES;
use crate::tools::{Scope, Tools};
use crate::{Result, build, phases, run, tools};

/// The least total line coverage, in percent, whatever the baseline says.
pub const FLOOR: f64 = 80.0;

/// How far, in percentage points, the total may fall below the baseline. Not zero: the
/// same code measured by another rustc (its LLVM maps `?`, closures and macro expansions
/// to lines a little differently) or on a run where a retry or deadline race took the other
/// branch covers slightly different lines; a real regression (an untested module, a
/// deleted test) moves the total by more.
pub const TOLERANCE: f64 = 0.5;

/// The committed baseline, at the workspace root.
pub const BASELINE: &str = "coverage-baseline.json";

/// Workspace packages left out of the native-test run and out of the report, with why (see
/// the module docs). The end-to-end suites of `pulser-tests` that drive the edge host run
/// on their own ([`RUNS`]).
const EXCLUDED_PACKAGES: [(&str, &str); 4] = [
    (
        "pulser-tests",
        "the end-to-end harness: its edge suites run on their own, its code is not measured",
    ),
    ("pulser-probe", "a wasm test fixture with no native tests"),
    (
        "pulser-bench-empty",
        "a wasm bench fixture, all cfg(target_os = \"wasi\")",
    ),
    (
        "pulser-bench-relay",
        "a wasm bench fixture, all cfg(target_os = \"wasi\")",
    ),
];

/// The cells whose runtime is native code of ours: the edge host, serving the WASI and the
/// Spin builds.
const EDGE_CELLS: [Cell; 2] = [Cell::EdgeWasi, Cell::EdgeSpin];

/// What one `cargo llvm-cov --no-report` run tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Run {
    /// The native tests of every package but [`EXCLUDED_PACKAGES`].
    Native,
    /// tests/tests/edge_host.rs, once (it picks its apps itself).
    EdgeHost,
    /// Every suite of [`CELL_SUITES`] on one edge cell.
    CellSuites(Cell),
}

/// The runs, in order: the first builds the instrumented edge host the others start.
const RUNS: [Run; 4] = [
    Run::Native,
    Run::EdgeHost,
    Run::CellSuites(EDGE_CELLS[0]),
    Run::CellSuites(EDGE_CELLS[1]),
];

impl Run {
    /// Its row in the phase table.
    fn phase(self) -> String {
        match self {
            Self::Native => "instrumented build + native tests (cargo llvm-cov)".to_owned(),
            Self::EdgeHost => "edge_host suite on the instrumented edge host".to_owned(),
            Self::CellSuites(cell) => format!("cell suites [{}]", cell.name()),
        }
    }

    /// Its package and test selection, after `cargo llvm-cov --no-report`.
    fn args(self) -> Vec<String> {
        let mut args: Vec<String> = Vec::new();
        match self {
            Self::Native => {
                args.push("--workspace".into());
                for (package, _) in EXCLUDED_PACKAGES {
                    args.extend(["--exclude".into(), package.into()]);
                }
            }
            Self::EdgeHost => {
                args.extend(["-p", "pulser-tests", "--test", "edge_host"].map(String::from));
            }
            Self::CellSuites(_) => {
                args.extend(["-p".into(), "pulser-tests".into()]);
                for (suite, _) in CELL_SUITES {
                    args.extend(["--test".into(), suite.into()]);
                }
            }
        }
        args
    }
}

/// What the command line asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Compare with the baseline and fail on a regression.
    Check,
    /// Write the measured figures to the baseline.
    UpdateBaseline,
}

impl Mode {
    /// `[]` or `["--update-baseline"]`; anything else is `None`.
    pub fn parse(args: &[String]) -> Option<Self> {
        match args {
            [] => Some(Self::Check),
            [flag] if flag == "--update-baseline" => Some(Self::UpdateBaseline),
            _ => None,
        }
    }
}

/// Measures, writes the summary, then checks the total against the floor and the baseline
/// (or rewrites the baseline). Prints the phase table at the end, also on failure.
///
/// # Errors
/// When a tool cannot be installed, a test fails, the summary cannot be read, or the total
/// is below the floor or the baseline.
pub fn coverage(root: &Path, mode: Mode) -> Result {
    let start = std::time::Instant::now();
    let result = measure_and_judge(root, mode);
    eprintln!("{}", phases::table(start.elapsed()));
    result
}

fn measure_and_judge(root: &Path, mode: Mode) -> Result {
    let llvm_cov = phases::time("tool install", || tools::coverage_tools(root))?;
    let tools = phases::time("tool install", || Tools::ensure(root, Scope::Stack))?;
    // What the edge cells serve, built as `cargo xtask test` builds it (incremental).
    let flavours = &["wasi", "spin"];
    let probe = build::build_probe_flavours(root, &tools, flavours)?;
    build::build_dist_flavours(root, &tools, flavours)?;
    let out_dir = target_dir(root).join("coverage");
    std::fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let json_path = out_dir.join("llvm-cov.json");
    // The runs below keep what the others built and add up their profiles: start from none.
    phases::time("clean (profiles, workspace crates)", || {
        run(Command::new(&llvm_cov)
            .current_dir(root)
            .args(["llvm-cov", "clean", "--workspace"]))
    })?;
    let mut env = tools.env();
    env.push(("PULSER_PROBE_DIST".into(), probe.into()));
    env.push(("PULSER_EDGE_BIN".into(), instrumented_edge(root).into()));
    // A failing test fails the gate, but only after the report: the figures of what ran
    // still show, and a failure in one run does not hide what the others measure.
    let mut failed = Vec::new();
    for test_run in RUNS {
        if let Err(error) = phases::time(&test_run.phase(), || {
            run(&mut run_command(&llvm_cov, root, test_run, &env))
        }) {
            failed.push(error);
        }
        if test_run == Run::Native && !instrumented_edge(root).is_file() {
            return Err(format!(
                "the native run built no instrumented edge host at {}",
                instrumented_edge(root).display()
            ));
        }
    }
    phases::time("report (cargo llvm-cov report)", || {
        run(&mut report_command(&llvm_cov, root, &json_path))
    })?;
    let json =
        std::fs::read_to_string(&json_path).map_err(|e| format!("{}: {e}", json_path.display()))?;
    let files = parse_summary(&json, root)?;
    let crates = per_crate(&files);
    let total = files
        .iter()
        .fold(Lines::default(), |sum, f| sum.add(f.lines));
    if total.count == 0 {
        return Err(format!("{} measured no lines", json_path.display()));
    }
    let baseline_path = root.join(BASELINE);
    let summary_path = out_dir.join("summary.md");
    std::fs::write(&summary_path, summary_markdown(total, &crates, &files))
        .map_err(|e| format!("{}: {e}", summary_path.display()))?;
    eprintln!("\n{}", crate_table(total, &crates));
    eprintln!("{}", least_covered(&files, 10));
    eprintln!(
        "xtask: line coverage {:.2}% ({} of {} lines); every file in {}",
        total.percent(),
        total.covered,
        total.count,
        summary_path.display()
    );
    if !failed.is_empty() {
        return Err(format!(
            "tests failed, so the gate fails and no baseline is written (the figures above \
             count what ran):\n  {}",
            failed.join("\n  ")
        ));
    }
    match mode {
        Mode::UpdateBaseline => {
            let previous = std::fs::read_to_string(&baseline_path)
                .ok()
                .and_then(|text| parse_baseline(&text).ok());
            let measured_with = tool_versions(&llvm_cov);
            std::fs::write(
                &baseline_path,
                baseline_json(total, &crates, &measured_with),
            )
            .map_err(|e| format!("{}: {e}", baseline_path.display()))?;
            match previous {
                Some(old) => eprintln!(
                    "xtask: {BASELINE}: {old:.2}% -> {:.2}% (commit it)",
                    round2(total.percent())
                ),
                None => eprintln!(
                    "xtask: {BASELINE} written: {:.2}% (commit it)",
                    round2(total.percent())
                ),
            }
            // The floor holds whatever baseline is written.
            if total.percent() < FLOOR {
                Err(below_floor(total.percent()))
            } else {
                Ok(())
            }
        }
        Mode::Check => {
            let text = std::fs::read_to_string(&baseline_path).map_err(|e| {
                format!(
                    "{}: {e} (run `cargo xtask coverage --update-baseline` and commit it)",
                    baseline_path.display()
                )
            })?;
            let baseline = parse_baseline(&text).map_err(|e| format!("{BASELINE}: {e}"))?;
            let passed = gate(total.percent(), baseline)?;
            eprintln!("xtask: {passed}");
            Ok(())
        }
    }
}

/// The gate's answer for a measured total: what to print when it passes, or why it fails.
fn gate(percent: f64, baseline: f64) -> Result<String> {
    match judge(percent, baseline) {
        Verdict::BelowFloor => Err(below_floor(percent)),
        Verdict::BelowBaseline => Err(format!(
            "line coverage {percent:.2}% fell more than {TOLERANCE} points below the baseline \
             {baseline:.2}% ({BASELINE}); test the new code (the summary above names the files), \
             or, if the drop is intended, run `cargo xtask coverage --update-baseline` and \
             commit the lower baseline with the reason"
        )),
        Verdict::Pass { rose } => {
            let mut text = format!(
                "coverage gate passed: {percent:.2}% >= {FLOOR}% and within {TOLERANCE} points \
                 of the baseline {baseline:.2}%"
            );
            if rose {
                text.push_str(
                    "; it rose above the baseline: `cargo xtask coverage --update-baseline` \
                     records that, so it cannot slip back unnoticed",
                );
            }
            Ok(text)
        }
    }
}

fn below_floor(percent: f64) -> String {
    format!(
        "line coverage {percent:.2}% is below the {FLOOR}% floor (the summary above names the \
         files with the most uncovered lines)"
    )
}

/// `cargo llvm-cov --no-report` for one run (which implies `--no-clean`: what earlier runs
/// built and measured stays), its profiles left in cargo-llvm-cov's target dir for
/// [`report_command`].
fn run_command(llvm_cov: &Path, root: &Path, test_run: Run, env: &[(String, OsString)]) -> Command {
    let mut cmd = Command::new(llvm_cov);
    cmd.current_dir(root)
        .args(["llvm-cov", "--no-report"])
        .args(test_run.args())
        // Every test binary of the run, whatever fails first.
        .arg("--no-fail-fast")
        .envs(env.iter().map(|(k, v)| (k, v)));
    if let Run::CellSuites(cell) = test_run {
        cmd.env(CELL_VAR, cell.name());
    }
    cmd
}

/// `cargo llvm-cov report`: every run's profiles, as a JSON summary into `json_path`.
fn report_command(llvm_cov: &Path, root: &Path, json_path: &Path) -> Command {
    let mut cmd = Command::new(llvm_cov);
    cmd.current_dir(root)
        .args(["llvm-cov", "report"])
        // Line counts per file, no per-function or per-line detail.
        .args(["--json", "--summary-only", "--output-path"])
        .arg(json_path);
    cmd
}

/// The edge host cargo-llvm-cov builds for the edge crate's tests, instrumented.
fn instrumented_edge(root: &Path) -> PathBuf {
    target_dir(root).join("llvm-cov-target/debug/edge")
}

/// `cargo-llvm-cov <version>, rustc <version> (...)`: what the baseline was measured with.
fn tool_versions(llvm_cov: &Path) -> String {
    let answer = |cmd: &mut Command| {
        cmd.output()
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    format!(
        "{}, {}",
        answer(Command::new(llvm_cov).args(["llvm-cov", "--version"])),
        answer(Command::new("rustc").arg("-V"))
    )
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}

/// Lines with code, and how many of them ran.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Lines {
    count: u64,
    covered: u64,
}

impl Lines {
    fn add(self, other: Self) -> Self {
        Self {
            count: self.count + other.count,
            covered: self.covered + other.covered,
        }
    }

    /// Covered lines in percent; a file without code lines counts as fully covered.
    fn percent(self) -> f64 {
        if self.count == 0 {
            100.0
        } else {
            self.covered as f64 * 100.0 / self.count as f64
        }
    }
}

/// One source file's line counts, its path relative to the workspace root.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileLines {
    path: String,
    lines: Lines,
}

/// The files of a `cargo llvm-cov --json --summary-only` export (llvm-cov's
/// `llvm.coverage.json.export`: `data[0].files[].filename` and `.summary.lines`).
fn parse_summary(json: &str, root: &Path) -> Result<Vec<FileLines>> {
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("the coverage summary: {e}"))?;
    let kind = value.get("type").and_then(serde_json::Value::as_str);
    if kind != Some("llvm.coverage.json.export") {
        return Err(format!(
            "the coverage summary is not an llvm-cov JSON export (type {kind:?})"
        ));
    }
    let files = value
        .pointer("/data/0/files")
        .and_then(serde_json::Value::as_array)
        .ok_or("the coverage summary has no data[0].files")?;
    files
        .iter()
        .map(|file| {
            let name = file
                .get("filename")
                .and_then(serde_json::Value::as_str)
                .ok_or("a file of the coverage summary has no filename")?;
            let number = |field: &str| {
                file.pointer(&format!("/summary/lines/{field}"))
                    .and_then(serde_json::Value::as_u64)
                    .ok_or_else(|| format!("{name}: no summary.lines.{field}"))
            };
            let lines = Lines {
                count: number("count")?,
                covered: number("covered")?,
            };
            if lines.covered > lines.count {
                return Err(format!(
                    "{name}: {} of {} lines covered",
                    lines.covered, lines.count
                ));
            }
            let path = Path::new(name)
                .strip_prefix(root)
                .map_or_else(|_| name.to_owned(), |p| p.to_string_lossy().into_owned());
            Ok(FileLines { path, lines })
        })
        .collect()
}

/// The crate a file belongs to, by its directory: what comes before `src/`
/// (`functions/push_to_odoo/src/flow.rs` is `functions/push_to_odoo`), else the file's
/// directory.
fn crate_of(path: &str) -> &str {
    if let Some(at) = path.find("/src/") {
        return path.get(..at).unwrap_or(path);
    }
    if path.starts_with("src/") {
        return ".";
    }
    path.rsplit_once('/').map_or(".", |(dir, _)| dir)
}

fn per_crate(files: &[FileLines]) -> BTreeMap<String, Lines> {
    let mut crates: BTreeMap<String, Lines> = BTreeMap::new();
    for file in files {
        let sum = crates.entry(crate_of(&file.path).to_owned()).or_default();
        *sum = sum.add(file.lines);
    }
    crates
}

/// What the gate says of a measured total against the committed baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// At or above both bars; `rose` when more than [`TOLERANCE`] above the baseline.
    Pass { rose: bool },
    /// Below [`FLOOR`], whatever the baseline.
    BelowFloor,
    /// More than [`TOLERANCE`] below the baseline.
    BelowBaseline,
}

/// The rule: at least [`FLOOR`], and at least the baseline minus [`TOLERANCE`].
fn judge(total: f64, baseline: f64) -> Verdict {
    if total < FLOOR {
        Verdict::BelowFloor
    } else if total < baseline - TOLERANCE {
        Verdict::BelowBaseline
    } else {
        Verdict::Pass {
            rose: total > baseline + TOLERANCE,
        }
    }
}

/// The baseline's `line_percent`.
fn parse_baseline(text: &str) -> Result<f64> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    value
        .get("line_percent")
        .and_then(serde_json::Value::as_f64)
        .filter(|p| (0.0..=100.0).contains(p))
        .ok_or_else(|| "no line_percent between 0 and 100".to_owned())
}

fn round2(percent: f64) -> f64 {
    (percent * 100.0).round() / 100.0
}

/// The baseline file: the total the gate compares with (`line_percent`), and, for the
/// reader of its diff, the line counts, each crate's figure and the tools that measured it.
fn baseline_json(total: Lines, crates: &BTreeMap<String, Lines>, measured_with: &str) -> String {
    let crates: serde_json::Map<String, serde_json::Value> = crates
        .iter()
        .map(|(name, lines)| (name.clone(), round2(lines.percent()).into()))
        .collect();
    let value = serde_json::json!({
        "line_percent": round2(total.percent()),
        "lines": total.count,
        "lines_covered": total.covered,
        "measured_with": measured_with,
        "crates_line_percent": crates,
    });
    // A Value always serialises.
    serde_json::to_string_pretty(&value).unwrap_or_default() + "\n"
}

fn crate_table(total: Lines, crates: &BTreeMap<String, Lines>) -> String {
    let mut out = String::from("| crate | lines | covered | line % |\n|---|---:|---:|---:|\n");
    for (name, lines) in crates {
        out.push_str(&row(name, *lines));
    }
    out.push_str(&row("total", total));
    out
}

fn row(name: &str, lines: Lines) -> String {
    format!(
        "| {name} | {} | {} | {:.2} |\n",
        lines.count,
        lines.covered,
        lines.percent()
    )
}

/// The `n` files with the most lines that never ran.
fn least_covered(files: &[FileLines], n: usize) -> String {
    let mut files: Vec<&FileLines> = files.iter().collect();
    files.sort_by_key(|f| std::cmp::Reverse(f.lines.count - f.lines.covered));
    let mut out = format!(
        "the {n} files with the most uncovered lines\n\n| file | lines | covered | line % |\n\
         |---|---:|---:|---:|\n"
    );
    for file in files.into_iter().take(n) {
        out.push_str(&row(&file.path, file.lines));
    }
    out
}

fn summary_markdown(total: Lines, crates: &BTreeMap<String, Lines>, files: &[FileLines]) -> String {
    let mut out = format!(
        "# Line coverage (cargo xtask coverage)\n\n{:.2}% of {} lines; the gate: at least \
         {FLOOR}% and at most {TOLERANCE} points below {BASELINE}.\n\n## Per crate\n\n{}\n\
         ## Per file\n\n| file | lines | covered | line % |\n|---|---:|---:|---:|\n",
        total.percent(),
        total.count,
        crate_table(total, crates)
    );
    let mut files: Vec<&FileLines> = files.iter().collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    for file in files {
        out.push_str(&row(&file.path, file.lines));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `cargo llvm-cov --json --summary-only` export as cargo-llvm-cov 0.9 writes it,
    /// shortened to two crates (the branch, function and region counts are llvm-cov's own).
    const EXPORT: &str = r#"{
      "data": [{
        "files": [
          {"filename": "/work/ws/shared/signing/src/lib.rs",
           "summary": {"branches": {"count": 0, "covered": 0, "notcovered": 0, "percent": 0},
                       "functions": {"count": 10, "covered": 9, "percent": 90},
                       "instantiations": {"count": 12, "covered": 10, "percent": 83.3},
                       "lines": {"count": 200, "covered": 180, "percent": 90},
                       "regions": {"count": 300, "covered": 250, "notcovered": 50, "percent": 83.3}}},
          {"filename": "/work/ws/shared/signing/src/jwt/der.rs",
           "summary": {"lines": {"count": 100, "covered": 40, "percent": 40}}},
          {"filename": "/work/ws/edge/src/main.rs",
           "summary": {"lines": {"count": 0, "covered": 0, "percent": 0}}}
        ],
        "totals": {"lines": {"count": 300, "covered": 220, "percent": 73.3}}
      }],
      "type": "llvm.coverage.json.export",
      "version": "3.1.0",
      "cargo_llvm_cov": {"version": "0.9.1", "manifest_path": "/work/ws/Cargo.toml"}
    }"#;

    fn lines(count: u64, covered: u64) -> Lines {
        Lines { count, covered }
    }

    #[test]
    fn the_export_is_read_into_files_relative_to_the_workspace() {
        let files = parse_summary(EXPORT, Path::new("/work/ws")).unwrap();
        assert_eq!(
            files,
            [
                FileLines {
                    path: "shared/signing/src/lib.rs".into(),
                    lines: lines(200, 180)
                },
                FileLines {
                    path: "shared/signing/src/jwt/der.rs".into(),
                    lines: lines(100, 40)
                },
                FileLines {
                    path: "edge/src/main.rs".into(),
                    lines: lines(0, 0)
                },
            ]
        );
    }

    #[test]
    fn files_add_up_per_crate_and_in_total() {
        let files = parse_summary(EXPORT, Path::new("/work/ws")).unwrap();
        let crates = per_crate(&files);
        assert_eq!(
            crates.into_iter().collect::<Vec<_>>(),
            [
                ("edge".to_owned(), lines(0, 0)),
                ("shared/signing".to_owned(), lines(300, 220)),
            ]
        );
        let total = files.iter().fold(Lines::default(), |s, f| s.add(f.lines));
        // The export's own totals.
        assert_eq!(total, lines(300, 220));
        assert!((total.percent() - 73.333).abs() < 0.001);
    }

    #[test]
    fn a_file_outside_the_workspace_keeps_its_absolute_path() {
        let files = parse_summary(EXPORT, Path::new("/elsewhere")).unwrap();
        assert_eq!(files[0].path, "/work/ws/shared/signing/src/lib.rs");
    }

    #[test]
    fn a_file_belongs_to_the_directory_before_src() {
        assert_eq!(
            crate_of("functions/push_to_odoo/src/flow.rs"),
            "functions/push_to_odoo"
        );
        assert_eq!(crate_of("xtask/src/bench/load.rs"), "xtask");
        assert_eq!(crate_of("edge/src/main.rs"), "edge");
        assert_eq!(crate_of("src/lib.rs"), ".");
        assert_eq!(crate_of("build.rs"), ".");
        assert_eq!(crate_of("shared/signing/build.rs"), "shared/signing");
    }

    #[test]
    fn a_file_without_code_lines_counts_as_covered() {
        assert!((lines(0, 0).percent() - 100.0).abs() < f64::EPSILON);
        assert!((lines(8, 2).percent() - 25.0).abs() < f64::EPSILON);
    }

    #[test]
    fn output_that_is_not_an_llvm_cov_export_is_refused() {
        let root = Path::new("/work/ws");
        assert!(parse_summary("not json", root).is_err());
        assert!(parse_summary(r#"{"type": "llvm.coverage.json.export"}"#, root).is_err());
        let lcov_like = EXPORT.replace("llvm.coverage.json.export", "lcov");
        assert!(parse_summary(&lcov_like, root).is_err());
    }

    #[test]
    fn a_file_without_line_counts_is_refused() {
        let root = Path::new("/work/ws");
        let no_lines = EXPORT.replace(
            r#""lines": {"count": 100, "covered": 40, "percent": 40}"#,
            r#""regions": {"count": 100, "covered": 40, "percent": 40}"#,
        );
        let error = parse_summary(&no_lines, root).unwrap_err();
        assert!(error.contains("der.rs: no summary.lines.count"), "{error}");
        let impossible = EXPORT.replace(r#""covered": 40"#, r#""covered": 140"#);
        let error = parse_summary(&impossible, root).unwrap_err();
        assert!(error.contains("140 of 100"), "{error}");
    }

    #[test]
    fn below_the_floor_fails_whatever_the_baseline() {
        assert_eq!(judge(79.99, 70.0), Verdict::BelowFloor);
        assert_eq!(judge(79.99, 79.99), Verdict::BelowFloor);
        assert_eq!(judge(FLOOR, FLOOR), Verdict::Pass { rose: false });
    }

    #[test]
    fn a_fall_within_the_tolerance_passes_and_beyond_it_fails() {
        assert_eq!(judge(85.0, 85.0), Verdict::Pass { rose: false });
        assert_eq!(judge(84.5, 85.0), Verdict::Pass { rose: false });
        assert_eq!(judge(84.49, 85.0), Verdict::BelowBaseline);
        assert_eq!(judge(80.0, 90.0), Verdict::BelowBaseline);
    }

    #[test]
    fn a_rise_beyond_the_tolerance_is_pointed_out() {
        assert_eq!(judge(85.5, 85.0), Verdict::Pass { rose: false });
        assert_eq!(judge(85.51, 85.0), Verdict::Pass { rose: true });
    }

    #[test]
    fn the_gate_names_the_bar_that_failed() {
        let floor = gate(79.0, 75.0).unwrap_err();
        assert!(
            floor.starts_with("line coverage 79.00% is below the 80% floor"),
            "{floor}"
        );
        let fell = gate(84.0, 85.0).unwrap_err();
        assert!(
            fell.starts_with(
                "line coverage 84.00% fell more than 0.5 points below the baseline 85.00% \
                 (coverage-baseline.json)"
            ),
            "{fell}"
        );
        assert!(fell.contains("--update-baseline"), "{fell}");
        let passed = gate(85.0, 85.2).unwrap();
        assert!(!passed.contains("rose"), "{passed}");
        let rose = gate(86.0, 85.0).unwrap();
        assert!(rose.contains("rose above the baseline"), "{rose}");
    }

    #[test]
    fn the_summary_lists_every_file_once_in_path_order() {
        let files = parse_summary(EXPORT, Path::new("/work/ws")).unwrap();
        let total = files.iter().fold(Lines::default(), |s, f| s.add(f.lines));
        let text = summary_markdown(total, &per_crate(&files), &files);
        let at = |needle: &str| {
            assert_eq!(text.matches(needle).count(), 1, "{needle} in:\n{text}");
            text.find(needle).unwrap()
        };
        assert!(text.contains("73.33% of 300 lines"), "{text}");
        assert!(at("| shared/signing | 300 | 220 | 73.33 |") < at("| total | 300 | 220 | 73.33 |"));
        assert!(
            at("| edge/src/main.rs | 0 | 0 | 100.00 |")
                < at("| shared/signing/src/jwt/der.rs | 100 | 40 | 40.00 |")
        );
        assert!(at("| shared/signing/src/jwt/der.rs |") < at("| shared/signing/src/lib.rs |"));
    }

    #[test]
    fn the_least_covered_files_come_by_uncovered_lines() {
        let files = parse_summary(EXPORT, Path::new("/work/ws")).unwrap();
        let text = least_covered(&files, 2);
        let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("| shared")).collect();
        // der.rs misses 60 lines (40%), lib.rs 20 (90%); the third file is past the limit.
        assert_eq!(
            rows,
            [
                "| shared/signing/src/jwt/der.rs | 100 | 40 | 40.00 |",
                "| shared/signing/src/lib.rs | 200 | 180 | 90.00 |"
            ]
        );
        assert!(!text.contains("edge/src/main.rs"), "{text}");
    }

    #[test]
    fn the_written_baseline_is_read_back() {
        let crates = BTreeMap::from([("edge".to_owned(), lines(3, 2))]);
        let text = baseline_json(lines(3, 2), &crates, "cargo-llvm-cov 0.9.1, rustc 1.95.0");
        assert_eq!(parse_baseline(&text), Ok(66.67));
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["lines"], 3);
        assert_eq!(value["lines_covered"], 2);
        assert_eq!(value["crates_line_percent"]["edge"], 66.67);
    }

    #[test]
    fn a_baseline_without_a_percentage_is_refused() {
        assert!(parse_baseline("{}").is_err());
        assert!(parse_baseline(r#"{"line_percent": "84"}"#).is_err());
        assert!(parse_baseline(r#"{"line_percent": 140}"#).is_err());
        assert!(parse_baseline("84").is_err());
    }

    #[test]
    fn the_runs_are_the_native_tests_then_the_edge_suites_on_both_edge_cells() {
        let pair = |args: &[String], flag: &str, value: &str| {
            args.windows(2).any(|w| w[0] == flag && w[1] == value)
        };
        // The first builds the instrumented edge host the others start.
        assert_eq!(RUNS[0], Run::Native);
        let native = Run::Native.args();
        assert!(native.contains(&"--workspace".to_owned()), "{native:?}");
        for (package, _) in EXCLUDED_PACKAGES {
            assert!(pair(&native, "--exclude", package), "{native:?}");
        }
        assert_eq!(
            Run::EdgeHost.args(),
            ["-p", "pulser-tests", "--test", "edge_host"]
        );
        for cell in EDGE_CELLS {
            assert!(RUNS.contains(&Run::CellSuites(cell)), "{}", cell.name());
            let args = Run::CellSuites(cell).args();
            for (suite, _) in CELL_SUITES {
                assert!(pair(&args, "--test", suite), "{suite} on {}", cell.name());
            }
            let cmd = run_command(
                Path::new("cargo-llvm-cov"),
                Path::new("/ws"),
                Run::CellSuites(cell),
                &[],
            );
            let cell_var = cmd
                .get_envs()
                .find(|(k, _)| *k == CELL_VAR)
                .and_then(|(_, v)| v);
            assert_eq!(cell_var, Some(std::ffi::OsStr::new(cell.name())));
            let args: Vec<_> = cmd.get_args().collect();
            assert_eq!(args[..2], ["llvm-cov", "--no-report"]);
        }
    }

    #[test]
    fn only_a_lone_update_flag_is_accepted() {
        assert_eq!(Mode::parse(&[]), Some(Mode::Check));
        assert_eq!(
            Mode::parse(&["--update-baseline".into()]),
            Some(Mode::UpdateBaseline)
        );
        assert_eq!(Mode::parse(&["--update".into()]), None);
        assert_eq!(Mode::parse(&["--update-baseline".into(), "x".into()]), None);
    }
}
