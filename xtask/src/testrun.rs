//! Runs every test binary of the workspace, one phase each, then the doctests.
//!
//! `cargo test --workspace` would run the same binaries one after another with no time per
//! binary; listing them (`cargo test --no-run`) and running each here gives every binary its
//! own row in the phase table, and lets independent binaries share the cores
//! (`PULSER_TEST_JOBS`, default: the machine's cores).
//!
//! The black-box suites ([`CELL_SUITES`]) run once per runtime cell (`PULSER_CELL`, see
//! `pulser_tests::cell`), and the run ends with the matrix of suite x cell.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Instant;

use pulser_tests::cell::Cell;

use crate::{Result, cargo, describe, phases};

/// The suites in `tests/tests/` that speak HTTP to the functions, each with the functions it
/// drives: every one runs on every [`Cell`]. The other test binaries (the edge host's own
/// tests, the stack's, the manifests', the runtime probe's) run once, with `PULSER_CELL`
/// unset. So does `bench_peers`, which speaks HTTP to functions too but holds the bench's
/// peers to them: it runs once, on the default cell, edge-wasi, where the bench measures ours.
pub const CELL_SUITES: [(&str, &str); 8] = [
    ("push_to_odoo", "push_to_odoo"),
    ("git_ops_dispatch", "git_ops_dispatch"),
    ("github_webhook", "github_webhook"),
    (
        "effectively_once",
        "odoo_event_ingest, push_to_odoo, github_webhook, git_ops_dispatch",
    ),
    ("odoo_event_ingest", "odoo_event_ingest"),
    ("odoo_bridge", "odoo_event_ingest + push_to_odoo"),
    ("health", "every function's GET <route>/health"),
    ("oasis_events", "oasis_events (an EventSource on the feed)"),
];

/// One test binary: the name cargo gives it and where its package lives (the working
/// directory `cargo test` runs it in).
#[derive(Debug)]
struct TestBinary {
    label: String,
    executable: PathBuf,
    package_dir: PathBuf,
    /// The suite and cell, for a run of a [`CELL_SUITES`] suite.
    cell: Option<(&'static str, Cell)>,
}

/// What one suite did on one cell.
type Outcome = ((&'static str, Cell), bool);

pub fn run_all(root: &Path, env: &[(String, OsString)]) -> Result {
    let binaries = phases::time("list test binaries", || list(root, env))?;
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let jobs = std::env::var("PULSER_TEST_JOBS")
        .ok()
        .and_then(|j| j.parse::<usize>().ok())
        .unwrap_or(cores)
        .clamp(1, binaries.len().max(1));
    let failed = Mutex::new(Vec::new());
    let outcomes: Mutex<Vec<Outcome>> = Mutex::new(Vec::new());
    let next = Mutex::new(binaries.iter());
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| {
                loop {
                    let Some(binary) = next
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .next()
                    else {
                        break;
                    };
                    let result = run_one(binary, env, jobs > 1);
                    if let Some(cell) = binary.cell {
                        outcomes
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .push((cell, result.is_ok()));
                    }
                    if let Err(e) = result {
                        failed
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .push(e);
                    }
                }
            });
        }
    });
    let doc = phases::time("doctests", || {
        crate::run(
            cargo()
                .current_dir(root)
                .args(["test", "--workspace", "--doc"])
                .envs(env.iter().map(|(k, v)| (k, v))),
        )
    });
    eprintln!(
        "{}",
        matrix(
            &outcomes
                .into_inner()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        )
    );
    let mut failed = failed
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Err(e) = doc {
        failed.push(e);
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("tests failed:\n  {}", failed.join("\n  ")))
    }
}

/// The suite x cell table: `passed`, `FAILED`, or `not run` (a run cut short by a failure
/// elsewhere never leaves a cell looking passed).
fn matrix(outcomes: &[Outcome]) -> String {
    let mut out = String::from("\nruntime matrix (suite: functions it drives)\n\n| suite |");
    for cell in Cell::ALL {
        out.push_str(&format!(" {} |", cell.name()));
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(Cell::ALL.len()));
    out.push('\n');
    for (suite, functions) in CELL_SUITES {
        out.push_str(&format!("| {suite}: {functions} |"));
        for cell in Cell::ALL {
            let result = outcomes
                .iter()
                .find(|((s, c), _)| *s == suite && *c == cell)
                .map_or("not run", |(_, ok)| if *ok { "passed" } else { "FAILED" });
            out.push_str(&format!(" {result} |"));
        }
        out.push('\n');
    }
    out
}

/// The test binaries `cargo test --workspace` would run, as cargo reports them.
/// `env` must be the build's (the lint wrapper included), or cargo would rebuild.
fn list(root: &Path, env: &[(String, OsString)]) -> Result<Vec<TestBinary>> {
    let out = cargo()
        .current_dir(root)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .args(["test", "--workspace", "--no-run", "--message-format=json"])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo test --no-run: {e}"))?;
    if !out.status.success() {
        return Err(format!("cargo test --no-run failed: {}", out.status));
    }
    let mut binaries = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let text = |pointer: &str| message.pointer(pointer).and_then(serde_json::Value::as_str);
        let is_test = message
            .pointer("/profile/test")
            .and_then(serde_json::Value::as_bool)
            == Some(true);
        let (Some(executable), Some(manifest), Some(name), Some(kind)) = (
            text("/executable"),
            text("/manifest_path"),
            text("/target/name"),
            text("/target/kind/0"),
        ) else {
            continue;
        };
        if !is_test {
            continue;
        }
        let package_dir = Path::new(manifest)
            .parent()
            .map_or_else(|| root.to_path_buf(), Path::to_path_buf);
        let package = package_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let label = if kind == "test" {
            format!("test {package}/{name}")
        } else {
            format!("test {package} ({kind})")
        };
        let suite = CELL_SUITES
            .iter()
            .map(|(suite, _)| *suite)
            .find(|suite| package == "tests" && kind == "test" && name == *suite);
        match suite {
            Some(suite) => binaries.extend(Cell::ALL.map(|cell| TestBinary {
                label: format!("{label} [{}]", cell.name()),
                executable: PathBuf::from(executable),
                package_dir: package_dir.clone(),
                cell: Some((suite, cell)),
            })),
            None => binaries.push(TestBinary {
                label,
                executable: PathBuf::from(executable),
                package_dir,
                cell: None,
            }),
        }
    }
    if binaries.is_empty() {
        return Err("cargo test --no-run listed no test binaries".into());
    }
    for (suite, _) in CELL_SUITES {
        if !binaries
            .iter()
            .any(|b| b.cell.is_some_and(|(s, _)| s == suite))
        {
            return Err(format!(
                "the cell suite tests/tests/{suite}.rs is not a test binary"
            ));
        }
    }
    // The longest runs first, so the last job to finish is a short one.
    binaries.sort_by_key(|b| std::cmp::Reverse(b.cell.is_some()));
    Ok(binaries)
}

/// Runs one binary in its package directory. With `capture`, its output is printed in one
/// piece when it ends, so parallel binaries do not interleave.
fn run_one(binary: &TestBinary, env: &[(String, OsString)], capture: bool) -> Result {
    let mut cmd = Command::new(&binary.executable);
    cmd.current_dir(&binary.package_dir)
        .envs(env.iter().map(|(k, v)| (k, v)));
    if let Some((_, cell)) = binary.cell {
        cmd.env(pulser_tests::cell::CELL_VAR, cell.name());
    }
    eprintln!("+ {}", describe(&cmd));
    let start = Instant::now();
    let status = if capture {
        let out = cmd
            .output()
            .map_err(|e| format!("cannot start {}: {e}", describe(&cmd)))?;
        eprintln!(
            "--- {} ---\n{}{}",
            binary.label,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out.status
    } else {
        cmd.status()
            .map_err(|e| format!("cannot start {}: {e}", describe(&cmd)))?
    };
    phases::record(&binary.label, start.elapsed(), status.success());
    if status.success() {
        Ok(())
    } else {
        Err(format!("{}: {status}", binary.label))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_matrix_says_passed_failed_or_not_run_per_suite_and_cell() {
        let outcomes: Vec<Outcome> = vec![
            (("health", Cell::EdgeWasi), true),
            (("health", Cell::Workerd), false),
            (("push_to_odoo", Cell::EdgeSpin), true),
        ];
        let table = matrix(&outcomes);
        let header = table
            .lines()
            .find(|l| l.starts_with("| suite |"))
            .unwrap_or_default();
        assert_eq!(
            header,
            "| suite | edge-wasi | edge-spin | wasmtime-serve | workerd |"
        );
        let row = |suite: &str| {
            table
                .lines()
                .find(|l| l.starts_with(&format!("| {suite}: ")))
                .unwrap_or_default()
                .to_owned()
        };
        assert!(
            row("health").ends_with("| passed | not run | not run | FAILED |"),
            "{table}"
        );
        assert!(
            row("push_to_odoo").ends_with("| not run | passed | not run | not run |"),
            "{table}"
        );
        // Every suite has its row, even one with no outcome at all.
        assert!(
            row("odoo_bridge").ends_with("| not run | not run | not run | not run |"),
            "{table}"
        );
        assert_eq!(
            table
                .lines()
                .filter(|l| l.starts_with("| ") && l.contains(": "))
                .count(),
            CELL_SUITES.len()
        );
    }
}
